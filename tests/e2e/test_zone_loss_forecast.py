"""The zone-loss forecast and headroom on a tight local cluster: pods that ask a whole node
(8 CPUs of 8), so that a zone of three nodes holds three of them and nothing else.

What a user checks: ZoneLossCovered says False before a loss that would not fit, and True
when it would; a cordoned node takes its room away and gives it back; without headroom the
surge of a lost zone sits Pending (reported as Unschedulable) and Ready outside the zone stays
short; with placeholders the surge preempts them, capacity is back, and the placeholders come
back Pending, which is what asks an autoscaler for nodes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from localcluster import LocalCluster
from testkit.operator_process import OperatorProcess
from testkit.workloads import HEADROOM_PRIORITY_CLASS, condition
from tests.kit.e2e import (
    apply,
    create_shift,
    events,
    failover_workload,
    get_json,
    metric,
    placeholders,
    ready_per_zone,
    status,
    wait_converged,
    wait_for,
)
from zonal_operator.api.group import HEADROOM_LABEL

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.usefixtures("running_operator", "restore_zones"),
]


# The forecast takes the room again every 15 s (the default), after the node batch.
FORECAST_WAIT = 60


def whole_node_workload(namespace: str, replicas: int, **failover: Any) -> dict[str, Any]:
    body = failover_workload(namespace, **failover)
    body["spec"]["replicas"] = replicas
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "8", "memory": "1Gi"}
    }
    return body


def others_gone(cluster: LocalCluster, namespace: str) -> bool:
    """No pod of another test holds room on a node (their namespaces go with them)."""
    items = get_json(cluster, "pods", "-A", "--field-selector", "spec.nodeName!=")["items"]
    return all(p["metadata"]["namespace"] == namespace for p in items)


def covered(cluster: LocalCluster, namespace: str) -> dict[str, Any]:
    return condition(status(cluster, namespace, "web"), "ZoneLossCovered")


def shortfalls(cluster: LocalCluster, namespace: str) -> dict[str, int]:
    return {
        z["name"]: z["lossShortfall"]
        for z in status(cluster, namespace, "web").get("zones") or []
        if "lossShortfall" in z
    }


def nodes_with_pods(cluster: LocalCluster, namespace: str) -> set[str]:
    items = get_json(cluster, "pods", "-n", namespace, "-l", "zonal.dev/workload=web")["items"]
    return {p["spec"].get("nodeName") for p in items if p["spec"].get("nodeName")}


def test_the_forecast_follows_the_room_and_a_loss_that_does_not_fit_stays_pending(
    cluster: LocalCluster,
    namespace: str,
    running_operator: OperatorProcess,
    figure: Callable[[str], None],
) -> None:
    wait_for(lambda: others_gone(cluster, namespace), timeout=120, what="other tests' pods gone")
    apply(cluster, whole_node_workload(namespace, 6))
    wait_converged(cluster, namespace, "web", {"zone-a": 2, "zone-b": 2, "zone-c": 2})
    # A free node in each zone: the loss of any one zone moves 2, one to each other zone.
    wait_for(lambda: covered(cluster, namespace).get("status") == "True", timeout=FORECAST_WAIT,
             what="ZoneLossCovered True")  # fmt: skip
    assert shortfalls(cluster, namespace) == {"zone-a": 0, "zone-b": 0, "zone-c": 0}

    # Cordon zone-b's free node: losing zone-a or zone-c would now leave one replica short.
    free = sorted(set(cluster.nodes_in_zone("zone-b")) - nodes_with_pods(cluster, namespace))
    assert len(free) == 1, free
    cluster.kubectl("cordon", free[0])
    try:
        wait_for(lambda: covered(cluster, namespace).get("status") == "False",
                 timeout=FORECAST_WAIT, what="ZoneLossCovered False after a cordon")  # fmt: skip
        short = covered(cluster, namespace)
        assert short["reason"] == "ZoneLossShortfall"
        assert short["message"].startswith("if zone-a were lost now, 1 of the 2 replicas"), short
        assert "zone-b short 1" in short["message"]
        assert shortfalls(cluster, namespace) == {"zone-a": 1, "zone-b": 0, "zone-c": 1}
        wide = cluster.kubectl("get", "zw", "web", "-n", namespace, "-o", "wide").stdout
        header, row = wide.splitlines()[:2]
        at = header.index("LOSS-COVERED")  # columns may be empty: read it where it is printed
        assert row[at:].split()[0] == "False", wide
        assert "ZoneLossShortfall" in [e["reason"] for e in events(cluster, namespace, "web")]
        loss = "zonal_operator_zone_loss_shortfall_replicas"
        assert metric(running_operator, loss, namespace=namespace, zone="zone-a") == 1
    finally:
        cluster.kubectl("uncordon", free[0])
    wait_for(lambda: covered(cluster, namespace).get("status") == "True", timeout=FORECAST_WAIT,
             what="ZoneLossCovered True after the uncordon")  # fmt: skip

    # Every node full: the forecast says so before the loss, and the loss proves it.
    spec = whole_node_workload(namespace, 9)
    apply(cluster, spec)
    wait_converged(cluster, namespace, "web", {"zone-a": 3, "zone-b": 3, "zone-c": 3})
    full = {"zone-a": 3, "zone-b": 3, "zone-c": 3}
    wait_for(lambda: shortfalls(cluster, namespace) == full, timeout=FORECAST_WAIT,
             what="a shortfall of 3 for every zone, every node full")  # fmt: skip
    assert covered(cluster, namespace)["status"] == "False"
    cluster.zone_down("zone-a")
    started = time.monotonic()

    def pending_reported() -> bool:
        zones = {z["name"]: z for z in status(cluster, namespace, "web").get("zones") or []}
        pending = [int(zones[z].get("unschedulableReplicas", 0)) for z in ("zone-b", "zone-c")]
        return sum(pending) == 3

    wait_for(pending_reported, timeout=90, what="the surge reported Unschedulable")
    figure(f"tight cluster, no headroom: surge reported Unschedulable "
          f"{time.monotonic() - started:.0f} s after zone-a's heartbeats stopped")  # fmt: skip
    items = get_json(cluster, "pods", "-n", namespace, "-l", "zonal.dev/workload=web")["items"]
    unschedulable = [
        p["metadata"]["labels"]["zonal.dev/zone"]
        for p in items
        if condition(p["status"], "PodScheduled").get("reason") == "Unschedulable"
    ]
    assert sorted(unschedulable) == ["zone-b", "zone-b", "zone-c"], unschedulable
    ready = ready_per_zone(cluster, namespace)
    assert ready["zone-b"] + ready["zone-c"] == 6, ready


def tight_with_placeholders(cluster: LocalCluster, namespace: str) -> None:
    """6 replicas of whole-node pods, 2 per zone, and one placeholder per zone filling its
    third node: room only the workload itself can use."""
    wait_for(lambda: others_gone(cluster, namespace), timeout=120, what="other tests' pods gone")
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(HEADROOM_PRIORITY_CLASS))
    apply(cluster, whole_node_workload(namespace, 6, headroom={"mode": "Placeholders"}))
    wait_converged(cluster, namespace, "web", {"zone-a": 2, "zone-b": 2, "zone-c": 2})
    one_each = dict.fromkeys(("zone-a", "zone-b", "zone-c"), (1, 1))
    wait_for(lambda: placeholders(cluster, namespace) == one_each, timeout=60,
             what="placeholders 1/1/1 Ready")  # fmt: skip


def test_placeholders_make_room_for_the_surge_on_a_tight_cluster(
    cluster: LocalCluster, namespace: str, figure: Callable[[str], None]
) -> None:
    tight_with_placeholders(cluster, namespace)
    wait_for(lambda: covered(cluster, namespace).get("status") == "True", timeout=FORECAST_WAIT,
             what="ZoneLossCovered True, the placeholders counted")  # fmt: skip

    cluster.zone_down("zone-a")
    started = time.monotonic()

    def back() -> bool:
        ready = ready_per_zone(cluster, namespace)
        return ready["zone-b"] + ready["zone-c"] >= 6

    wait_for(back, timeout=90, what="6 Ready outside zone-a")
    elapsed = time.monotonic() - started
    figure(f"tight cluster, placeholders: capacity back outside zone-a {elapsed:.0f} s after "
          "its heartbeats stopped")  # fmt: skip
    preempted = [
        e
        for e in get_json(cluster, "events", "-n", namespace)["items"]
        if e.get("reason") == "Preempted"
    ]
    assert {e["involvedObject"]["name"].split(".headroom")[0] for e in preempted} == {
        "web-zone-b",
        "web-zone-c",
    }, preempted
    # Sized for the next loss (3 each), and Pending: no node has room for them.
    wait_for(lambda: placeholders(cluster, namespace) == {"zone-b": (3, 0), "zone-c": (3, 0)},
             timeout=60, what="placeholders 3/3 Pending")  # fmt: skip
    pending = get_json(cluster, "pods", "-n", namespace, "-l", f"{HEADROOM_LABEL}=web")["items"]
    assert pending and all(p["status"].get("phase") == "Pending" for p in pending)
    assert elapsed <= 45, elapsed


def test_a_drill_that_passed_only_thanks_to_the_placeholders_says_so(
    cluster: LocalCluster, namespace: str, shifts: list[str], figure: Callable[[str], None]
) -> None:
    tight_with_placeholders(cluster, namespace)
    # A run every minute, 45 s long: zone-b's two replicas move out surge first, and the
    # surge finds room only where the placeholders were.
    name = create_shift(cluster, shifts, namespace, "45s", schedule="* * * * *",
                        reason="e2e: zone-b drill on a tight cluster")  # fmt: skip

    def ended() -> dict[str, Any] | None:
        runs = get_json(cluster, "zoneshift", name).get("status", {}).get("runs") or []
        return runs[-1] if runs and runs[-1]["outcome"] in ("Passed", "Failed") else None

    run = wait_for(ended, timeout=150, what="the drill's first run ended")
    cluster.kubectl("delete", "zoneshift", name, "--wait=false")
    assert run["outcome"] == "Passed", run
    [item] = run["workloads"]
    assert item["heldByHeadroom"] is True and item["lowestReady"] >= 6, item
    assert "only thanks to headroom for " in run["message"], run["message"]
    figure(f"drill on a tight cluster: {run['message']}")
