"""The status both placements write: its skeleton (the totals, the selector, the zone counts,
the conditions), each zone's entry as far as both fill it, the Ready, Progressing, Degraded and
FailedOver conditions, and the marks a reconcile adds after its writes
(what the API server rejected, what a PodDisruptionBudget blocked, the Deployment generations
its own writes produced). Conditions are in the Kubernetes shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from zonal_operator.api.group import format_time
from zonal_operator.api.selector import selector_string
from zonal_operator.api.status import (
    ConditionType,
    Reason,
    StatusCondition,
    WorkloadStatus,
    ZoneRolloutStatus,
    ZoneState,
    ZoneStatus,
)
from zonal_operator.api.workload import Workload
from zonal_operator.core import zone_summary
from zonal_operator.core.plan import Event, Plan
from zonal_operator.core.wording import Wording
from zonal_operator.core.zones import SERVING, ZoneView, zone_reason


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str


def render_conditions(
    wanted: Sequence[Condition],
    previous: Sequence[StatusCondition],
    generation: int,
    now: datetime,
) -> list[StatusCondition]:
    """Conditions as status holds them; a condition whose status did not change keeps its
    lastTransitionTime, so rendering the same state twice gives the same result."""
    before = {c.get("type"): c for c in previous}
    out: list[StatusCondition] = []
    for cond in wanted:
        status = "True" if cond.status else "False"
        old = before.get(cond.type)
        changed = old is None or old.get("status") != status
        out.append(
            {
                "type": cond.type,
                "status": status,
                "reason": cond.reason,
                "message": cond.message,
                "observedGeneration": generation,
                "lastTransitionTime": format_time(now)
                if changed or old is None
                else old.get("lastTransitionTime", format_time(now)),
            }
        )
    return out


def skeleton(
    wl: Workload,
    totals: Mapping[str, int],
    serving: Sequence[ZoneView],
    *,
    zones: list[ZoneStatus],
    conditions: Sequence[Condition],
    now: datetime,
    skew: int | None = None,
    zone_rollout: ZoneRolloutStatus | None = None,
) -> WorkloadStatus:
    """The status as both placements write it: `totals` are the four replica totals; `skew` is
    Spread's, `zone_rollout` a zone-by-zone wave's."""
    status: WorkloadStatus = {
        "observedGeneration": wl.generation,
        "replicas": totals["replicas"],
        "readyReplicas": totals["readyReplicas"],
        "availableReplicas": totals["availableReplicas"],
        "updatedReplicas": totals["updatedReplicas"],
        "selector": selector_string(wl.base_selector()),
        "zoneCount": len(serving),
        "healthyZoneCount": sum(1 for z in serving if z.state is ZoneState.HEALTHY),
    }
    if skew is not None:
        status["skew"] = skew
    if zone_rollout is not None:
        status["zoneRollout"] = zone_rollout
    if not_healthy := zone_summary.not_healthy(zones):
        status["zonesNotHealthy"] = not_healthy
    status["zones"] = zones
    status["conditions"] = render_conditions(
        conditions, wl.status.get("conditions") or [], wl.generation, now
    )
    return status


def zone_entry(
    zone: ZoneView,
    deployment: str,
    *,
    ready: int,
    desired: int | None = None,
    replicas: int | None = None,
    available: int | None = None,
    unschedulable: int | None = None,
) -> ZoneStatus:
    """A zone's entry: who it is, its nodes, its counts (each placement its own: the counts
    left None are not written), its health and why, and since when it is not Healthy."""
    reason, message = zone_reason(zone)
    entry: ZoneStatus = {
        "name": zone.name,
        "deployment": deployment,
        "eligibleNodes": zone.health.nodes if zone.health else 0,
        "readyNodes": zone.health.ready if zone.health else 0,
    }
    if desired is not None:
        entry["desiredReplicas"] = desired
    if replicas is not None:
        entry["replicas"] = replicas
    entry["readyReplicas"] = ready
    if available is not None:
        entry["availableReplicas"] = available
    if unschedulable is not None:
        entry["unschedulableReplicas"] = unschedulable
    entry["health"] = zone.state.value
    entry["reason"] = reason
    entry["message"] = message
    if zone.shifted_by:
        entry["shiftedBy"] = list(zone.shifted_by)
    if zone.since is not None and zone.state is ZoneState.RECOVERING:
        entry["healthySince"] = format_time(zone.since)
    elif zone.since is not None and zone.state is not ZoneState.HEALTHY:
        entry["unhealthySince"] = format_time(zone.since)
    return entry


def serving_zones(zones: Mapping[str, ZoneView]) -> list[ZoneView]:
    """The zones that serve: Healthy or Degraded, with eligible nodes and no conflict."""
    return [z for z in zones.values() if z.state in SERVING and z.health and not z.conflict]


def summary(
    wording: Wording,
    *,
    available: int,
    replicas: int,
    blocked: bool,
    converged: bool,
    degraded: Condition,
    failed_over: Sequence[str],
) -> list[Condition]:
    """The Ready, Progressing, Degraded and FailedOver conditions."""
    return [
        Condition(
            ConditionType.READY,
            available >= replicas and not blocked,
            Reason.ALL_REPLICAS_AVAILABLE if available >= replicas else Reason.REPLICAS_UNAVAILABLE,
            f"{available} of {replicas} replicas available",
        ),
        Condition(
            ConditionType.PROGRESSING,
            not converged,
            Reason.STABLE if converged else Reason.RECONCILING,
            wording.stable if converged else wording.progressing,
        ),
        degraded,
        Condition(
            ConditionType.FAILED_OVER,
            bool(failed_over),
            Reason.ZONES_FAILED_OVER if failed_over else Reason.ALL_ZONES_SERVING,
            f"{wording.moved} of {', '.join(failed_over)} run in other zones"
            if failed_over
            else wording.serving,
        ),
    ]


def degraded_condition(
    zones: Mapping[str, ZoneView],
    conflicts: list[str],
    all_failing: bool,
    unschedulable: Mapping[str, int],
) -> Condition:
    if conflicts:
        return Condition(
            ConditionType.DEGRADED,
            True,
            Reason.DEPLOYMENT_CONFLICT,
            f"Deployment {', '.join(conflicts)} exists and is not owned by this ZonalWorkload; "
            "it is left untouched and its zone's share runs elsewhere",
        )
    if not any(z.health for z in zones.values()):
        return Condition(
            ConditionType.DEGRADED,
            True,
            Reason.NO_ELIGIBLE_ZONES,
            "No node carries the topology key and admits the pod template (nodeSelector, "
            "required node affinity, taints, spec.zones)",
        )
    if all_failing:
        return Condition(
            ConditionType.DEGRADED,
            True,
            Reason.ALL_ZONES_UNHEALTHY,
            "Every zone looks unhealthy; nothing is moved until at least one zone is healthy",
        )
    failing = sorted(z.name for z in zones.values() if z.health and z.health.failing)
    if failing:
        return Condition(
            ConditionType.DEGRADED,
            True,
            Reason.ZONES_FAILING,
            f"Failing zones: {', '.join(failing)}",
        )
    stuck = {zone: n for zone, n in sorted(unschedulable.items()) if n}
    if stuck:
        where = ", ".join(f"{n} in {zone}" for zone, n in stuck.items())
        return Condition(
            ConditionType.DEGRADED,
            True,
            Reason.REPLICAS_UNSCHEDULABLE,
            f"Replicas Pending as Unschedulable: {where}. The scheduler cannot place them "
            "(capacity, taints, affinity); they are reported, not moved",
        )
    return Condition(ConditionType.DEGRADED, False, Reason.AS_EXPECTED, "Every zone is healthy")


# Degraded reasons worth an event of their own (zone failures have their own events).
_WARN_ON = frozenset(
    {Reason.DEPLOYMENT_CONFLICT, Reason.NO_ELIGIBLE_ZONES, Reason.ALL_ZONES_UNHEALTHY}
)


def condition_events(before: WorkloadStatus, after: WorkloadStatus, result: Plan) -> None:
    def degraded(status: WorkloadStatus) -> StatusCondition | None:
        conditions = status.get("conditions") or []
        return next((c for c in conditions if c.get("type") == ConditionType.DEGRADED), None)

    new, old = degraded(after), degraded(before)
    if new is None or new["reason"] not in _WARN_ON:
        return
    if old is None or new["reason"] != old["reason"]:
        result.events.append(Event("Warning", new["reason"], new["message"]))


def record_generations(status: WorkloadStatus, generations: Mapping[str, int]) -> None:
    """Write into a planned status the Deployment generations the operator's own writes
    produced (from the write responses), so they are not mistaken for hand edits."""
    for entry in status.get("zones") or []:
        deployment = entry.get("deployment")
        if deployment is not None and deployment in generations:
            entry["deploymentGeneration"] = generations[deployment]


def mark_rejected(status: WorkloadStatus, wl: Workload, message: str, now: datetime) -> None:
    """The API server refused some of the reconcile's writes: Degraded, and why."""
    _mark(
        status,
        wl,
        Condition(ConditionType.DEGRADED, True, Reason.DEPLOYMENT_REJECTED, message),
        now,
    )


def mark_blocked(status: WorkloadStatus, wl: Workload, message: str, now: datetime) -> None:
    """A PodDisruptionBudget refused every eviction of a rebalance: not Balanced, and why."""
    blocked = f"Rebalancing paused: {message}"
    _mark(
        status, wl, Condition(ConditionType.BALANCED, False, Reason.EVICTION_BLOCKED, blocked), now
    )


def _mark(status: WorkloadStatus, wl: Workload, condition: Condition, now: datetime) -> None:
    """Put `condition` in place of the status's condition of its type, last."""
    kept = [c for c in status.get("conditions") or [] if c.get("type") != condition.type]
    previous = [c for c in wl.status.get("conditions") or [] if c.get("type") == condition.type]
    marked = render_conditions([condition], previous, wl.generation, now)
    status["conditions"] = [*kept, *marked]
