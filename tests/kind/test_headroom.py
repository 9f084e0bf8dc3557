"""Zone-loss headroom on kind (spec.failover.headroom.mode Placeholders): the healthy zones'
nodes have room for the workload and its placeholders, not for the surge besides them; a zone
is lost (its worker containers paused) and the real scheduler preempts the placeholders for
the surge, which real kubelets run; the placeholders come back Pending.

Every kind node reports the host's allocatable, so the pods' CPU request is sized from what the
API server says is free on each worker: three pods fit on every worker, four on none.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from tests.kit.e2e import wait_for
from tests.kit.kind import (
    ReadyByZone,
    apply,
    balanced,
    condition,
    free_cpu,
    get,
    operator_pods,
    pause,
    unpause_all,
    wait_workload_ready,
    web_workload,
    worker_zones,
    zone_of_pod,
)
from zonal_operator.api.group import HEADROOM_LABEL

pytestmark = pytest.mark.kind

REPLICAS = 12  # 4 a zone, 2 a worker; and 2 placeholders a zone for the loss of any other
PER_WORKER = 3  # pods of the workload's size that fit on a worker
# As on a roomy cluster (tests/kind/test_zone_outage.py): the surge waits for no node.
FAILOVER_TARGET = 40
FAILBACK = {"failbackDelaySeconds": 20, "failbackStepPercent": 50}
# The web server takes a moment to listen on two busy cores: a first probe that comes too soon
# would leave a surge pod unready for the default period (10 s), which is the workload's
# setting, not the failover's.
PROBE = {"periodSeconds": 2}


def cpu_request() -> int:
    """Millicores such that PER_WORKER pods fit in every worker's free CPU, one more in none,
    whether or not the pods of earlier tests that are being deleted are gone yet."""
    before, after = free_cpu(leaving=True), free_cpu(leaving=False)
    low = max(after.values()) // (PER_WORKER + 1) + 1
    high = min(before.values()) // PER_WORKER
    assert low <= high, f"the workers' free CPU differs too much to size the pods: {before}"
    return (low + high) // 2


def placeholders(namespace: str, name: str) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = get("pods", "-n", namespace, "-l", f"{HEADROOM_LABEL}={name}")[
        "items"
    ]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def placeholder_zones(namespace: str, name: str, ready: bool) -> dict[str, int]:
    """Zone -> placeholder pods there (by their zone label) that are Ready or not."""
    counts: dict[str, int] = {}
    for pod in placeholders(namespace, name):
        if (condition(pod, "Ready") == "True") == ready:
            zone = pod["metadata"]["labels"]["zonal.dev/headroom-zone"]
            counts[zone] = counts.get(zone, 0) + 1
    return counts


def surge_times(
    namespace: str, name: str, zones: list[str], since: float
) -> tuple[float, float, float]:
    """Seconds from `since` (wall clock) until the last of the surge pods (those created after
    it in `zones`) was created, bound to a node and Ready, as the API server's timestamps say."""

    def at(stamp: str) -> float:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() - since

    def transition(pod: dict[str, Any], kind: str) -> float:
        cond = next(c for c in pod["status"]["conditions"] if c["type"] == kind)
        return at(cond["lastTransitionTime"])

    zone_of_node = worker_zones()
    surge = [
        p
        for p in get("pods", "-n", namespace, "-l", f"app={name}")["items"]
        if at(p["metadata"]["creationTimestamp"]) >= -1
        and zone_of_node.get(p["spec"].get("nodeName", "")) in zones
    ]
    assert surge, "no surge pod"
    return (
        max(at(p["metadata"]["creationTimestamp"]) for p in surge),
        max(transition(p, "PodScheduled") for p in surge),
        max(transition(p, "Ready") for p in surge),
    )


def unschedulable(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "PodScheduled" and c["status"] == "False" and c["reason"] == "Unschedulable"
        for c in pod["status"].get("conditions") or []
    )


