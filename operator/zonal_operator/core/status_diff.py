"""What a status change is made of: which fields the operator decides and which it only
observes, once. The coalescing of status writes (coalesce.py) and the metric that says why the
operator writes (`status_change`) both read them from here.

Decisions: the spec generation the operator acts on (observedGeneration), and per zone its
share (desiredReplicas), its failover state (Healthy and Degraded both serve: which of the two
is an observation; Shifted is a decision), and the Deployment generation the operator's own
last write produced. (What a new leader resumes a heartbeat verdict from is not in the status:
core/resume.py.)
Observations: replica counts (totals, and per zone), node counts per zone, and the messages
that spell those counts out.
Neither: status.zonesNotHealthy (core/zone_summary.py) is the zones' health in a word, read
from their entries alone; it changes only with a zone's health, and is named by that change.

At a thousand workloads every kind of status change is a thousand writes; knowing which kind
dominates is what tells where writes can be saved. `status_change` names a change by the most
significant thing it changes, in this order:

- `generation`: the workload's spec changed (observedGeneration);
- `conditions`: a condition's status or reason;
- `zones`: a zone's health, share, health time, or a zone came or went;
- `deployments`: only the Deployment generations the operator's own writes produced;
- `replicas`: only replica counts (and the condition messages that spell them out);
- `nodes`: only node counts (and the zone messages that spell them out);
- `other`: anything else (the selector, say).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zonal_operator.api.status import WorkloadStatus, ZoneState, ZoneStatus, keys
from zonal_operator.core.zones import FAILED_OVER

KINDS = ("generation", "conditions", "zones", "deployments", "replicas", "nodes", "other")

# Observations: the workload's replica totals; per zone, its node counts (and the message that
# spells them out) and its replica counts.
REPLICA_TOTALS = keys(
    WorkloadStatus, "replicas", "readyReplicas", "availableReplicas", "updatedReplicas"
)
ZONE_NODE_COUNTS = keys(ZoneStatus, "eligibleNodes", "readyNodes", "message")
ZONE_READY_COUNTS = keys(ZoneStatus, "readyReplicas", "availableReplicas")
ZONE_REPLICA_COUNTS = ZONE_READY_COUNTS | keys(ZoneStatus, "unschedulableReplicas")
# The other keys the comparisons name.
_GENERATION = keys(ZoneStatus, "deploymentGeneration")
_LISTS = keys(WorkloadStatus, "conditions", "zones")
# What follows the zones' entries: compared through them.
FOLLOWS_ZONES = keys(WorkloadStatus, "zonesNotHealthy")


def decisions(status: WorkloadStatus) -> tuple[Any, ...]:
    """What in a status the operator decided rather than observed (see the module's doc)."""
    zones = sorted(
        (
            str(z.get("name")),
            z.get("desiredReplicas"),
            z.get("health") if z.get("health") in (*FAILED_OVER, ZoneState.SHIFTED) else None,
            z.get("deploymentGeneration"),
        )
        for z in status.get("zones") or []
    )
    return status.get("observedGeneration"), tuple(zones)


def without(
    status: WorkloadStatus, zone_fields: frozenset[str], *, counts: bool = False
) -> dict[str, Any]:
    """The status without the given fields of its zones; with `counts`, also without the
    replica totals and the conditions' messages (which spell the counts out)."""
    entries = status.get("zones") or []
    zones = [{k: v for k, v in z.items() if k not in zone_fields} for z in entries]
    rest: dict[str, Any] = {**status, "zones": zones}
    if counts:
        rest = {k: v for k, v in rest.items() if k not in REPLICA_TOTALS}
        rest["conditions"] = [
            {k: v for k, v in c.items() if k != "message"} for c in status.get("conditions") or []
        ]
    return rest


def status_change(before: WorkloadStatus, after: WorkloadStatus) -> str:
    """The kind (one of KINDS) of the change from `before` to `after`."""
    if before.get("observedGeneration") != after.get("observedGeneration"):
        return "generation"
    if _conditions(before, "status", "reason") != _conditions(after, "status", "reason"):
        return "conditions"
    zones_before, zones_after = _zones(before), _zones(after)
    if zones_before.keys() != zones_after.keys():
        return "zones"
    counts = ZONE_REPLICA_COUNTS | ZONE_NODE_COUNTS
    generations = counts | _GENERATION
    if _each(zones_before, generations) != _each(zones_after, generations):
        return "zones"
    if _each(zones_before, counts) != _each(zones_after, counts):
        return "deployments"
    top = REPLICA_TOTALS | _LISTS | FOLLOWS_ZONES
    if _top(before, top) != _top(after, top):
        return "other"
    if (
        any(before.get(k) != after.get(k) for k in REPLICA_TOTALS)
        or _each(zones_before, ZONE_NODE_COUNTS) != _each(zones_after, ZONE_NODE_COUNTS)
        or _conditions(before, "message") != _conditions(after, "message")
    ):
        return "replicas"
    if _each(zones_before, frozenset()) != _each(zones_after, frozenset()):
        return "nodes"
    return "other"


def _conditions(status: WorkloadStatus, *fields: str) -> dict[str, tuple[Any, ...]]:
    return {
        str(c.get("type")): tuple(c.get(k) for k in fields) for c in status.get("conditions") or []
    }


def _zones(status: WorkloadStatus) -> dict[str, ZoneStatus]:
    return {str(z.get("name")): z for z in status.get("zones") or []}


def _each(zones: Mapping[str, ZoneStatus], leave_out: frozenset[str]) -> dict[str, Any]:
    return {
        name: {k: v for k, v in entry.items() if k not in leave_out}
        for name, entry in zones.items()
    }


def _top(status: WorkloadStatus, leave_out: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if k not in leave_out}
