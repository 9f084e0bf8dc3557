"""Automatic zone shifts on the local cluster, with the operator's defaults: a gray failure of
zone-b (its nodes heartbeat on, its pods fail readiness: localcluster/degrade.py) moves three
opted-in workloads out of zone-b with one automatic ZoneShift, surge first, and back once the
shift is deleted; one workload failing alone in zone-b moves nothing; every zone failing at
once moves nothing; a workload that did not opt in is never touched.

One test, so that the scenarios share the workloads (their pods must have run for the
judgement's start-up grace before they count). Every zone is restored afterwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from localcluster import LocalCluster
from localcluster.degrade import degraded_zones, zone_degrade, zone_restore
from testkit.operator_process import OperatorProcess
from testkit.workloads import condition, workload
from tests.kit.e2e import (
    FAST,
    ZONES,
    Poller,
    apply,
    deployments,
    get_json,
    metric,
    reasons,
    split,
    wait_converged,
    wait_for,
    zone_entry,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("running_operator")]

OPTED = ("w1", "w2", "w3")
REPLICAS = 6
EVEN = {"zone-a": 2, "zone-b": 2, "zone-c": 2}
OUT_OF_B = {"zone-a": 3, "zone-b": 0, "zone-c": 3}
PLAIN_EVEN = {"zone-a": 1, "zone-b": 1, "zone-c": 1}
AUTOMATIC = "zonal.dev/automatic=true"


@pytest.fixture
def restored(cluster: LocalCluster) -> Iterator[None]:
    yield
    for zone in degraded_zones(cluster):
        zone_restore(cluster, zone)
    cluster.kubectl("delete", "zoneshift", "-l", AUTOMATIC, "--wait=false", check=False)


def automatic_shifts(cluster: LocalCluster) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get_json(cluster, "zoneshifts", "-l", AUTOMATIC)["items"]
    return items


def windows(operator: OperatorProcess) -> float:
    return metric(operator, "zonal_operator_gray_failure_windows_total")


class ReadyOutside(Poller):
    """Once a second, per workload: its Deployments' Ready replicas outside zone-b."""

    def __init__(self, cluster: LocalCluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace
        self.ready: dict[str, list[tuple[float, int]]] = {}

    def sample(self) -> None:
        for name in OPTED:
            deps = deployments(self.cluster, self.namespace, name).values()
            outside = sum(
                int((d.get("status") or {}).get("readyReplicas") or 0)
                for d in deps
                if d["metadata"]["labels"].get("zonal.dev/zone") != "zone-b"
            )
            self.ready.setdefault(name, []).append((time.monotonic(), outside))


def mark_pods(cluster: LocalCluster, namespace: str, name: str, zone: str, ready: bool) -> None:
    """Set the Ready condition of the workload's pods in the zone, as a readiness probe of that
    workload alone would (no kwok stage touches a Running pod of an undegraded zone)."""
    pods = get_json(
        cluster, "pods", "-n", namespace, "-l", f"zonal.dev/workload={name},zonal.dev/zone={zone}"
    )
    status = "True" if ready else "False"
    for pod in pods["items"]:
        conditions = [
            {**c, "status": status} if c["type"] in ("Ready", "ContainersReady") else c
            for c in pod["status"]["conditions"]
        ]
        cluster.kubectl(
            "patch", "pod", pod["metadata"]["name"], "-n", namespace, "--subresource=status",
            "--type=merge", "-p", f'{{"status": {{"conditions": {json.dumps(conditions)}}}}}',
        )  # fmt: skip


def test_a_gray_zone_is_shifted_away_for_the_opted_in_workloads_only(
    cluster: LocalCluster,
    namespace: str,
    restored: None,
    running_operator: OperatorProcess,
    figure: Callable[[str], None],
) -> None:
    for name in OPTED:
        apply(
            cluster,
            workload(
                name, namespace, replicas=REPLICAS, failover=FAST, autoShift={"enabled": True}
            ),
        )
    apply(cluster, workload("plain", namespace, replicas=3, failover=FAST))
    for name in OPTED:
        wait_converged(cluster, namespace, name, EVEN)
    wait_converged(cluster, namespace, "plain", PLAIN_EVEN)
    assert not automatic_shifts(cluster)

    # One workload alone failing in zone-b: seen as its outlier, and nothing moves.
    mark_pods(cluster, namespace, "w1", "zone-b", ready=False)
    wait_for(
        lambda: (
            metric(running_operator, "zonal_operator_gray_failure_outliers", zone="zone-b") == 1
        ),
        timeout=120,
        what="w1's zone-b judged its outlier",
    )
    seen = windows(running_operator)
    wait_for(lambda: windows(running_operator) > seen, timeout=40, what="one more window")
    assert not automatic_shifts(cluster), "one workload alone moved a zone"
    assert split(cluster, namespace, "w1") == EVEN
    mark_pods(cluster, namespace, "w1", "zone-b", ready=True)

    # zone-b gray-failed for every pod there: one automatic shift, the opted-in workloads out.
    with ReadyOutside(cluster, namespace) as sampled:
        degraded = time.monotonic()
        zone_degrade(cluster, "zone-b")
        [shift] = wait_for(lambda: automatic_shifts(cluster), timeout=120, what="automatic shift")
        shifted_after = time.monotonic() - degraded
        for name in OPTED:
            wait_converged(cluster, namespace, name, OUT_OF_B, timeout=90)
        back = []
        for name in OPTED:
            first = next(t for t, n in sampled.ready[name] if t >= degraded and n >= REPLICAS)
            back.append(first - degraded)
    capacity_after = max(back)
    figure(
        f"gray failure of zone-b, operator defaults: automatic ZoneShift {shifted_after:.0f} s "
        f"after the degradation, Ready outside zone-b back to {REPLICAS} for all three "
        f"workloads {capacity_after:.0f} s after it (each: {', '.join(f'{b:.0f}' for b in back)})"
    )
    name = shift["metadata"]["name"]
    spec = shift["spec"]
    assert (spec["zone"], spec["optedInOnly"], spec["duration"]) == ("zone-b", True, "1h"), spec
    assert spec["reason"].startswith("Automatic: gray failure of zone zone-b"), spec["reason"]
    assert "zonal.dev/evidence" in shift["metadata"]["annotations"]
    # Surge first: Ready outside zone-b never fell below what it was before the failure.
    for series in sampled.ready.values():
        assert min(n for t, n in series if t >= degraded) >= 4, series
    for wl in OPTED:
        entry = zone_entry(cluster, namespace, wl, "zone-b")
        assert (entry["health"], entry["shiftedBy"]) == ("Shifted", [name]), entry
        assert "Automatic: gray failure" in entry["message"], entry
    # The workload that did not opt in is untouched, its zone-b pods failing as they are.
    assert split(cluster, namespace, "plain") == PLAIN_EVEN
    plain = get_json(cluster, "zonalworkload", "plain", "-n", namespace)["status"]
    assert "ZoneShifted" not in {c["type"] for c in plain["conditions"]}
    assert "GrayFailure" in reasons(cluster, namespace, "w2")
    assert "GrayFailure" in reasons(cluster, "default", name)
    assert metric(running_operator, "zonal_operator_automatic_shifts_total", zone="zone-b") == 1
    assert capacity_after <= 90, back

    # The zone comes back and the shift is deleted (cancelled): the workloads come back.
    zone_restore(cluster, "zone-b")
    cluster.kubectl("delete", "zoneshift", name)
    for wl in OPTED:
        wait_converged(cluster, namespace, wl, EVEN, timeout=90)
    st = get_json(cluster, "zonalworkload", "w1", "-n", namespace)["status"]
    assert "ZoneShifted" not in {c["type"] for c in st["conditions"]}
    assert condition(st, "Ready")["status"] == "True"

    # Every zone failing at once: a release, not a zone; no shift.
    for zone in ZONES:
        zone_degrade(cluster, zone)
    wait_for(
        lambda: all(
            (dep.get("status") or {}).get("readyReplicas", 0) == 0
            for wl in OPTED
            for dep in deployments(cluster, namespace, wl).values()
        ),
        timeout=30,
        what="every opted-in pod not Ready",
    )
    seen = windows(running_operator)
    wait_for(lambda: windows(running_operator) >= seen + 3, timeout=90, what="three windows")
    assert not automatic_shifts(cluster), "a shift while every zone fails"
    for wl in OPTED:
        assert split(cluster, namespace, wl) == EVEN
    # Throughout, the degraded zones' nodes heartbeated: no zone was judged failing by them.
    for wl in (*OPTED, "plain"):
        told = set(reasons(cluster, namespace, wl))
        assert not told & {"ZoneDegraded", "ZoneUnhealthy"}, (wl, told)
