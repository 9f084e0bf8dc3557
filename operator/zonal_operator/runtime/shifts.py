"""The ZoneShifts' status keeper: records when each shift starts (and when its duration is
edited), when it ends, which ZonalWorkloads it applies to and which it is refused for, with
the events that tell of it (core/shifts.py decides all of that, from the caches).

ZoneShifts and the namespaces' labels reach the cache through reflectors (intake.py). The
workloads' plans read the shifts from the cache themselves; this keeper only writes the
ZoneShifts' status, through the write gate (kube.py), so only the leader writes. It works a
pass at a time: after a ZoneShift or a namespace changes, a workload comes or goes, when the
next shift expires, at each drill's next scheduled time, when a drill's measure moves
(runtime/drills.py), and once a minute (the zones a workload has move with its nodes). A pass
writes only the statuses that differ from what is stored: in steady state, nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any, Protocol

from zonal_operator.api.status import ZoneShiftStatus
from zonal_operator.api.workload import Workload
from zonal_operator.api.zoneshift import ZoneShift, parse_duration
from zonal_operator.core import drills as drilling
from zonal_operator.core import shifts as shifting
from zonal_operator.core.plan import Event
from zonal_operator.core.zones import zones_of
from zonal_operator.runtime import drills, metrics
from zonal_operator.runtime.cache import Key, Store
from zonal_operator.runtime.kube import ApiException, NotLeader, merge_patch

log = logging.getLogger("zonal_operator")

# A pass waits this long after it is asked for, so that a burst of changes is one pass.
SETTLE_SECONDS = 1.0
RESYNC_SECONDS = 60.0


def shifts_selecting(
    store: Store, key: tuple[str, str], wl: Workload, now: datetime
) -> tuple[ZoneShift, ...]:
    """The ZoneShifts in force that select the workload, for its plan."""
    if not store.zoneshifts:
        return ()
    labels = (store.workloads[key].get("metadata") or {}).get("labels") or {}
    within = store.namespaces.get(wl.namespace) or {}
    return shifting.selecting(store.zoneshifts.values(), wl, labels, within, now)


class Listing(Protocol):
    async def list(self) -> None: ...


async def list_shifts(reflectors: Sequence[Listing]) -> None:
    """The start-up lists of ZoneShifts and namespaces. Failing is no reason not to start:
    zone failover does not need them, and their watches retry."""
    for reflector in reflectors:
        try:
            await reflector.list()
        except Exception as exc:
            log.warning(
                "cannot list %s (%s): zone shifts apply once their watch works (is the "
                "ZoneShift CRD installed, and may the operator read it?)",
                getattr(getattr(reflector, "source", None), "resource", "zone shifts"),
                exc,
            )


class ShiftApi(Protocol):
    """The calls the keeper makes (kube.KubeApi; blocking, run in the worker threads)."""

    def patch_zoneshift_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]: ...

    def create_zoneshift_event(
        self, name: str, uid: str, *, type_: str, reason: str, message: str
    ) -> None: ...


class ShiftKeeper:
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
        self._wake = asyncio.Event()
        self._series: set[str] = set()
        self._drills: set[str] = set()  # the drills with metric series
        self.meter = drills.Meter(store)

    def nudge(self, drilled: Key | None = None) -> None:
        """A pass soon; for a drilled workload's Deployment change, only if it moved what its
        run measured (the meter measures it now, on this replica, leader or not)."""
        if drilled is None or self.meter.observe(drilled, datetime.now(UTC)):
            self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._requeue_after()):
                    await self._wake.wait()
            await asyncio.sleep(SETTLE_SECONDS)
            self._wake.clear()
            self._metrics(datetime.now(UTC))
            if not self.active.is_set():
                continue
            try:
                await self.sync()
            except NotLeader:
                log.debug("ZoneShift status not written: not the leader")
            except Exception as exc:
                log.warning("writing ZoneShift status failed (%s); retrying", exc)
                await asyncio.sleep(5)
                self._wake.set()

    def _requeue_after(self) -> float:
        """Seconds until the next shift expires (a moment after), at most the resync period."""
        now = datetime.now(UTC)
        shifts = self.store.zoneshifts.values()
        ends = [shifting.next_expiry(shifts, now), drilling.requeue_at(shifts, now)]
        end = min((t for t in ends if t is not None), default=None)
        if end is None:
            return RESYNC_SECONDS
        return max(0.0, min(RESYNC_SECONDS, (end - now).total_seconds() + 0.5))

    async def sync(self) -> None:
        """One pass: every ZoneShift's status as it should be, written where it differs."""
        now = datetime.now(UTC)
        shifts = [s for s in self.store.zoneshifts.values() if not s.deleting]
        if not shifts:
            return
        valid = []
        for shift in shifts:
            try:
                parse_duration(shift.duration)
            except ValueError:
                continue  # the CRD admits none such; never act on what is not understood
            valid.append(shift)
        entries = self._workloads()
        results = shifting.outcomes(valid, entries, now)
        for shift in valid:
            if not shift.drill:
                status, events = shifting.shift_status(shift, results.get(shift.name), now)
                await self._write(shift, status, events)
        # As written just now: a shift that started in this pass is in force for the drills.
        valid = [self.store.zoneshifts.get(s.name, s) for s in valid]
        for shift, update in drills.updates(self.meter, valid, entries, results, now):
            if await self._write(shift, update.status, update.events):
                drills.count(shift, update)
        self._metrics(now)

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
