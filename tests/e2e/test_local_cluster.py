"""The local zoned cluster behaves like a real one: the scheduler spreads pods over zones, and a
zone whose heartbeats stop is marked NotReady and tainted by the node lifecycle controller."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from localcluster import LocalCluster
from tests.kit.e2e import get_json, wait_for

pytestmark = pytest.mark.e2e

UNREACHABLE = "node.kubernetes.io/unreachable"


def _nodes(cluster: LocalCluster) -> dict[str, dict[str, Any]]:
    return {n["metadata"]["name"]: n for n in get_json(cluster, "nodes")["items"]}


def _ready(node: dict[str, Any]) -> str:
    conditions = node["status"].get("conditions", [])
    return next((c["status"] for c in conditions if c["type"] == "Ready"), "missing")


def _taint_keys(node: dict[str, Any]) -> set[str]:
    return {t["key"] for t in node["spec"].get("taints", [])}


def test_nodes_carry_zone_hostname_and_allocatable(cluster: LocalCluster) -> None:
    nodes = _nodes(cluster)
    assert len(nodes) == 9
    zones = Counter(n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes.values())
    assert zones == {"zone-a": 3, "zone-b": 3, "zone-c": 3}
    for name, node in nodes.items():
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == name
        assert set(node["status"]["allocatable"]) >= {"cpu", "memory", "pods"}
        assert _ready(node) == "True"


def test_scheduler_spreads_deployment_over_zones(cluster: LocalCluster, namespace: str) -> None:
    manifest = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: spread, namespace: {namespace}}}
spec:
  replicas: 6
  selector: {{matchLabels: {{app: spread}}}}
  template:
    metadata: {{labels: {{app: spread}}}}
    spec:
      containers: [{{name: app, image: registry.k8s.io/pause:3.10,
                    resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}}}]
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: topology.kubernetes.io/zone
        whenUnsatisfiable: DoNotSchedule
        labelSelector: {{matchLabels: {{app: spread}}}}
"""
    cluster.kubectl("apply", "-f", "-", input=manifest)
    zone_of = {
        name: n["metadata"]["labels"]["topology.kubernetes.io/zone"]
        for name, n in _nodes(cluster).items()
    }

    def running_per_zone() -> Counter[str] | None:
        pods = get_json(cluster, "pods", "-n", namespace, "-l", "app=spread")["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        if len(running) != 6:
            return None
        return Counter(zone_of[p["spec"]["nodeName"]] for p in running)

    per_zone = wait_for(running_per_zone, timeout=60, what="6 Running pods")
    assert per_zone == {"zone-a": 2, "zone-b": 2, "zone-c": 2}


@pytest.mark.usefixtures("restore_zones")
def test_zone_down_marks_nodes_unreachable_and_zone_up_heals(cluster: LocalCluster) -> None:
    zone = "zone-b"
    members = set(cluster.nodes_in_zone(zone))
    others = set(_nodes(cluster)) - members
    assert cluster.zone_down(zone)
    assert not cluster.zone_down(zone), "a second zone-down reports the zone was already down"

    def zone_unreachable() -> bool:
        nodes = _nodes(cluster)
        # The other zones stay Ready for the whole outage.
        assert all(_ready(nodes[name]) == "True" for name in others)
        return all(
            _ready(nodes[name]) == "Unknown" and UNREACHABLE in _taint_keys(nodes[name])
            for name in members
        )

    wait_for(zone_unreachable, timeout=60, what=f"{zone} nodes Unknown and tainted")
    for name in members:
        node = _nodes(cluster)[name]
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        # Set by the node lifecycle controller, not by the simulated kubelet.
        assert ready["reason"] == "NodeStatusUnknown"

    assert cluster.zone_up(zone)

    def zone_healed() -> bool:
        nodes = _nodes(cluster)
        assert all(_ready(nodes[name]) == "True" for name in others)
        return all(
            _ready(nodes[name]) == "True" and not (_taint_keys(nodes[name]) & {UNREACHABLE})
            for name in members
        )

    wait_for(zone_healed, timeout=60, what=f"{zone} nodes Ready and untainted")


@pytest.mark.usefixtures("restore_zones")
def test_single_node_down_leaves_its_zone_mates_ready(cluster: LocalCluster) -> None:
    node = "kwok-zone-c-1"
    assert cluster.node_down(node)

    def only_that_node_unknown() -> bool:
        nodes = _nodes(cluster)
        assert all(_ready(n) == "True" for name, n in nodes.items() if name != node)
        return _ready(nodes[node]) == "Unknown" and UNREACHABLE in _taint_keys(nodes[node])

    wait_for(only_that_node_unknown, timeout=60, what=f"{node} Unknown")
    assert cluster.node_up(node)
    wait_for(lambda: _ready(_nodes(cluster)[node]) == "True", timeout=60, what=f"{node} Ready")


def test_starting_twice_and_stopping_nothing_are_harmless(
    cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert cluster.up() is False, "up() on a running cluster reports it and changes nothing"
    assert cluster.is_running()
    nowhere = LocalCluster(tmp_path_factory.mktemp("empty"))
    assert nowhere.down() is False
