#!/usr/bin/env bash
# `make kind-load`: build the operator image from the Dockerfile and the example's web server
# image, and load both into the kind cluster's nodes. Offline (hack/kind_offline.py), their
# Python base is the one hack/kind/images.sh builds on the local Debian base; otherwise the
# Dockerfile's default (the official python image). PYTHON_IMAGE overrides both.
set -euo pipefail
cd "$(dirname "$0")/../.."
read -r -a kind <<<"${KIND:-hack/tool kind}"
docker="${DOCKER:-docker}"
cluster="${KIND_CLUSTER:-zonal}"
image="${IMAGE:-zonal-operator:dev}"
web="${WEB_IMAGE:-zonal-operator/web:dev}"
python_image="${PYTHON_IMAGE:-}"
if [[ -z "${python_image}" && "$(python3 hack/kind_offline.py)" == 1 ]]; then
  python_image="$(hack/kind/images.sh python)"
fi
# Quiet unless it fails (the legacy builder of Debian's docker.io warns on every build).
build() { # tag, docker build arguments...
  local tag="$1" out; shift
  out="$(nice -n 19 "${docker}" build --quiet --tag "${tag}" "$@" 2>&1)" \
    || { printf '%s\n' "${out}" >&2; exit 1; }
}
args=()
[[ -n "${python_image}" ]] && args=(--build-arg "PYTHON_IMAGE=${python_image}")
echo "[kind-load] docker build ${image} ${args[*]}" >&2
build "${image}" "${args[@]}" .
[[ -n "${python_image}" ]] || python_image="$(sed -n 's/^ARG PYTHON_IMAGE=//p' Dockerfile)"
echo "[kind-load] docker build ${web} (on ${python_image})" >&2
build "${web}" --build-arg "PYTHON_IMAGE=${python_image}" -f hack/kind/images/web.Dockerfile \
  hack/kind/images
"${kind[@]}" load docker-image "${image}" "${web}" --name "${cluster}"
