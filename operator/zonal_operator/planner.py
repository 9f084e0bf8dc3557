"""One reconcile, as a pure function: what is observed in, what to do out.

`plan(observed)` recomputes everything from the workload, the nodes and the Deployments it sees;
it holds no memory but the workload's own status (what the caller passes besides, a memo and
since when a status change has been held back, only saves work and writes). Running it again on
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
   workload's pods sit on such nodes (certainly so when the zone has no Ready node) is emptied
   at once.

This is PerZone placement. Spread placement (spread.py) shares the zone judgement (`ZoneView`,
`workload_zones`, `judge_zone`, `zone_reason`), the Deployment comparisons (`owns`, `matches_live`,
`merge_for_replace`, `status_stale`), the conditions (`degraded_condition`,
`condition_events`) and the zone events (`zone_events`): the public names here.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from zonal_operator.conditions import Condition, format_time, render_conditions
from zonal_operator.distribution import distribute
from zonal_operator.health import ZoneHealth, failed_node_names, zone_healths
from zonal_operator.model import NodeInfo, PodInfo, parse_time
from zonal_operator.naming import deployment_name
from zonal_operator.render import render_deployment
from zonal_operator.semantic import contains
from zonal_operator.workload import ZONE_LABEL, Workload, selector_string


class ZoneState(StrEnum):
    HEALTHY = "Healthy"  # serves its share
    DEGRADED = "Degraded"  # failing, within the grace period (or failover is off): still serves
    UNHEALTHY = "Unhealthy"  # failed over: its share runs in other zones
    RECOVERING = "Recovering"  # nodes are back; waiting out the failback delay


SERVING = (ZoneState.HEALTHY, ZoneState.DEGRADED)
FAILED_OVER = (ZoneState.UNHEALTHY, ZoneState.RECOVERING)


@dataclass(frozen=True)
class Observed:
    workload: Workload
    nodes: Sequence[NodeInfo]
    # Live Deployments of the workload's namespace that it owns or whose names it would use.
    deployments: Mapping[str, Mapping[str, Any]]
    now: datetime
    # zone -> the workload's pods there that sit Pending as Unschedulable
    unschedulable: Mapping[str, int] = field(default_factory=dict)
    # The workload's pods (Spread placement only; PerZone reads its Deployments' status).
    pods: Sequence[PodInfo] = ()
    # PerZone placement: zone -> the node ("" while unscheduled) of each of the workload's pods
    # there that is not being deleted. None: not known, so never a reason to act.
    pod_nodes: Mapping[str, Sequence[str]] | None = None
    # Since when a change has been held back from the status (see _hold_until).
    status_held_since: datetime | None = None
    # matches_live results for this spec generation of the workload, by (zone, Deployment uid,
    # resourceVersion): a memo the caller keeps between plans (None: none). Most reconciles
    # find every Deployment as it should be; rendering and comparing them is then wasted.
    match_memo: MutableMapping[tuple[str, str, str], bool] | None = None


@dataclass(frozen=True)
class Create:
    body: dict[str, Any]


@dataclass(frozen=True)
class Replace:
    """Put the Deployment back to what it should be (template change, or hand edit). The body
    carries the live resourceVersion, so a concurrent change makes the write fail, not win."""

    body: dict[str, Any]


@dataclass(frozen=True)
class Scale:
    name: str
    replicas: int


@dataclass(frozen=True)
class Delete:
    name: str
    uid: str


@dataclass(frozen=True)
class DeletePod:
    """Delete a pod stranded on a failed node, as taint-based eviction would, only sooner."""

    name: str
    uid: str


@dataclass(frozen=True)
class Evict:
    """Make-before-break: evict these pods through the Eviction API (PodDisruptionBudgets
    decide), then shrink Deployment `deployment` from `replicas` by as many as were evicted."""

    deployment: str
    replicas: int
    pods: tuple[tuple[str, str], ...]  # (name, uid)


Action = Create | Replace | Scale | Delete | DeletePod | Evict


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str
    zone: str = ""  # the zone it is about, if any


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    # The complete new status, or None when the current one is still true.
    status: dict[str, Any] | None = None
    events: list[Event] = field(default_factory=list)
    # Reconcile again after this many seconds even if nothing changes (a grace period ends).
    requeue_after: float | None = None
    # The status changed only in what may wait, and that is held back for now (_hold_until).
    status_held: bool = False
    # How many of the first actions may be sent at once: they add capacity, or take away only
    # what does not serve. The rest go one by one, after them.
    together: int = 0


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
    # sit on nodes that are not (see plan).
    dark: bool = False


def plan(observed: Observed) -> Plan:
    wl, now = observed.workload, observed.now
    result = Plan()
    previous = {z.get("name"): z for z in wl.status.get("zones") or []}
    zones = _zones(observed)

    timers: list[datetime] = []
    for zone in zones.values():
        if zone.health is not None:
            judge_zone(zone, previous.get(zone.name) or {}, wl, now, timers)
    live_zones = [z for z in zones.values() if z.health is not None and not z.conflict]
    all_failing = bool(live_zones) and not any(z.state is ZoneState.HEALTHY for z in live_zones)
    if all_failing:
        # Every zone looks dead at once: far likelier that we (or the control plane) are blind
        # than that the whole region burned. Like the node lifecycle controller, move nothing.
        for zone in live_zones:
            if zone.state is ZoneState.UNHEALTHY and zone.current > 0:
                zone.state = ZoneState.DEGRADED
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
    shares = _shares(wl, serving, zones)
    for zone in zones.values():
        zone.target = shares.get(zone.name, 0)
        zone.next = zone.current if zone.live is not None else 0
    if serving:
        _step(list(zones.values()), wl)

    for zone in sorted(zones.values(), key=lambda z: z.name):
        _act(zone, observed, zone.name in shares, previous.get(zone.name) or {}, result)
        if zone.live is not None and (zone.live.get("metadata") or {}).get("deletionTimestamp"):
            timers.append(now + timedelta(seconds=2))  # being deleted: act once it is gone
    # Increases before decreases, so capacity is added before any is taken away.
    order = _action_order(zones)
    result.actions.sort(key=order)
    result.together = sum(1 for a in result.actions if order(a)[0] <= 1)
    _created_event(zones, result)

    _zone_events(wl, zones, previous, result)
    status = _status(
        wl,
        zones,
        previous,
        all_failing,
        now,
        acting=bool(result.actions),
        unschedulable=observed.unschedulable,
    )
    condition_events(wl.status, status, result)
    if status != dict(wl.status):
        # Nothing is held that comes with a write or an event: each tells of what it records.
        acted = result.actions or result.events
        hold = None if acted else _hold_until(observed, wl.status, status)
        if hold is not None and hold > now:
            timers.append(hold)
            result.status_held = True
        else:
            result.status = status
    if timers:
        wait = min(timers) - now
        result.requeue_after = max(1.0, math.ceil(wait.total_seconds()))
    return result


# What moves on its own while nodes or replicas move is held back for a while, so that one
# status write carries many changes; what the operator decides (observedGeneration, a zone's
# share or failover, the generations of its own writes) is written at once and carries the rest
# along. At a thousand workloads each write saved is a thousand, and a ZonalWorkload's status
# write costs the API server several times what a Deployment's does.
#
# A dying zone's nodes turn NotReady one batch at a time over many seconds (and come back the
# same way); a change that is only node counts waits until no node has changed its Ready state
# for this long. While the workload is Progressing, such a change waits also for the write
# that ends the move (Ready replicas back, which is written at once), at most
# NODE_COUNTS_PROGRESS_HOLD_SECONDS from when it was first held: after a failover the lost
# zone's last nodes are often marked only once the failover has been written.
NODE_COUNTS_SETTLE_SECONDS = 10
NODE_COUNTS_PROGRESS_HOLD_SECONDS = 120
# While nodes are still changing, what follows from them besides counts (a zone failing within
# its grace period or back before it ended, pods on failed nodes no longer counted Ready, the
# conditions that say so) waits for them to settle too, but at most this long from when it was
# first held: long enough that a zone lost in one go is recorded once, failed over.
NODE_CHANGES_HOLD_SECONDS = 30
# While the workload is Progressing its Deployments report each pod created, Ready and
# available in separate status updates; a change that is only replica counts waits at most this
# long (from when it was first held back) for the change that ends the move.
PROGRESS_HOLD_SECONDS = 10
_NODE_COUNT_FIELDS = frozenset({"eligibleNodes", "readyNodes", "message"})
_ZONE_COUNT_FIELDS = _NODE_COUNT_FIELDS | {"readyReplicas", "availableReplicas"}
_REPLICA_COUNT_FIELDS = frozenset(
    {"replicas", "readyReplicas", "availableReplicas", "updatedReplicas"}
)


def _hold_until(
    observed: Observed, before: Mapping[str, Any], after: Mapping[str, Any]
) -> datetime | None:
    """Until when a status change may wait, or None if it is to be written now."""
    latest = max((n.ready_since for n in observed.nodes if n.ready_since is not None), default=None)
    settled = None if latest is None else latest + timedelta(seconds=NODE_COUNTS_SETTLE_SECONDS)
    since = observed.status_held_since or observed.now
    progressing = any(
        c.get("type") == "Progressing" and c.get("status") == "True"
        for c in after.get("conditions") or []
    )
    if _without(before, _NODE_COUNT_FIELDS) == _without(after, _NODE_COUNT_FIELDS):
        if progressing:
            moving = since + timedelta(seconds=NODE_COUNTS_PROGRESS_HOLD_SECONDS)
            return moving if settled is None else max(settled, moving)
        return settled
    if settled is not None and settled > observed.now and _decisions(before) == _decisions(after):
        return min(settled, since + timedelta(seconds=NODE_CHANGES_HOLD_SECONDS))
    if progressing and _without(before, _ZONE_COUNT_FIELDS, counts=True) == _without(
        after, _ZONE_COUNT_FIELDS, counts=True
    ):
        return since + timedelta(seconds=PROGRESS_HOLD_SECONDS)
    return None


def _decisions(status: Mapping[str, Any]) -> tuple[Any, ...]:
    """What in a status the operator decided rather than observed: the spec generation it acts
    on, and per zone its share, its failover state (Healthy and Degraded both serve: which of
    the two is an observation), and the Deployment generation its own last write produced."""
    zones = sorted(
        (
            str(z.get("name")),
            z.get("desiredReplicas"),
            z.get("health") if z.get("health") in FAILED_OVER else None,
            z.get("deploymentGeneration"),
        )
        for z in status.get("zones") or []
    )
    return status.get("observedGeneration"), tuple(zones)


def _without(
    status: Mapping[str, Any], zone_fields: frozenset[str], *, counts: bool = False
) -> dict[str, Any]:
    """The status without the given fields of its zones; with `counts`, also without the
    replica totals and the conditions' messages (which spell the counts out)."""
    entries = status.get("zones") or []
    zones = [{k: v for k, v in z.items() if k not in zone_fields} for z in entries]
    rest: dict[str, Any] = {**status, "zones": zones}
    if counts:
        rest = {k: v for k, v in rest.items() if k not in _REPLICA_COUNT_FIELDS}
        rest["conditions"] = [
            {k: v for k, v in c.items() if k != "message"} for c in status.get("conditions") or []
        ]
    return rest


