"""The zone judgement both placements share: which zones a workload has, what state each is in
(the verdict, from its nodes, the failover policy and what the status said before), the guard
for when every zone looks dead, the failback step, and the zone events and reasons.

A zone's nodes are judged in core/health.py (Ready conditions) and core/heartbeat.py (Lease
renewals); `judge_zone` turns that into the zone's state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from zonal_operator.api.group import parse_time
from zonal_operator.api.status import Reason, ZoneState, ZoneStatus
from zonal_operator.api.workload import Workload
from zonal_operator.core.health import ZoneHealth, zone_healths
from zonal_operator.core.model import NodeInfo
from zonal_operator.core.plan import Event, Observed, Plan
from zonal_operator.core.wording import Wording

SERVING = (ZoneState.HEALTHY, ZoneState.DEGRADED)
FAILED_OVER = (ZoneState.UNHEALTHY, ZoneState.RECOVERING)


@dataclass
class ZoneView:
    name: str
    health: ZoneHealth | None  # None: the zone has no eligible node any more
    state: ZoneState
    since: datetime | None = None  # healthySince / unhealthySince to report
    deployment: str = ""
    live: Mapping[str, Any] | None = None
    conflict: bool = False
    current: int = 0  # spec.replicas of its Deployment
    ready: int = 0
    available: int = 0
    target: int = 0  # its share once all moves are done
    next: int = 0  # what its Deployment gets in this step
    # None of the workload's pods in the zone serve: the zone has no Ready node, or they all
    # sit on nodes that are not (see perzone.plan).
    dark: bool = False
    # The ZoneShifts that apply to the zone (core/shifts.py), and how messages name them.
    shifted_by: tuple[str, ...] = ()
    shift_note: str = ""


def workload_zones(observed: Observed) -> dict[str, ZoneHealth]:
    """The health of every zone with a joined node the workload's pods may run on."""
    return zones_of(observed.workload, observed.nodes)


def zones_of(wl: Workload, nodes: Sequence[NodeInfo]) -> dict[str, ZoneHealth]:
    """workload_zones, from the workload and the nodes alone."""
    return zone_healths(
        nodes,
        wl.pod_spec,
        wl.topology_key,
        wl.zones,
        wl.failover.unhealthy_node_percent,
        heartbeat_timeout=wl.failover.heartbeat_timeout_seconds,
    )


def judge_zone(
    zone: ZoneView,
    previous: ZoneStatus | None,
    wl: Workload,
    now: datetime,
    requeue_at: list[datetime],
) -> None:
    """Decide the zone's state from its nodes, the policy, what status said before, and the
    ZoneShifts that apply to it. A shift only takes a zone that would serve (Healthy, or
    Degraded) out of service: a zone that really fails meanwhile is failed over as any other,
    and once its nodes are back it waits out the failback delay as any other (Recovering)
    before the shift, if still in force, holds it. When a shift ends on a zone whose nodes
    never failed, its replicas return at once, in failback steps, without the failback delay:
    the delay guards against nodes that flap, and the end of a shift is somebody's decision
    (or the expiry they chose), not nodes coming back."""
    _judge_nodes(zone, previous, wl, now, requeue_at)
    if zone.shifted_by and zone.state in SERVING:
        zone.state = ZoneState.SHIFTED
        if zone.health is not None and not zone.health.failing:
            zone.since = None


def _judge_nodes(
    zone: ZoneView,
    previous: ZoneStatus | None,
    wl: Workload,
    now: datetime,
    requeue_at: list[datetime],
) -> None:
    health, policy = zone.health, wl.failover
    assert health is not None
    before = previous.get("health") if previous is not None else None
    was_failed_over = before in FAILED_OVER
    # A shifted zone holds none of the workload's replicas: if it fails, there is no grace
    # period to wait out before calling it failed over.
    was_out = was_failed_over or before == ZoneState.SHIFTED
    if health.silence_due is not None and not health.failing:
        # A quiet node may be proven silent then: requeue, or once a second while the proof
        # is late (the runtime re-reads quiet Leases every second).
        requeue_at.append(max(health.silence_due, now + timedelta(seconds=1)))
    if health.failing:
        zone.since = health.failing_since
        if not policy.enabled:
            zone.state = ZoneState.DEGRADED
            return
        if was_out:
            zone.state = ZoneState.UNHEALTHY
            return
        deadline = (health.failing_since or now) + timedelta(seconds=policy.grace_period_seconds)
        if now >= deadline:
            zone.state = ZoneState.UNHEALTHY
        else:
            zone.state = ZoneState.DEGRADED
            requeue_at.append(deadline)
        return
    if not was_failed_over or not policy.enabled:
        zone.state = ZoneState.HEALTHY
        return
    # Healthy since the later of what the nodes say and when we first saw it: robust against
    # kubelets that do not move the Ready transition time when they come back.
    seen = (
        parse_time(previous.get("healthySince"))
        if previous is not None and before == ZoneState.RECOVERING
        else None
    )
    zone.since = max(t for t in (health.healthy_since, seen or now) if t is not None)
    deadline = zone.since + timedelta(seconds=policy.failback_delay_seconds)
    if now >= deadline:
        zone.state = ZoneState.HEALTHY
    else:
        zone.state = ZoneState.RECOVERING
        requeue_at.append(deadline)


def all_failing(zones: Iterable[ZoneView]) -> bool:
    """There are zones, and none of them is Healthy."""
    states = [z.state for z in zones]
    return bool(states) and ZoneState.HEALTHY not in states


