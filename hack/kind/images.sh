#!/usr/bin/env bash
# Builds, with no image registry, the images an offline kind cluster needs (make kind-up with
# KIND_OFFLINE=1, or when no registry answers; see docs/kind.md):
#
#   <repo>/debian:bookworm-<h>          debootstrap --variant=minbase from apt's own Debian mirror
#   <repo>/python:3.11-bookworm-<h>     Debian's Python 3.11 on it (the operator image's base here)
#   <repo>/kube-apiserver:v1.36.3 ...   the images kubeadm starts, each a binary built from the Go
#                                       module proxy (hack/install-tools.sh) on the Debian base,
#                                       tagged as `kubeadm config images list` prints them
#   <repo>/kind-node:v1.36.3-<h>        the kind node image, those images preloaded
#
# <repo> is KIND_LOCAL_REPO (default zonal-operator). <h> is a hash of everything the image is
# made from, so a second run finds the images and takes seconds; `docker rmi` them (or
# see `make kind-down`) to build again. Prints the node image's name on stdout; the rest
# goes to stderr. The operator and web server images are built by hack/kind/load.sh.
#   hack/kind/images.sh [node|base|python]   (default: node)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${root}"
# shellcheck source=../versions.env
source hack/versions.env

repo="${KIND_LOCAL_REPO:-zonal-operator}"
cache="${ZONAL_CACHE_DIR:-${HOME}/.cache/zonal-operator}"
bin="${cache}/k8s-v${KUBERNETES_VERSION}/bin"
work="${cache}/kind"
k8s="v${KUBERNETES_VERSION}"
here=hack/kind/images
docker="${DOCKER:-docker}"
mkdir -p "${work}"

