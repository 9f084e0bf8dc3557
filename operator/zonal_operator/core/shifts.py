"""Zone shifts, as the pure core sees them: which ZoneShifts select a workload, which of those
apply to it and which are refused, what that does to its zones (read by zones.judge_zone), the
ZoneShifted condition and its events; and a ZoneShift's own status (startedAt, countedFrom,
expiresAt, the workloads it applies to, those it is refused for).

The rules:
- A ZoneShift selects a ZonalWorkload when it is active (started, not expired, not being
  deleted), has the workload's topologyKey, and its workloadSelector and namespaceSelector
  (each empty: everything) match the workload's and its namespace's labels; one with
  spec.workload selects that one workload only.
- The shifts selecting a workload are taken in the order they started (then by name). Each one
  applies unless, with the ones applied before it, it would leave the workload no zone to run
  in: no other zone with eligible nodes that is not failing. It is then refused for that
  workload (the condition, an event and the ZoneShift's status say so), and the zone keeps or
  gets back its share: a shift is a preference, capacity comes first. So a shift of zone b on a
  workload of zones a and b is refused while a fails, and applies again once a is back. While
  every zone looks down, the all-zones-down rule moves nothing (zones.guard_all_failing).
- Both placements apply shifts alike: PerZone moves a shifted zone's share to the other zones'
  Deployments (perzone.py), Spread keeps the zone out of its one Deployment's pod template and
  rolls it out surge first (spread_shifts.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zonal_operator.api.group import format_time, parse_time
from zonal_operator.api.shift_status import RefusedWorkload, ZoneShiftStatus
from zonal_operator.api.status import (
    MAX_LISTED,
    ConditionType,
    Reason,
    StatusCondition,
    WorkloadStatus,
)
from zonal_operator.api.workload import Workload
from zonal_operator.api.zoneshift import ZoneShift, parse_duration
from zonal_operator.core.plan import Event, Plan
from zonal_operator.core.status import Condition, render_conditions
from zonal_operator.core.zones import ZoneView

CONDITION = ConditionType.ZONE_SHIFTED
NO_ZONE_LEFT = (
    "it would leave the workload no zone to run in (every other zone is shifted away, failing, "
    "or has no eligible node)"
)


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector against labels; empty or absent selects everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False  # the CRD admits no other; never select on what is not understood
    return True


def selecting(
    shifts: Iterable[ZoneShift],
    wl: Workload,
    workload_labels: Mapping[str, str],
    namespace_labels: Mapping[str, str],
    now: datetime,
) -> tuple[ZoneShift, ...]:
    """The active shifts that select the workload, in the order they started (then by name)."""
    chosen = [
        s
        for s in shifts
        if s.active(now)
        and s.topology_key == wl.topology_key
        and selector_matches(s.workload_selector, workload_labels)
        and selector_matches(s.namespace_selector, namespace_labels)
        and (wl.auto_shift.enabled or not s.opted_in_only)
        and (s.workload is None or s.workload == (wl.namespace, wl.name))
    ]
    return tuple(sorted(chosen, key=_order))


def _order(shift: ZoneShift) -> tuple[datetime, str]:
    assert shift.started is not None
    return (shift.started, shift.name)


@dataclass(frozen=True)
class Assignment:
    """What the shifts selecting one workload do to it."""

    selected: tuple[ZoneShift, ...] = ()
    # zone -> the shifts that move the workload out of it
    applied: Mapping[str, tuple[ZoneShift, ...]] = field(default_factory=dict)
    # (shift, why it is not applied)
    refused: tuple[tuple[ZoneShift, str], ...] = ()

    def applies(self, shift: str) -> bool:
        return any(s.name == shift for shifts in self.applied.values() for s in shifts)

    def note(self, zone: str) -> str:
        """The shifts of a zone, for messages: `ZoneShift a (reason), ZoneShift b`."""
        return ", ".join(describe(s) for s in self.applied.get(zone, ()))

    def expiries(self) -> list[datetime]:
        return [s.expires for s in self.selected if s.expires is not None]


def describe(shift: ZoneShift) -> str:
    return f"ZoneShift {shift.name}" + (f" ({shift.reason})" if shift.reason else "")


def assign(
    zones: Collection[str],
    selected: Sequence[ZoneShift],
    up: Collection[str] | None = None,
) -> Assignment:
    """Which of the selecting shifts apply to the workload whose zones with eligible nodes are
    `zones`, of which `up` (default: all) are not failing; and which are refused (see the
    module's doc)."""
    if not selected:
        return Assignment()
    applied: dict[str, tuple[ZoneShift, ...]] = {}
    refused: list[tuple[ZoneShift, str]] = []
    for shift in selected:
        left = set(zones if up is None else up) - set(applied) - {shift.zone}
        if shift.zone in zones and not left:
            refused.append((shift, NO_ZONE_LEFT))
        else:
            applied[shift.zone] = (*applied.get(shift.zone, ()), shift)
    return Assignment(tuple(selected), applied, tuple(refused))


def apply(assignment: Assignment, zones: Iterable[ZoneView]) -> None:
    """Mark on each zone the shifts that apply to it (zones.judge_zone reads them)."""
    for zone in zones:
        shifts = assignment.applied.get(zone.name, ())
        zone.shifted_by = tuple(s.name for s in shifts)
        zone.shift_note = assignment.note(zone.name)


def report(
    assignment: Assignment,
    zones: Collection[str],
    before: WorkloadStatus,
    wanted: list[Condition],
    result: Plan,
) -> None:
    """Add the ZoneShifted condition (while a shift selects the workload) to the conditions a
    plan wants, and the events of newly refused shifts; `before` is the status written last."""
    cond = condition(assignment, zones)
    if cond is None:
        return
    wanted.append(cond)
    conditions = before.get("conditions") or []
    previous = next((c for c in conditions if c.get("type") == CONDITION), None)
    refusal_events(assignment, previous, result)


def condition(assignment: Assignment, zones: Collection[str]) -> Condition | None:
    """The workload's ZoneShifted condition: present while a shift selects it."""
    if not assignment.selected:
        return None
    moved = sorted(z for z in assignment.applied if z in zones)
    parts = [
        f"zone {z} shifted away by {assignment.note(z)} until "
        + ", ".join(_until(s) for s in assignment.applied[z])
        for z in moved
    ]
    idle = sorted(
        {s.name for z, shifts in assignment.applied.items() if z not in zones for s in shifts}
    )
    if idle:
        parts.append(f"ZoneShift {', '.join(idle)}: the workload runs in no such zone")
    parts.extend(
        f"{describe(s)} of zone {s.zone} not applied: {why}" for s, why in assignment.refused
    )
    message = "; ".join(parts)
    message = message[:1].upper() + message[1:]
    if moved:
        return Condition(CONDITION, True, Reason.ZONES_SHIFTED, message)
    if assignment.refused:
        return Condition(CONDITION, False, Reason.SHIFT_REFUSED, message)
    return Condition(CONDITION, False, Reason.NOTHING_TO_SHIFT, message)


def _until(shift: ZoneShift) -> str:
    return format_time(shift.expires) if shift.expires else "?"


def refusal_events(assignment: Assignment, previous: StatusCondition | None, result: Plan) -> None:
    """A Warning when a shift is newly refused for the workload (the condition's previous
    message names the ones refused before)."""
    before = str(previous.get("message") or "") if previous is not None else ""
    for shift, why in assignment.refused:
        if f"{describe(shift)} of zone {shift.zone} not applied" in before:
            continue
        message = f"{describe(shift)} of zone {shift.zone} is not applied: {why}"
        result.events.append(Event("Warning", "ZoneShiftRefused", message, shift.zone))


# -- A ZoneShift's own status -----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """Per ZoneShift, the workloads it applies to and those it is refused for (with why)."""

    applied: int = 0
    refused: tuple[tuple[str, str, str], ...] = ()  # (namespace, name, why)


def refused_list(refused: Sequence[tuple[str, str, str]]) -> list[RefusedWorkload]:
    """status.refused: the first MAX_LISTED refused workloads, and why."""
    return [{"namespace": ns, "name": n, "message": why} for ns, n, why in refused[:MAX_LISTED]]


def shift_status(
    shift: ZoneShift, outcome: Outcome | None, now: datetime
) -> tuple[ZoneShiftStatus, list[Event]]:
    """The status the operator writes on a ZoneShift, and the events that go with it. The clock
    starts when the operator first sees the shift and restarts when spec.duration is edited;
    everything else derives from that and `now`."""
    old: ZoneShiftStatus = shift.status or {}
    started = old.get("startedAt") or format_time(now)
    counted = old.get("countedFrom")
    if not counted or old.get("duration") != shift.duration:
        counted = format_time(now)
    counted_from = parse_time(counted) or now
    expires = counted_from + parse_duration(shift.duration)
    expires_at = format_time(expires)
    active = now < expires
    outcome = outcome if active and outcome is not None else Outcome()
    refused = sorted(outcome.refused)
    status: ZoneShiftStatus = {
        "observedGeneration": shift.generation,
        "startedAt": started,
        "countedFrom": counted,
        "duration": shift.duration,
        "expiresAt": expires_at,
        "active": active,
        "appliedWorkloads": outcome.applied,
        "refusedWorkloads": len(refused),
        "refused": refused_list(refused),
    }
    why = f": {shift.reason}" if shift.reason else ""
    if active:
        cond = (
            "True",
            Reason.SHIFTED,
            f"Zone {shift.zone} is shifted away until {expires_at}{why}; applied to "
            f"{outcome.applied} ZonalWorkloads, refused for {len(refused)}",
        )
    else:
        cond = (
            "False",
            Reason.EXPIRED,
            f"The shift of zone {shift.zone} ended at {expires_at}{why}",
        )
    conditions = old.get("conditions") or []
    previous = next((c for c in conditions if c.get("type") == ConditionType.ACTIVE), None)
    changed = previous is None or previous.get("status") != cond[0]
    active_condition = Condition(ConditionType.ACTIVE, cond[0] == "True", cond[1], cond[2])
    status["conditions"] = render_conditions([active_condition], conditions, shift.generation, now)
    events: list[Event] = []
    if changed and active:
        events.append(Event("Normal", "ZoneShiftStarted", cond[2], shift.zone))
    elif changed and previous is not None:
        events.append(Event("Normal", "ZoneShiftExpired", cond[2], shift.zone))
    elif active and old.get("expiresAt") and old.get("expiresAt") != expires_at:
        message = f"Zone {shift.zone} is now shifted away until {expires_at}{why}"
        events.append(Event("Normal", "ZoneShiftExtended", message, shift.zone))
    before = {(r.get("namespace"), r.get("name")) for r in old.get("refused") or []}
    new = [f"{ns}/{n}" for ns, n, _ in refused if (ns, n) not in before]
    if new:
        listed = ", ".join(new[:10]) + (f" and {len(new) - 10} more" if len(new) > 10 else "")
        events.append(
            Event("Warning", "ZoneShiftRefused", f"Not applied to {listed}: see status.refused")
        )
    return status, events


@dataclass(frozen=True)
class Selected:
    """One workload as outcomes() needs it: its labels, its namespace's, its zones."""

    workload: Workload
    labels: Mapping[str, str]
    namespace_labels: Mapping[str, str]
    zones: Collection[str]  # the zones with eligible nodes (zones.zones_of)
    up: Collection[str]  # those of them that are not failing


def outcomes(
    shifts: Sequence[ZoneShift], workloads: Iterable[Selected], now: datetime
) -> dict[str, Outcome]:
    """Per ZoneShift in force, how many workloads it applies to and which it is refused for:
    the same assignment each workload's plan makes."""
    applied: dict[str, int] = {s.name: 0 for s in shifts if s.active(now)}
    refused: dict[str, list[tuple[str, str, str]]] = {name: [] for name in applied}
    for entry in workloads:
        wl = entry.workload
        chosen = selecting(shifts, wl, entry.labels, entry.namespace_labels, now)
        if not chosen:
            continue
        assignment = assign(entry.zones, chosen, entry.up)
        for shift, why in assignment.refused:
            refused[shift.name].append((wl.namespace, wl.name, why))
        for shift in chosen:
            if assignment.applies(shift.name):
                applied[shift.name] += 1
    return {name: Outcome(applied[name], tuple(refused[name])) for name in applied}


def next_expiry(shifts: Iterable[ZoneShift], now: datetime) -> datetime | None:
    """The earliest end, after now, of the shifts in force."""
    ends = [s.expires for s in shifts if s.active(now) and s.expires is not None]
    return min(ends, default=None)
