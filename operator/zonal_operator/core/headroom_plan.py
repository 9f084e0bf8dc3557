"""What a PerZone reconcile does about headroom placeholders (pure): one placeholder
Deployment per serving zone, sized by core/headroom.py from the zones' shares; none for a zone
shifted away or failed over (its share is 0 and the next loss is sized over the others), so a
failback resizes them as the shares return; all of them deleted when the mode is no longer
Placeholders. A setting that cannot work (its PriorityClass missing, or not below the
workload's own priority) changes nothing: problem() says why, for the status and an event."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from zonal_operator.api.headroom import NONE
from zonal_operator.api.status import ConditionType, Reason, WorkloadStatus
from zonal_operator.api.workload import Workload
from zonal_operator.core import headroom
from zonal_operator.core.deployment import matches_live, merge_for_replace, owns
from zonal_operator.core.headroom_render import (
    DEFAULT_PAUSE_IMAGE,
    HEADROOM_ZONE_LABEL,
    is_placeholder,
    placeholder_name,
    render_placeholders,
)
from zonal_operator.core.plan import Action, Create, Delete, Event, Plan, Replace, Scale
from zonal_operator.core.status import Condition, render_conditions

# The priority of a pod without a priorityClassName (and no global default class).
DEFAULT_POD_PRIORITY = 0


def problem(wl: Workload, priority_classes: Mapping[str, int] | None) -> tuple[str, str] | None:
    """(reason, message) when Placeholders cannot work, else None. ``priority_classes``: the
    cluster's PriorityClasses by name with their values (None: not known yet)."""
    policy = wl.failover.headroom
    if not policy.placeholders:
        return None
    if priority_classes is None:
        return (Reason.PRIORITY_CLASS_UNKNOWN, "the PriorityClasses have not been read yet")
    name = policy.priority_class_name
    if name not in priority_classes:
        return (
            Reason.PRIORITY_CLASS_MISSING,
            f"spec.failover.headroom.priorityClassName {name!r}: no such PriorityClass",
        )
    own_class = str(wl.pod_spec.get("priorityClassName") or "")
    own = (
        priority_classes.get(own_class, DEFAULT_POD_PRIORITY)
        if own_class
        else (DEFAULT_POD_PRIORITY)
    )
    if priority_classes[name] >= own:
        return (
            Reason.PRIORITY_NOT_BELOW_WORKLOAD,
            f"PriorityClass {name!r} has value {priority_classes[name]}, not below the "
            f"workload's own priority {own}: the surge could not preempt the placeholders",
        )
    return None


def sizes(wl: Workload, shares: Mapping[str, int], serving: list[str]) -> dict[str, int]:
    """Placeholders per zone the workload knows: serving zones sized for any one loss, the
    others none."""
    serving_shares = {z: shares.get(z, 0) for z in serving}
    sized = headroom.placeholders(serving_shares, max_skew=wl.max_skew)
    return {z: sized.get(z, 0) for z in shares.keys() | set(serving)}


def actions(
    wl: Workload,
    deployments: Mapping[str, Mapping[str, Any]],
    shares: Mapping[str, int],
    serving: list[str],
    *,
    blocked: bool,
    image: str = DEFAULT_PAUSE_IMAGE,
) -> list[Action]:
    """Create, resize, put back or delete the placeholder Deployments; nothing when blocked."""
    if blocked:
        return []
    live = {name: dep for name, dep in deployments.items() if owns(wl, dep) and is_placeholder(dep)}
    wanted = sizes(wl, shares, serving) if wl.failover.headroom.placeholders else {}
    result: list[Action] = []
    for zone, count in sorted(wanted.items()):
        name = placeholder_name(wl.name, zone)
        desired = render_placeholders(wl, zone, count, image=image)
        current = live.pop(name, None)
        if current is None:
            if count > 0:
                result.append(Create(desired))
        elif not matches_live(desired, current):
            result.append(Replace(merge_for_replace(desired, current)))
        elif int((current.get("spec") or {}).get("replicas", 1)) != count:
            result.append(Scale(name, count))
    for name, dep in sorted(live.items()):
        meta = dep.get("metadata") or {}
        if int((dep.get("spec") or {}).get("replicas", 1)) > 0:
            result.append(Scale(name, 0))  # scaled to none first, as every Deployment is
        elif not meta.get("deletionTimestamp"):
            result.append(Delete(name, str(meta.get("uid", ""))))
    return result


def zone_of(dep: Mapping[str, Any]) -> str | None:
    return ((dep.get("metadata") or {}).get("labels") or {}).get(HEADROOM_ZONE_LABEL)


def report(
    status: WorkloadStatus,
    wl: Workload,
    trouble: tuple[str, str] | None,
    *,
    headroom_replicas: int,
    now: datetime,
    result: Plan,
) -> None:
    """HeadroomReady and status.headroomReplicas, when headroom is asked for; a Warning event
    when HeadroomReady turns False, or changes its reason."""
    if wl.failover.headroom.mode == NONE:
        return
    reason, message = trouble or (
        Reason.HEADROOM_SIZED,
        f"{wl.failover.headroom.mode}: {headroom_replicas} replicas of headroom",
    )
    condition = Condition(ConditionType.HEADROOM_READY, trouble is None, reason, message)
    before = [c for c in wl.status.get("conditions") or [] if c.get("type") == condition.type]
    kept = [c for c in status.get("conditions") or [] if c.get("type") != condition.type]
    status["conditions"] = [*kept, *render_conditions([condition], before, wl.generation, now)]
    status["headroomReplicas"] = 0 if trouble else headroom_replicas
    if trouble and (not before or before[0].get("reason") != reason):
        result.events.append(Event("Warning", reason, message))
