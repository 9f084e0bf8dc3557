"""A real zone outage on kind: a zone's worker containers are paused (kubelet, containerd and
pods freeze together), with the operator running as pods of the chart, one leading.

Every time is counted from the `docker pause`, the moment users lose the zone, to the moment
the workload has `spec.replicas` Ready pods outside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from testkit import workloads
from tests.kit.e2e import wait_for
from tests.kit.kind import (
    ZONE,
    ReadyByZone,
    apply,
    balanced,
    get,
    kubectl,
    leader,
    operator_pods,
    pause,
    unpause_all,
    wait_operator_settled,
    wait_workload_ready,
    web_workload,
    worker_zones,
    zone_nodes,
    zone_of_pod,
)

pytestmark = pytest.mark.kind

REPLICAS = 9
# The failover target with the default settings (docs/benchmarks.md), from the outage.
FAILOVER_TARGET = 40
# With the leader lost with the zone, a standby must first take the Lease (15 s).
LEADER_LOST_TARGET = FAILOVER_TARGET + 15
# Short enough for a test; the steps of the return are the workload's own rules.
FAILBACK = {"failbackDelaySeconds": 20, "failbackStepPercent": 50}


def ready_workload(namespace: str, name: str) -> None:
    apply(namespace, web_workload(name, REPLICAS, **FAILBACK))
    wait_workload_ready(namespace, name)
    wait_for(lambda: balanced(namespace, name), timeout=180, what=f"{name} balanced")
    wait_operator_settled()


def nodes_not_ready(zone: str) -> bool:
    nodes = set(zone_nodes(zone))
    return all(
        c["status"] != "True"
        for n in get("nodes")["items"]
        if n["metadata"]["name"] in nodes
        for c in n["status"]["conditions"]
        if c["type"] == "Ready"
    )


def stock_deployment(namespace: str, like: dict[str, Any]) -> dict[str, Any]:
    """The stock alternative: a Deployment of the same pods, spread over the zones."""
    spec = like["spec"]["template"]["spec"]
    spread = {
        "topologyKey": ZONE,
        "maxSkew": 1,
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app": "stock"}},
    }
    return workloads.deployment(
        "stock", namespace, REPLICAS, spec["containers"], topologySpreadConstraints=[spread]
    )


def test_a_zone_outage_fails_over_and_back(
    namespace: str, zones_restored: None, figure: Callable[[str], None]
) -> None:
    apply(namespace, stock_deployment(namespace, web_workload("outage")))
    ready_workload(namespace, "outage")
    kubectl("rollout", "status", "-n", namespace, "deployment/stock", "--timeout=180s")
    # A zone with no operator pod: this test is about the workload's replicas (the next one
    # loses the leader with its zone).
    operator_zones = {zone_of_pod(p["metadata"]["name"]) for p in operator_pods()}
    lost = sorted(set(worker_zones().values()) - operator_zones)[0]

    start = pause(lost)
    with (
        ReadyByZone(namespace, "outage", start=start) as outage,
        ReadyByZone(namespace, "stock", start=start) as stock,
    ):
        wait_for(
            lambda: outage.ready_outside(lost, REPLICAS) is not None,
            timeout=180,
            what=f"{REPLICAS} Ready outside {lost}",
        )
        # The outage goes on until the node lifecycle controller has seen it too.
        wait_for(lambda: nodes_not_ready(lost), timeout=120, what=f"{lost} NotReady")
        not_ready_at = outage.samples[-1][0]
    back = outage.ready_outside(lost, REPLICAS)
    assert back is not None
    stock_outside = max(
        sum(n for z, n in ready.items() if z != lost) for _, ready, _ in stock.samples
    )
    figure(
        f"zone outage ({lost} paused): {REPLICAS} Ready outside it {back:.1f} s after the pause "
        f"(target {FAILOVER_TARGET} s; its nodes NotReady at {not_ready_at:.0f} s); the stock "
        f"Deployment (zone spread, ScheduleAnyway) had at most {stock_outside} Ready outside "
        f"it until {outage.samples[-1][0]:.0f} s"
    )
    assert back <= FAILOVER_TARGET, outage.samples
    workload = get("-n", namespace, "zonalworkload/outage")
    zone = next(z for z in workload["status"]["zones"] if z["name"] == lost)
    assert zone["health"] == "Unhealthy", zone

    # The zone comes back: the replicas return in steps, surge first, Ready never below
    # spec.replicas (pods being deleted left out).
    with ReadyByZone(namespace, "outage") as failback:
        unpause_all()
        wait_for(lambda: balanced(namespace, "outage"), timeout=300, what="failback complete")
    lowest = failback.lowest_ready()
    figure(
        f"failback after the unpause: balanced again in {failback.samples[-1][0]:.0f} s "
        f"(failbackDelaySeconds {FAILBACK['failbackDelaySeconds']}), lowest Ready {lowest}"
    )
    assert lowest >= REPLICAS, failback.samples


def test_the_leaders_own_zone_lost(
    namespace: str, zones_restored: None, figure: Callable[[str], None]
) -> None:
    ready_workload(namespace, "leaderless")
    old = leader()
    lost = zone_of_pod(old)

    start = pause(lost)
    with ReadyByZone(namespace, "leaderless", start=start) as outage:
        wait_for(
            lambda: (
                outage.ready_outside(lost, REPLICAS) is not None
                and outage.holder_changed(old) is not None
            ),
            timeout=180,
            what=f"a new leader and {REPLICAS} Ready outside {lost}",
        )
    back = outage.ready_outside(lost, REPLICAS)
    took_over = outage.holder_changed(old)
    assert back is not None and took_over is not None
    figure(
        f"leader's zone ({lost}) paused: standby led after {took_over:.1f} s, {REPLICAS} Ready "
        f"outside it after {back:.1f} s (target {LEADER_LOST_TARGET} s)"
    )
    assert back <= LEADER_LOST_TARGET, outage.samples

    # The old leader, thawed, finds its Lease taken and stands by.
    unpause_all()
    wait_operator_settled()
    assert leader() != old
    wait_for(lambda: balanced(namespace, "leaderless"), timeout=300, what="failback complete")