def workload_zones(observed: Observed) -> dict[str, ZoneHealth]:
    """The health of every zone with a joined node the workload's pods may run on."""
    wl = observed.workload
    return zone_healths(
        observed.nodes,
        wl.pod_spec,
        wl.topology_key,
        wl.zones,
        wl.failover.unhealthy_node_percent,
    )


def _zones(observed: Observed) -> dict[str, ZoneView]:
    """Every zone the workload has or could have: those with eligible (joined) nodes, and
    those whose nodes vanished but where it still owns a Deployment."""
    wl = observed.workload
    zones = {
        name: ZoneView(name, health, ZoneState.HEALTHY)
        for name, health in workload_zones(observed).items()
    }
    for dep in observed.deployments.values():
        owned_zone = _owned_zone(dep, wl)
        if owned_zone is not None and owned_zone not in zones:
            # Vanished (no eligible node left): drain it, then delete its Deployment.
            zones[owned_zone] = ZoneView(owned_zone, None, ZoneState.UNHEALTHY)
    for zone in zones.values():
        zone.deployment = deployment_name(wl.name, zone.name)
        zone.live = observed.deployments.get(zone.deployment)
        if zone.live is not None and not owns(wl, zone.live):
            zone.conflict, zone.live = True, None
        if zone.live is not None:
            spec, status = zone.live.get("spec") or {}, zone.live.get("status") or {}
            zone.current = int(spec.get("replicas", 1))
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
    observed: Observed,
    has_share: bool,
    previous: Mapping[str, Any],
    result: Plan,
) -> None:
    """The one write (if any) that brings the zone's Deployment to what it should be now."""
    wl = observed.workload
    if zone.conflict:
        return
    if zone.live is None:
        if has_share:  # one event for all that a reconcile creates: see _created_event
            result.actions.append(Create(render_deployment(wl, zone.name, zone.next)))
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
    recorded = previous.get("deploymentGeneration")
    edited = recorded is not None and recorded != meta.get("generation")
    if edited or not _matches(zone, wl, observed.match_memo):
        desired = render_deployment(wl, zone.name, zone.next)
        result.actions.append(Replace(merge_for_replace(desired, zone.live)))
        reason, what = (
            ("DeploymentRestored", "after it was changed by hand")
            if edited
            else ("DeploymentUpdated", "to the workload's new spec")
        )
        result.events.append(
            Event("Normal", reason, f"Updated Deployment {zone.deployment} {what}")
        )
    elif zone.next != zone.current:
        result.actions.append(Scale(zone.deployment, zone.next))