log() { printf '[kind-images] %s\n' "$*" >&2; }
have_image() { "${docker}" image inspect "$1" >/dev/null 2>&1; }
# A short hash of the named files and of the extra strings given after `--`.
digest() {
  local files=() extra=()
  while [[ $# -gt 0 && "$1" != -- ]]; do files+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift
  extra=("$@")
  { [[ ${#files[@]} -eq 0 ]] || cat "${files[@]}"; printf '%s\n' "${extra[@]}"; } \
    | sha256sum | cut -c1-12
}
build() { # tag context [docker build args...]
  local tag="$1" ctx="$2"; shift 2
  log "docker build ${tag}"
  local out
  # Quiet unless it fails (the legacy builder of Debian's docker.io warns on every build).
  out="$(nice -n 19 "${docker}" build --quiet --tag "${tag}" "$@" "${ctx}" 2>&1)" \
    || { printf '%s\n' "${out}" >&2; exit 1; }
}

# -- Debian base --------------------------------------------------------------------------------
# The mirror apt itself uses, so that what works for apt here works for debootstrap.
mirror="$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list.d/*.sources \
  /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)"
mirror="${mirror:-http://deb.debian.org/debian}"
suite=bookworm
base_image() {
  have_image "${base}" && return 0
  command -v debootstrap >/dev/null || {
    log "installing Debian's debootstrap"
    local install=(apt-get install -y -qq --no-install-recommends debootstrap)
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    "${install[@]}" >/dev/null 2>&1 || { apt-get update -qq && "${install[@]}" >/dev/null; }
  }
  local dir="${work}/rootfs"
  rm -rf "${dir}"
  log "debootstrap --variant=minbase ${suite} from ${mirror}"
  nice -n 19 debootstrap --variant=minbase "${suite}" "${dir}" "${mirror}" >"${work}/debootstrap.log" 2>&1 \
    || { tail -n 20 "${work}/debootstrap.log" >&2; exit 1; }
  echo "deb ${mirror} ${suite} main" >"${dir}/etc/apt/sources.list"
  rm -rf "${dir}"/var/cache/apt/archives/*.deb "${dir}"/var/lib/apt/lists/*
  log "docker import ${base}"
  tar -C "${dir}" -c . | "${docker}" import - "${base}" >/dev/null
  rm -rf "${dir}"
}
# Named by what it is made of: this function's text and the mirror.
base="${repo}/debian:${suite}-$(digest -- "$(declare -f base_image)" "${mirror}")"

# -- Python (the operator's and the web server's base) -------------------------------------------
extra_cas=(/usr/local/share/ca-certificates/*.crt)
[[ -e "${extra_cas[0]}" ]] || extra_cas=()
python="${repo}/python:3.11-${suite}-$(digest "${here}/python.Dockerfile" "${extra_cas[@]}" -- "${base}")"
python_image() {
  base_image
  have_image "${python}" && return 0
  local ctx="${work}/ctx-python"
  rm -rf "${ctx}" && mkdir -p "${ctx}/ca-certificates"
  [[ ${#extra_cas[@]} -eq 0 ]] || cp "${extra_cas[@]}" "${ctx}/ca-certificates/"
  build "${python}" "${ctx}" -f "${root}/${here}/python.Dockerfile" --build-arg "BASE_IMAGE=${base}"
  rm -rf "${ctx}"
}

# -- Control-plane images and the node image -----------------------------------------------------
tools=(kubelet kubeadm kubectl crictl kube-apiserver kube-controller-manager kube-scheduler
  kube-proxy etcd coredns)
ensure_tools() {
  local t missing=0
  for t in "${tools[@]}"; do [[ -x "${bin}/${t}" ]] || missing=1; done
  [[ ${missing} -eq 0 ]] && return 0
  log "building the Kubernetes binaries (hack/install-tools.sh cluster kind-node)"
  nice -n 19 hack/install-tools.sh cluster
  nice -n 19 hack/install-tools.sh kind-node
}

# The kubeadm ClusterConfiguration fields the offline kind config sets (hack/kind/offline.yaml):
# etcd and CoreDNS are the versions built here, not the ones kubeadm defaults to.
etcd_tag="v${ETCD_VERSION}"
coredns_tag="v${COREDNS_VERSION}"
cp_images() { # the images kubeadm wants, one a line
  local cfg="${work}/images-list.yaml"
  cat >"${cfg}" <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: ${k8s}
imageRepository: ${repo}
etcd:
  local:
    imageTag: ${etcd_tag}
dns:
  imageTag: ${coredns_tag}
YAML
  "${bin}/kubeadm" config images list --config "${cfg}" 2>/dev/null
}

binary_image() { # image tag, binary name, entrypoint (or ""), extra Debian packages...
  local tag="$1" name="$2" entry="$3" ctx; shift 3
  ctx="${work}/ctx-${name}"
  rm -rf "${ctx}" && mkdir -p "${ctx}"
  cp "${bin}/${name}" "${ctx}/${name}" 2>/dev/null || cp "${work}/${name}" "${ctx}/${name}"
  {
    echo "FROM ${base}"
    if [[ $# -gt 0 ]]; then
      echo "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq" \
        "--no-install-recommends $* && rm -rf /var/lib/apt/lists/*"
    fi
    echo "COPY ${name} /usr/local/bin/${name}"
    [[ -n "${entry}" ]] && echo "ENTRYPOINT [\"/usr/local/bin/${name}\"]"
  } >"${ctx}/Dockerfile"
  build "${tag}" "${ctx}"
  rm -rf "${ctx}"
}

# pause is C: built from the pause.c of the Kubernetes release, read from the Go module cache.
pause_binary() {
  local src
  src="$(cd "${cache}/build/kubernetes-v${KUBERNETES_VERSION}" \
    && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
  local tag
  tag="$(sed -n 's/^TAG ?= //p' "$(dirname "$(dirname "${src}")")/Makefile")"
  gcc -Os -static -Wall -Werror -DVERSION="v${tag}" -o "${work}/pause" "${src}"
}

kind_module() {
  (cd "${cache}/build/kubernetes-v${KUBERNETES_VERSION}" \
    && go mod download -json "sigs.k8s.io/kind@v${KIND_VERSION}") \
    | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'
}

node_image() {
  ensure_tools
  local sums
  sums="$(cd "${bin}" && sha256sum "${tools[@]}")"
  node="${repo}/kind-node:${k8s}-$(digest "${here}"/node.Dockerfile "${here}"/containerd-config.toml \
    "${here}"/zonal-preload-images.service hack/kind/images.sh hack/versions.env -- "${base}" "${sums}")"
  if have_image "${node}"; then
    log "node image ${node} is up to date"
    return 0
  fi
  base_image
  local img name pause_image=""
  local -a imgs
  mapfile -t imgs < <(cp_images)
  [[ ${#imgs[@]} -gt 0 ]] || { log "kubeadm config images list printed nothing"; exit 1; }
  for img in "${imgs[@]}"; do
    name="${img##*/}"; name="${name%%:*}"
    case "${name}" in
      pause) pause_binary; binary_image "${img}" pause entry; pause_image="${img}" ;;
      coredns) binary_image "${img}" coredns entry ;;
      kube-proxy) binary_image "${img}" kube-proxy "" iptables nftables conntrack ;;
      *) binary_image "${img}" "${name}" "" ;;
    esac
  done
  local ctx="${work}/node-ctx" kind_dir
  rm -rf "${ctx}" && mkdir -p "${ctx}/bin" "${ctx}/images" "${ctx}/kind-files"
  kind_dir="$(kind_module)"
  cp -r "${kind_dir}/images/base/files/usr" "${kind_dir}/images/base/files/kind" \
    "${kind_dir}/images/base/files/etc" "${ctx}/kind-files/"
  chmod -R u+w "${ctx}/kind-files"
  # containerd 1.6's configuration is ours (containerd-config.toml); fuse-overlayfs is not used.
  rm -f "${ctx}/kind-files/etc/containerd/config.toml" \
    "${ctx}/kind-files/etc/systemd/system/containerd-fuse-overlayfs.service"
  cp "${bin}/kubelet" "${bin}/kubeadm" "${bin}/kubectl" "${bin}/crictl" "${ctx}/bin/"
  sed "s|@PAUSE_IMAGE@|${pause_image}|" "${here}/containerd-config.toml" >"${ctx}/containerd-config.toml"
  cp "${here}/zonal-preload-images.service" "${ctx}/"
  echo "${k8s}" >"${ctx}/version"
  log "docker save the control-plane images"
  "${docker}" save "${imgs[@]}" -o "${ctx}/images/control-plane.tar"
  build "${node}" "${ctx}" -f "${root}/${here}/node.Dockerfile" --build-arg "BASE_IMAGE=${base}"
  rm -rf "${ctx}"
}

case "${1:-node}" in
  node) node_image; echo "${node}" ;;
  base) base_image; echo "${base}" ;;
  python) python_image; echo "${python}" ;;
  *) echo "usage: $0 [node|base|python]" >&2; exit 2 ;;
esac
