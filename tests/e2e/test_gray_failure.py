"""Automatic zone shifts on the local cluster, with the operator's defaults: a gray failure of
zone-b (its nodes heartbeat on, its pods fail readiness: localcluster/degrade.py) moves three
opted-in workloads out of zone-b with one automatic ZoneShift, surge first, and back once the
shift is deleted; one workload failing alone in zone-b moves nothing, unless it asked for
per-workload action (spec.autoShift.perWorkload): then a shift of its own moves it alone out,
surge first; every zone failing at once moves nothing; a workload that did not opt in is never
touched.

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
SOLO = "solo"  # opted in with per-workload action
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


def zone_wide(cluster: LocalCluster) -> list[dict[str, Any]]:
    """The automatic shifts of a zone for every opted-in workload (not of one workload)."""
    return [s for s in automatic_shifts(cluster) if "workload" not in s["spec"]]


def windows(operator: OperatorProcess) -> float:
    return metric(operator, "zonal_operator_gray_failure_windows_total")


class ReadyOutside(Poller):
    """Once a second, per workload: its Deployments' Ready replicas outside zone-b."""

    def __init__(
        self, cluster: LocalCluster, namespace: str, names: tuple[str, ...] = OPTED
    ) -> None:
        self.cluster, self.namespace, self.names = cluster, namespace, names
        self.ready: dict[str, list[tuple[float, int]]] = {}

    def sample(self) -> None:
        for name in self.names:
            deps = deployments(self.cluster, self.namespace, name).values()
            outside = sum(
                int((d.get("status") or {}).get("readyReplicas") or 0)
                for d in deps
                if d["metadata"]["labels"].get("zonal.dev/zone") != "zone-b"
            )
            self.ready.setdefault(name, []).append((time.monotonic(), outside))


def back_at(sampled: ReadyOutside, name: str, since: float) -> float:
    """When the sampler first saw the workload's Ready outside zone-b back to REPLICAS. The
    Deployments' readyReplicas trail the pods that wait_converged reads, and the sampler polls
    once a second: the sample that shows it may come a little after convergence."""

    def found() -> float | None:
        samples = sampled.ready.get(name, [])
        return next((t for t, n in samples if t >= since and n >= REPLICAS), None)

    return float(wait_for(found, timeout=10, what=f"a sample of {name} at {REPLICAS} Ready"))


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
    per_workload = {"enabled": True, "perWorkload": True}
    apply(
        cluster,
        workload(SOLO, namespace, replicas=REPLICAS, failover=FAST, autoShift=per_workload),
    )
    apply(cluster, workload("plain", namespace, replicas=3, failover=FAST))
    for name in (*OPTED, SOLO):
        wait_converged(cluster, namespace, name, EVEN)
    wait_converged(cluster, namespace, "plain", PLAIN_EVEN)
    assert not automatic_shifts(cluster)

    def outliers_in_b() -> float:
        return metric(running_operator, "zonal_operator_gray_failure_outliers", zone="zone-b")

    # The workload with per-workload action failing alone in zone-b: a shift of its own.
    with ReadyOutside(cluster, namespace, (SOLO,)) as solo_sampled:
        solo_degraded = time.monotonic()
        mark_pods(cluster, namespace, SOLO, "zone-b", ready=False)
        [own] = wait_for(lambda: automatic_shifts(cluster), timeout=120, what="solo's shift")
        own_after = time.monotonic() - solo_degraded
        wait_converged(cluster, namespace, SOLO, OUT_OF_B, timeout=90)
        solo_back = back_at(solo_sampled, SOLO, solo_degraded)
    solo_capacity_after = solo_back - solo_degraded
    figure(
        f"one workload alone failing in zone-b, spec.autoShift.perWorkload, operator defaults: "
        f"its own automatic ZoneShift {own_after:.0f} s after its pods there turned not Ready, "
        f"its Ready outside zone-b back to {REPLICAS} {solo_capacity_after:.0f} s after it"
    )
    own_name, own_spec = own["metadata"]["name"], own["spec"]
    assert own_spec["workload"] == {"namespace": namespace, "name": SOLO}, own_spec
    assert (own_spec["zone"], own_spec["optedInOnly"], own_spec["duration"]) == (
        "zone-b",
        True,
        "1h",
    ), own_spec
    assert own_spec["reason"].startswith(
        f"Automatic: {namespace}/{SOLO} alone fails in zone zone-b"
    ), own_spec["reason"]
    assert own["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "zonal-operator"
    # Surge first: its Ready outside zone-b never fell below what it was before.
    assert min(n for t, n in solo_sampled.ready[SOLO] if t >= solo_degraded) >= 4
    entry = zone_entry(cluster, namespace, SOLO, "zone-b")
    assert (entry["health"], entry["shiftedBy"]) == ("Shifted", [own_name]), entry
    assert "GrayFailure" in reasons(cluster, namespace, SOLO)
    assert metric(running_operator, "zonal_operator_automatic_workload_shifts_total") == 1
    # It moved that workload alone.
    for name in OPTED:
        assert split(cluster, namespace, name) == EVEN
        st = get_json(cluster, "zonalworkload", name, "-n", namespace)["status"]
        assert "ZoneShifted" not in {c["type"] for c in st["conditions"]}, name
    assert solo_capacity_after <= 90, solo_capacity_after
    # Out of zone-b, it no longer sees zone-b as its outlier.
    wait_for(lambda: outliers_in_b() == 0, timeout=60, what="no outlier in zone-b")

    # One workload alone failing in zone-b without per-workload action: seen as its outlier,
    # and nothing moves.
    mark_pods(cluster, namespace, "w1", "zone-b", ready=False)
    wait_for(lambda: outliers_in_b() == 1, timeout=120, what="w1's zone-b judged its outlier")
    seen = windows(running_operator)
    wait_for(lambda: windows(running_operator) > seen, timeout=40, what="one more window")
    shifts = [s["metadata"]["name"] for s in automatic_shifts(cluster)]
    assert shifts == [own_name], "one workload alone moved a zone"
    assert split(cluster, namespace, "w1") == EVEN
    mark_pods(cluster, namespace, "w1", "zone-b", ready=True)

    # zone-b gray-failed for every pod there: one automatic shift, the opted-in workloads out.
    with ReadyOutside(cluster, namespace) as sampled:
        degraded = time.monotonic()
        zone_degrade(cluster, "zone-b")
        [shift] = wait_for(lambda: zone_wide(cluster), timeout=120, what="automatic shift")
        shifted_after = time.monotonic() - degraded
        for name in OPTED:
            wait_converged(cluster, namespace, name, OUT_OF_B, timeout=90)
        back = []
        for name in OPTED:
            back.append(back_at(sampled, name, degraded) - degraded)
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

    # The zone comes back and the shifts are deleted (cancelled): the workloads come back.
    zone_restore(cluster, "zone-b")
    cluster.kubectl("delete", "zoneshift", name, own_name)
    for wl in (*OPTED, SOLO):
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
    for wl in (*OPTED, SOLO):
        assert split(cluster, namespace, wl) == EVEN
    # Throughout, the degraded zones' nodes heartbeated: no zone was judged failing by them.
    for wl in (*OPTED, SOLO, "plain"):
        told = set(reasons(cluster, namespace, wl))
        assert not told & {"ZoneDegraded", "ZoneUnhealthy"}, (wl, told)