def test_the_scheduler_preempts_placeholders_for_the_surge(
    namespace: str, zones_restored: None, figure: Callable[[str], None]
) -> None:
    cpu = cpu_request()
    workload = web_workload("roomless", REPLICAS, headroom={"mode": "Placeholders"}, **FAILBACK)
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    container["resources"]["requests"]["cpu"] = f"{cpu}m"
    container["readinessProbe"].update(PROBE)
    apply(namespace, workload)
    wait_workload_ready(namespace, "roomless")
    wait_for(lambda: balanced(namespace, "roomless"), timeout=180, what="balanced")
    zones = sorted(set(worker_zones().values()))
    wait_for(
        lambda: placeholder_zones(namespace, "roomless", ready=True) == dict.fromkeys(zones, 2),
        timeout=120,
        what="2 placeholders Ready in every zone",
    )
    before = {p["metadata"]["name"]: p for p in placeholders(namespace, "roomless")}
    status = get("-n", namespace, "zonalworkload/roomless")["status"]
    assert status["headroomReplicas"] == 6, status
    assert status["readyReplicas"] == REPLICAS, status  # placeholders are no Ready capacity
    operator_zones = {zone_of_pod(p["metadata"]["name"]) for p in operator_pods()}
    lost = sorted(set(zones) - operator_zones)[0]
    healthy = [z for z in zones if z != lost]
    share = REPLICAS // len(zones)

    wall = time.time()
    start = pause(lost)
    with ReadyByZone(namespace, "roomless", start=start) as outage:
        wait_for(
            lambda: outage.ready_outside(lost, REPLICAS) is not None,
            timeout=180,
            what=f"{REPLICAS} Ready outside {lost}",
        )
        # The replacements of the preempted placeholders find no room: Pending, Unschedulable.
        wait_for(
            lambda: any(
                unschedulable(p)
                for p in placeholders(namespace, "roomless")
                if p["metadata"]["labels"]["zonal.dev/headroom-zone"] in healthy
            ),
            timeout=60,
            what="placeholders Pending as Unschedulable",
        )
        pending_at = outage.samples[-1][0]
    back = outage.ready_outside(lost, REPLICAS)
    assert back is not None
    asked, bound, ready = surge_times(namespace, "roomless", healthy, wall)
    outside = [sum(n for z, n in ready.items() if z != lost) for _, ready, _ in outage.samples]
    events = get("events", "-n", namespace, "--field-selector", "reason=Preempted")["items"]
    preempted = sorted(
        {e["involvedObject"]["name"] for e in events if e["involvedObject"]["name"] in before}
    )
    by_zone = {
        z: sum(
            1
            for name in preempted
            if before[name]["metadata"]["labels"]["zonal.dev/headroom-zone"] == z
        )
        for z in healthy
    }
    figure(
        f"headroom on kind ({lost} paused, healthy zones full but for 2 placeholders each, pods "
        f"of {cpu}m CPU, probed every {PROBE['periodSeconds']} s): {REPLICAS} Ready outside "
        f"{lost} {back:.1f} s after the pause "
        f"(target {FAILOVER_TARGET} s; the surge asked for at {asked:.0f} s, bound at "
        f"{bound:.0f} s, Ready at {ready:.0f} s, apiserver times); placeholders preempted by "
        f"the scheduler: {by_zone}; "
        f"their replacements Pending (Unschedulable) by {pending_at:.0f} s; lowest Ready "
        f"outside {lost}: {min(outside)}"
    )
    assert back <= FAILOVER_TARGET, outage.samples
    # The surge ran only by preempting the placeholders: both of each healthy zone.
    assert by_zone == dict.fromkeys(healthy, 2), (preempted, events)
    # No Ready replica outside the lost zone went away for them.
    assert min(outside) >= share * len(healthy), outage.samples
    status = get("-n", namespace, "zonalworkload/roomless")["status"]
    assert status["readyReplicas"] >= REPLICAS, status
    assert not placeholder_zones(namespace, "roomless", ready=True), "a placeholder still runs"

    # The zone comes back: the replicas return in steps, Ready never below spec.replicas, and
    # the placeholders are sized and running again.
    with ReadyByZone(namespace, "roomless") as failback:
        unpause_all()
        wait_for(lambda: balanced(namespace, "roomless"), timeout=300, what="failback complete")
        wait_for(
            lambda: placeholder_zones(namespace, "roomless", ready=True) == dict.fromkeys(zones, 2),
            timeout=120,
            what="2 placeholders Ready in every zone again",
        )
    lowest = failback.lowest_ready()
    figure(
        f"headroom on kind, failback after the unpause: balanced with every placeholder Ready "
        f"again in {failback.samples[-1][0]:.0f} s, lowest Ready {lowest}"
    )
    assert lowest >= REPLICAS, failback.samples