def guard_all_failing(
    zones: Iterable[ZoneView], holding: Callable[[ZoneView], bool] = lambda zone: True
) -> bool:
    """Every zone looks dead at once: far likelier that we (or the control plane) are blind
    than that the whole region burned. Like the node lifecycle controller, move nothing: the
    zones judged Unhealthy, or shifted away, that still hold something are Degraded instead
    (they keep what they have). Returns whether that is the case."""
    zones = list(zones)
    failing = all_failing(zones)
    if failing:
        for zone in zones:
            if zone.state in (ZoneState.UNHEALTHY, ZoneState.SHIFTED) and holding(zone):
                zone.state = ZoneState.DEGRADED
    return failing


def failback_step(wl: Workload) -> int:
    """How many replicas a rebalance moves at a time (spec.failover.failbackStepPercent)."""
    return max(1, math.ceil(wl.replicas * wl.failover.failback_step_percent / 100))


def requeue(requeue_at: list[datetime], now: datetime, result: Plan) -> None:
    """The plan's requeue_after: the first of the moments to requeue at (at least a second
    from now)."""
    if requeue_at:
        wait = min(requeue_at) - now
        result.requeue_after = max(1.0, math.ceil(wait.total_seconds()))


def zone_reason(zone: ZoneView) -> tuple[str, str]:
    if zone.conflict:
        return Reason.DEPLOYMENT_CONFLICT, f"Deployment {zone.deployment} belongs to someone else"
    if zone.health is None:
        return Reason.NO_ELIGIBLE_NODES, "No eligible node left in this zone"
    detail = zone.health.describe()
    reason, message = {
        ZoneState.HEALTHY: (Reason.NODES_READY, detail),
        ZoneState.DEGRADED: (
            Reason.NODES_NOT_READY,
            f"{detail}; replicas stay during the grace period",
        ),
        ZoneState.UNHEALTHY: (Reason.FAILED_OVER, f"{detail}; replicas moved to other zones"),
        ZoneState.RECOVERING: (
            Reason.WAITING_FOR_FAILBACK,
            f"{detail}; waiting out the failback delay",
        ),
        ZoneState.SHIFTED: (Reason.ZONE_SHIFTED, f"{detail}; shifted away by {zone.shift_note}"),
    }[zone.state]
    if zone.shifted_by and zone.state is not ZoneState.SHIFTED:
        # Failed (or recovering, or kept by the all-zones-down rule) while a shift applies.
        message = f"{message}; also shifted away by {zone.shift_note}"
    return reason, message


def zone_events(
    zones: Mapping[str, ZoneView],
    previous: Mapping[str, ZoneStatus],
    result: Plan,
    wording: Wording,
    *,
    moving: Callable[[ZoneView], str],
    failover: bool,
) -> None:
    """One event per zone incident, saying what happened and what is done about it: at a
    thousand workloads every event is a thousand API writes. With failover on, a zone that
    fails is told of when it is failed over, or, if it comes back within the grace period, when
    it does; with failover off, when it starts failing."""
    for zone in sorted(zones.values(), key=lambda z: z.name):
        entry = previous.get(zone.name)
        before = entry.get("health") if entry is not None else None
        if zone.health is None or before == zone.state:
            continue
        detail = zone.health.describe()
        if zone.state is ZoneState.DEGRADED and before in (None, ZoneState.HEALTHY):
            if not failover:
                message = f"Zone {zone.name} is failing ({detail}); failover is off"
                result.events.append(Event("Warning", "ZoneDegraded", message, zone.name))
        elif zone.state is ZoneState.HEALTHY and before == ZoneState.DEGRADED:
            failing_since = entry.get("unhealthySince") if entry is not None else None
            since = f" since {failing_since}" if failing_since else ""
            moved = "; nothing was moved" if failover else ""
            message = f"Zone {zone.name} is healthy again ({detail}), failing{since}{moved}"
            result.events.append(Event("Normal", "ZoneRecovered", message, zone.name))
        elif zone.state is ZoneState.UNHEALTHY and before not in FAILED_OVER:
            message = f"Zone {zone.name} is unhealthy ({detail}); {moving(zone)}"
            result.events.append(Event("Warning", "ZoneUnhealthy", message, zone.name))
            result.verdicts.append((zone.name, zone.health.verdict or "NotReady"))
        elif zone.state is ZoneState.RECOVERING and before == ZoneState.UNHEALTHY:
            message = f"Zone {zone.name} is healthy again ({detail}); {wording.waiting}"
            result.events.append(Event("Normal", "ZoneRecovered", message, zone.name))
        elif zone.state is ZoneState.HEALTHY and before in FAILED_OVER:
            returning = wording.returning(zone.name, zone.target)
            result.events.append(Event("Normal", "ReplicasReturned", returning, zone.name))
        elif zone.state is ZoneState.SHIFTED and before in FAILED_OVER:
            message = (
                f"Zone {zone.name} is healthy again ({detail}); its replicas stay away while "
                f"{zone.shift_note} is in force"
            )
            result.events.append(Event("Normal", "ZoneRecovered", message, zone.name))
        elif zone.state is ZoneState.SHIFTED:
            message = f"Zone {zone.name} is shifted away by {zone.shift_note}; {moving(zone)}"
            result.events.append(Event("Normal", "ZoneShifted", message, zone.name))
        elif zone.state is ZoneState.HEALTHY and before == ZoneState.SHIFTED:
            # The shift ended, or now gives way (it would leave no zone that is up).
            back = wording.returning(zone.name, zone.target)
            returning = f"Zone {zone.name} is no longer shifted away. {back}"
            result.events.append(Event("Normal", "ReplicasReturned", returning, zone.name))
