"""Zone drills in the runtime: the readings of the drilled workloads from the cache, the meter
that keeps a run's measures between the ZoneShift status controller's reconciles, and the
drills' part of a reconcile (core/drills.py decides; runtime/shift_status.py writes, through
kube.py's gate).

The meter measures at each change of a drilled workload's Deployments, and of a Spread
workload's pods, as the watches deliver them (intake.on_deployment and on_pod ask for the
workloads in `Store.drilled`), on the operator's own
clock: a dip in Ready between two reconciles is not missed. What it measured goes into the
ZoneShift's status when it moves the outcome (a new lowest Ready count, capacity back), so a
new leader goes on from there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from zonal_operator.api.workload import Workload
from zonal_operator.api.zoneshift import ZoneShift
from zonal_operator.core import drills
from zonal_operator.core import shifts as shifting
from zonal_operator.core.deployment import owned_zone
from zonal_operator.core.drills import Key, Measure, Reading
from zonal_operator.runtime import metrics
from zonal_operator.runtime.cache import Store


def reading(store: Store, key: Key, zone: str) -> Reading | None:
    """A workload's Ready replicas now, in every zone and outside `zone`, from its own zone
    Deployments in the cache (None: the workload is gone); Spread placement's from its pods.
    With its headroom: static stability's extra replicas, the placeholders preempted."""
    body = store.workloads.get(key)
    if body is None:
        return None
    wl = Workload.from_body(body)
    if wl.spread:
        return _spread_reading(store, key, wl, zone)
    ready = elsewhere = 0
    for deployment in store.deployments_for(wl).values():
        # Its zone Deployments only: headroom placeholders are never capacity.
        where = owned_zone(deployment, wl)
        if where is None:
            continue
        count = int((deployment.get("status") or {}).get("readyReplicas") or 0)
        ready += count
        elsewhere += count if where != zone else 0
    extra = (
        int(wl.status.get("headroomReplicas") or 0) if wl.failover.headroom.static_stability else 0
    )
    return Reading(wl.replicas, ready, elsewhere, extra, store.preempted.get(key, 0))


def _spread_reading(store: Store, key: Key, wl: Workload, zone: str) -> Reading:
    """Spread placement's one Deployment has no zone: its Ready pods not being deleted, and
    those of them on a node of another zone (a node the cache does not know counts in none)."""
    ready = elsewhere = 0
    for pod in (store.pods.get(key) or {}).values():
        if not pod.ready or pod.deleting:
            continue
        ready += 1
        node = store.nodes.get(pod.node)
        where = node.labels.get(wl.topology_key) if node is not None else None
        elsewhere += where is not None and where != zone
    return Reading(wl.replicas, ready, elsewhere)


class Meter:
    """Per drill with a run in force: the run (its scheduledAt), its zone, and the measures of
    its workloads so far."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.runs: dict[str, tuple[str, str, dict[Key, Measure]]] = {}

    def measures(self, shift: ZoneShift) -> Mapping[Key, Measure]:
        """The measures of the drill's run in force, if this replica measured that run."""
        kept = self.runs.get(shift.name)
        running = [
            r.get("scheduledAt")
            for r in (shift.status or {}).get("runs") or []
            if r.get("outcome") == drills.RUNNING
        ]
        return kept[2] if kept is not None and kept[0] in running else {}

    def keep(self, shift: ZoneShift, update: drills.Update) -> None:
        if update.running is None:
            self.runs.pop(shift.name, None)
        else:
            self.runs[shift.name] = (update.running, shift.zone, dict(update.measures))
        self._index()

    def retain(self, names: Iterable[str]) -> None:
        """Forget the drills not named (deleted)."""
        for gone in set(self.runs) - set(names):
            del self.runs[gone]
        self._index()

    def observe(self, key: Key, now: datetime) -> bool:
        """A drilled workload's Deployments changed: measure it; whether an outcome moved (a
        new lowest Ready count, capacity back), which is worth a status write."""
        moved = False
        for _, zone, measures in self.runs.values():
            before = measures.get(key)
            if before is None:
                continue
            now_reading = reading(self.store, key, zone)
            if now_reading is None:
                continue
            after = drills.observe(before, now_reading, now)
            measures[key] = after
            moved |= after.lowest < before.lowest or (after.back_at is not None) != (
                before.back_at is not None
            )
        return moved

    def _index(self) -> None:
        self.store.drilled = {key for _, _, measures in self.runs.values() for key in measures}


def updates(
    meter: Meter,
    shifts: Sequence[ZoneShift],
    entries: Sequence[shifting.Selected],
    results: Mapping[str, shifting.Outcome],
    now: datetime,
) -> list[tuple[ZoneShift, drills.Update]]:
    """The drills' statuses as they should be now, in the order of their names: a drill that
    starts a run is in force for the drills after it."""
    in_force = {s.name for s in shifts if s.active(now)}
    out = []
    for shift in sorted((s for s in shifts if s.drill), key=lambda s: s.name):
        keys = drills.measured(shift, entries)
        readings = {
            key: r for key in keys if (r := reading(meter.store, key, shift.zone)) is not None
        }
        update = drills.drill_status(
            shift,
            now,
            seen=drills.survey(shift, entries, readings),
            measures=meter.measures(shift),
            others=sorted(in_force - {shift.name}),
            outcome=results.get(shift.name),
        )
        meter.keep(shift, update)
        if update.running is not None:
            in_force.add(shift.name)
        out.append((shift, update))
    meter.retain(s.name for s in shifts if s.drill)
    return out


def count(shift: ZoneShift, update: drills.Update) -> None:
    """The metrics of the runs that ended in a status just written."""
    for run in update.ended:
        outcome = str(run.get("outcome", "")).lower()
        metrics.DRILL_RUNS.labels(shift.name, outcome).inc()
        items = run.get("workloads") or []
        for item in items:
            if "capacityBackSeconds" in item:
                metrics.DRILL_CAPACITY_BACK.labels(shift.name).observe(item["capacityBackSeconds"])
        if items:
            margin = min(i["lowestReady"] - i["replicas"] for i in items)
            metrics.DRILL_LOWEST_READY_MARGIN.labels(shift.name).set(margin)


def forget(names: Iterable[str]) -> None:
    """Drop the series of drills that are gone."""
    for name in names:
        for outcome in ("passed", "failed", "skipped"):
            with contextlib.suppress(KeyError):
                metrics.DRILL_RUNS.remove(name, outcome)
        with contextlib.suppress(KeyError):
            metrics.DRILL_CAPACITY_BACK.remove(name)
        with contextlib.suppress(KeyError):
            metrics.DRILL_LOWEST_READY_MARGIN.remove(name)