def _matches(
    zone: ZoneView, wl: Workload, memo: MutableMapping[tuple[str, str, str], bool] | None
) -> bool:
    """matches_live for the zone's live Deployment, through the caller's memo if any (the
    comparison leaves replicas aside, so the spec generation and the zone determine it)."""
    assert zone.live is not None
    meta = zone.live.get("metadata") or {}
    key = (zone.name, str(meta.get("uid", "")), str(meta.get("resourceVersion", "")))
    found = memo.get(key) if memo is not None and key[2] else None
    if found is None:
        found = matches_live(render_deployment(wl, zone.name, zone.next), zone.live)
        if memo is not None and key[2]:
            memo[key] = found
    return found


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


def judge_zone(
    zone: ZoneView, previous: Mapping[str, Any], wl: Workload, now: datetime, timers: list[datetime]
) -> None:
    """Decide the zone's state from its nodes, the policy and what status said before."""
    health, policy = zone.health, wl.failover
    assert health is not None
    was_failed_over = previous.get("health") in FAILED_OVER
    if health.failing:
        zone.since = health.failing_since
        if not policy.enabled:
            zone.state = ZoneState.DEGRADED
            return
        if was_failed_over:
            zone.state = ZoneState.UNHEALTHY
            return
        deadline = (health.failing_since or now) + timedelta(seconds=policy.grace_period_seconds)
        if now >= deadline:
            zone.state = ZoneState.UNHEALTHY
        else:
            zone.state = ZoneState.DEGRADED
            timers.append(deadline)
        return
    if not was_failed_over or not policy.enabled:
        zone.state = ZoneState.HEALTHY
        return
    # Healthy since the later of what the nodes say and when we first saw it: robust against
    # kubelets that do not move the Ready transition time when they come back.
    seen = (
        parse_time(previous.get("healthySince")) if previous.get("health") == "Recovering" else None
    )
    zone.since = max(t for t in (health.healthy_since, seen or now) if t is not None)
    deadline = zone.since + timedelta(seconds=policy.failback_delay_seconds)
    if now >= deadline:
        zone.state = ZoneState.HEALTHY
    else:
        zone.state = ZoneState.RECOVERING
        timers.append(deadline)


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
    step = max(1, math.ceil(wl.replicas * wl.failover.failback_step_percent / 100))
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


