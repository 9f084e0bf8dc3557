#!/usr/bin/env bash
# Builds the upstream binaries the local cluster and the chart checks need, from the Go module
# proxy, into a cache outside the repository:
#   ${ZONAL_CACHE_DIR:-~/.cache/zonal-operator}/k8s-v<KUBERNETES_VERSION>/bin
# A binary already in the cache is not built again.
#   hack/install-tools.sh [cluster|chart|all]   a set: the local cluster's, the chart checks'
#                                               (helm, kubeconform, promtool), both
#   hack/install-tools.sh kind                  kind, for the kind targets (not part of `all`)
#   hack/install-tools.sh kind-node             what a locally built kind node image holds:
#                                               kubelet, kubeadm, kube-proxy, crictl, coredns
#   hack/install-tools.sh NAME                  the set that builds one binary (kubectl -> cluster)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "${here}/versions.env"

what="${1:-all}"
cache="${ZONAL_CACHE_DIR:-${HOME}/.cache/zonal-operator}"
bin="${cache}/k8s-v${KUBERNETES_VERSION}/bin"
work="${cache}/build"
mkdir -p "${bin}" "${work}"

export GOFLAGS="-mod=mod -trimpath"
export CGO_ENABLED=0
ldstrip="-s -w"

log() { printf '[install-tools] %s\n' "$*" >&2; }
# Without Go nothing can be built: say so the first time a build needs it.
if ! command -v go >/dev/null; then
  go() {
    log "Go is not installed (or not on PATH): install Go 1.26 or newer, then run this again"
    exit 127
  }
fi
have() { [[ -x "${bin}/$1" ]]; }

# k8s.io/kubernetes replaces its staging modules (k8s.io/api, k8s.io/client-go, ...) with local
# paths, so it cannot be `go install`ed. A wrapper module points every one of those at its
# published v0.X.Y release instead.
build_kubernetes() { # [command ...], default: the local cluster's
  local targets=() t want=("$@")
  [[ $# -gt 0 ]] || want=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  for t in "${want[@]}"; do
    have "$t" || targets+=("$t")
  done
  [[ ${#targets[@]} -eq 0 ]] && return 0
  local v="${KUBERNETES_VERSION}" staging="0.${KUBERNETES_VERSION#1.}"
  local mod="${work}/kubernetes-v${v}"
  mkdir -p "${mod}"
  if [[ ! -f "${mod}/go.mod" ]]; then
    local upstream
    upstream="$(go mod download -json "k8s.io/kubernetes@v${v}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    {
      echo "module zonal.dev/build/kubernetes"
      echo
      grep -E '^go ' "${upstream}"
      grep -E '^godebug ' "${upstream}" || true
      echo
      echo "require k8s.io/kubernetes v${v}"
      echo
      echo "replace ("
      grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "${upstream}" \
        | awk -v s="v${staging}" '{print "\t" $1 " => " $1 " " s}'
      echo ")"
    } > "${mod}/go.mod"
    printf 'package build\n' > "${mod}/doc.go"
  fi
  local pkg="k8s.io/component-base/version" cg="k8s.io/client-go/pkg/version" flags="${ldstrip}"
  local major="${v%%.*}" minor="${v#*.}"; minor="${minor%%.*}"
  for p in "${pkg}" "${cg}"; do
    flags+=" -X ${p}.gitVersion=v${v} -X ${p}.gitMajor=${major} -X ${p}.gitMinor=${minor}"
    flags+=" -X ${p}.gitTreeState=clean -X ${p}.buildDate=1970-01-01T00:00:00Z"
  done
  # Binaries built from v0.X.Y staging modules otherwise report v0.0.0-master.
  flags+=" -X k8s.io/component-base/version.gitCommit=v${v}"
  for t in "${targets[@]}"; do
    log "building ${t} v${v}"
    (cd "${mod}" && go build -ldflags "${flags}" -o "${bin}/${t}" "k8s.io/kubernetes/cmd/${t}")
  done
}

# etcd's server module replaces its sibling modules with local paths too: same cure.
build_etcd() {
  have etcd && return 0
  local v="${ETCD_VERSION}" mod="${work}/etcd-v${ETCD_VERSION}"
  mkdir -p "${mod}"
  cat > "${mod}/go.mod" <<GOMOD
module zonal.dev/build/etcd

go 1.24

require (
	go.etcd.io/etcd/api/v3 v${v}
	go.etcd.io/etcd/client/pkg/v3 v${v}
	go.etcd.io/etcd/client/v3 v${v}
	go.etcd.io/etcd/pkg/v3 v${v}
	go.etcd.io/etcd/server/v3 v${v}
)
GOMOD
  cat > "${mod}/main.go" <<'GO'
// Command etcd is the upstream etcd server, built from the published modules.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  log "building etcd v${v}"
  (cd "${mod}" && go mod tidy >/dev/null 2>&1 || true
   go build -ldflags "${ldstrip} -X go.etcd.io/etcd/api/v3/version.GitSHA=v${v}" -o "${bin}/etcd" .)
}

go_install() { # name module/path version
  have "$1" && return 0
  log "building $1 $3"
  GOBIN="${bin}" go install -ldflags "${ldstrip} ${4:-}" "$2@$3"
}

case "${what}" in
  cluster|chart|all|kind|kind-node) ;;
  kubelet|kubeadm|kube-proxy|crictl|coredns) what=kind-node ;;
  etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubectl|kwok|kwokctl) what=cluster ;;
  helm|kubeconform|promtool) what=chart ;;
  *) echo "usage: $0 [cluster|chart|all|kind|<one of their binaries>]" >&2; exit 2 ;;
esac
if [[ "${what}" == kind ]]; then
  go_install kind sigs.k8s.io/kind "v${KIND_VERSION}"
elif [[ "${what}" == kind-node ]]; then
  build_kubernetes kubelet kubeadm kube-proxy kubectl
  go_install crictl sigs.k8s.io/cri-tools/cmd/crictl "v${CRICTL_VERSION}" \
    "-X sigs.k8s.io/cri-tools/pkg/version.Version=v${CRICTL_VERSION}"
  go_install coredns github.com/coredns/coredns "v${COREDNS_VERSION}" \
    "-X github.com/coredns/coredns/coremain.GitCommit=v${COREDNS_VERSION}"
elif [[ "${what}" != chart ]]; then
  build_etcd
  build_kubernetes
  kwok_flags="-X sigs.k8s.io/kwok/pkg/consts.Version=v${KWOK_VERSION}"
  go_install kwok sigs.k8s.io/kwok/cmd/kwok "v${KWOK_VERSION}" "${kwok_flags}"
  go_install kwokctl sigs.k8s.io/kwok/cmd/kwokctl "v${KWOK_VERSION}" "${kwok_flags}"
fi
if [[ "${what}" == chart || "${what}" == all ]]; then
  go_install helm helm.sh/helm/v3/cmd/helm "v${HELM_VERSION}" \
    "-X helm.sh/helm/v3/internal/version.version=v${HELM_VERSION}"
  go_install kubeconform github.com/yannh/kubeconform/cmd/kubeconform "v${KUBECONFORM_VERSION}"
  # Prometheus 3.MM.P is tagged v0.3MM.P in its Go module; only the promtool command is built.
  IFS=. read -r _ prom_minor prom_patch <<<"${PROMETHEUS_VERSION}"
  go_install promtool github.com/prometheus/prometheus/cmd/promtool \
    "$(printf 'v0.3%02d.%d' "${prom_minor}" "${prom_patch}")" \
    "-X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION}"
fi
log "binaries in ${bin}"
