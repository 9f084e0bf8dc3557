#!/usr/bin/env bash
# Pod networking for an offline kind cluster (no kindnetd image; hack/kind/up.sh runs this once
# the nodes have joined). What kindnetd would do for a fixed set of nodes: each node gets a
# bridge + host-local CNI configuration for its own podCIDR (Debian's CNI plugins), and a route
# to every other node's podCIDR through that node's address. Running it again rewrites the same.
set -euo pipefail
cluster="${KIND_CLUSTER:-zonal}"
read -r -a kubectl <<<"${KUBECTL:-hack/tool kubectl}"
docker="${DOCKER:-docker}"
mapfile -t nodes < <("${kubectl[@]}" --context "kind-${cluster}" get nodes -o \
  jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}')
for line in "${nodes[@]}"; do
  read -r name cidr _ <<<"${line}"
  [[ -n "${cidr}" ]] || { echo "[podnet] ${name} has no podCIDR yet" >&2; exit 1; }
  "${docker}" exec -i "${name}" sh -c 'cat >/etc/cni/net.d/10-zonal-bridge.conflist' <<JSON
{
  "cniVersion": "1.0.0",
  "name": "zonal-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "${cidr}"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  for other in "${nodes[@]}"; do
    read -r oname ocidr oip <<<"${other}"
    [[ "${oname}" == "${name}" ]] && continue
    "${docker}" exec "${name}" ip route replace "${ocidr}" via "${oip}"
  done
  echo "[podnet] ${name}: pods in ${cidr}" >&2
done
