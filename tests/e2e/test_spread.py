"""Spread placement against real outages: one Deployment, the real scheduler's zone spread
constraint, the real node lifecycle controller, and the operator deleting stranded pods on
failover and rebalancing through the Eviction API on failback.

The pods tolerate the `unreachable`/`not-ready` taints for 120 s here, so every replacement
seen well within that time is the operator's doing, not taint-based eviction's.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from localcluster import LocalCluster
from testkit.operator_process import OperatorProcess
from testkit.workloads import condition
from tests.kit.e2e import (
    EVEN,
    SpreadSampler,
    apply,
    event_count,
    get_json,
    metric,
    nodes_not_ready,
    nodes_ready,
    pods,
    ready_per_zone,
    settled_status,
    spread_replicas,
    spread_workload,
    status,
    wait_for,
    zone_health,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.usefixtures("running_operator", "restore_zones"),
]


def wait_spread(
    cluster: LocalCluster, namespace: str, expected: dict[str, int] | None, timeout: float = 90
) -> dict[str, Any]:
    """Until the Deployment asks for 9, exactly 9 pods run Ready (`expected` per zone, or
    within maxSkew over zone-b and zone-c when None), none other exists, and status is Ready
    and no longer Progressing."""

    def done() -> dict[str, Any] | None:
        if spread_replicas(cluster, namespace) != 9:
            return None
        live = [p for p in pods(cluster, namespace) if not p["metadata"].get("deletionTimestamp")]
        counts = ready_per_zone(cluster, namespace)
        if len(live) != 9 or sum(counts.values()) != 9:
            return None
        if expected is not None and dict(counts) != {z: n for z, n in expected.items() if n}:
            return None
        if expected is None and (set(counts) != {"zone-b", "zone-c"} or
                                 abs(counts["zone-b"] - counts["zone-c"]) > 1):  # fmt: skip
            return None
        return settled_status(cluster, namespace, "web")

    result: dict[str, Any] = wait_for(done, timeout=timeout, what=f"spread {expected}")
    return result


def zone_a_down_and_failed_over(cluster: LocalCluster, namespace: str) -> float:
    """Take zone-a down; return how long after NotReady its pods were all replaced."""
    cluster.zone_down("zone-a")
    wait_for(nodes_not_ready(cluster, "zone-a"), timeout=60, what="zone-a NotReady")
    not_ready_at = time.monotonic()
    wait_spread(cluster, namespace, None, timeout=100)
    return time.monotonic() - not_ready_at


def test_one_zone_dies_and_comes_back(cluster: LocalCluster, namespace: str) -> None:
    apply(cluster, spread_workload(namespace))
    wait_spread(cluster, namespace, EVEN)
    [dep] = get_json(cluster, "deployments", "-n", namespace)["items"]
    assert dep["metadata"]["name"] == "web"

    with SpreadSampler(cluster, namespace) as outage:
        took = zone_a_down_and_failed_over(cluster, namespace)
    # Replaced by the operator after its 5 s grace, far before the pods' 120 s toleration.
    assert took < 60, took
    assert min(outage.ready) >= 6, outage.ready
    assert max(outage.replicas) == 9  # failover needs no surge: the Deployment replaces
    st = status(cluster, namespace, "web")
    assert zone_health(cluster, namespace)["zone-a"] == "Unhealthy"
    assert {z["name"]: z["replicas"] for z in st["zones"]}["zone-a"] == 0
    assert st["skew"] <= 1  # over zone-b and zone-c, the zones that can take pods
    assert condition(st, "FailedOver")["status"] == "True"
    assert event_count(cluster, namespace, "ZoneUnhealthy") == 1
    stuck = [p for p in pods(cluster, namespace) if p["status"].get("phase") == "Pending"]
    assert not stuck, "replacements left Pending by the spread constraint"

    with SpreadSampler(cluster, namespace) as recovery:
        cluster.zone_up("zone-a")
        # Its nodes turn Ready a moment before the node lifecycle controller lifts their
        # NoSchedule taints; until then zone-a takes no pod and is no domain of the skew.
        wait_for(
            lambda: (
                zone_health(cluster, namespace).get("zone-a") == "Recovering"
                and condition(status(cluster, namespace, "web"), "Balanced").get("reason")
                == "WaitingForFailback"
            ),
            timeout=60,
            what="zone-a Recovering, waiting out the failback delay",
        )
        assert condition(status(cluster, namespace, "web"), "Balanced")["status"] == "False"
        st = wait_spread(cluster, namespace, EVEN, timeout=150)
    # Make-before-break: Ready never below spec.replicas, the surge at most one step (3).
    assert min(recovery.ready) >= 9, recovery.ready
    assert 9 < max(recovery.replicas) <= 12, recovery.replicas
    assert st["skew"] == 0
    assert condition(st, "Balanced")["status"] == "True"
    assert st["surgeReplicas"] == 0
    assert event_count(cluster, namespace, "ZoneRecovered") == 1
    assert event_count(cluster, namespace, "ReplicasReturned") == 1


def test_two_zones_die_then_all_three_and_nothing_is_deleted(
    cluster: LocalCluster, namespace: str
) -> None:
    apply(cluster, spread_workload(namespace))
    wait_spread(cluster, namespace, EVEN)

    cluster.zone_down("zone-a")
    cluster.zone_down("zone-b")
    wait_for(
        lambda: dict(ready_per_zone(cluster, namespace)) == {"zone-c": 9},
        timeout=100,
        what="all pods in zone-c",
    )
    cluster.zone_down("zone-c")
    wait_for(nodes_not_ready(cluster, "zone-c"), timeout=60, what="zone-c NotReady")
    wait_for(
        lambda: (
            condition(status(cluster, namespace, "web"), "Degraded").get("reason")
            == "AllZonesUnhealthy"
        ),
        timeout=60,
        what="AllZonesUnhealthy reported",
    )
    # Long past the grace period, zone-c's pods stay: nothing is deleted.
    for _ in range(15):
        on_c = [
            p
            for p in pods(cluster, namespace)
            if p["spec"].get("nodeName", "").startswith("kwok-zone-c")
        ]
        assert len(on_c) == 9 and not any(p["metadata"].get("deletionTimestamp") for p in on_c)
        time.sleep(1)


def test_a_flapping_zone_fails_over_and_back_at_most_once(
    cluster: LocalCluster, namespace: str
) -> None:
    apply(cluster, spread_workload(namespace, failbackDelaySeconds=30))
    wait_spread(cluster, namespace, EVEN)

    for _ in range(3):
        cluster.zone_down("zone-a")
        wait_for(nodes_not_ready(cluster, "zone-a"), timeout=60, what="zone-a NotReady")
        time.sleep(6)
        cluster.zone_up("zone-a")
        wait_for(lambda: not nodes_not_ready(cluster, "zone-a")(), timeout=60, what="zone-a Ready")
        time.sleep(4)
    wait_spread(cluster, namespace, EVEN, timeout=180)
    assert event_count(cluster, namespace, "ZoneUnhealthy") <= 1
    assert event_count(cluster, namespace, "ReplicasReturned") <= 1


def test_operator_restart_mid_rebalance_finishes_it_without_a_second_surge(
    cluster: LocalCluster, namespace: str, running_operator: OperatorProcess
) -> None:
    apply(cluster, spread_workload(namespace))
    wait_spread(cluster, namespace, EVEN)
    zone_a_down_and_failed_over(cluster, namespace)

    with SpreadSampler(cluster, namespace) as recovery:
        cluster.zone_up("zone-a")
        wait_for(
            lambda: status(cluster, namespace, "web").get("surgeReplicas", 0) > 0,
            timeout=90,
            what="rebalance started",
        )
        running_operator.kill()
        time.sleep(3)
        running_operator.start()
        wait_spread(cluster, namespace, EVEN, timeout=150)
    assert min(recovery.ready) >= 9, recovery.ready
    assert max(recovery.replicas) <= 12, recovery.replicas
    assert event_count(cluster, namespace, "ReplicasReturned") == 1


def test_failback_never_violates_a_disruption_budget(
    cluster: LocalCluster, namespace: str, running_operator: OperatorProcess
) -> None:
    apply(cluster, spread_workload(namespace))
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pdb))
    wait_spread(cluster, namespace, EVEN)
    zone_a_down_and_failed_over(cluster, namespace)

    def evictions() -> float:
        return metric(running_operator, "zonal_operator_api_requests_total",
                      verb="create", resource="pods/eviction")  # fmt: skip

    evictions_before = evictions()
    with SpreadSampler(cluster, namespace, pdb=True) as recovery:
        cluster.zone_up("zone-a")
        wait_for(nodes_ready(cluster, "zone-a"), timeout=60, what="zone-a Ready")
        st = wait_spread(cluster, namespace, EVEN, timeout=180)
    assert st["skew"] == 0
    assert recovery.budget, "no PodDisruptionBudget status sampled"
    # The budget promises at most 1 of the 9 unavailable. The disruption controller's own
    # count of healthy pods never fell below that; the Ready pods never fell below 9 at all.
    assert min(h for h, _ in recovery.budget) >= 9 - 1, recovery.budget
    assert min(recovery.ready) >= 9, recovery.ready
    # The pods left the full zones through the Eviction API (a refused one counts too).
    assert evictions() - evictions_before >= 3
