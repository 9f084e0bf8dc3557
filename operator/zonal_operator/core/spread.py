"""One reconcile of a workload with Spread placement, as a pure function (see perzone.py for
PerZone placement, whose zone judgement (zones.py), failover and failback policy and status
(status.py) it shares).

The workload runs as one Deployment, named like the workload, whose pods carry a
`DoNotSchedule` topology spread constraint over the zone key (see render.py). The scheduler
places pods; the operator only decides when pods must go and how many there are:

1. Failover. Once a zone is judged Unhealthy (after gracePeriodSeconds, as with PerZone), the
   workload's pods on its failed nodes are deleted, as taint-based eviction would do later.
   The Deployment replaces them at once, and because the dead zone's nodes are tainted and the
   constraint honours taints, the replacements schedule in the healthy zones. A zone judged
   Unhealthy on the heartbeat verdict, its nodes still Ready and untainted, is kept out of the
   pod template instead, as a shifted zone is (3.), until it is Healthy again.
2. Failback, make-before-break. When every zone is Healthy again (the failback delay has run
   out) and the pods per zone differ by more than maxSkew, the Deployment is surged by one
   failback step: the constraint puts the new pods in the emptiest zones. Once every pod is
   Ready, as many pods of the fullest zones are evicted through the Eviction API (so
   PodDisruptionBudgets decide) and the Deployment is shrunk by the number evicted. This repeats
   until the skew is within maxSkew.
3. Zone shifts. A shifted zone is kept out of the pod template, and the Deployment rolled out
   surge first (spread_shifts.py says how and why). It is no domain for the skew while it is
   shifted, and no failback surge starts while the template changes.

The surge the operator holds is recorded in status.surgeReplicas, so that a restart finishes
it rather than mistaking it for the user's replicas.

Spread placement writes every status change at once: it does not coalesce them (coalesce.py).
The coalescing rules were drawn up and measured for PerZone's status (per-zone shares and
Deployment generations as the decisions, Deployment counts as the observations); Spread's
status has its own (per-zone pod counts, the skew, the surge the next plan reads back), and no
scale benchmark of it has shown the writes to be worth saving.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from zonal_operator.api.status import ConditionType, Reason, WorkloadStatus, ZoneState, ZoneStatus
from zonal_operator.api.workload import Workload
from zonal_operator.core import loss_forecast, spread_shifts
from zonal_operator.core import shifts as shifting
from zonal_operator.core import status as report
from zonal_operator.core import zones as zoning
from zonal_operator.core.deployment import matches_live, merge_for_replace, owns, rolled_out
from zonal_operator.core.distribution import distribute
from zonal_operator.core.health import failed_node_names
from zonal_operator.core.model import PodInfo
from zonal_operator.core.plan import (
    Create,
    DeletePod,
    Event,
    Evict,
    Plan,
    Replace,
    Scale,
    SpreadObserved,
)
from zonal_operator.core.wording import SPREAD as WORDING
from zonal_operator.core.zones import FAILED_OVER, SERVING, ZoneView


def plan(observed: SpreadObserved) -> Plan:
    wl, now = observed.workload, observed.now
    result = Plan()
    previous = {z.get("name", ""): z for z in wl.status.get("zones") or []}
    requeue_at: list[datetime] = []
    zones, assignment, all_failing = _zones(observed, previous, requeue_at)
    eligible = [z.name for z in zones.values() if z.health is not None]
    zone_of = {n.name: n.labels.get(wl.topology_key, "") for n in observed.nodes}
    # Pods go from nodes that are not Ready only: the scheduler places the replacements, and to
    # it silent nodes (core/heartbeat.py) are still fine, so it would put them straight back
    # into the lost zone. Such a zone is kept out of the pod template instead (spread_shifts).
    failed_nodes = failed_node_names(observed.nodes)
    silent_nodes = failed_node_names(observed.nodes, wl.failover.heartbeat_timeout_seconds)
    pods = [p for p in observed.pods if not p.deleting]
    live = observed.deployments.get(wl.name)
    conflict = live is not None and not owns(wl, live)
    if conflict:
        live = None
    # The zones the pod template keeps out (shifts, the heartbeat verdict), and the surge-first
    # rollout.
    shifted = spread_shifts.exclusion(zones, live, all_failing=all_failing)

    # 1. Failover: pods stranded on the failed nodes of an Unhealthy zone go now.
    stranded = [
        p
        for p in pods
        if p.node in failed_nodes and zones.get(zone_of.get(p.node, "")) is not None
        and zones[zone_of[p.node]].state is ZoneState.UNHEALTHY
    ]  # fmt: skip
    result.actions.extend(DeletePod(p.name, p.uid) for p in sorted(stranded, key=lambda p: p.name))
    pods = [p for p in pods if p not in stranded]

    by_zone: dict[str, list[PodInfo]] = defaultdict(list)
    for pod in pods:
        if pod.node:
            by_zone[zone_of.get(pod.node, "")].append(pod)
    # The domains the skew is measured over: zones that can take pods now or soon.
    domains = sorted(
        z.name
        for z in zones.values()
        if z.state in (ZoneState.HEALTHY, ZoneState.RECOVERING)
        and z.health is not None
        and z.health.schedulable > 0
    )
    counts = {name: len(by_zone.get(name, [])) for name in domains}
    skew = max(counts.values()) - min(counts.values()) if counts else 0

    # 2. The Deployment, and the surge of a rebalance.
    surge: int = 0
    why: Reason | None = None
    if live is None:
        if not conflict:
            result.actions.append(Create(spread_shifts.render(wl, wl.replicas, shifted)))
            result.events.append(
                Event(
                    "Normal",
                    "DeploymentCreated",
                    f"Created Deployment {wl.name} with {wl.replicas} replicas",
                )
            )
    else:
        surge, why = _rebalance(
            wl,
            live,
            zones=zones,
            pods=pods,
            by_zone=by_zone,
            counts=counts,
            skew=skew,
            shifted=shifted,
            result=result,
        )

    stranded_in: dict[str, int] = defaultdict(int)
    for pod in stranded:
        stranded_in[zone_of[pod.node]] += 1
    silenced_in: dict[str, int] = defaultdict(int)
    for pod in pods:
        if pod.node in silent_nodes - failed_nodes:
            silenced_in[zone_of.get(pod.node, "")] += 1
    _events(
        wl, zones, previous, result, stranded=stranded_in, silenced=silenced_in, out=shifted.zones
    )
    status = _status(
        wl,
        live,
        zones,
        by_zone,
        skew=skew,
        surge=surge,
        why=why,
        conflict=conflict,
        pending=sum(1 for p in pods if p.unschedulable),
        acting=bool(result.actions),
        now=now,
        shifts=lambda wanted: shifting.report(assignment, eligible, wl.status, wanted, result),
    )
    losses = None
    if observed.zone_room is not None:
        serving = [z.name for z in zones.values() if z.state in SERVING and z.health is not None]
        losses = loss_forecast.pooled_losses(
            {z: len(by_zone.get(z, [])) for z in serving}, observed.zone_room
        )
    loss_forecast.report(status, wl, losses, now=now, result=result)
    report.condition_events(wl.status, status, result)
    if status != wl.status:
        result.status = status  # at once, never coalesced: see the module's doc
    zoning.requeue(requeue_at, now, result)
    return result


def _zones(
    observed: SpreadObserved, previous: Mapping[str, ZoneStatus], requeue_at: list[datetime]
) -> tuple[dict[str, ZoneView], shifting.Assignment, bool]:
    """The zones judged, with the shifts that apply (as PerZone does, core/shifts.py); the
    assignment, and whether every zone looks down."""
    wl, now = observed.workload, observed.now
    zones = {
        name: ZoneView(name, health, ZoneState.HEALTHY, deployment=wl.name)
        for name, health in zoning.workload_zones(observed).items()
    }
    eligible = [z.name for z in zones.values() if z.health is not None]
    up = [z.name for z in zones.values() if z.health is not None and not z.health.failing]
    assignment = shifting.assign(eligible, observed.shifts, up)
    shifting.apply(assignment, zones.values())
    requeue_at.extend(t for t in assignment.expiries() if t > now)
    for zone in zones.values():
        zoning.judge_zone(zone, previous.get(zone.name), wl, now, requeue_at)
    all_failing = zoning.guard_all_failing(zones.values())
    return zones, assignment, all_failing


def _rebalance(
    wl: Workload,
    live: Mapping[str, Any],
    *,
    zones: Mapping[str, ZoneView],
    pods: Sequence[PodInfo],
    by_zone: Mapping[str, list[PodInfo]],
    counts: Mapping[str, int],
    skew: int,
    shifted: spread_shifts.Exclusion,
    result: Plan,
) -> tuple[int, Reason | None]:
    """Bring the Deployment to what it should run now. Returns the surge held after this
    reconcile and, while the skew is above maxSkew, why it is (a condition reason)."""
    meta, spec = live.get("metadata") or {}, live.get("spec") or {}
    if meta.get("deletionTimestamp"):
        return 0, None
    current = int(spec.get("replicas", 1))
    # Only a surge this operator recorded, and still held, is a surge; anything else above
    # spec.replicas is a change of replicas, to be followed as a Deployment follows its spec.
    surge = max(0, min(current - wl.replicas, int(wl.status.get("surgeReplicas") or 0)))
    want = wl.replicas + surge
    ready = sum(1 for p in pods if p.ready)
    settled = rolled_out(live, current) and ready >= current and not any(not p.node for p in pods)
    all_healthy = all(z.state is ZoneState.HEALTHY for z in zones.values())
    unbalanced = skew > wl.max_skew

    why: Reason | None = None
    if unbalanced:
        if not wl.failover.enabled:
            why = Reason.FAILOVER_DISABLED
        elif any(z.state is ZoneState.RECOVERING for z in zones.values()):
            why = Reason.WAITING_FOR_FAILBACK
        elif not all_healthy:
            why = Reason.ZONES_FAILING
        elif any(p.unschedulable for p in pods):
            why = Reason.REPLICAS_UNSCHEDULABLE
        else:
            why = Reason.REBALANCING

    evict: tuple[tuple[str, str], ...] = ()
    if surge and settled and current == want:
        # The surge is in place and Ready: take as many pods from the fullest zones.
        evict = _victims(by_zone, counts, min(surge, ready - wl.replicas))
    elif (
        not surge
        and why == Reason.REBALANCING
        and settled
        and current == want
        and not spread_shifts.rolling(shifted, live)  # the rollout places every pod afresh
    ):
        target = distribute(wl.replicas, list(counts), max_skew=wl.max_skew, current=counts)
        moves = sum(max(0, counts[z] - target[z]) for z in counts)
        surge = min(moves, zoning.failback_step(wl))
        want = wl.replicas + surge

    desired = spread_shifts.render(wl, want, shifted)
    if not matches_live(desired, live):
        result.actions.append(Replace(merge_for_replace(desired, live)))
        restored = not shifted.surge_first and spread_shifts.recorded(live) is not None
        if not spread_shifts.rolling(shifted, live) and not restored:
            result.events.append(
                Event("Normal", "DeploymentUpdated", f"Updated Deployment {wl.name} to the spec")
            )  # a shift's rollout is told of by the zone's ZoneShifted or ReplicasReturned
    elif evict:
        result.actions.append(Evict(wl.name, current, evict))
    elif want != current:
        result.actions.append(Scale(wl.name, want))
    return surge, why


def _victims(
    by_zone: Mapping[str, Sequence[PodInfo]], counts: Mapping[str, int], n: int
) -> tuple[tuple[str, str], ...]:
    """`n` Ready pods, one at a time from whichever zone holds the most (ties: by name)."""
    left = dict(counts)
    candidates = {
        zone: sorted((p for p in by_zone.get(zone, []) if p.ready), key=lambda p: p.name)
        for zone in counts
    }
    chosen: list[tuple[str, str]] = []
    while len(chosen) < n:
        zones = [z for z in sorted(left) if candidates[z]]
        if not zones:
            break
        fullest = max(zones, key=lambda z: left[z])
        pod = candidates[fullest].pop()
        left[fullest] -= 1
        chosen.append((pod.name, pod.uid))
    return tuple(chosen)


def _events(
    wl: Workload,
    zones: Mapping[str, ZoneView],
    previous: Mapping[str, ZoneStatus],
    result: Plan,
    *,
    stranded: Mapping[str, int],
    silenced: Mapping[str, int],
    out: Sequence[str],
) -> None:
    def replacing(zone: ZoneView) -> str:
        if zone.state is ZoneState.SHIFTED:
            return (
                "the pod template keeps it out, and the Deployment rolls its pods out to the "
                "other zones, surge first (maxUnavailable 0)"
            )
        if zone.name in out and silenced.get(zone.name):
            return (
                f"the pod template keeps it out: the Deployment starts all its replicas in the "
                f"other zones before it removes any pod, its {silenced[zone.name]} on silent "
                "nodes included (maxUnavailable 0)"
            )
        if stranded.get(zone.name):
            return (
                f"deleting its {stranded[zone.name]} pods on failed nodes; the Deployment "
                "replaces them in the healthy zones"
            )
        if silenced.get(zone.name):
            return (
                f"its {silenced[zone.name]} pods on silent nodes are deleted once those are "
                "marked NotReady, so that the scheduler places their replacements elsewhere"
            )
        return "it has no pods to replace"

    failover = wl.failover.enabled
    zoning.zone_events(zones, previous, result, WORDING, moving=replacing, failover=failover)


def _status(
    wl: Workload,
    live: Mapping[str, Any] | None,
    zones: Mapping[str, ZoneView],
    by_zone: Mapping[str, Sequence[PodInfo]],
    *,
    skew: int,
    surge: int,
    why: Reason | None,
    conflict: bool,
    pending: int,
    acting: bool,
    now: datetime,
    shifts: Callable[[list[report.Condition]], None],
) -> WorkloadStatus:
    live_status = (live or {}).get("status") or {}
    keys = ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas")
    totals = {key: int(live_status.get(key) or 0) for key in keys}
    entries = []
    for zone in sorted(zones.values(), key=lambda z: z.name):
        here = by_zone.get(zone.name, [])
        ready = sum(1 for p in here if p.ready)
        entries.append(report.zone_entry(zone, wl.name, replicas=len(here), ready=ready))

    failed_over = sorted(z.name for z in zones.values() if z.state in FAILED_OVER)
    converged = not acting and not surge and live is not None and rolled_out(live, wl.replicas)
    spread = ", ".join(f"{e['name']}={e.get('replicas', 0)}" for e in entries)
    failing = zoning.all_failing(zones.values())
    degraded = report.degraded_condition(zones, [wl.name] if conflict else [], failing, {})
    if not degraded.status and pending:
        degraded = report.Condition(
            ConditionType.DEGRADED,
            True,
            Reason.REPLICAS_UNSCHEDULABLE,
            f"{pending} pods Pending as Unschedulable. The scheduler cannot place them "
            "(capacity, taints, affinity, the zone spread constraint); they are reported",
        )
    wanted = report.summary(
        WORDING,
        available=totals["availableReplicas"],
        replicas=wl.replicas,
        blocked=conflict,
        converged=converged,
        degraded=degraded,
        failed_over=failed_over,
    )
    wanted.append(
        report.Condition(
            ConditionType.BALANCED,
            why is None,
            why or Reason.WITHIN_MAX_SKEW,
            f"Pods per zone: {spread or 'none'}; skew {skew}, maxSkew {wl.max_skew}"
            + (f"; {_WHY[why]}" if why is not None else ""),
        )
    )
    shifts(wanted)
    serving = report.serving_zones(zones)
    status = report.skeleton(
        wl, totals, serving, zones=entries, conditions=wanted, now=now, skew=skew
    )
    # Always present: the status is written as a merge patch, which never drops a key.
    status["surgeReplicas"] = surge
    return status


_WHY = {
    Reason.REBALANCING: "pods are being moved, surge first, through the Eviction API",
    Reason.WAITING_FOR_FAILBACK: "a recovered zone is waiting out the failback delay",
    Reason.ZONES_FAILING: "pods are rebalanced once every zone is Healthy",
    Reason.REPLICAS_UNSCHEDULABLE: "pods are Pending as Unschedulable; rebalancing waits for them",
    Reason.FAILOVER_DISABLED: "spec.failover.enabled is false, so pods are not moved",
}
