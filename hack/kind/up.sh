#!/usr/bin/env bash
# `make kind-up`: create the kind cluster.
# - A registry answers (hack/kind_offline.py; KIND_OFFLINE=0 to insist): kind's stock node image
#   (or KIND_NODE_IMAGE), kind's own CNI, hack/kind/kind-config.yaml as it is.
# - Offline (no registry, or KIND_OFFLINE=1): the images of hack/kind/images.sh, built here or
#   found in the cache, and hack/kind/offline.yaml appended to the config (kind's CNI off, the
#   local image repository, the kubelet settings for this machine's cgroups); then
#   hack/kind/podnet.sh gives each node its pod network and routes to the others'.
# Env: KIND (command), KUBECTL (command), KIND_CLUSTER, KIND_CONFIG, KIND_NODE_IMAGE.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../versions.env
source hack/versions.env
read -r -a kind <<<"${KIND:-hack/tool kind}"
read -r -a kubectl <<<"${KUBECTL:-hack/tool kubectl}"
cluster="${KIND_CLUSTER:-zonal}"
config="${KIND_CONFIG:-hack/kind/kind-config.yaml}"
log() { printf '[kind-up] %s\n' "$*" >&2; }

if "${kind[@]}" get clusters 2>/dev/null | grep -qx "${cluster}"; then
  log "cluster ${cluster} exists (make kind-down to remove it)"
  exit 0
fi
if [[ "$(python3 hack/kind_offline.py)" == 0 ]]; then
  log "a registry answers: kind's ${KIND_NODE_IMAGE:-stock node image}"
  exec "${kind[@]}" create cluster --name "${cluster}" --config "${config}" \
    ${KIND_NODE_IMAGE:+--image "${KIND_NODE_IMAGE}"} --wait 180s
fi

log "offline: building (or finding) the node image here"
node_image="$(hack/kind/images.sh node)"
cfg="$(mktemp)"
trap 'rm -f "${cfg}"' EXIT
{
  cat "${config}"
  sed -e "s|@REPO@|${KIND_LOCAL_REPO:-zonal-operator}|" -e "s|@ETCD@|v${ETCD_VERSION}|" \
    -e "s|@COREDNS@|v${COREDNS_VERSION}|" hack/kind/offline.yaml
} >"${cfg}"
log "kind create cluster --image ${node_image}"
# No --wait: the nodes are NotReady until podnet.sh has written their CNI configuration.
"${kind[@]}" create cluster --name "${cluster}" --config "${cfg}" --image "${node_image}"
KIND_CLUSTER="${cluster}" KUBECTL="${kubectl[*]}" hack/kind/podnet.sh
"${kubectl[@]}" --context "kind-${cluster}" wait --for=condition=Ready nodes --all --timeout=180s
"${kubectl[@]}" --context "kind-${cluster}" get nodes -L topology.kubernetes.io/zone
