"""One reconcile of a workload with PerZone placement, as a pure function: what is observed
in, what to do out.

`plan(observed)` recomputes everything from the workload, the nodes and the Deployments it sees;
it holds no memory but the workload's own status (what the caller passes besides, a memo and
since when a status change has been coalesced, only saves work and writes). Running it again on
the state its actions produce yields no actions, which is what keeps the operator silent in
steady state.

How replicas move (the zone states are documented on `ZoneState`):
1. The serving zones (Healthy or Degraded) share `spec.replicas` within `maxSkew`, moving the
   fewest replicas from what the Deployments hold now.
2. Increases come first. While the workload has fewer Ready replicas than asked, increases are
   made in full (a zone failed, the user scaled up). When capacity is already whole, an increase
   is a rebalance and adds at most one failback step of not-yet-Ready pods at a time.
3. Decreases only spend surplus: a Deployment is scaled down only as far as the Ready replicas
   it would remove are covered by Ready replicas above `spec.replicas` elsewhere (pods that are
   not Ready go first, as the ReplicaSet controller removes those first). So the operator's own
   moves never take Ready capacity below what was asked. Pods on nodes that are not Ready do
   not serve, whatever their Deployment still reports: a failed-over zone where all of the
   workload's pods sit on such nodes is emptied at once.

What PerZone shares with Spread placement (spread.py) has modules of its own: zones.py,
deployment.py, status.py, coalesce.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from zonal_operator.api.group import ZONE_LABEL
from zonal_operator.api.status import ZoneState, ZoneStatus
from zonal_operator.api.workload import Workload
from zonal_operator.core import (
    headroom,
    headroom_plan,
    loss_forecast,
    perzone_status,
    rollbacks,
    waves,
)
from zonal_operator.core import shifts as shifting
from zonal_operator.core import status as report
from zonal_operator.core import zones as zoning
from zonal_operator.core.coalesce import coalesce_until, hold_until
from zonal_operator.core.deployment import (
    matches_live,
    merge_for_replace,
    owned_zone,
    owns,
    status_stale,
)
from zonal_operator.core.distribution import distribute
from zonal_operator.core.health import failed_node_names
from zonal_operator.core.naming import deployment_name
from zonal_operator.core.plan import (
    Action,
    Create,
    Delete,
    DeletePod,
    Event,
    Evict,
    PerZoneObserved,
    Plan,
    Replace,
    Scale,
)
from zonal_operator.core.render import render_deployment
from zonal_operator.core.wording import PER_ZONE as WORDING
from zonal_operator.core.zones import SERVING, ZoneView


def plan(observed: PerZoneObserved) -> Plan:
    wl, now = observed.workload, observed.now
    result = Plan()
    previous = {z.get("name", ""): z for z in wl.status.get("zones") or []}
    zones = _zones(observed)
    eligible = [z.name for z in zones.values() if z.health is not None]
    up = [z.name for z in zones.values() if z.health is not None and not z.health.failing]
    assignment = shifting.assign(eligible, observed.shifts, up)
    shifting.apply(assignment, zones.values())

    requeue_at: list[datetime] = [t for t in assignment.expiries() if t > now]
    for zone in zones.values():
        if zone.health is not None:
            zoning.judge_zone(zone, previous.get(zone.name), wl, now, requeue_at)
    live_zones = [z for z in zones.values() if z.health is not None and not z.conflict]
    all_failing = zoning.guard_all_failing(live_zones, holding=lambda zone: zone.current > 0)
    failed = failed_node_names(observed.nodes) if observed.pod_nodes is not None else frozenset()
    for zone in live_zones:
        # No pod on a node that is not Ready serves, whatever its Deployment still says: the
        # node lifecycle controller marks them not Ready, and the ReplicaSet and deployment
        # controllers take their time to pass that on.
        if zone.health is not None and (
            zone.health.ready == 0 or _stranded(zone, observed.pod_nodes, failed)
        ):
            zone.dark, zone.ready, zone.available = True, 0, 0

    serving = sorted(z.name for z in live_zones if z.state in SERVING)
    shares = _shares(headroom.zone_total(wl, serving), serving, zones)
    for zone in zones.values():
        zone.target = shares.get(zone.name, 0)
        zone.next = zone.current if zone.live is not None else 0
    if serving:
        _step(list(zones.values()), wl)

    wave = _wave(observed, zones, previous)
    if wave.requeue_at is not None:
        requeue_at.append(wave.requeue_at)
    lives = [z.live for z in zones.values() if z.live is not None]
    render_as = waves.workloads_at(wl, wave, lives)
    for zone in sorted(zones.values(), key=lambda z: z.name):
        at = render_as.get(zone.name)
        if zone.live is None and at is None:
            at = wl  # a new Deployment whose revision's template is known nowhere: the spec's
        _act(
            zone,
            observed,
            zone.name in shares,
            previous.get(zone.name),
            result,
            at=at,
            revision=wave.revisions.get(zone.name, ""),
            rolling_back=zone.name in wave.rolled_back,
        )
        if zone.live is not None and (zone.live.get("metadata") or {}).get("deletionTimestamp"):
            requeue_at.append(now + timedelta(seconds=2))  # being deleted: act once it is gone
    headroom_problem = headroom_plan.problem(wl, observed.priority_classes)
    blocked = headroom_problem is not None
    placeholders = headroom_plan.actions(
        wl, observed.deployments, shares, serving, blocked=blocked, image=observed.headroom_image
    )
    result.actions.extend(placeholders)
    # Increases before decreases, so capacity is added before any is taken away.
    order = _action_order(zones, observed.deployments)
    result.actions.sort(key=order)
    result.together = sum(1 for a in result.actions if order(a)[0] <= 1)
    _created_event(zones, result)

    _zone_events(wl, zones, previous, result)
    result.events.extend(wave.events)
    for action in result.actions:
        # A zone's new Deployment (not a placeholder one): its status entry says what it runs
        # from the start.
        if isinstance(action, Create) and ZONE_LABEL in action.body["metadata"]["labels"]:
            zone_name = action.body["metadata"]["labels"][ZONE_LABEL]
            entry = wave.entries.setdefault(zone_name, {})
            revision = waves.live_revision(action.body)
            if revision is not None:
                entry.setdefault("revision", revision)
    status = perzone_status.status(
        wl,
        zones,
        previous,
        all_failing,
        now,
        acting=bool(result.actions),
        unschedulable=observed.unschedulable,
        shifts=lambda wanted: shifting.report(assignment, eligible, wl.status, wanted, result),
        wave=wave,
    )
    headroom_plan.report(
        status,
        wl,
        headroom_problem,
        headroom_replicas=headroom.headroom_replicas(wl, shares, serving),
        now=now,
        result=result,
    )
    room = observed.zone_room
    losses = None if room is None else loss_forecast.per_zone_losses(wl, shares, room)
    loss_forecast.report(status, wl, losses, now=now, result=result)
    report.condition_events(wl.status, status, result)
    result.computed = status
    if status != wl.status:
        # Nothing waits that comes with an event, or with a write but a cut: each tells of
        # what it records. Neither does a wave's progress: its bake is timed from what status
        # records.
        until = None
        if not result.events and status.get("zoneRollout") == wl.status.get("zoneRollout"):
            if not result.actions:
                until = coalesce_until(observed, wl.status, status)
            elif all(_cut(action, zones) for action in result.actions):
                until = hold_until(observed, status)
        if until is not None and until > now:
            requeue_at.append(until)
            if result.actions:
                result.status, result.status_hold_until = status, until
            result.status_coalesced = True
        else:
            result.status = status
    zoning.requeue(requeue_at, now, result)
    return result


def _zones(observed: PerZoneObserved) -> dict[str, ZoneView]:
    """Every zone the workload has or could have: those with eligible (joined) nodes, and
    those whose nodes vanished but where it still owns a Deployment."""
    wl = observed.workload
    zones = {
        name: ZoneView(name, health, ZoneState.HEALTHY)
        for name, health in zoning.workload_zones(observed).items()
    }
    for dep in observed.deployments.values():
        vanished = owned_zone(dep, wl)
        if vanished is not None and vanished not in zones:
            # Vanished (no eligible node left): drain it, then delete its Deployment.
            zones[vanished] = ZoneView(vanished, None, ZoneState.UNHEALTHY)
    for zone in zones.values():
        zone.deployment = deployment_name(wl.name, zone.name)
        zone.live = observed.deployments.get(zone.deployment)
        if zone.live is not None and not owns(wl, zone.live):
            zone.conflict, zone.live = True, None
        if zone.live is not None:
            spec, status = zone.live.get("spec") or {}, zone.live.get("status") or {}
            # A rollback's surge (core/rollbacks.py) is no replica of the zone's share.
            zone.current = max(0, int(spec.get("replicas", 1)) - rollbacks.recorded(zone.live))
            zone.ready = min(int(status.get("readyReplicas") or 0), zone.current)
            zone.available = min(int(status.get("availableReplicas") or 0), zone.current)
    return zones


def _stranded(
    zone: ZoneView, pod_nodes: Mapping[str, Sequence[str]] | None, failed: frozenset[str]
) -> bool:
    """Whether every pod of the zone's Deployment sits on a failed node. Only pods known to
    be there count: unless at least as many are seen as the Deployment has (its spec and its
    status), one not yet seen might serve, and the answer is no: a pod the cache has not been
    told of yet delays the cut instead of causing it."""
    if pod_nodes is None or zone.live is None or zone.current == 0:
        return False
    nodes = pod_nodes.get(zone.name) or ()
    reported = int((zone.live.get("status") or {}).get("replicas") or 0)
    return len(nodes) >= max(zone.current, reported) and all(n in failed for n in nodes)


def _act(
    zone: ZoneView,
    observed: PerZoneObserved,
    has_share: bool,
    previous: ZoneStatus | None,
    result: Plan,
    *,
    at: Workload | None,
    revision: str,
    rolling_back: bool,
) -> None:
    """The one write (if any) that brings the zone's Deployment to what it should be now,
    rendered from `at` (the workload at the revision the zone is to run; None: leave its
    template as it is, see waves.workloads_at)."""
    if zone.conflict:
        return
    if zone.live is None:
        if has_share and at is not None:  # one event for all: see _created_event
            result.actions.append(Create(_desired(zone, at, 0)))
        return
    meta = zone.live.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return
    if zone.health is None and zone.next == 0 and zone.current == 0:
        result.actions.append(Delete(zone.deployment, meta.get("uid", "")))
        result.events.append(
            Event(
                "Normal",
                "DeploymentDeleted",
                f"Deleted Deployment {zone.deployment}: "
                f"zone {zone.name} has no eligible nodes any more",
            )
        )
        return
    # Any spec change bumps a Deployment's generation; the operator records the generation its
    # own writes produced, so a different one means somebody else edited the spec.
    recorded = previous.get("deploymentGeneration") if previous is not None else None
    edited = recorded is not None and recorded != meta.get("generation")
    holds = rollbacks.recorded(zone.live)
    surge = holds if at is None else rollbacks.held(zone.live, zone.next, rolling_back)
    if at is not None and (
        edited
        or not _matches(
            zone, at, revision, surge=surge, memo=observed.match_memo, matched=result.matched
        )
    ):
        desired = _desired(zone, at, surge)
        result.actions.append(Replace(merge_for_replace(desired, zone.live)))
        to = waves.live_revision(desired)
        reason, what = "DeploymentUpdated", f"to revision {to}"
        if edited:
            reason, what = "DeploymentRestored", "after it was changed by hand"
        elif holds and not surge and to == waves.live_revision(zone.live):
            what = f"to {zone.next} replicas, its rollback to revision {to} rolled out"
        result.events.append(
            Event("Normal", reason, f"Updated Deployment {zone.deployment} {what}")
        )
    elif zone.next + surge != zone.current + holds:
        result.actions.append(Scale(zone.deployment, zone.next + surge))


def _desired(zone: ZoneView, wl: Workload, surge: int) -> dict[str, Any]:
    """The zone's Deployment as it should be now (the one call of render.py)."""
    return render_deployment(wl, zone.name, zone.next, surge=surge, live=zone.live)