def _rolled_out(zone: ZoneView) -> bool:
    """The zone's Deployment is done, as `kubectl rollout status` judges it: status is current,
    every pod runs the latest template, no old pod is left, and all are available."""
    live = zone.live or {}
    status = live.get("status") or {}
    return (
        not status_stale(live)
        and int(status.get("updatedReplicas") or 0) == zone.current
        and int(status.get("replicas") or 0) == zone.current
        and zone.available == zone.current
    )


def status_stale(live: Mapping[str, Any]) -> bool:
    meta, status = live.get("metadata") or {}, live.get("status") or {}
    return int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0)


def owns(wl: Workload, obj: Mapping[str, Any]) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("controller") and r.get("uid") == wl.uid for r in refs)


def _owned_zone(obj: Mapping[str, Any], wl: Workload) -> str | None:
    if not owns(wl, obj):
        return None
    zone = ((obj.get("metadata") or {}).get("labels") or {}).get(ZONE_LABEL)
    return str(zone) if zone else None


def matches_live(desired: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """Whether the live Deployment holds what is rendered now, replicas aside: the same spec
    digest (catches fields the workload no longer sets) and every rendered field and label."""
    want_spec = {k: v for k, v in desired["spec"].items() if k != "replicas"}
    meta, live_meta = desired["metadata"], live.get("metadata") or {}
    live_spec = live.get("spec") or {}
    return (
        contains(meta["annotations"], live_meta.get("annotations") or {})
        and contains(want_spec, live_spec)
        and contains(meta["labels"], live_meta.get("labels") or {})
        and bool(want_spec.get("paused")) == bool(live_spec.get("paused"))
    )


def merge_for_replace(desired: dict[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
    """The full object to PUT: the live metadata (finalizers, other owners, everybody's labels
    and annotations) with ours laid over it, and our spec."""
    live_meta = live.get("metadata") or {}
    ours = desired["metadata"]
    meta = {k: copy.deepcopy(v) for k, v in live_meta.items() if k != "managedFields"}
    meta["labels"] = {**(live_meta.get("labels") or {}), **ours["labels"]}
    meta["annotations"] = {**(live_meta.get("annotations") or {}), **ours["annotations"]}
    mine = ours["ownerReferences"][0]
    others = [r for r in live_meta.get("ownerReferences") or [] if r.get("uid") != mine["uid"]]
    meta["ownerReferences"] = [mine, *others]
    return {
        "apiVersion": desired["apiVersion"],
        "kind": desired["kind"],
        "metadata": meta,
        "spec": desired["spec"],
    }


def _action_order(zones: Mapping[str, ZoneView]) -> Any:
    by_deployment = {z.deployment: z for z in zones.values()}

    def key(action: Action) -> tuple[int, str]:
        if isinstance(action, Create):
            return (0, action.body["metadata"]["name"])
        if isinstance(action, Delete):
            return (3, action.name)
        if isinstance(action, DeletePod | Evict):
            return (4, action.deployment if isinstance(action, Evict) else action.name)
        name = action.name if isinstance(action, Scale) else action.body["metadata"]["name"]
        zone = by_deployment[name]
        # A dark zone's pods serve nothing: cutting it takes no capacity away.
        return (1 if zone.next >= zone.current or zone.dark else 2, name)

    return key


def _zone_events(
    wl: Workload,
    zones: Mapping[str, ZoneView],
    previous: Mapping[str, Mapping[str, Any]],
    result: Plan,
) -> None:
    moved_to = sorted(z.name for z in zones.values() if z.target > z.current)

    def moving(zone: ZoneView) -> str:
        if not zone.current:
            return "it has no replicas to move"
        return f"moving its {zone.current} replicas to {', '.join(moved_to) or 'no healthy zone'}"

    zone_events(
        zones,
        previous,
        result,
        moving=moving,
        waiting="replicas return after the failback delay",
        returning=lambda zone: f"Returning {zone.target} replicas to zone {zone.name}",
        failover=wl.failover.enabled,
    )


def zone_events(
    zones: Mapping[str, ZoneView],
    previous: Mapping[str, Mapping[str, Any]],
    result: Plan,
    *,
    moving: Callable[[ZoneView], str],
    waiting: str,
    returning: Callable[[ZoneView], str],
    failover: bool,
) -> None:
    """One event per zone incident, saying what happened and what is done about it: at a
    thousand workloads every event is a thousand API writes. With failover on, a zone that
    fails is told of when it is failed over, or, if it comes back within the grace period, when
    it does; with failover off, when it starts failing."""
    for zone in sorted(zones.values(), key=lambda z: z.name):
        entry = previous.get(zone.name, {})
        before = entry.get("health")
        if zone.health is None or before == zone.state:
            continue
        detail = zone.health.describe()
        if zone.state is ZoneState.DEGRADED and before in (None, ZoneState.HEALTHY):
            if not failover:
                message = f"Zone {zone.name} is failing ({detail}); failover is off"
                result.events.append(Event("Warning", "ZoneDegraded", message, zone.name))
        elif zone.state is ZoneState.HEALTHY and before == ZoneState.DEGRADED:
            since = f" since {entry['unhealthySince']}" if entry.get("unhealthySince") else ""
            moved = "; nothing was moved" if failover else ""
            message = f"Zone {zone.name} is healthy again ({detail}), failing{since}{moved}"
            result.events.append(Event("Normal", "ZoneRecovered", message, zone.name))
        elif zone.state is ZoneState.UNHEALTHY and before not in FAILED_OVER:
            message = f"Zone {zone.name} is unhealthy ({detail}); {moving(zone)}"
            result.events.append(Event("Warning", "ZoneUnhealthy", message, zone.name))
        elif zone.state is ZoneState.RECOVERING and before == ZoneState.UNHEALTHY:
            message = f"Zone {zone.name} is healthy again ({detail}); {waiting}"
            result.events.append(Event("Normal", "ZoneRecovered", message, zone.name))
        elif zone.state is ZoneState.HEALTHY and before in FAILED_OVER:
            result.events.append(Event("Normal", "ReplicasReturned", returning(zone), zone.name))


# Degraded reasons worth an event of their own (zone failures have their own events).
_WARN_ON = frozenset({"DeploymentConflict", "NoEligibleZones", "AllZonesUnhealthy"})


def condition_events(before: Mapping[str, Any], after: Mapping[str, Any], result: Plan) -> None:
    def degraded(status: Mapping[str, Any]) -> Mapping[str, Any]:
        conditions = status.get("conditions") or []
        return next((c for c in conditions if c.get("type") == "Degraded"), {})

    new, old = degraded(after), degraded(before)
    if new.get("reason") in _WARN_ON and new.get("reason") != old.get("reason"):
        result.events.append(Event("Warning", new["reason"], new["message"]))


def _status(
    wl: Workload,
    zones: Mapping[str, ZoneView],
    previous: Mapping[str, Mapping[str, Any]],
    all_failing: bool,
    now: datetime,
    *,
    acting: bool,
    unschedulable: Mapping[str, int],
) -> dict[str, Any]:
    owned = [z for z in zones.values() if z.live is not None]
    totals = dict.fromkeys(("replicas", "readyReplicas", "availableReplicas", "updatedReplicas"), 0)
    for zone in owned:
        status = zone.live.get("status") or {}  # type: ignore[union-attr]
        for key in totals:
            totals[key] += int(status.get(key) or 0)
        if zone.dark:  # see _zones: its pods do not serve
            totals["readyReplicas"] -= int(status.get("readyReplicas") or 0)
            totals["availableReplicas"] -= int(status.get("availableReplicas") or 0)
    zone_entries = []
    for zone in sorted(zones.values(), key=lambda z: z.name):
        entry: dict[str, Any] = {
            "name": zone.name,
            "deployment": zone.deployment,
            "eligibleNodes": zone.health.nodes if zone.health else 0,
            "readyNodes": zone.health.ready if zone.health else 0,
            "desiredReplicas": zone.target,
            "readyReplicas": zone.ready,
            "availableReplicas": zone.available,
            "health": zone.state.value,
            "unschedulableReplicas": unschedulable.get(zone.name, 0),
        }
        if zone.live is not None:
            # What the operator's own last write produced; only a write (see
            # record_generations) moves it. Adopted from the live object when never recorded.
            recorded = (previous.get(zone.name) or {}).get("deploymentGeneration")
            live_generation = int((zone.live.get("metadata") or {}).get("generation") or 0)
            entry["deploymentGeneration"] = recorded if recorded is not None else live_generation
        reason, message = zone_reason(zone)
        entry["reason"], entry["message"] = reason, message
        if zone.since is not None and zone.state is not ZoneState.HEALTHY:
            key = "healthySince" if zone.state is ZoneState.RECOVERING else "unhealthySince"
            entry[key] = format_time(zone.since)
        zone_entries.append(entry)

    conflicts = sorted(z.deployment for z in zones.values() if z.conflict)
    serving = [z for z in zones.values() if z.state in SERVING and z.health and not z.conflict]
    failed_over = sorted(z.name for z in zones.values() if z.health and z.state in FAILED_OVER)
    available = totals["availableReplicas"]
    converged = (
        not acting
        and all(z.next == z.target == z.current and _rolled_out(z) for z in owned)
        and len(owned) >= len(serving)
    )

    wanted = [
        Condition(
            "Ready",
            available >= wl.replicas and not conflicts and (bool(serving) or wl.replicas == 0),
            "AllReplicasAvailable" if available >= wl.replicas else "ReplicasUnavailable",
            f"{available} of {wl.replicas} replicas available",
        ),
        Condition(
            "Progressing",
            not converged,
            "Reconciling" if not converged else "Stable",
            "Deployments are being created, scaled or rolled out"
            if not converged
            else "Every zone's Deployment has its replicas, up to date",
        ),
        degraded_condition(zones, conflicts, all_failing, unschedulable),
        Condition(
            "FailedOver",
            bool(failed_over),
            "ZonesFailedOver" if failed_over else "AllZonesServing",
            f"Replicas of {', '.join(failed_over)} run in other zones"
            if failed_over
            else "Every zone serves its share",
        ),
    ]
    serving_names = {z.name for z in serving}
    return {
        "observedGeneration": wl.generation,
        **totals,
        "selector": selector_string(wl.base_selector()),
        "zoneCount": len(serving_names),
        "healthyZoneCount": sum(1 for z in serving if z.state is ZoneState.HEALTHY),
        "zones": zone_entries,
        "conditions": render_conditions(
            wanted, wl.status.get("conditions") or [], wl.generation, now
        ),
    }


def degraded_condition(
    zones: Mapping[str, ZoneView],
    conflicts: list[str],
    all_failing: bool,
    unschedulable: Mapping[str, int],
) -> Condition:
    if conflicts:
        return Condition(
            "Degraded",
            True,
            "DeploymentConflict",
            f"Deployment {', '.join(conflicts)} exists and is not owned by this ZonalWorkload; "
            "it is left untouched and its zone's share runs elsewhere",
        )
    if not any(z.health for z in zones.values()):
        return Condition(
            "Degraded",
            True,
            "NoEligibleZones",
            "No node carries the topology key and admits the pod template (nodeSelector, "
            "required node affinity, taints, spec.zones)",
        )
    if all_failing:
        return Condition(
            "Degraded",
            True,
            "AllZonesUnhealthy",
            "Every zone looks unhealthy; nothing is moved until at least one zone is healthy",
        )
    failing = sorted(z.name for z in zones.values() if z.health and z.health.failing)
    if failing:
        return Condition("Degraded", True, "ZonesFailing", f"Failing zones: {', '.join(failing)}")
    stuck = {zone: n for zone, n in sorted(unschedulable.items()) if n}
    if stuck:
        where = ", ".join(f"{n} in {zone}" for zone, n in stuck.items())
        return Condition(
            "Degraded",
            True,
            "ReplicasUnschedulable",
            f"Replicas Pending as Unschedulable: {where}. The scheduler cannot place them "
            "(capacity, taints, affinity); they are reported, not moved",
        )
    return Condition("Degraded", False, "AsExpected", "Every zone is healthy")


def zone_reason(zone: ZoneView) -> tuple[str, str]:
    if zone.conflict:
        return "DeploymentConflict", f"Deployment {zone.deployment} belongs to someone else"
    if zone.health is None:
        return "NoEligibleNodes", "No eligible node left in this zone"
    detail = zone.health.describe()
    return {
        ZoneState.HEALTHY: ("NodesReady", detail),
        ZoneState.DEGRADED: ("NodesNotReady", f"{detail}; replicas stay during the grace period"),
        ZoneState.UNHEALTHY: ("FailedOver", f"{detail}; replicas moved to other zones"),
        ZoneState.RECOVERING: ("WaitingForFailback", f"{detail}; waiting out the failback delay"),
    }[zone.state]


def record_generations(status: dict[str, Any], generations: Mapping[str, int]) -> None:
    """Write into a planned status the Deployment generations the operator's own writes
    produced (from the write responses), so they are not mistaken for hand edits."""
    for entry in status.get("zones") or []:
        if entry.get("deployment") in generations:
            entry["deploymentGeneration"] = generations[entry["deployment"]]
