"""Zone disruption budgets (spec.disruptionBudget, PerZone placement): which zone is open to
voluntary disruptions, and the PodDisruptionBudget each zone's Deployment gets.

One zone at a time is open: its budget allows the user's maxUnavailable, the others' allow
none, so a drain there waits (the Eviction API answers 429) until its zone opens. Which zone:

1. a zone failed over or shifted (its pods are going anyway): the others stay closed, even one
   whose drain is under way (a failover is no voluntary disruption, and the zones left carry
   the capacity);
2. else the open zone, while it is not whole (a pod missing, being deleted or evicted, or not
   Ready): a disruption in progress is never cut short by another zone's;
3. else the first zone, in a stable order, that is not whole: it is disrupted already;
4. else, every zone whole: the open zone while a drain there goes on (one of the workload's
   pods there on a cordoned node), so that drains finish one after the other; else the next
   zone, after the open one in the order, with a drain waiting; else the open zone stays
   (nothing moves in steady state), the first zone when none is open yet.

What is open now is read back from the live budgets (`ZoneView.open`), never remembered, so a
restarted or new leader goes on from where the last one was. The runtime closes before it
opens, and closes with the resourceVersion it read (runtime/zone_budgets.py): an eviction
granted since changes the budget's status, the close fails, and the next reconcile sees it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zonal_operator.api.budgets import DisruptionBudget
from zonal_operator.api.group import MANAGED_BY, MANAGED_BY_LABEL
from zonal_operator.api.status import ZoneState
from zonal_operator.api.workload import Workload
from zonal_operator.core.model import NodeInfo, PodInfo
from zonal_operator.core.naming import deployment_name
from zonal_operator.core.render import owner_reference, zone_labels, zone_selector

# The zone states whose pods are going anyway (core/zones.py, core/shifts.py).
FORCED_STATES = frozenset({ZoneState.UNHEALTHY, ZoneState.SHIFTED})


@dataclass(frozen=True)
class ZoneView:
    """What the choice of the open zone reads of one zone, as plain values."""

    zone: str
    whole: bool = True  # every pod it is to run there, Ready, none going
    draining: bool = False  # one of its pods sits on a cordoned node: a drain waits there
    forced: bool = False  # failed over or shifted
    open: bool = False  # its live budget allows disruptions now


def open_zone(zones: Sequence[ZoneView]) -> str | None:
    """The one zone open to voluntary disruptions (None without zones); `zones` in the stable
    order the budgets pass in."""
    if not zones:
        return None
    current = next((z for z in zones if z.open and not z.whole), None) or next(
        (z for z in zones if z.open), None
    )
    forced = [z for z in zones if z.forced]
    if forced:
        return current.zone if current in forced else forced[0].zone
    if current is not None and not current.whole:
        return current.zone
    disrupted = next((z for z in zones if not z.whole), None)
    if disrupted is not None:
        return disrupted.zone
    if current is not None and current.draining:
        return current.zone
    start = 0 if current is None else zones.index(current) + 1
    for z in (*zones[start:], *zones[:start]):
        if z.draining:
            return z.zone
    return (current or zones[0]).zone


def order(workload: Workload, zones: Iterable[str]) -> list[str]:
    """The stable order of the zones: spec.zones' when set, then the rest by name."""
    listed = {z: i for i, z in enumerate(workload.zones)}
    return sorted(set(zones), key=lambda z: (listed.get(z, len(listed)), z))


def zone_view(
    zone: str,
    deployment: Mapping[str, Any],
    pods: Sequence[PodInfo],
    *,
    nodes: Mapping[str, NodeInfo],
    budget: Mapping[str, Any] | None,
    state: str | None,
) -> ZoneView:
    """One zone's view from its Deployment, its pods not being deleted, the nodes, its live
    budget (if any) and the zone state the plan computed."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    desired = int(spec.get("replicas") or 0)
    whole = (
        int(status.get("readyReplicas") or 0) >= desired
        and int(status.get("replicas") or 0) <= desired
        and sum(1 for p in pods if p.ready) >= desired
        and len(pods) <= desired
    )
    if budget is not None:
        counted = budget.get("status") or {}
        whole = whole and not counted.get("disruptedPods")
        if (counted.get("observedGeneration") or 0) >= (budget["metadata"].get("generation") or 0):
            whole = whole and int(counted.get("currentHealthy") or 0) >= int(
                counted.get("expectedPods") or 0
            )
    return ZoneView(
        zone,
        whole=whole,
        draining=any(nodes[p.node].unschedulable for p in pods if p.node in nodes),
        forced=state in FORCED_STATES,
        open=budget is not None and is_open(budget),
    )


def is_open(budget: Mapping[str, Any]) -> bool:
    """Whether a live budget allows disruptions: what was open is read back from here."""
    return (budget.get("spec") or {}).get("maxUnavailable") not in (0, "0", "0%", None)


def render_budget(
    workload: Workload, zone: str, budget: DisruptionBudget, open_: bool
) -> dict[str, Any]:
    """The PodDisruptionBudget of the zone's Deployment: its pods exactly (the Deployment's
    selector), the user's maxUnavailable when open, none when closed. Pods that are not Ready
    may always be evicted (they serve nothing): a crashing pod never blocks a drain."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": deployment_name(workload.name, zone),
            "namespace": workload.namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, **zone_labels(workload, zone)},
            "ownerReferences": [owner_reference(workload)],
        },
        "spec": {
            "selector": zone_selector(workload, zone),
            "maxUnavailable": budget.max_unavailable if open_ else 0,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def differs(desired: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """Whether the live budget is to be written back: its spec, or our labels or owner, moved."""
    meta, want = live.get("metadata") or {}, desired["metadata"]
    labels = meta.get("labels") or {}
    return (
        live.get("spec") != desired["spec"]
        or any(labels.get(k) != v for k, v in want["labels"].items())
        or meta.get("ownerReferences") != want["ownerReferences"]
    )


def owned_by(budget: Mapping[str, Any], workload: Workload) -> bool:
    """Whether the live budget is one the operator made for this workload (any other it never
    touches)."""
    meta = budget.get("metadata") or {}
    return (meta.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY and any(
        ref.get("uid") == workload.uid and ref.get("controller")
        for ref in meta.get("ownerReferences") or []
    )