def _matches(
    zone: ZoneView,
    wl: Workload,
    revision: str,
    *,
    surge: int,
    memo: Mapping[tuple[str, str, str], bool] | None,
    matched: dict[tuple[str, str, str], bool],
) -> bool:
    """matches_live for the zone's live Deployment, through the caller's memo if any (the
    comparison leaves replicas aside, so the spec generation, the zone, the revision rendered
    and a rollback's surge determine it); what the memo did not have goes into `matched`, for
    the caller to keep."""
    assert zone.live is not None
    meta = zone.live.get("metadata") or {}
    key = (
        f"{zone.name}@{revision}+{surge}",
        str(meta.get("uid", "")),
        str(meta.get("resourceVersion", "")),
    )
    found = memo.get(key) if memo is not None and key[2] else None
    if found is None:
        found = matches_live(_desired(zone, wl, surge), zone.live)
        if memo is not None and key[2]:
            matched[key] = found
    return found


def _wave(
    observed: PerZoneObserved,
    zones: Mapping[str, ZoneView],
    previous: Mapping[str, ZoneStatus],
) -> waves.Wave:
    pods = observed.zone_pods or {}
    runs = [
        waves.zone_run(
            zone,
            pods.get(zone.name) or (),
            previous.get(zone.name) or {},
            rolled_out=zone.live is not None and perzone_status.rolled_out(zone),
        )
        for zone in zones.values()
        if not zone.conflict and (zone.live is not None or zone.health is not None)
    ]
    return waves.plan(observed.workload, runs, observed.now)


