"""The ZoneShift status controller: records when each shift starts (and when its duration is
edited), when it ends, which ZonalWorkloads it applies to and which it is refused for, with
the events that tell of it (core/shifts.py decides all of that, from the caches), and each
drill's runs (runtime/drills.py, core/drills.py).

It has the workload controller's shape: a keyed work queue of ZoneShift names, and a reconcile
of one ZoneShift at a time, which writes that one's status, through the write gate (kube.py),
so only the leader writes, and only where it differs from what is stored: in steady state,
nothing. The workloads' plans read the shifts from the cache themselves.

One ZoneShift's status depends on the others' (a shift is refused for a workload that the
shifts together would leave no zone that is up; a drill does not start while another shift is
in force), so a reconcile decides from all of them, and every ZoneShift is queued when
anything they read changes: a ZoneShift or a namespace, a workload that comes or goes, a
drill's measure that moves (runtime/drills.py); and each is requeued at the next moment one
of them is due (an expiry, a drill's next scheduled time), at most a minute later (the zones
a workload has move with its nodes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from zonal_operator.api.shift_status import ZoneShiftStatus
from zonal_operator.api.workload import Workload
from zonal_operator.api.zoneshift import ZoneShift, parse_duration
from zonal_operator.core import drills as drilling
from zonal_operator.core import shifts as shifting
from zonal_operator.core.plan import Event
from zonal_operator.core.zones import zones_of
from zonal_operator.runtime import drills, metrics
from zonal_operator.runtime.cache import Key, Store
from zonal_operator.runtime.kube import ApiException, NotLeader, merge_patch
from zonal_operator.runtime.shifts import ShiftApi
from zonal_operator.runtime.workqueue import WorkQueue

log = logging.getLogger("zonal_operator")

# A change queues every ZoneShift this long later, so that a burst of changes is one
# reconcile of each.
SETTLE_SECONDS = 1.0
RESYNC_SECONDS = 60.0


class ShiftStatusController:
    def __init__(
        self,
        store: Store,
        api: ShiftApi,
        pool: Executor,
        active: asyncio.Event,
        deliver: Callable[[str | None, dict[str, Any]], None],
    ) -> None:
        self.store, self.api, self.pool = store, api, pool
        self.active = active  # set while this replica may write (controller.active)
        self.deliver = deliver  # the write's response, back into the cache (on_zoneshift)
        self.queue = WorkQueue()  # of ZoneShift names
        self._series: set[str] = set()
        self._drills: set[str] = set()  # the drills with metric series
        self.meter = drills.Meter(store)

    def nudge(self, drilled: Key | None = None) -> None:
        """Queue every ZoneShift soon; for a drilled workload's Deployment change, only if it
        moved what its run measured (the meter measures it now, on this replica, leader or
        not)."""
        if drilled is None or self.meter.observe(drilled, datetime.now(UTC)):
            # And the ones gone that have metric series, for their reconcile to drop them.
            for name in {*self.store.zoneshifts, *self._series, *self._drills}:
                self._add_after(name, SETTLE_SECONDS)

    def _add_after(self, name: str, delay: float) -> None:
        try:
            self.queue.add_after(name, delay)
        except RuntimeError:  # no running loop (tests): at once
            self.queue.add(name)

    async def run(self) -> None:
        """One worker: ZoneShifts are few, and one at a time each reconcile sees the writes
        of the ones before it in the cache."""
        while True:
            name: str = await self.queue.get()  # type: ignore[assignment]
            try:
                self._metrics(datetime.now(UTC))
                if self.active.is_set():
                    await self.reconcile(name)
                self.queue.forget(name)
            except NotLeader:
                self.queue.forget(name)
                log.debug("status of ZoneShift %s not written: not the leader", name)
            except Exception as exc:
                delay = self.queue.retry(name)
                log.warning(
                    "writing the status of ZoneShift %s failed (%s); retrying in %.1fs",
                    name,
                    exc,
                    delay,
                )
            finally:
                self._metrics(datetime.now(UTC))  # with what was written
                self.queue.done(name)
                if name in self.store.zoneshifts:
                    self._add_after(name, self._requeue_after())

    async def sync(self) -> None:
        """Every ZoneShift reconciled once, in the order of their names."""
        for name in sorted(self.store.zoneshifts):
            await self.reconcile(name)
        self._metrics(datetime.now(UTC))

    def _requeue_after(self) -> float:
        """Seconds until the next shift expires or drill is due (a moment after), at most the
        resync period."""
        now = datetime.now(UTC)
        shifts = self.store.zoneshifts.values()
        ends = [shifting.next_expiry(shifts, now), drilling.requeue_at(shifts, now)]
        end = min((t for t in ends if t is not None), default=None)
        if end is None:
            return RESYNC_SECONDS
        return max(0.0, min(RESYNC_SECONDS, (end - now).total_seconds() + 0.5))

    async def reconcile(self, name: str) -> None:
        """One ZoneShift's status as it should be, decided from all of them, written if it
        differs."""
        now = datetime.now(UTC)
        self.meter.retain(s.name for s in self.store.zoneshifts.values() if s.drill)
        shift = self.store.zoneshifts.get(name)
        if shift is None or shift.deleting:
            return
        valid = []
        for other in self.store.zoneshifts.values():
            if other.deleting:
                continue
            try:
                parse_duration(other.duration)
            except ValueError:
                continue  # the CRD admits none such; never act on what is not understood
            valid.append(other)
        if shift not in valid:
            return
        entries = self._workloads()
        results = shifting.outcomes(valid, entries, now)
        standing = {
            s.name: shifting.shift_status(s, results.get(s.name), now) for s in valid if not s.drill
        }
        if not shift.drill:
            await self._write(shift, *standing[name])
            return
        # The standing shifts as their status is to be: one that starts now is in force for
        # the drills, whether its write is in yet or not.
        seen = [
            dataclasses.replace(s, status=standing[s.name][0]) if s.name in standing else s
            for s in valid
        ]
        for drill, update in drills.updates(self.meter, seen, entries, results, now):
            if drill.name == name and await self._write(drill, update.status, update.events):
                drills.count(drill, update)

    async def _write(self, shift: ZoneShift, status: ZoneShiftStatus, events: list[Event]) -> bool:
        """Write a ZoneShift's status and post its events, if it differs; whether written."""
        old = dict(shift.status or {})
        if status == old and not events:
            return False
        # Null removes what the status no longer has (a drill made a shift, say).
        patch = merge_patch(old, status)
        loop = asyncio.get_running_loop()
        try:
            done = await loop.run_in_executor(
                self.pool, self.api.patch_zoneshift_status, shift.name, patch
            )
        except ApiException as exc:
            if exc.status == 404:
                return False  # deleted meanwhile
            raise
        self.deliver("MODIFIED", done)
        for event in events:
            await loop.run_in_executor(self.pool, self._post, shift.name, shift.uid, event)
        return True

    def _workloads(self) -> list[shifting.Selected]:
        nodes = self.store.node_snapshot()
        entries = []
        for (namespace, _), body in self.store.workloads.items():
            meta = body.get("metadata") or {}
            if meta.get("deletionTimestamp"):
                continue
            wl = Workload.from_body(body)
            zones = zones_of(wl, nodes)
            entries.append(
                shifting.Selected(
                    wl,
                    meta.get("labels") or {},
                    self.store.namespaces.get(namespace) or {},
                    tuple(zones),
                    tuple(name for name, health in zones.items() if not health.failing),
                )
            )
        return entries

    def _post(self, name: str, uid: str, event: Any) -> None:
        try:
            self.api.create_zoneshift_event(
                name, uid, type_=event.type, reason=event.reason, message=event.message
            )
        except ApiException as exc:
            log.warning("event %s on ZoneShift %s not posted (%s)", event.reason, name, exc.reason)

    def _metrics(self, now: datetime) -> None:
        active = [s for s in self.store.zoneshifts.values() if s.active(now)]
        metrics.ZONESHIFTS_ACTIVE.set(len(active))
        names = {s.name for s in active}
        for gone in self._series - names:
            for outcome in ("applied", "refused"):
                with contextlib.suppress(KeyError):
                    metrics.ZONESHIFT_WORKLOADS.remove(gone, outcome)
        self._series = names
        for shift in active:
            status = shift.status or {}
            applied = int(status.get("appliedWorkloads") or 0)
            metrics.ZONESHIFT_WORKLOADS.labels(shift.name, "applied").set(applied)
            refused = int(status.get("refusedWorkloads") or 0)
            metrics.ZONESHIFT_WORKLOADS.labels(shift.name, "refused").set(refused)
        present = {s.name for s in self.store.zoneshifts.values() if s.drill}
        drills.forget(self._drills - present)
        self._drills = present
