"""Zone-by-zone rollouts (spec.zoneRollout, PerZone placement), as a pure function: which
revision of the workload's template each zone's Deployment is to run now, the wave's status
and events. perzone.plan feeds it what it observes and renders each zone at the revision given.

A revision is a digest of the pod template and the Deployment settings passed through
(render.template_revision); each PerZone Deployment carries its revision and its template in
annotations, so a zone can be kept on, or put back to, a revision the spec no longer holds.

The rules (mode ZoneByZone; AllZones gives every zone the spec's revision at once):
- The zones take the spec's revision in order (spec.zoneRollout.order, then spec.zones, then
  by name), at most maxConcurrentZones at a time. A zone is in flight from the write that
  gives it the revision until it has baked: its Deployment rolled out, every pod Ready, the
  zone Healthy, for bakeSeconds without a break. A break (a pod added by a scale or a
  failover, the zone failing) restarts the bake once all is well again; it does not halt.
- A zone in flight halts the wave when its Deployment exceeds its progress deadline, when a
  container of a pod created since the zone got the revision restarts, or when a pod that was
  there (so Ready) when the bake started is not Ready; a zone that is not Healthy halts
  nothing (its nodes failing say nothing of the change). The halt holds until the spec's
  revision changes (the fix starts a new wave); the zones not reached keep their revision. With
  rollbackOnHalt the zone that failed is put back on the revision most other zones run, surge
  first (core/rollbacks.py says why).
- A zone whose Deployment holds no replicas when its turn comes (failed over, shifted away)
  has nothing to prove: it takes the revision and counts as baked at once. A zone that fails
  during its own bake holds the wave until it is back and has baked: the change is not proven.
- A zone that gets its first Deployment during a wave starts on the revision the other zones
  run, so a wave never reaches a zone out of order; outside a wave, on the spec's. A zone on
  the spec's revision that no wave gave it (a new workload's, say) has nothing to bake.
- Capacity is never the wave's business: replicas move between zones by the placement's rules
  (failover, failback, scale), and each zone's pods run the revision that zone is on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from zonal_operator.api.group import format_time, parse_time
from zonal_operator.api.status import (
    ConditionType,
    Reason,
    WaveHalt,
    ZoneRevision,
    ZoneRolloutStatus,
    ZoneState,
    ZoneStatus,
)
from zonal_operator.api.workload import ROLLOUT_FIELDS, Workload
from zonal_operator.core.deployment import status_stale
from zonal_operator.core.model import PodInfo
from zonal_operator.core.plan import Event
from zonal_operator.core.render import (
    PREVIOUS_TEMPLATE_ANNOTATION,
    REVISION_ANNOTATION,
    TEMPLATE_ANNOTATION,
    decode_template,
    template_revision,
)
from zonal_operator.core.status import Condition
from zonal_operator.core.zones import ZoneView

HALTED = Reason.ROLLOUT_HALTED
IN_PROGRESS = Reason.ZONE_ROLLOUT_IN_PROGRESS


@dataclass(frozen=True)
class ZoneRun:
    """What the wave needs to know of one zone of the workload."""

    name: str
    revision: str | None  # of its live Deployment ("" : written before revisions; None: none)
    replicas: int = 0  # spec.replicas of its Deployment
    rolled_out: bool = False  # rolled out, every pod available
    stalled: bool = False  # its Deployment's progress deadline passed on the current template
    healthy: bool = True  # the zone is Healthy (not failing, failed over or shifted)
    oldest_unready: datetime | None = None  # creation of its oldest pod that is not Ready
    restarted: datetime | None = None  # the last container restart among its new pods
    previous: ZoneRevision = field(default_factory=ZoneRevision)  # its last entry


@dataclass
class Wave:
    target: str = ""  # the spec's revision
    # zone -> the revision its Deployment is to run (absent: leave its template as it is)
    revisions: dict[str, str] = field(default_factory=dict)
    entries: dict[str, ZoneRevision] = field(default_factory=dict)  # zone -> status fields
    status: ZoneRolloutStatus | None = None  # status.zoneRollout
    progressing: Condition | None = None  # replaces the placement's Progressing condition
    events: list[Event] = field(default_factory=list)
    requeue_at: datetime | None = None  # when a zone in flight will have baked
    rolled_back: set[str] = field(default_factory=set)  # zones put back by this plan


def record(entry: ZoneStatus, fields: ZoneRevision) -> None:
    """Lay the wave's fields for a zone over its status entry."""
    if "revision" in fields:
        entry["revision"] = fields["revision"]
    if "updatedAt" in fields:
        entry["updatedAt"] = fields["updatedAt"]
    if "bakingSince" in fields:
        entry["bakingSince"] = fields["bakingSince"]
    if "bakedAt" in fields:
        entry["bakedAt"] = fields["bakedAt"]


