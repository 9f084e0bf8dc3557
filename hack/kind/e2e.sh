#!/usr/bin/env bash
# End-to-end run on the kind cluster (`make kind-e2e`, after kind-up, kind-load, kind-deploy):
# the example ZonalWorkload spreads over the three zones; when both zone-a workers stop (their
# containers are stopped, so their kubelets go silent), its replicas move to zone-b and zone-c;
# the workers are started again at the end. DRY_RUN=1 prints the commands instead.
set -euo pipefail
cd "$(dirname "$0")/../.."

cluster="${KIND_CLUSTER:-zonal}"
# KUBECTL may be a command with arguments ("hack/tool kubectl").
read -r -a kubectl <<<"${KUBECTL:-kubectl}"
docker="${DOCKER:-docker}"
ns="${E2E_NAMESPACE:-zonal-e2e}"
dry() { [[ "${DRY_RUN:-}" == 1 ]]; }
run() { if dry; then echo "+ $*"; else "$@"; fi; }
k() { run "${kubectl[@]}" --context "kind-${cluster}" "$@"; }

k apply --server-side -f - <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: ${ns}
YAML
# The example's pods run the web server image make kind-load built and loaded (WEB_IMAGE),
# not one pulled from a registry.
web="${WEB_IMAGE:-zonal-operator/web:dev}"
sed -e "s|^\( *\)image: nginx:.*|\1image: ${web}\n\1imagePullPolicy: Never|" \
  examples/zonalworkload.yaml >"${TMPDIR:-/tmp}/zonal-e2e-workload.yaml"
k apply --server-side -n "${ns}" -f "${TMPDIR:-/tmp}/zonal-e2e-workload.yaml"
k wait -n "${ns}" zonalworkload/web --for=condition=Ready --timeout=300s
k get -n "${ns}" zonalworkload,deployments -o wide

if dry; then
  zone_a="<the zone-a nodes>"
else
  zone_a="$("${kubectl[@]}" --context "kind-${cluster}" get nodes \
    -l topology.kubernetes.io/zone=zone-a -o jsonpath='{.items[*].metadata.name}')"
fi
# shellcheck disable=SC2086 # one argument per node
run "${docker}" stop ${zone_a}
restart_zone_a() {
  run "${docker}" start ${zone_a}
  # On the offline node image the routes between the nodes' pod networks are hack/kind/podnet.sh's,
  # and a restarted node has lost its own: write them again.
  if ! dry && "${docker}" exec "${cluster}-control-plane" test -f /etc/cni/net.d/10-zonal-bridge.conflist; then
    KIND_CLUSTER="${cluster}" KUBECTL="${kubectl[*]}" DOCKER="${docker}" hack/kind/podnet.sh
  fi
}
trap restart_zone_a EXIT
# The node lifecycle controller marks them unreachable after ~50 s, the operator fails the
# zone over after the workload's 30 s grace period.
k wait -n "${ns}" zonalworkload/web --for=condition=FailedOver --timeout=300s
k get -n "${ns}" zonalworkload,deployments -o wide
echo "zone-a failed over; its workers are started again on exit"
