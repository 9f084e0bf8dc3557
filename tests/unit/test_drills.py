"""Zone drills in the pure core (core/drills.py): the schedule's windows, when a run starts or
is skipped (and stays skipped), what a run measures and how it ends, the bounded history, and
the schedule pattern the CRD enforces against the parser the operator runs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.kit.perzone_sim import cluster_nodes, workload_body

from zonal_operator.api.group import TIME_FORMAT
from zonal_operator.api.workload import Workload
from zonal_operator.api.zoneshift import SCHEDULE_PATTERN, ZoneShift
from zonal_operator.core import drill_schedule, drills
from zonal_operator.core import shifts as shifting
from zonal_operator.core.drills import Drilled, Measure, Reading
from zonal_operator.core.health import NodeSnapshot
from zonal_operator.core.zones import zones_of

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC
WEB = ("shop", "web")
HEALTHY = Drilled(readings={WEB: Reading(9, 9, 6)})


def drill(
    status: Mapping[str, Any] | None = None,
    *,
    schedule: str = "0 10 * * 1",
    duration: str = "30m",
    created: datetime = T0 - timedelta(days=30),
    name: str = "weekly-b",
) -> ZoneShift:
    return ZoneShift.from_body(
        {
            "metadata": {
                "name": name,
                "uid": "u",
                "generation": 1,
                "creationTimestamp": created.strftime(TIME_FORMAT),
            },
            "spec": {"zone": "zone-b", "duration": duration, "schedule": schedule},
            "status": dict(status or {}),
        }
    )


def step(
    shift: ZoneShift,
    now: datetime,
    seen: Drilled = HEALTHY,
    measures: Mapping[tuple[str, str], Measure] | None = None,
    others: tuple[str, ...] = (),
) -> tuple[ZoneShift, drills.Update]:
    """One pass of the keeper: the update, and the drill as the API server then stores it."""
    update = drills.drill_status(
        shift, now, seen=seen, measures=measures or {}, others=others, outcome=None
    )
    body = {
        "metadata": {
            "name": shift.name,
            "uid": "u",
            "generation": 1,
            "creationTimestamp": (shift.created or T0).strftime(TIME_FORMAT),
        },
        "spec": {"zone": shift.zone, "duration": shift.duration, "schedule": shift.schedule},
        "status": update.status,
    }
    return ZoneShift.from_body(body), update


def reasons(update: drills.Update) -> list[str]:
    return [e.reason for e in update.events]


# -- the schedule ----------------------------------------------------------------------------


def test_a_drill_is_in_force_only_during_its_window() -> None:
    shift = drill()
    assert drill_schedule.open_window(shift, T0 - timedelta(seconds=1)) is None
    window = drill_schedule.open_window(shift, T0 + timedelta(minutes=10))
    assert window == drill_schedule.Window(T0, T0 + timedelta(minutes=30))
    assert drill_schedule.open_window(shift, T0 + timedelta(minutes=30)) is None
    assert drill_schedule.next_time(shift.schedule, T0) == T0 + timedelta(days=7)
    assert drill_schedule.last_time(shift.schedule, T0) == T0  # its own window


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["* * * * *", "*/5 * * * *", "0 10 * * 1", "30 2 1 * *", "15 */6 * * mon-fri"]),
    st.integers(min_value=0, max_value=60 * 24 * 90 * 60),
)
def test_the_latest_scheduled_time_is_never_after_now_and_the_next_one_is(
    schedule: str, offset: int
) -> None:
    now = T0 + timedelta(seconds=offset)
    last, nxt = drill_schedule.last_time(schedule, now), drill_schedule.next_time(schedule, now)
    assert last is not None and nxt is not None
    assert last <= now < nxt
    assert drill_schedule.next_time(schedule, last) == nxt  # nothing scheduled in between


def test_a_schedule_that_never_comes_has_no_window_and_no_next_run() -> None:
    shift = drill(schedule="0 0 31 2 *")
    update = drills.drill_status(shift, T0, seen=HEALTHY, measures={}, others=(), outcome=None)
    assert update.status["runs"] == [] and "nextRunAt" not in update.status
    assert drills.requeue_at([shift], T0) is None


def test_an_invalid_schedule_runs_nothing_and_says_so() -> None:
    _, update = step(drill(schedule="61 * * * *"), T0)
    assert update.status["runs"] == [] and update.status["active"] is False
    assert update.status["conditions"][0]["reason"] == "InvalidSchedule"
    assert "spec.schedule" in update.status["conditions"][0]["message"]


VALID = ["* * * * *", "0 10 * * 1", "*/5 * * * *", "0 10 * * MON", "0,30 9-17 * jan-mar mon-fri",
         "  5 4 1 12 0 ", "59 23 31 12 7", "0 */2 1-15/3 * *"]  # fmt: skip
INVALID = ["", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
           "* * * 13 *", "* * * * 8", "*/0 * * * *", "@hourly", "0 10 * * 1 2026", "a b c d e",
           "0 10 ? * 1", "0 10 L * *", "0 10 * * 1#2", "-1 * * * *"]  # fmt: skip


@pytest.mark.parametrize("schedule", VALID)
def test_the_crd_pattern_admits_schedules_the_operator_runs(schedule: str) -> None:
    assert re.match(SCHEDULE_PATTERN, schedule), schedule
    assert drill_schedule.schedule_error(schedule.strip()) is None
    assert croniter.is_valid(schedule.strip())


@pytest.mark.parametrize("schedule", INVALID)
def test_the_crd_pattern_refuses_malformed_schedules(schedule: str) -> None:
    assert not re.match(SCHEDULE_PATTERN, schedule), schedule


# -- starting and skipping -------------------------------------------------------------------


def test_a_run_starts_measures_and_passes() -> None:
    shift, update = step(drill(), T0 + timedelta(seconds=2))
    assert reasons(update) == ["DrillStarted"]
    [run] = update.status["runs"]
    assert run["outcome"] == "Running" and run["skipped"] is False
    assert run["startedAt"] == "2026-12-07T10:00:02Z" and run["endsAt"] == "2026-12-07T10:30:00Z"
    assert update.status["active"] is True and update.running == run["scheduledAt"]
    assert (update.status["startedAt"], update.status["expiresAt"]) == (
        run["startedAt"],
        run["endsAt"],
    )
    assert shift.active(T0 + timedelta(minutes=1)) and not shift.active(T0 + timedelta(minutes=30))
    assert update.measures == {WEB: Measure(9, 9, None)}

    # The replicas move: surge first, then zone-b's three go.
    moving = Drilled(readings={WEB: Reading(9, 12, 9)})
    shift, update = step(shift, T0 + timedelta(seconds=32), moving)
    [item] = update.status["runs"][0]["workloads"]
    assert item == {
        "namespace": "shop",
        "name": "web",
        "replicas": 9,
        "lowestReady": 9,
        "failed": False,
        "capacityBackSeconds": 30,
    }
    assert update.events == []
    # Nothing new: the same status, no event (no write).
    again, update = step(
        shift, T0 + timedelta(seconds=40), Drilled(readings={WEB: Reading(9, 9, 9)})
    )
    assert update.status == dict(shift.status or {}) and update.events == []

    # The window ends: the run passed.
    shift, update = step(again, T0 + timedelta(minutes=30, seconds=1))
    run = update.status["runs"][0]
    assert (run["outcome"], run["reason"]) == ("Passed", "CapacityBack")
    assert reasons(update) == ["DrillPassed"] and "30s" in update.events[0].message
    assert update.ended == [run] and update.status["active"] is False
    assert update.status["nextRunAt"] == "2026-12-14T10:00:00Z"
    assert update.status["conditions"][0]["reason"] == "DrillScheduled"
    # Between runs: nothing to write.
    _, update = step(shift, T0 + timedelta(days=2))
    assert update.status == dict(shift.status or {}) and update.events == []


def test_a_dip_below_spec_replicas_fails_the_run() -> None:
    shift, _ = step(drill(), T0)
    # The runtime's meter saw Ready at 7 between two passes.
    dipped = {WEB: Measure(9, 7, T0 + timedelta(seconds=20))}
    shift, update = step(shift, T0 + timedelta(seconds=25), measures=dipped)
    [item] = update.status["runs"][0]["workloads"]
    assert (item["lowestReady"], item["failed"], item["capacityBackSeconds"]) == (7, True, 20)
    shift, update = step(shift, T0 + timedelta(minutes=31))
    run = update.status["runs"][0]
    assert (run["outcome"], run["reason"], run["failedWorkloads"]) == ("Failed", "BelowReplicas", 1)
    assert reasons(update) == ["DrillFailed"] and update.events[0].type == "Warning"


def test_capacity_not_back_elsewhere_by_the_end_fails_the_run() -> None:
    shift, _ = step(drill(), T0, Drilled(readings={WEB: Reading(9, 9, 6)}))
    stuck = Drilled(readings={WEB: Reading(9, 9, 8)})
    shift, _ = step(shift, T0 + timedelta(minutes=10), stuck)
    _, update = step(shift, T0 + timedelta(minutes=30), stuck)
    run = update.status["runs"][0]
    assert (run["outcome"], run["reason"]) == ("Failed", "CapacityNotBack")
    assert "capacityBackSeconds" not in run["workloads"][0]


SKIPS = [
    ("ZoneFailing", Drilled(failing=("shop/web zone-a",), readings=HEALTHY.readings), ()),
    ("CapacityShort", Drilled(short=("shop/web (7/9 Ready)",), readings=HEALTHY.readings), ()),
    ("ShiftInForce", HEALTHY, ("maint-a",)),
    ("NothingToDrill", Drilled(), ()),
]


@pytest.mark.parametrize(("reason", "seen", "others"), SKIPS, ids=[s[0] for s in SKIPS])
def test_a_run_is_skipped_and_never_started_later_in_its_window(
    reason: str, seen: Drilled, others: tuple[str, ...]
) -> None:
    shift, update = step(drill(), T0 + timedelta(seconds=1), seen, others=others)
    [run] = update.status["runs"]
    assert (run["outcome"], run["skipped"], run["reason"]) == ("Skipped", True, reason)
    assert "startedAt" not in run and run["message"]
    assert reasons(update) == ["DrillSkipped"] and update.ended == [run]
    assert update.status["active"] is False and not shift.active(T0 + timedelta(seconds=2))
    # The obstacle is gone a minute later: the run stays skipped.
    later, update = step(shift, T0 + timedelta(minutes=1))
    assert update.status == dict(shift.status or {}) and update.events == []
    assert not later.active(T0 + timedelta(minutes=1))
    # The next week's run starts.
    _, update = step(later, T0 + timedelta(days=7))
    assert reasons(update) == ["DrillStarted"] and len(update.status["runs"]) == 2


def test_a_run_seen_late_is_missed_and_a_window_before_creation_is_no_run() -> None:
    _, update = step(drill(), T0 + timedelta(minutes=5))
    assert update.status["runs"][0]["reason"] == "Missed"
    _, update = step(drill(created=T0 + timedelta(minutes=1)), T0 + timedelta(minutes=2))
    assert update.status["runs"] == [] and update.events == []


def test_overlapping_windows_skip_while_the_previous_run_is_in_force() -> None:
    shift, _ = step(drill(schedule="* * * * *", duration="90s"), T0)
    shift, update = step(shift, T0 + timedelta(minutes=1))
    assert [r["outcome"] for r in update.status["runs"]] == ["Skipped", "Running"]
    assert update.status["runs"][0]["reason"] == "PreviousRunInForce"
    assert update.status["active"] is True


def test_a_new_leader_goes_on_from_what_the_status_recorded() -> None:
    shift, _ = step(drill(), T0)
    shift, _ = step(shift, T0 + timedelta(seconds=5), measures={WEB: Measure(9, 8, None)})
    # Another replica leads now: it has measured nothing of this run.
    _, update = step(shift, T0 + timedelta(seconds=50), Drilled(readings={WEB: Reading(9, 9, 9)}))
    [item] = update.status["runs"][0]["workloads"]
    assert (item["lowestReady"], item["capacityBackSeconds"]) == (8, 50)
    assert update.measures[WEB] == Measure(9, 8, T0 + timedelta(seconds=50))


def test_a_run_lists_at_most_max_listed_workloads_the_failed_first() -> None:
    many = {("ns", f"w{i:03}"): Reading(3, 3, 0) for i in range(70)}
    shift, update = step(drill(), T0, Drilled(readings=many))
    run = update.status["runs"][0]
    assert run["workloadCount"] == 70 and len(run["workloads"]) == drills.MAX_LISTED
    measures = dict(update.measures)
    measures[("ns", "w069")] = Measure(3, 1, None)
    _, update = step(shift, T0 + timedelta(seconds=10), measures=measures)
    run = update.status["runs"][0]
    assert run["workloads"][0]["name"] == "w069" and run["failedWorkloads"] == 1


# -- the bounded history, over any sequence of passes ----------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=400),  # seconds to the next pass
            st.integers(min_value=0, max_value=4),  # what the drill sees then
        ),
        min_size=1,
        max_size=60,
    )
)
def test_history_is_bounded_newest_first_and_a_second_pass_changes_nothing(
    passes: list[tuple[int, int]],
) -> None:
    seen_by = [
        HEALTHY,
        Drilled(readings={WEB: Reading(9, 12, 9)}),
        Drilled(readings={WEB: Reading(9, 8, 6)}),
        Drilled(failing=("shop/web zone-a",), readings=HEALTHY.readings),
        Drilled(),
    ]
    shift = drill(schedule="*/2 * * * *", duration="70s")
    now = T0
    for seconds, which in passes:
        now += timedelta(seconds=seconds)
        shift, update = step(shift, now, seen_by[which])
        runs = update.status["runs"]
        assert len(runs) <= drills.MAX_RUNS
        times = [r["scheduledAt"] for r in runs]
        assert times == sorted(times, reverse=True) and len(set(times)) == len(times)
        assert sum(r["outcome"] == "Running" for r in runs) <= 1
        assert update.status["active"] == any(r["outcome"] == "Running" for r in runs)
        assert shift.active(now) == update.status["active"]
        for run in runs:
            assert run["skipped"] == (run["outcome"] == "Skipped")
        # The same moment once more: nothing to write (the steady state writes nothing).
        _, again = step(shift, now, seen_by[which])
        assert again.status == update.status and again.events == []


# -- which workloads a drill measures ---------------------------------------------------------


def entry(body: dict[str, Any], up: tuple[str, ...] | None = None) -> shifting.Selected:
    wl = Workload.from_body(body)
    zones = zones_of(wl, NodeSnapshot(tuple(cluster_nodes())))
    return shifting.Selected(
        wl, {"tier": "web"}, {}, tuple(zones), tuple(zones) if up is None else up
    )


def test_a_drill_measures_the_workloads_in_its_zone_it_would_apply_to() -> None:
    shift = drill()
    web = entry(workload_body(9))
    solo_body = workload_body(2, zones=["zone-b"])
    solo_body["metadata"]["name"] = "solo"
    solo = entry(solo_body)
    elsewhere_body = workload_body(2, zones=["zone-a", "zone-c"])
    elsewhere_body["metadata"]["name"] = "elsewhere"
    elsewhere = entry(elsewhere_body)
    assert drills.measured(shift, [web, solo, elsewhere]) == {WEB}
    readings = {WEB: Reading(9, 9, 6), ("shop", "solo"): Reading(2, 2, 0)}
    seen = drills.survey(shift, [web, solo, elsewhere], readings)
    assert seen == Drilled(readings={WEB: Reading(9, 9, 6)})


def test_a_drill_measures_spread_workloads_too() -> None:
    body = workload_body(9, placement="Spread")
    body["metadata"]["name"] = "api"
    assert drills.measured(drill(), [entry(body)]) == {("shop", "api")}


def test_a_failing_or_failed_over_zone_and_short_capacity_are_seen() -> None:
    shift = drill()
    failing = entry(workload_body(9), up=("zone-b", "zone-c"))
    assert drills.survey(shift, [failing], {}).failing == ("shop/web zone-a",)
    recovering = workload_body(9, status={"zones": [{"name": "zone-c", "health": "Recovering"}]})
    assert drills.survey(shift, [entry(recovering)], {}).failing == ("shop/web zone-c",)
    short = drills.survey(shift, [entry(workload_body(9))], {WEB: Reading(9, 7, 4)})
    assert short.short == ("shop/web (7/9 Ready)",)


def _undeclared(value: Any, schema: Mapping[str, Any], path: str) -> list[str]:
    """The fields of `value` that `schema` does not declare (the API server would prune them,
    and the keeper would find the status different, and write it, on every pass)."""
    if isinstance(value, Mapping):
        props = schema.get("properties") or {}
        out = [f"{path}.{k}" for k in value if k not in props]
        return out + [
            miss for k, v in value.items() if k in props for miss in _undeclared(v, props[k], path)
        ]
    if isinstance(value, list):
        return [miss for v in value for miss in _undeclared(v, schema.get("items") or {}, path)]
    return []


def test_every_status_field_a_drill_writes_is_in_the_crd() -> None:
    crd = yaml.safe_load(
        (Path(__file__).parents[2] / "crds" / "zonal.dev_zoneshifts.yaml").read_text()
    )
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    shift, _ = step(drill(), T0)
    shift, _ = step(shift, T0 + timedelta(seconds=30), Drilled(readings={WEB: Reading(9, 9, 9)}))
    shift, _ = step(shift, T0 + timedelta(days=7), Drilled())  # skipped
    _, update = step(shift, T0 + timedelta(days=7, minutes=1))
    kinds = {r["outcome"] for r in update.status["runs"]}
    assert kinds == {"Passed", "Skipped"}
    assert _undeclared(update.status, schema, "status") == []


def test_a_run_that_passed_only_thanks_to_headroom_says_so() -> None:
    # Placeholders: the scheduler preempted two of them for the surge during the run.
    shift, _ = step(drill(), T0, Drilled(readings={WEB: Reading(9, 9, 6, preempted=1)}))
    shift, update = step(
        shift, T0 + timedelta(seconds=20), Drilled(readings={WEB: Reading(9, 12, 9, preempted=3)})
    )
    [item] = update.status["runs"][0]["workloads"]
    assert item["heldByHeadroom"] is True
    # A new leader keeps it from the status.
    _, update = step(shift, T0 + timedelta(seconds=40), Drilled(readings={WEB: Reading(9, 9, 9)}))
    assert update.status["runs"][0]["workloads"][0]["heldByHeadroom"] is True
    shift, update = step(shift, T0 + timedelta(minutes=30, seconds=1))
    assert "only thanks to headroom for shop/web" in update.events[0].message

    # Static stability: 10 Ready outside the zone at once, 6 of them its extra replicas.
    shift, _ = step(drill(), T0, Drilled(readings={WEB: Reading(9, 15, 10, extra=6)}))
    [item] = shift.status["runs"][0]["workloads"]  # type: ignore[index]
    assert item["heldByHeadroom"] is True and item["capacityBackSeconds"] == 0


def test_a_run_that_needed_no_headroom_says_nothing_of_it() -> None:
    # Placeholders kept but none preempted (the surge found free room); static stability
    # whose zones held spec.replicas outside the zone without the extra.
    for reading in (Reading(9, 9, 9, preempted=2), Reading(9, 21, 18, extra=6)):
        shift, _ = step(drill(), T0, Drilled(readings={WEB: reading}))
        shift, update = step(shift, T0 + timedelta(minutes=30, seconds=1))
        assert "heldByHeadroom" not in update.status["runs"][0]["workloads"][0]
        assert "headroom" not in update.events[0].message