def _created_event(zones: Mapping[str, ZoneView], result: Plan) -> None:
    """One event for the Deployments created together (a new workload's, typically): at a
    thousand workloads an event per Deployment would be thousands of writes more."""
    created = {a.body["metadata"]["name"] for a in result.actions if isinstance(a, Create)}
    made = [z for z in sorted(zones.values(), key=lambda z: z.name) if z.deployment in created]
    if not made:
        return
    listed = ", ".join(f"{z.deployment} ({z.name}, {z.next} replicas)" for z in made)
    noun = "Deployment" if len(made) == 1 else "Deployments"
    result.events.append(Event("Normal", "DeploymentCreated", f"Created {noun} {listed}"))


def _shares(wl: Workload, serving: list[str], zones: Mapping[str, ZoneView]) -> dict[str, int]:
    """Each serving zone's share: spec.replicas within maxSkew, fewest moves. A zone that is
    failing (still in its grace period) or has no node to schedule on keeps at most what it
    has: a replica moved there would be moved again, or sit Pending."""
    current = {name: zones[name].current for name in serving}
    capped = {
        name
        for name in serving
        if zones[name].state is ZoneState.DEGRADED
        or (zones[name].health is not None and zones[name].health.schedulable == 0)  # type: ignore[union-attr]
    }
    fixed: dict[str, int] = {}
    while True:
        rest = [name for name in serving if name not in fixed]
        remaining = wl.replicas - sum(fixed.values())
        if not rest or remaining < 0:
            return distribute(wl.replicas, serving, max_skew=wl.max_skew, current=current)
        shares = distribute(remaining, rest, max_skew=wl.max_skew, current=current)
        over = {name for name in rest if name in capped and shares[name] > current[name]}
        if not over or over == set(rest):
            return {**fixed, **shares}
        fixed.update({name: current[name] for name in over})


