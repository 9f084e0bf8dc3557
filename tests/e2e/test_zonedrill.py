"""Zone drills on the local cluster: a ZoneShift with a schedule runs practice runs of losing
its zone. A run on a short schedule moves a workload's replicas (PerZone or Spread placement)
out of the zone and back, Ready never below spec.replicas (sampled every second), and its
status, events and metrics carry the timings the operator measured; a run is skipped while a
zone is failing.

Each drill here selects only its test's namespace, and is deleted as soon as the run the test
looks at is over, before the schedule's next one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from localcluster import LocalCluster
from testkit.operator_process import OperatorProcess
from testkit.workloads import condition, workload
from tests.kit.e2e import (
    EVEN,
    FAST,
    Sampler,
    SpreadSampler,
    apply,
    create_shift,
    metric,
    reasons,
    shift_status,
    split,
    spread_settled,
    spread_workload,
    wait_converged,
    wait_for,
    zone_entry,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("running_operator")]

# Every minute, 45 s each: a run ends 15 s before the next one is due.
EVERY_MINUTE = "* * * * *"
RUN = "45s"


def create_drill(cluster: LocalCluster, created: list[str], namespace: str) -> str:
    return create_shift(
        cluster, created, namespace, RUN, schedule=EVERY_MINUTE, reason="e2e: zone-b drill"
    )


def first_run(cluster: LocalCluster, name: str, outcomes: tuple[str, ...]) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        runs = shift_status(cluster, name).get("runs") or []
        return runs[-1] if runs and runs[-1]["outcome"] in outcomes else None

    # The first run is due within a minute of the drill's creation.
    run: dict[str, Any] = wait_for(found, timeout=75, what=f"a run of {name}: {outcomes}")
    return run


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_a_drill_on_a_short_schedule_runs_and_records_its_timings(
    cluster: LocalCluster,
    namespace: str,
    shifts: list[str],
    running_operator: OperatorProcess,
    figure: Callable[[str], None],
) -> None:
    apply(cluster, workload("web", namespace, replicas=9, failover=FAST))
    wait_converged(cluster, namespace, "web", EVEN)

    with Sampler(cluster, namespace) as sampled:
        name = create_drill(cluster, shifts, namespace)
        started = first_run(cluster, name, ("Running",))
        # What the test sees: capacity outside zone-b back, then zone-b emptied.
        wait_for(
            lambda: split(cluster, namespace, "web")["zone-b"] == 0,
            timeout=40,
            what="zone-b emptied by the drill",
        )
        entry = zone_entry(cluster, namespace, "web", "zone-b")
        assert (entry["health"], entry["shiftedBy"]) == ("Shifted", [name]), entry
        zs = shift_status(cluster, name)
        assert zs["active"] is True and zs["appliedWorkloads"] == 1
        row = cluster.kubectl("get", "zoneshift", name).stdout.split("\n")[1].split()
        assert row[-2] in ("Running", "Passed"), row  # the Last Run column
        run = first_run(cluster, name, ("Passed", "Failed"))
        # Counted once the ended run is written (its series go with the drill).
        ours = {"zoneshift": name}
        wait_for(
            lambda: metric(running_operator, "zonal_operator_drill_runs_total", **ours) == 1,
            timeout=10,
            what="the run counted",
        )
        passed = metric(running_operator, "zonal_operator_drill_runs_total", **ours,
                        outcome="passed")  # fmt: skip
        timings = "zonal_operator_drill_capacity_back_seconds"
        observed = (
            metric(running_operator, f"{timings}_count", **ours),
            metric(running_operator, f"{timings}_sum", **ours),
        )
        margin = metric(running_operator, "zonal_operator_drill_lowest_ready_margin", **ours)
        # The run is over: no other may start while the test looks back.
        cluster.kubectl("delete", "zoneshift", name)
        wait_converged(cluster, namespace, "web", EVEN, timeout=90)

    # Ready never below spec.replicas, out or back.
    assert min(sampled.ready["web"]) >= 9, sampled.ready["web"]
    assert any(s["zone-b"] == 0 for s in sampled.splits["web"])
    assert run["scheduledAt"] == started["scheduledAt"] and run["skipped"] is False
    assert run["outcome"] == "Passed", run
    assert _time(run["startedAt"]) - _time(run["scheduledAt"]) < 10
    assert _time(run["endsAt"]) - _time(run["scheduledAt"]) == 45
    [measured] = run["workloads"]
    assert (measured["namespace"], measured["name"]) == (namespace, "web")
    assert (measured["replicas"], measured["failed"]) == (9, False)
    assert measured["lowestReady"] >= 9
    back = measured["capacityBackSeconds"]
    figure(
        f"PerZone drill of zone-b: capacity back outside it {back} s after the run's start; "
        f"lowest Ready {measured['lowestReady']} as measured, {min(sampled.ready['web'])} as "
        "sampled, of 9"
    )
    assert 0 < back < 45, measured
    assert (run["workloadCount"], run["failedWorkloads"]) == (1, 0)

    assert passed == 1 and observed == (1, back) and margin >= 0, (passed, observed, margin)
    told = reasons(cluster, "default", name)
    assert "DrillStarted" in told and "DrillPassed" in told, told
    web = reasons(cluster, namespace, "web")
    assert "ZoneShifted" in web and "ReplicasReturned" in web, web


def test_a_drill_is_skipped_while_a_zone_is_failing(
    cluster: LocalCluster,
    namespace: str,
    shifts: list[str],
    running_operator: OperatorProcess,
    restore_zones: None,
) -> None:
    apply(cluster, workload("web", namespace, replicas=9, failover=FAST))
    wait_converged(cluster, namespace, "web", EVEN)
    cluster.zone_down("zone-a")
    wait_converged(cluster, namespace, "web", {"zone-a": 0, "zone-b": 5, "zone-c": 4})
    assert zone_entry(cluster, namespace, "web", "zone-a")["health"] == "Unhealthy"

    with Sampler(cluster, namespace) as sampled:
        name = create_drill(cluster, shifts, namespace)
        run = first_run(cluster, name, ("Skipped", "Running"))
        # Its window passes: nothing starts late.
        time.sleep(max(0.0, _time(run["endsAt"]) - time.time()) + 3)
        zs = shift_status(cluster, name)
        skipped = metric(running_operator, "zonal_operator_drill_runs_total", zoneshift=name,
                         outcome="skipped")  # fmt: skip
        cluster.kubectl("delete", "zoneshift", name)

    assert (run["outcome"], run["skipped"], run["reason"]) == ("Skipped", True, "ZoneFailing")
    assert "zone-a" in run["message"] and "startedAt" not in run
    assert zs["active"] is False and "startedAt" not in zs, zs
    assert [r["scheduledAt"] for r in zs["runs"]][-1] == run["scheduledAt"]
    assert all(s == {"zone-a": 0, "zone-b": 5, "zone-c": 4} for s in sampled.splits["web"])
    assert zone_entry(cluster, namespace, "web", "zone-b")["health"] == "Healthy"
    assert condition(zs, "Active")["reason"] == "DrillScheduled"
    told = reasons(cluster, "default", name)
    assert "DrillSkipped" in told and "DrillStarted" not in told, told
    assert skipped >= 1


def test_a_drill_runs_on_a_spread_workload_and_measures_it_from_its_pods(
    cluster: LocalCluster,
    namespace: str,
    shifts: list[str],
    figure: Callable[[str], None],
) -> None:
    apply(cluster, spread_workload(namespace))
    every, out = {"zone-a", "zone-b", "zone-c"}, {"zone-a", "zone-c"}
    wait_for(lambda: spread_settled(cluster, namespace, every), 90, what="spread over 3 zones")

    with SpreadSampler(cluster, namespace) as sampled:
        name = create_drill(cluster, shifts, namespace)
        first_run(cluster, name, ("Running",))
        wait_for(lambda: spread_settled(cluster, namespace, out), 40, what="zone-b emptied")
        entry = zone_entry(cluster, namespace, "web", "zone-b")
        assert (entry["health"], entry["shiftedBy"]) == ("Shifted", [name]), entry
        run = first_run(cluster, name, ("Passed", "Failed"))
        cluster.kubectl("delete", "zoneshift", name)
        wait_for(lambda: spread_settled(cluster, namespace, every), 90, what="pods back")

    assert min(sampled.ready) >= 9, sampled.ready
    assert run["outcome"] == "Passed", run
    [measured] = run["workloads"]
    assert (measured["namespace"], measured["name"]) == (namespace, "web")
    assert (measured["replicas"], measured["failed"]) == (9, False)
    assert measured["lowestReady"] >= 9
    assert 0 < measured["capacityBackSeconds"] < 45, measured
    figure(
        f"Spread drill: capacity back outside zone-b {measured['capacityBackSeconds']}s "
        f"after the run's start; lowest Ready {measured['lowestReady']} as measured, "
        f"{min(sampled.ready)} as sampled"
    )
