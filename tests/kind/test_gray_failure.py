"""A gray zone failure on kind, with real kubelets and the chart's defaults (operator.autoShift
on): inside zone-b's node containers the kubelets' readiness probes of the pods are dropped
(iptables), so the nodes heartbeat on while the pods there turn unready. Two opted-in
workloads see zone-b as their outlier at once: one automatic ZoneShift moves them out, surge
first, and once the rule is removed and the shift deleted they come back.

Times are counted from the moment the probes are dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from tests.kit.e2e import wait_for
from tests.kit.kind import (
    ReadyByZone,
    allow_probes,
    apply,
    balanced,
    drop_probes,
    get,
    kubectl,
    wait_workload_ready,
    web_workload,
)

pytestmark = pytest.mark.kind

OPTED = ("gray-one", "gray-two")
REPLICAS = 6
ZONE = "zone-b"
PORT = 80  # the web server's, probed by httpGet
AUTOMATIC = "zonal.dev/automatic=true"
# From the degradation to spec.replicas Ready outside the zone, operator defaults (issue
# target): the probes notice within periodSeconds x failureThreshold (10 s here), the judgement
# takes two 20 s windows, the surge a few seconds.
TARGET = 90
# A pod counts for the judgement once it has run this long (core/gray_failure.py).
START_GRACE = 30
FAILBACK = {"failbackDelaySeconds": 20, "failbackStepPercent": 50}
PROBE = {"periodSeconds": 5, "failureThreshold": 2, "timeoutSeconds": 1}


def automatic_shifts() -> list[dict[str, Any]]:
    shifts: list[dict[str, Any]] = get("zoneshifts", "-l", AUTOMATIC)["items"]
    return shifts


@pytest.fixture
def probes_restored() -> Iterator[None]:
    yield
    allow_probes(ZONE, PORT)
    kubectl("delete", "zoneshift", "-l", AUTOMATIC, "--ignore-not-found", "--wait=false")


def opted_in(name: str) -> dict[str, Any]:
    workload = web_workload(name, REPLICAS, **FAILBACK)
    workload["spec"]["autoShift"] = {"enabled": True}
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    container["readinessProbe"].update(PROBE)
    return workload


def emptied(namespace: str, name: str) -> bool:
    """The workload's Deployment of the zone is scaled to none."""
    deployment = get("-n", namespace, f"deployment/{name}-{ZONE}")
    return int(deployment["spec"]["replicas"]) == 0


def youngest_age(namespace: str) -> float:
    """Seconds since the youngest pod of the namespace started."""
    starts = [
        datetime.fromisoformat(p["status"]["startTime"].replace("Z", "+00:00"))
        for p in get("pods", "-n", namespace)["items"]
        if p["status"].get("startTime")
    ]
    return (datetime.now(UTC) - max(starts)).total_seconds()


def test_dropped_probes_in_a_zone_shift_it_away_automatically(
    namespace: str, probes_restored: None, figure: Callable[[str], None]
) -> None:
    assert not automatic_shifts()
    for name in OPTED:
        apply(namespace, opted_in(name))
    for name in OPTED:
        wait_workload_ready(namespace, name)
        wait_for(partial(balanced, namespace, name), timeout=180, what=f"{name} balanced")
    # Pods younger than the judgement's start-up grace are not counted: degrade a workload
    # that has run that long, as a user's would have.
    wait_for(lambda: youngest_age(namespace) > START_GRACE, timeout=60, what="pods past the grace")
    share = REPLICAS // 3

    start = drop_probes(ZONE, PORT)
    with ExitStack() as stack:
        samplers = [stack.enter_context(ReadyByZone(namespace, n, start=start)) for n in OPTED]
        [shift] = wait_for(automatic_shifts, timeout=150, what="an automatic ZoneShift")
        shifted_at = time.monotonic() - start
        wait_for(
            lambda: all(s.ready_outside(ZONE, REPLICAS) is not None for s in samplers),
            timeout=120,
            what=f"{REPLICAS} Ready outside {ZONE} for every workload",
        )
        for name in OPTED:
            wait_for(
                partial(emptied, namespace, name),
                timeout=60,
                what=f"{name}'s {ZONE} Deployment emptied",
            )
    back = [s.ready_outside(ZONE, REPLICAS) for s in samplers]
    assert all(b is not None for b in back)
    capacity_at = max(b for b in back if b is not None)
    lowest = [
        min(sum(n for z, n in ready.items() if z != ZONE) for _, ready, _ in s.samples)
        for s in samplers
    ]
    figure(
        f"gray failure on kind (probes to {ZONE}'s pods dropped in its node containers; probe "
        f"every {PROBE['periodSeconds']} s, {PROBE['failureThreshold']} failures): automatic "
        f"ZoneShift {shifted_at:.0f} s after the degradation, {REPLICAS} Ready outside {ZONE} "
        f"for both workloads {capacity_at:.0f} s after it (target {TARGET} s; each: "
        f"{', '.join(f'{b:.0f}' for b in back if b is not None)}); lowest Ready outside "
        f"{ZONE}: {lowest}"
    )
    spec = shift["spec"]
    assert (spec["zone"], spec["optedInOnly"]) == (ZONE, True), spec
    assert spec["reason"].startswith(f"Automatic: gray failure of zone {ZONE}"), spec["reason"]
    assert len(automatic_shifts()) == 1
    # Surge first: what ran outside the zone never went below its share.
    assert min(lowest) >= REPLICAS - share, [s.samples for s in samplers]
    for name in OPTED:
        status = get("-n", namespace, f"zonalworkload/{name}")["status"]
        entry = next(z for z in status["zones"] if z["name"] == ZONE)
        assert entry["health"] == "Shifted", entry
        assert entry["shiftedBy"] == [shift["metadata"]["name"]], entry
    nodes = {n["metadata"]["name"]: n for n in get("nodes")["items"]}
    assert all(
        c["status"] == "True"
        for n in nodes.values()
        for c in n["status"]["conditions"]
        if c["type"] == "Ready"
    ), "a node went NotReady: that is no gray failure"
    assert capacity_at <= TARGET, [s.samples for s in samplers]

    # The probes get through again and the shift is deleted (cancelled): the workloads return.
    allow_probes(ZONE, PORT)
    kubectl("delete", "zoneshift", shift["metadata"]["name"])
    returned = time.monotonic()
    for name in OPTED:
        wait_for(partial(balanced, namespace, name), timeout=180, what=f"{name} back in {ZONE}")
    figure(f"gray failure on kind: back in {ZONE} {time.monotonic() - returned:.0f} s after")
    assert not automatic_shifts(), "a second automatic shift"