def _step(zones: list[ZoneView], wl: Workload) -> None:
    """Set each zone's `next` replicas: all increases allowed now, and decreases as far as
    surplus Ready capacity covers them."""
    ready = sum(z.ready for z in zones)
    deficit = max(0, wl.replicas - ready)
    step = zoning.failback_step(wl)
    for zone in sorted(zones, key=lambda z: z.name):
        if zone.target > zone.current:
            if deficit > 0:
                zone.next = zone.target  # capacity is missing: restore it at once
            else:
                # A rebalance: at most `step` pods on their way up in this zone at a time.
                zone.next = min(zone.target, max(zone.current, zone.ready + step))
    # While a Deployment has not caught up with its spec its counts are not to be trusted, so
    # surplus is judged next time; a dark zone's replicas are known not to serve, and go now.
    stale = any(z.live is not None and status_stale(z.live) for z in zones)
    surplus = 0 if stale else max(0, ready - wl.replicas)
    # Failing and vanished zones give up their replicas first.
    order = sorted(zones, key=lambda z: (z.state in SERVING, z.name))
    for zone in order:
        if zone.target >= zone.current or (stale and not zone.dark):
            continue
        not_ready = zone.current - zone.ready
        cut = min(zone.current - zone.target, not_ready + surplus)
        surplus -= max(0, cut - not_ready)
        zone.next = zone.current - cut


def _cut(action: Action, zones: Mapping[str, ZoneView]) -> bool:
    """Whether the action scales down a zone that is failed over or dark."""
    zone = next((z for z in zones.values() if z.deployment == getattr(action, "name", "")), None)
    return (
        isinstance(action, Scale)
        and zone is not None
        and action.replicas < zone.current
        and (zone.dark or zone.state not in SERVING)
    )


def _action_order(
    zones: Mapping[str, ZoneView], deployments: Mapping[str, Mapping[str, Any]]
) -> Any:
    by_deployment = {z.deployment: z for z in zones.values()}

    def key(action: Action) -> tuple[int, str]:
        if isinstance(action, Create):
            return (0, action.body["metadata"]["name"])
        if isinstance(action, Delete):
            return (3, action.name)
        if isinstance(action, DeletePod | Evict):
            return (4, action.deployment if isinstance(action, Evict) else action.name)
        if isinstance(action, Scale):
            name, after = action.name, action.replicas
        else:
            name, after = action.body["metadata"]["name"], action.body["spec"]["replicas"]
        zone = by_deployment.get(name)  # None: headroom placeholders (core/headroom_plan.py)
        live = zone.live if zone else deployments.get(name)
        before = int(((live or {}).get("spec") or {}).get("replicas", 0))
        # A dark zone's pods serve nothing: cutting it takes no capacity away.
        return (1 if after >= before or (zone and zone.dark) else 2, name)

    return key


def _zone_events(
    wl: Workload,
    zones: Mapping[str, ZoneView],
    previous: Mapping[str, ZoneStatus],
    result: Plan,
) -> None:
    moved_to = sorted(z.name for z in zones.values() if z.target > z.current)

    def moving(zone: ZoneView) -> str:
        if not zone.current:
            return "it has no replicas to move"
        return f"moving its {zone.current} replicas to {', '.join(moved_to) or 'no healthy zone'}"

    zoning.zone_events(
        zones, previous, result, WORDING, moving=moving, failover=wl.failover.enabled
    )