def live_revision(live: Mapping[str, Any] | None) -> str | None:
    if live is None:
        return None
    return str(((live.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION, ""))


def workload_at(
    wl: Workload, live: Mapping[str, Any], annotation: str = TEMPLATE_ANNOTATION
) -> Workload | None:
    """The workload as it was at the revision `live` runs (or, with PREVIOUS_TEMPLATE_ANNOTATION,
    ran before), from the template it records."""
    raw = ((live.get("metadata") or {}).get("annotations") or {}).get(annotation)
    try:
        recorded = decode_template(raw) if raw else None
    except ValueError:
        recorded = None
    if not isinstance(recorded, dict) or not isinstance(recorded.get("template"), dict):
        return None
    rollout = {k: recorded[k] for k in ROLLOUT_FIELDS if recorded.get(k) is not None}
    return replace(wl, template=recorded["template"], rollout=rollout)


def stalled(live: Mapping[str, Any]) -> bool:
    """The Deployment controller gave up on the current template: Progressing is False with
    ProgressDeadlineExceeded (only trusted once its status has caught up with the spec)."""
    if status_stale(live):
        return False
    return any(
        c.get("type") == "Progressing"
        and c.get("status") == "False"
        and c.get("reason") == "ProgressDeadlineExceeded"
        for c in (live.get("status") or {}).get("conditions") or []
    )


def zone_run(
    zone: ZoneView, pods: Sequence[PodInfo], previous: ZoneRevision, rolled_out: bool
) -> ZoneRun:
    """The wave's view of a zone, from the placement's and its pods. Restarts count only for
    pods created since the wave gave the zone its revision: the new template's (an old pod
    restarting during the rolling update says nothing of the change)."""
    unready = [p.created for p in pods if not p.ready and p.created is not None]
    updated = parse_time(previous.get("updatedAt"))
    restarts = [
        p.restarted
        for p in pods
        if p.restarted is not None
        and (updated is None or (p.created is not None and p.created >= updated))
    ]
    return ZoneRun(
        zone.name,
        live_revision(zone.live),
        replicas=zone.current,
        rolled_out=rolled_out,
        stalled=zone.live is not None and stalled(zone.live),
        healthy=zone.state is ZoneState.HEALTHY,
        oldest_unready=min(unready, default=None),
        restarted=max(restarts, default=None),
        previous=previous,
    )


def workloads_at(
    wl: Workload, wave: Wave, lives: Sequence[Mapping[str, Any]]
) -> dict[str, Workload | None]:
    """For each zone, the workload to render its Deployment from: the spec at the spec's
    revision, else the template a Deployment on that revision records, or that one ran before
    (None: none does, so the zone's template is left as it is). Templates are read only for
    revisions the wave needs: in steady state, none."""
    known: dict[str, Workload | None] = {wave.target: wl}
    for revision in set(wave.revisions.values()) - {wave.target, ""}:
        known[revision] = _recorded(wl, revision, lives)
    return {zone: known.get(revision) for zone, revision in wave.revisions.items()}


def _recorded(wl: Workload, revision: str, lives: Sequence[Mapping[str, Any]]) -> Workload | None:
    """The workload at `revision`, from a Deployment that runs it or ran it before."""
    for live in lives:
        if live_revision(live) == revision and (found := workload_at(wl, live)) is not None:
            return found
    for live in lives:
        found = workload_at(wl, live, PREVIOUS_TEMPLATE_ANNOTATION)
        if found is not None and template_revision(found) == revision:
            return found
    return None


def zone_order(wl: Workload, names: Sequence[str]) -> list[str]:
    """spec.zoneRollout.order, then spec.zones, then by name; only the zones in `names`."""
    ranked = [*wl.zone_rollout.order, *wl.zones, *sorted(names)]
    seen: dict[str, None] = {}
    for name in ranked:
        if name in names:
            seen.setdefault(name)
    return list(seen)


def plan(wl: Workload, zones: Sequence[ZoneRun], now: datetime) -> Wave:
    target = template_revision(wl)
    wave = Wave(target=target)
    if not wl.zone_rollout.zone_by_zone:
        for zone in zones:
            wave.revisions[zone.name] = target
            if zone.revision:
                wave.entries[zone.name] = {"revision": zone.revision}
        return wave
    return _zone_by_zone(wl, target, {z.name: z for z in zones}, now, wave)


def _zone_by_zone(
    wl: Workload, target: str, zones: Mapping[str, ZoneRun], now: datetime, wave: Wave
) -> Wave:
    policy = wl.zone_rollout
    before: ZoneRolloutStatus = wl.status.get("zoneRollout") or {}
    same_wave = before.get("revision") == target
    recorded_halt = before.get("halted")
    halted: WaveHalt | None = recorded_halt.copy() if same_wave and recorded_halt else None
    others = Counter(z.revision for z in zones.values() if z.revision and z.revision != target)
    stable = (before.get("previousRevision") if same_wave else None) or (
        others.most_common(1)[0][0] if others else None
    )
    order = zone_order(wl, list(zones))
    in_flight: list[str] = []
    baked: list[str] = []

    # Zones on the spec's revision: baked, in flight (and how their bake goes), or the halt.
    for name in order:
        zone = zones[name]
        if zone.revision != target:
            continue
        entry = _entry(zone, target, same_wave)
        wave.entries[name] = entry
        recorded = zone.previous.get("revision")
        if entry.get("bakedAt") or (not entry.get("updatedAt") and recorded in (None, target)):
            # Baked, or never given the revision by a wave: created on it, or on it already.
            baked.append(name)
            continue
        # On it, but its status still says otherwise: the status write of the update was lost.
        entry.setdefault("updatedAt", format_time(now))
        # A zone that is not Healthy proves nothing either way: its bake restarts later.
        cause = None if halted or not zone.healthy else _failure(zone, entry)
        if cause is not None:
            halted = {"zone": name, "reason": cause[0], "message": cause[1], "at": format_time(now)}
            wave.events.append(
                Event(
                    "Warning",
                    HALTED,
                    f"Zone rollout of revision {target} halted in zone {name}: {cause[1]}; "
                    f"the zones not reached keep revision {stable or 'they run'}",
                    zone=name,
                )
            )
        if halted:
            continue
        if zone.rolled_out and zone.healthy and zone.oldest_unready is None:
            since = parse_time(entry.get("bakingSince")) or now
            entry["bakingSince"] = format_time(since)
            done = since + timedelta(seconds=policy.bake_seconds)
            if done <= now:
                entry["bakedAt"] = format_time(now)
                baked.append(name)
                wave.events.append(
                    Event("Normal", "ZoneBaked", f"Zone {name} baked revision {target}", zone=name)
                )
                continue
            wave.requeue_at = done if wave.requeue_at is None else min(wave.requeue_at, done)
        else:
            entry.pop("bakingSince", None)
        in_flight.append(name)

    # The other zones: the next ones in order start while there is room; the rest wait.
    for name in order:
        zone = zones[name]
        if zone.revision == target:
            wave.revisions[name] = target
            continue
        if zone.revision is None:  # no Deployment yet
            wave.revisions[name] = stable if (stable and (halted or others)) else target
            continue
        if zone.revision:
            wave.entries[name] = {"revision": zone.revision}
        if halted is None and len(in_flight) < policy.max_concurrent_zones:
            wave.revisions[name] = target
            # Recorded as on the revision already: the write that gives it is in this plan.
            entry = {"revision": target, "updatedAt": format_time(now)}
            wave.entries[name] = entry
            if zone.replicas == 0:
                entry["bakedAt"] = format_time(now)  # nothing runs there to prove the change
                baked.append(name)
            else:
                in_flight.append(name)
            wave.events.append(
                Event(
                    "Normal",
                    "ZoneRolloutStarted",
                    f"Zone {name} gets revision {target} "
                    f"({order.index(name) + 1} of {len(order)} in the wave)",
                    zone=name,
                )
            )
        else:
            wave.revisions[name] = zone.revision

    if halted is not None and policy.rollback_on_halt and stable:
        failed = halted["zone"]
        if zones.get(failed) is not None and zones[failed].revision == target:
            wave.revisions[failed] = stable
            wave.entries[failed] = {"revision": stable}
            wave.rolled_back.add(failed)
            wave.events.append(
                Event(
                    "Normal",
                    "ZoneRolledBack",
                    f"Zone {failed} put back on revision {stable} after the halt",
                    zone=failed,
                )
            )
    _summarise(
        wave,
        target=target,
        stable=stable,
        order=order,
        baked=baked,
        in_flight=in_flight,
        halted=halted,
        before=before,
    )
    return wave


def _entry(zone: ZoneRun, target: str, same_wave: bool) -> ZoneRevision:
    """The zone's wave fields, carried over from its last entry while the wave is the same."""
    entry: ZoneRevision = {"revision": target}
    previous = zone.previous
    if same_wave and previous.get("revision") == target:
        if previous.get("updatedAt"):
            entry["updatedAt"] = previous["updatedAt"]
        if previous.get("bakingSince"):
            entry["bakingSince"] = previous["bakingSince"]
        if previous.get("bakedAt"):
            entry["bakedAt"] = previous["bakedAt"]
    return entry


def _failure(zone: ZoneRun, entry: ZoneRevision) -> tuple[str, str] | None:
    """Why the zone's rollout has failed, if it has."""
    if zone.stalled:
        return (
            Reason.PROGRESS_DEADLINE_EXCEEDED,
            "its Deployment made no progress within progressDeadlineSeconds",
        )
    updated = parse_time(entry.get("updatedAt"))
    # Strictly after: updatedAt has whole seconds, and a new pod takes longer than that to start.
    if zone.restarted is not None and updated is not None and zone.restarted > updated:
        return (Reason.CONTAINER_RESTARTS, "a container of its pods restarted on the new revision")
    baking = parse_time(entry.get("bakingSince"))
    if baking is not None and zone.oldest_unready is not None and zone.oldest_unready < baking:
        return (Reason.PODS_NOT_READY, "a pod that was Ready when the bake started is not Ready")
    return None


def _summarise(
    wave: Wave,
    *,
    target: str,
    stable: str | None,
    order: Sequence[str],
    baked: Sequence[str],
    in_flight: Sequence[str],
    halted: WaveHalt | None,
    before: ZoneRolloutStatus,
) -> None:
    done = len(baked)
    status: ZoneRolloutStatus = {"revision": target, "zonesDone": done, "zones": len(order)}
    if stable:
        status["previousRevision"] = stable
    if halted is not None:
        status["halted"] = halted.copy()
        status["summary"] = f"halted in {halted['zone']} ({done}/{len(order)} zones)"
        wave.progressing = Condition(
            ConditionType.PROGRESSING,
            False,
            HALTED,
            f"Zone rollout of revision {target} halted in zone {halted['zone']} "
            f"({halted['reason']}): {halted['message']}. The zones not reached keep their "
            "revision; a new change of spec.template starts a new wave",
        )
    elif in_flight:
        status["inFlight"] = list(in_flight)
        status["summary"] = f"{', '.join(in_flight)} in flight ({done}/{len(order)} zones)"
        wave.progressing = Condition(
            ConditionType.PROGRESSING,
            True,
            IN_PROGRESS,
            f"Zone rollout of revision {target}: {', '.join(in_flight)} updating or baking, "
            f"{done} of {len(order)} zones done",
        )
    else:
        status["summary"] = f"complete ({done}/{len(order)} zones)"
        if before.get("revision") == target and before.get("inFlight"):
            wave.events.append(
                Event("Normal", "ZoneRolloutComplete", f"Every zone runs revision {target}")
            )
    wave.status = status
