"""What a status write changes, for the metric that says why the operator writes (pure).

At a thousand workloads every kind of status change is a thousand writes; knowing which kind
dominates is what tells where writes can be saved. A change is named by the most significant
thing it changes, in this order:

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

KINDS = ("generation", "conditions", "zones", "deployments", "replicas", "nodes", "other")

_REPLICA_TOTALS = ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas")
_ZONE_REPLICAS = ("readyReplicas", "availableReplicas", "unschedulableReplicas")
_ZONE_NODES = ("eligibleNodes", "readyNodes", "message")


def status_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """The kind (one of KINDS) of the change from `before` to `after`."""
    if before.get("observedGeneration") != after.get("observedGeneration"):
        return "generation"
    if _conditions(before, "status", "reason") != _conditions(after, "status", "reason"):
        return "conditions"
    zones_before, zones_after = _zones(before), _zones(after)
    if zones_before.keys() != zones_after.keys():
        return "zones"
    counts = (*_ZONE_REPLICAS, *_ZONE_NODES)
    if _each(zones_before, ("deploymentGeneration", *counts)) != _each(
        zones_after, ("deploymentGeneration", *counts)
    ):
        return "zones"
    if _each(zones_before, counts) != _each(zones_after, counts):
        return "deployments"
    top = (*_REPLICA_TOTALS, "conditions", "zones")
    if _without(before, top) != _without(after, top):
        return "other"
    if (
        any(before.get(k) != after.get(k) for k in _REPLICA_TOTALS)
        or _each(zones_before, _ZONE_NODES) != _each(zones_after, _ZONE_NODES)
        or _conditions(before, "message") != _conditions(after, "message")
    ):
        return "replicas"
    if _each(zones_before, ()) != _each(zones_after, ()):
        return "nodes"
    return "other"


def _conditions(status: Mapping[str, Any], *keys: str) -> dict[str, tuple[Any, ...]]:
    return {
        str(c.get("type")): tuple(c.get(k) for k in keys) for c in status.get("conditions") or []
    }


def _zones(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(z.get("name")): z for z in status.get("zones") or []}


def _each(zones: Mapping[str, Mapping[str, Any]], leave_out: tuple[str, ...]) -> dict[str, Any]:
    return {
        name: {k: v for k, v in entry.items() if k not in leave_out}
        for name, entry in zones.items()
    }


def _without(status: Mapping[str, Any], leave_out: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if k not in leave_out}
