"""Zone drills, as the pure core sees them: a ZoneShift with spec.schedule is a practice run of
losing its zone. This module decides when a run starts or is skipped, which workloads it
measures, how each fared, and the ZoneShift's status and events; runtime/drills.py feeds it
what the operator observes, on its own clock.

The rules:
- A run is due at each time the schedule gives (cron, UTC), and would be in force from then
  for spec.duration: its window. The operator starts it when it sees the window open, at most
  START_DEADLINE after the scheduled time; later than that it is recorded as skipped (Missed),
  so that an operator that was down, or a leader that changed, never starts a run late.
  Windows scheduled before the ZoneShift was created are not runs.
- A run is skipped (recorded, with the reason, and never started later in its window) when,
  at its start: a zone of a ZonalWorkload the drill selects is failing or failed over and not
  back yet, one of those it would drill has fewer Ready replicas than spec.replicas, the
  drill's previous run or another ZoneShift is in force (anywhere: a drill is a practice on a
  quiet cluster), or it would drill no workload. The first of these reasons is recorded. A
  drill practices losing a zone on a healthy system; it never adds to a real outage.
- A run measures the ZonalWorkloads it applies to that run in the zone, with either placement
  (a workload the shift is refused for is not drilled; runtime/drills.py reads a PerZone
  workload's Ready replicas from its Deployments, a Spread workload's from its pods and their
  nodes' zones). Per workload: the seconds from the run's start until its Ready replicas outside the
  zone reached spec.replicas (capacity back elsewhere), and the lowest Ready count seen during
  the run. It failed if Ready fell below spec.replicas, or its capacity was not back elsewhere
  by the window's end (losing the zone for real would then have cost capacity). The run passed
  if no workload failed.
- status.runs keeps the last MAX_RUNS runs, newest first, each with at most MAX_LISTED
  workloads (the failed first); a run's status is written when it starts, when a measurement
  moves (a new lowest Ready, capacity back), and when it ends: between runs, nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from zonal_operator.api.group import format_time, parse_time
from zonal_operator.api.shift_status import MAX_RUNS, DrilledWorkload, DrillRun, ZoneShiftStatus
from zonal_operator.api.status import MAX_LISTED, ConditionType, Reason, RunOutcome
from zonal_operator.api.zoneshift import ZoneShift
from zonal_operator.core import shifts as shifting
from zonal_operator.core.drill_schedule import (
    START_DEADLINE,
    Window,
    next_time,
    open_window,
    schedule_error,
)
from zonal_operator.core.plan import Event
from zonal_operator.core.status import Condition, render_conditions
from zonal_operator.core.zones import FAILED_OVER

Key = tuple[str, str]  # (namespace, name) of a ZonalWorkload

RUNNING, PASSED, FAILED, SKIPPED = (
    RunOutcome.RUNNING,
    RunOutcome.PASSED,
    RunOutcome.FAILED,
    RunOutcome.SKIPPED,
)


# -- what the operator observes --------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """A drilled workload at one moment: spec.replicas, its Ready replicas in every zone, and
    those outside the drilled zone (its Deployments' readyReplicas; Spread placement: its
    Ready pods, by their nodes' zones)."""

    replicas: int
    ready: int
    elsewhere: int
    # Its headroom (spec.failover.headroom): static stability's extra replicas, and how many of
    # its placeholder pods the scheduler has preempted so far (as the operator saw them go).
    extra: int = 0
    preempted: int = 0


@dataclass(frozen=True)
class Measure:
    """A workload during a run, so far: the lowest Ready count, when capacity was back, and
    whether that was only thanks to its headroom (`held`; `preempted`: the count at the run's
    first reading)."""

    replicas: int
    lowest: int
    back_at: datetime | None = None
    held: bool = False
    preempted: int = 0


def observe(before: Measure | None, reading: Reading, now: datetime) -> Measure:
    """`before` with one more reading, taken at `now`. Capacity is back only thanks to the
    headroom when static stability's extra replicas make it up, or when the scheduler
    preempted placeholders: it preempts only for a pod that fits nowhere else."""
    back = reading.elsewhere >= reading.replicas
    held = back and reading.extra > 0 and reading.elsewhere - reading.extra < reading.replicas
    if before is None:
        return Measure(
            reading.replicas, reading.ready, now if back else None, held, reading.preempted
        )
    return Measure(
        before.replicas,
        min(before.lowest, reading.ready),
        before.back_at if before.back_at is not None or not back else now,
        before.held or held or reading.preempted > before.preempted,
        before.preempted,
    )


@dataclass(frozen=True)
class Drilled:
    """What a drill sees of the ZonalWorkloads: those it selects (for the skip rule), and of
    those the ones a run measures, with their current readings."""

    failing: tuple[str, ...] = ()  # "namespace/name zone-x", zones failing or failed over
    short: tuple[str, ...] = ()  # "namespace/name (7/9 Ready)"
    readings: Mapping[Key, Reading] = field(default_factory=dict)


def survey(
    shift: ZoneShift,
    entries: Iterable[shifting.Selected],
    readings: Mapping[Key, Reading],
) -> Drilled:
    """What the drill sees, from every workload (shifts.Selected) and the readings of those a
    run would measure (`measured`)."""
    failing: list[str] = []
    short: list[str] = []
    taken: dict[Key, Reading] = {}
    for entry in entries:
        wl = entry.workload
        if not matches(shift, entry):
            continue
        key = (wl.namespace, wl.name)
        reported = {z.get("name"): z.get("health") for z in (wl.status or {}).get("zones") or []}
        bad = sorted(
            {z for z in entry.zones if z not in entry.up}
            | {z for z, h in reported.items() if h in FAILED_OVER}
        )
        failing.extend(f"{wl.namespace}/{wl.name} {z}" for z in bad)
        reading = readings.get(key)
        if reading is None or key not in measured(shift, [entry]):
            continue
        taken[key] = reading
        if reading.ready < reading.replicas:
            short.append(f"{wl.namespace}/{wl.name} ({reading.ready}/{reading.replicas} Ready)")
    return Drilled(tuple(failing), tuple(short), taken)


def matches(shift: ZoneShift, entry: shifting.Selected) -> bool:
    """Whether the drill selects the workload (in force or not)."""
    return (
        shift.topology_key == entry.workload.topology_key
        and shifting.selector_matches(shift.workload_selector, entry.labels)
        and shifting.selector_matches(shift.namespace_selector, entry.namespace_labels)
    )


def measured(shift: ZoneShift, entries: Iterable[shifting.Selected]) -> set[Key]:
    """The workloads a run of the drill would measure: it selects them, they run in the zone,
    and the shift would apply to them."""
    keys: set[Key] = set()
    for entry in entries:
        wl = entry.workload
        if shift.zone not in entry.zones or not matches(shift, entry):
            continue
        if shifting.assign(entry.zones, [shift], entry.up).applies(shift.name):
            keys.add((wl.namespace, wl.name))
    return keys


# -- the ZoneShift's status ------------------------------------------------------------------


@dataclass
class Update:
    """A drill's status as it should be, its events, the runs that ended in it (for the
    metrics: each a status.runs entry), and the workloads the current run measures."""

    status: ZoneShiftStatus
    events: list[Event] = field(default_factory=list)
    ended: list[DrillRun] = field(default_factory=list)
    running: str | None = None  # the scheduledAt of the run in force
    measures: dict[Key, Measure] = field(default_factory=dict)  # of the run in force


def drill_status(
    shift: ZoneShift,
    now: datetime,
    *,
    seen: Drilled,
    measures: Mapping[Key, Measure],
    others: Sequence[str],
    outcome: shifting.Outcome | None,
) -> Update:
    """The status of a drill at `now`, from what its status recorded, what it sees of its
    workloads (`seen`), the measures taken since its run started (the runtime's, taken at each
    change of the workloads' Deployments; empty after a restart), the other ZoneShifts in
    force (`others`), and the shifts' outcome for it (shifts.outcomes)."""
    old: ZoneShiftStatus = shift.status or {}
    runs = [r.copy() for r in old.get("runs") or [] if isinstance(r, Mapping)]
    update = Update({})
    bad = schedule_error(shift.schedule)
    for i, run in enumerate(runs):
        if run.get("outcome") == RUNNING:  # a run in force goes on to its end, whatever edits
            runs[i] = _measure(run, seen, measures, now, update)
    if bad is None:
        window = open_window(shift, now)
        recorded = parse_time(runs[0].get("scheduledAt")) if runs else None
        if (
            window is not None
            and (recorded is None or window.scheduled > recorded)
            and (shift.created is None or window.scheduled >= shift.created)
        ):
            runs.insert(
                0, _begin(shift, window, now, seen=seen, others=others, runs=runs, update=update)
            )
        runs = runs[:MAX_RUNS]
    running = next((r for r in runs if r.get("outcome") == RUNNING), None)
    update.running = None if running is None else str(running.get("scheduledAt"))
    last_started = next((r for r in runs if r.get("startedAt")), None)
    nxt = None if bad else next_time(shift.schedule, now)
    outcome = outcome if running is not None and outcome is not None else shifting.Outcome()
    refused = sorted(outcome.refused)
    status: ZoneShiftStatus = {
        "observedGeneration": shift.generation,
        "schedule": shift.schedule,
        "duration": shift.duration,
        "active": running is not None,
        "appliedWorkloads": outcome.applied,
        "refusedWorkloads": len(refused),
        "refused": shifting.refused_list(refused),
        "runs": runs,
    }
    if last_started is not None:
        status["startedAt"] = last_started["startedAt"]
        status["expiresAt"] = last_started["endsAt"]
    if nxt is not None:
        status["nextRunAt"] = format_time(nxt)
    why = f": {shift.reason}" if shift.reason else ""
    if bad is not None:
        cond = ("False", Reason.INVALID_SCHEDULE, f"{bad}: no run starts")
    elif running is not None:
        cond = (
            "True",
            Reason.DRILL_RUNNING,
            f"Drill of zone {shift.zone}: zone {shift.zone} is shifted away until "
            f"{running['endsAt']}{why}",
        )
    else:
        when = f"the next run is at {format_time(nxt)}" if nxt is not None else "no run is to come"
        cond = ("False", Reason.DRILL_SCHEDULED, f"Drill of zone {shift.zone}: {when}{why}")
    conditions = old.get("conditions") or []
    active_condition = Condition(ConditionType.ACTIVE, cond[0] == "True", cond[1], cond[2])
    status["conditions"] = render_conditions([active_condition], conditions, shift.generation, now)
    update.status = status
    return update


def _begin(
    shift: ZoneShift,
    window: Window,
    now: datetime,
    *,
    seen: Drilled,
    others: Sequence[str],
    runs: Sequence[DrillRun],
    update: Update,
) -> DrillRun:
    """The run of `window`, started or skipped."""
    scheduled, ends = format_time(window.scheduled), format_time(window.ends)
    skip = _skip_reason(shift, window, now, seen=seen, others=others, runs=runs)
    if skip is not None:
        reason, message = skip
        run: DrillRun = {
            "scheduledAt": scheduled,
            "endsAt": ends,
            "outcome": SKIPPED,
            "skipped": True,
            "reason": reason,
            "message": message,
        }
        text = f"Drill run of zone {shift.zone} at {run['scheduledAt']} skipped: {message}"
        update.events.append(Event("Warning", "DrillSkipped", text, shift.zone))
        update.ended.append(run)
        return run
    run = {
        "scheduledAt": scheduled,
        "endsAt": ends,
        "outcome": RUNNING,
        "skipped": False,
        "startedAt": format_time(now),
    }
    update.measures = {key: observe(None, r, now) for key, r in seen.readings.items()}
    _count(run, _entries(update.measures, now, now), len(seen.readings))
    text = (
        f"Drill run of zone {shift.zone} started: {len(seen.readings)} ZonalWorkloads leave "
        f"the zone until {run['endsAt']}"
    )
    update.events.append(Event("Normal", "DrillStarted", text, shift.zone))
    return run


def _skip_reason(
    shift: ZoneShift,
    window: Window,
    now: datetime,
    *,
    seen: Drilled,
    others: Sequence[str],
    runs: Sequence[DrillRun],
) -> tuple[str, str] | None:
    late = now - window.scheduled
    if late > START_DEADLINE:
        return (
            Reason.MISSED,
            f"the operator saw the run {int(late.total_seconds())}s after its scheduled time "
            f"(a run starts at most {int(START_DEADLINE.total_seconds())}s late)",
        )
    if seen.failing:
        return Reason.ZONE_FAILING, f"zones are failing or failed over: {_few(seen.failing)}"
    if seen.short:
        return (
            Reason.CAPACITY_SHORT,
            f"ZonalWorkloads are short of Ready replicas: {_few(seen.short)}",
        )
    if any(r.get("outcome") == RUNNING for r in runs):
        return Reason.PREVIOUS_RUN_IN_FORCE, "the previous run of this drill is still in force"
    if others:
        return Reason.SHIFT_IN_FORCE, f"another ZoneShift is in force: {_few(sorted(others))}"
    if not seen.readings:
        return (
            Reason.NOTHING_TO_DRILL,
            f"no selected ZonalWorkload runs in zone {shift.zone} with PerZone placement",
        )
    return None


def _few(items: Sequence[str]) -> str:
    return ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")


def _measure(
    run: DrillRun,
    seen: Drilled,
    measures: Mapping[Key, Measure],
    now: datetime,
    update: Update,
) -> DrillRun:
    """A run in force with what was measured since it was last written; ended if its window
    has."""
    started = parse_time(run.get("startedAt")) or now
    ends = parse_time(run.get("endsAt")) or now
    # What the status holds (the measures of an earlier leader, or of this one's last write)
    merged: dict[Key, Measure] = {}
    for item in run.get("workloads") or []:
        key = (str(item.get("namespace")), str(item.get("name")))
        back = item.get("capacityBackSeconds")
        merged[key] = Measure(
            int(item.get("replicas") or 0),
            int(item.get("lowestReady") or 0),
            None if back is None else started + timedelta(seconds=float(back)),
            bool(item.get("heldByHeadroom")),
        )
    # ... with this replica's own since (it measures the run's workloads that are not listed,
    # beyond MAX_LISTED, too), and the readings now (none after the window's end).
    for key, measure in measures.items():
        was = merged.get(key)
        if was is None:
            merged[key] = measure
            continue
        back_at = min((t for t in (was.back_at, measure.back_at) if t is not None), default=None)
        held = was.held or measure.held
        lowest = min(was.lowest, measure.lowest)
        merged[key] = Measure(was.replicas, lowest, back_at, held, measure.preempted)
    if now < ends:
        for key, reading in seen.readings.items():
            if key in merged:
                merged[key] = observe(merged[key], reading, now)
    total = max(int(run.get("workloadCount") or 0), len(merged))
    update.measures = merged
    run = run.copy()
    _count(run, _entries(merged, started, now), total)
    if now >= ends:
        run = _end(run, update)
    return run


def _entries(
    measures: Mapping[Key, Measure], started: datetime, now: datetime
) -> list[DrilledWorkload]:
    """status.runs[].workloads: the failed first, then the slowest back, at most MAX_LISTED."""
    items = []
    for (namespace, name), m in measures.items():
        item: DrilledWorkload = {
            "namespace": namespace,
            "name": name,
            "replicas": m.replicas,
            "lowestReady": m.lowest,
            "failed": m.lowest < m.replicas,
        }
        if m.back_at is not None:
            item["capacityBackSeconds"] = round(max(0.0, (m.back_at - started).total_seconds()))
        if m.held:
            item["heldByHeadroom"] = True
        items.append(item)
    items.sort(
        key=lambda i: (
            not i["failed"],
            -(i.get("capacityBackSeconds", 1e9)),
            i["namespace"],
            i["name"],
        )
    )
    return items[:MAX_LISTED]


def _count(run: DrillRun, items: list[DrilledWorkload], total: int) -> None:
    """The run's measured workloads, and its counts."""
    run["workloads"] = items
    run["workloadCount"] = total
    run["failedWorkloads"] = sum(1 for i in items if i.get("failed"))


def _end(run: DrillRun, update: Update) -> DrillRun:
    items = run.get("workloads") or []
    below = [i for i in items if i.get("failed")]
    stuck = [i for i in items if "capacityBackSeconds" not in i]
    slowest = max((i.get("capacityBackSeconds", 0) for i in items), default=0)
    lowest = min((i.get("lowestReady", 0) - i.get("replicas", 0) for i in items), default=0)
    if below or stuck:
        names = [f"{i['namespace']}/{i['name']}" for i in [*below, *stuck]]
        reason = Reason.BELOW_REPLICAS if below else Reason.CAPACITY_NOT_BACK
        message = (
            (f"Ready fell below spec.replicas for {_few(names[: len(below)])}" if below else "")
            + ("; " if below and stuck else "")
            + (
                "capacity was not back outside the zone by the end for " + _few(names[len(below) :])
                if stuck
                else ""
            )
        )
        run = {**run, "outcome": FAILED, "reason": reason, "message": message}
        event = Event("Warning", "DrillFailed", f"Drill run failed: {message}")
    else:
        message = (
            f"capacity back outside the zone within {slowest}s for {len(items)} ZonalWorkloads; "
            f"Ready never below spec.replicas (lowest margin {lowest})"
        )
        if held := [f"{i['namespace']}/{i['name']}" for i in items if i.get("heldByHeadroom")]:
            message += (
                f"; only thanks to headroom for {_few(held)} (the surge preempted its "
                "placeholders, or static stability's extra replicas held capacity elsewhere)"
            )
        run = {**run, "outcome": PASSED, "reason": Reason.CAPACITY_BACK, "message": message}
        event = Event("Normal", "DrillPassed", f"Drill run passed: {message}")
    update.events.append(replace(event, message=f"{event.message} (run of {run['scheduledAt']})"))
    update.ended.append(run)
    return run


def requeue_at(shifts: Iterable[ZoneShift], now: datetime) -> datetime | None:
    """The earliest next scheduled time of the drills."""
    times = [
        t
        for s in shifts
        if s.drill and not s.deleting and schedule_error(s.schedule) is None
        for t in [next_time(s.schedule, now)]
        if t is not None
    ]
    return min(times, default=None)
