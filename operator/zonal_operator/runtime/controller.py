"""The level-triggered loop: watch events fill the cache and queue workloads (intake.py);
workers take a workload from the queue, ask the pure core what to do (core.perzone or
core.spread), and have the executor do it.

kopf delivers the ZonalWorkloads' watch events (see handlers.py); nothing here imports kopf.
The cache is touched only from the event loop; blocking API calls run in a thread pool and hand
their responses back to the loop, which writes them through to the cache, so the next
reconcile never acts on an object older than the operator's own last write. A write queues no
reconcile of its own: the workload comes back when something it reads changes, or after its
plan's requeue_after (intake.py).

A status write is deferred (Settings.status_delay_seconds) while a backlog of other workloads
waits: the next reconcile plans on the deferred status as if it had been written. (The pure
core's coalescing, core/coalesce.py, is another thing: it decides a change may wait at all.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from zonal_operator.api.group import GROUP, SILENCES_ANNOTATION, VERSION, WORKLOAD_LABEL
from zonal_operator.api.workload import PLURAL, Workload
from zonal_operator.api.zoneshift import PLURAL as SHIFT_PLURAL
from zonal_operator.core import perzone, spread
from zonal_operator.core.headroom_render import DEFAULT_PAUSE_IMAGE
from zonal_operator.core.plan import PerZoneObserved, Plan, SpreadObserved
from zonal_operator.core.resume import Recorded, recorded
from zonal_operator.runtime import metrics
from zonal_operator.runtime.cache import Key, Store
from zonal_operator.runtime.executor import Executor, Outcome, held_until
from zonal_operator.runtime.heartbeats import LEASE_NAMESPACE, LEASES_PATH, Heartbeats, ReadLease
from zonal_operator.runtime.intake import Intake
from zonal_operator.runtime.kube import Kube, NotLeader
from zonal_operator.runtime.loss_forecast import UNFINISHED, Forecasts
from zonal_operator.runtime.namespaces import list_scopes, watch_scopes
from zonal_operator.runtime.priority_classes import SOURCE as PRIORITY_CLASSES
from zonal_operator.runtime.priority_classes import PriorityClasses
from zonal_operator.runtime.records import Record
from zonal_operator.runtime.shift_status import ShiftStatusController
from zonal_operator.runtime.shifts import ShiftApi, list_shifts, shifts_selecting
from zonal_operator.runtime.watch import Deliver, Source, list_until_done, tee
from zonal_operator.runtime.workqueue import WorkQueue
from zonal_operator.runtime.zone_budgets import BudgetApi, ZoneBudgets, source

log = logging.getLogger("zonal_operator")
SHIFTS_PATH = f"/apis/{GROUP}/{VERSION}/{SHIFT_PLURAL}"


@dataclass(frozen=True)
class Settings:
    # Reconciles running at once, each in a thread of its own for its blocking API calls (the
    # API client's connection pool has as many connections). A reconcile mostly waits on API
    # round trips, so this is what bounds throughput, and on a busy API server the operator's
    # share of it (docs/benchmarks.md, bench-scale, has the figures by worker count).
    workers: int = 32
    resync_seconds: float = 600.0  # every workload is reconciled at least this often
    # A node's change re-queues every workload; changes within this many seconds are handled
    # in one pass. The node lifecycle controller marks a dead zone's nodes (Ready, then taints)
    # over many seconds, and each pass is a reconcile of every workload. Waiting delays no
    # failover: a zone's grace period runs from the nodes' own transition times.
    node_batch_seconds: float = 5.0
    # Likewise a Deployment's changes: the deployment controller reports a scale-up's progress
    # in several status writes within a second or two (replicas, then ready, then available),
    # and each would be a reconcile and a status patch of its own.
    deployment_batch_seconds: float = 1.0
    # While at least as many workloads wait in the queue as there are workers, a reconcile
    # sends its Deployment writes and defers its status write and events, at most this long,
    # until the backlog is gone: in a zone loss every workload's replicas move before statuses
    # are written, and a status write costs the API server more than a scale does
    # (docs/benchmarks.md, bench-write-cost). A
    # trickle of changes (workloads created one by one, pods turning Ready) is no backlog, and
    # is written at once. 0: never defer.
    status_delay_seconds: float = 30.0
    # Watch the node Leases for the heartbeat verdict (runtime/heartbeats.py); off, zones are
    # judged by their nodes' Ready conditions alone.
    heartbeats: bool = True
    # The zone-loss forecast (runtime/loss_forecast.py): its room taken again this often.
    zone_loss_forecast: bool = True
    forecast_seconds: float = 15.0
    headroom_image: str = DEFAULT_PAUSE_IMAGE  # the placeholders' (--headroom-image)


class Reflecting(Protocol):
    """What the controller needs of a reflector (watch.Reflector)."""

    async def list(self) -> None: ...

    async def run(self) -> None: ...


# Builds the reflector of one collection: source, where its events go, which namespaces count.
ReflectorFactory = Callable[[Source, Deliver, Callable[[str], bool] | None], Reflecting]


class Controller:
    """The cache (`store`), the work queue, the intake that fills both from the watches, and
    the workers that reconcile what the queue hands them."""

    def __init__(
        self,
        api: Kube,
        settings: Settings | None = None,
        reflector: ReflectorFactory | None = None,
        read_lease: ReadLease | None = None,
        shift_api: ShiftApi | None = None,
        *,
        budget_api: BudgetApi | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.store = Store()
        self.queue = WorkQueue()
        self.intake = Intake(
            self.store,
            self.queue,
            node_batch_seconds=self.settings.node_batch_seconds,
            deployment_batch_seconds=self.settings.deployment_batch_seconds,
            forget=self.forget,
            shifts_changed=self.shifts_changed,
        )
        self.api = api
        self.priority_classes = PriorityClasses(self.store, self.queue)
        self._reflector = reflector
        self._reflectors: list[Reflecting] = []
        self._room_shared = False  # the forecast's room fed by the workloads' pod watch
        self._workload_reflectors: list[Reflecting] = []
        self._lease_reflector: Reflecting | None = None
        self.heartbeats = Heartbeats(self.store, self.intake.nodes_changed, read_lease)
        self.pool = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="reconcile")
        self.executor = Executor(api, self.settings.workers)
        self._tasks: list[asyncio.Task[None]] = []
        self._records: dict[Key, Record] = {}
        # Set while the workers may reconcile: always without leader election; with it, only
        # while this replica leads (lead/follow). The caches are kept current either way.
        self.active = asyncio.Event()
        self.active.set()
        self._term = 0  # counts lead() and follow(): a resume finished late leads no more
        # Writes the ZoneShifts' status (runtime/shift_status.py); their reflectors feed the
        # cache.
        self.shift_status = (
            None
            if shift_api is None
            else ShiftStatusController(
                self.store, shift_api, self.pool, self.active, self.intake.on_zoneshift
            )
        )
        self._shift_reflectors: list[Reflecting] = []
        self.budgets = ZoneBudgets(budget_api, self.queue, self.pool)  # runtime/zone_budgets.py
        self.forecasts = Forecasts(
            self.store, self.queue, enabled=self.settings.zone_loss_forecast,
            interval=self.settings.forecast_seconds, busy=self._backlog,
        )  # fmt: skip

    def shifts_changed(self, drilled: Key | None = None) -> None:
        if self.shift_status is not None:
            self.shift_status.nudge(drilled)

    # -- leader election (runtime/leadership.py) ---------------------------------------------
    def lead(self, record: str = "") -> None:
        """This replica became the leader: reconcile every workload at once, from the caches
        its reflectors kept current while it stood by; first, when the leader-election Lease
        it acquired records silent nodes (`record`), resume that silence from fresh reads of
        their Leases (core/resume.py), so that a verdict in progress neither starts over nor
        flaps to Healthy."""
        self._term += 1
        records = recorded(record) if self.settings.heartbeats else {}
        if not records:
            self._start_leading()
            return
        self._tasks.append(asyncio.create_task(self._resume_then_lead(self._term, records)))

    async def _resume_then_lead(self, term: int, records: dict[str, list[Recorded]]) -> None:
        await self.heartbeats.resume(records)
        if term == self._term:  # still leading
            self._start_leading()

    def _start_leading(self) -> None:
        for key in list(self.store.workloads):
            self.queue.add(key)
        self.active.set()
        self.shifts_changed()  # and the ZoneShifts' status, which a standby does not write

    def lease_record(self) -> dict[str, str]:
        """What the leader's Lease is to record for a new leader (core/resume.py); nothing
        until this replica leads and has resumed its predecessor's record, which stays on the
        Lease meanwhile."""
        if not self.settings.heartbeats or not self.active.is_set():
            return {}
        return {SILENCES_ANNOTATION: self.heartbeats.record()}

    def follow(self) -> None:
        """This replica stands by: its workers stop taking workloads (writes are refused by
        the gate already), and what it deferred is dropped: the leader decides anew, and so
        does this replica if it leads again."""
        self._term += 1
        self.active.clear()
        for record in self._records.values():
            record.deferred = None

    def forget(self, key: Key) -> None:
        record = self._records.pop(key, None)
        if record is not None:
            record.series.forget(*key)

    def deferred(self) -> list[Key]:
        """The workloads whose status write is deferred."""
        return [key for key, record in self._records.items() if record.deferred is not None]

    # -- start-up ----------------------------------------------------------------------------------
    async def sync(self, namespaces: Sequence[str] = ()) -> None:
        """Fill the caches from full lists before the first reconcile, as client-go's informers
        do before their controllers start; the watches then go on from where the lists were
        taken. Without this, a restarted operator could plan against the first few nodes it
        hears of: with a zone down and another one not heard of yet, all replicas would be
        asked of the one zone left. ZonalWorkloads are listed here too, and kopf watches them."""
        if self._reflector is not None:
            self._reflectors = self._make_reflectors(namespaces)
            if self.settings.heartbeats:
                self._lease_reflector = self._reflector(
                    Source("leases", LEASES_PATH), self.heartbeats.on_lease, None
                )
            self._shift_reflectors = [
                self._reflector(Source(SHIFT_PLURAL, SHIFTS_PATH), self.intake.on_zoneshift, None),
                self._reflector(
                    Source("namespaces", "/api/v1/namespaces"), self.intake.on_namespace, None
                ),
            ]
        await asyncio.gather(*map(list_until_done, self._reflectors))
        self.forecasts.room.listed |= self._room_shared
        await list_shifts(self._shift_reflectors)
        if self._lease_reflector is not None:
            try:
                await self._lease_reflector.list()
            except Exception as exc:  # no verdict from heartbeats is no reason not to start
                log.warning(
                    "cannot list node Leases in %s (%s): zones are judged by their nodes' Ready "
                    "conditions until the Lease watch works",
                    LEASE_NAMESPACE,
                    exc,
                )
        if self._reflector is not None:
            # The ZonalWorkloads last, once every cache they are planned from is full. kopf
            # watches them too, but with namespace globs it can miss, until something else
            # changes it, a namespace created as it starts: it lists the namespaces once, then
            # watches them from a second list whose objects it ignores.
            await asyncio.gather(*map(list_until_done, self._workload_reflectors))
        else:
            for workload in await self._list_workloads(namespaces):
                self.intake.on_workload(None, workload)
        log.info(
            "caches filled: %d nodes, %d Deployments, %d workload pods, %d ZonalWorkloads",
            len(self.store.nodes),
            sum(map(len, self.store.deployments.values())),
            sum(map(len, self.store.pods.values()))
            + sum(len(n) for zones in self.store.placed.values() for n in zones.values()),
            len(self.store.workloads),
        )

    def _make_reflectors(self, patterns: Sequence[str]) -> list[Reflecting]:
        """Nodes and PriorityClasses, and per watched scope (`watch_scopes`) Deployments, the
        workloads' pods and the operator's PodDisruptionBudgets."""
        assert self._reflector is not None
        scopes, accept = watch_scopes(patterns)
        room = self.forecasts.room
        on_node = tee(self.intake.on_node, room.on_node)
        made = [self._reflector(Source("nodes", "/api/v1/nodes"), on_node, None)]
        made.append(self._reflector(PRIORITY_CLASSES, self.priority_classes.on_event, None))
        # Watching cluster-wide with the forecast on, one pod watch feeds both the workloads'
        # pods and the forecast's room: the API server sends each pod event once, not twice.
        self._room_shared = self.forecasts.enabled and scopes == [None]
        for scope in scopes:
            within = "" if scope is None else f"/namespaces/{scope}"
            deployments = Source("deployments", f"/apis/apps/v1{within}/deployments")
            made.append(self._reflector(deployments, self.intake.on_deployment, accept))
            workloads = Source(PLURAL, f"/apis/{GROUP}/{VERSION}{within}/{PLURAL}")
            self._workload_reflectors.append(
                self._reflector(workloads, self.intake.on_workload, accept)
            )
            if self._room_shared:
                pods = Source("pods", "/api/v1/pods", field_selector=UNFINISHED)
                made.append(
                    self._reflector(pods, tee(room.on_pod, self.intake.pods_within(accept)), None)
                )
            else:
                pods = Source("pods", f"/api/v1{within}/pods", WORKLOAD_LABEL, UNFINISHED)
                made.append(self._reflector(pods, self.intake.on_pod, accept))
            if self.budgets.api is not None:
                made.append(self._reflector(source(within), self.budgets.on_budget, accept))
        return made

    async def _list_workloads(self, patterns: Sequence[str]) -> list[dict[str, Any]]:
        """Without reflectors (the unit tests' controllers): listed once through the client."""

        def listed() -> list[dict[str, Any]]:
            scopes = list_scopes(patterns, self.api.list_namespaces)
            return [w for ns in scopes for w in self.api.list_workloads(ns)]

        return await asyncio.get_running_loop().run_in_executor(self.pool, listed)

    # -- workers ---------------------------------------------------------------------------------
    def start(self) -> None:
        for reflector in [*self._reflectors, *self._workload_reflectors, *self._shift_reflectors]:
            self._tasks.append(asyncio.create_task(reflector.run()))
        if self.shift_status is not None:
            self._tasks.append(asyncio.create_task(self.shift_status.run(), name="zonal-shifts"))
        if self._lease_reflector is not None:
            self._tasks.append(asyncio.create_task(self._lease_reflector.run()))
            self._tasks.append(asyncio.create_task(self.heartbeats.run(), name="zonal-heartbeats"))
        for i in range(self.settings.workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"zonal-worker-{i}"))
        self._tasks.append(asyncio.create_task(self._resync(), name="zonal-resync"))
        self._tasks.extend(self.forecasts.tasks(self._reflector, shared=self._room_shared))

    async def stop(self, flush_seconds: float = 10.0) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flush(flush_seconds)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.executor.shutdown()

    async def _flush(self, timeout: float) -> None:
        """Write the deferred statuses before stopping. One that is lost records older
        Deployment generations than the operator's own last writes produced, and the next
        operator would take those writes for edits by hand: it would replace the Deployments
        with what they already are, and say it restored them. (A standby has none.)"""
        if not self.active.is_set():
            return
        loop = asyncio.get_running_loop()
        writes = []
        for key, record in list(self._records.items()):
            body = self.store.workloads.get(key)
            wl = None if body is None else Workload.from_body(body)
            deferred = None if wl is None else record.deferred_for(wl)
            if wl is not None and deferred is not None:
                run = functools.partial(self.executor.write, wl, wl.status, deferred)
                writes.append(loop.run_in_executor(self.pool, run))
        if not writes:
            return
        done, late = await asyncio.wait(writes, timeout=timeout)
        failed = sum(1 for future in done if future.exception() is not None)
        log.info(
            "stopping: wrote %d deferred statuses (%d failed, %d not in time)",
            len(done) - failed,
            failed,
            len(late),
        )

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync_seconds)
            for key in list(self.store.workloads):
                self.queue.add(key)

    async def _worker(self) -> None:
        while True:
            await self.active.wait()
            key: Key = await self.queue.get()  # type: ignore[assignment]
            metrics.QUEUE_DEPTH.set(len(self.queue))
            metrics.STATUSES_DEFERRED.set(len(self.deferred()))
            started = time.perf_counter()
            try:
                await self.reconcile(key)
                self.queue.forget(key)
            except NotLeader:
                # Leadership lost meanwhile: no retry (the leader reconciles it; this replica
                # reconciles every workload again if it leads again).
                self.queue.forget(key)
                if (record := self._records.get(key)) is not None:
                    record.deferred = None
                log.debug("reconcile of %s/%s stopped: not the leader", *key)
            except Exception as exc:
                metrics.RECONCILE_ERRORS.inc()
                delay = self.queue.retry(key)
                log.warning("reconcile of %s/%s failed (%s); retrying in %.1fs", *key, exc, delay)
            finally:
                metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
                self.queue.done(key)

    async def reconcile(self, key: Key) -> None:
        body = self.store.workloads.get(key)
        if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
            return  # deleted: garbage collection removes its Deployments
        wl = Workload.from_body(body)
        record = self._records.setdefault(key, Record())
        if record.terminating == wl.uid:
            return
        written = wl.status
        deferred = record.deferred_for(wl)
        record.deferred = None
        if deferred is not None:
            wl = dataclasses.replace(wl, status=deferred.status)
        now = datetime.now(UTC)
        plan = self._plan(key, wl, record, now)
        if plan.status_coalesced:
            record.coalesced_since = record.coalesced_since or now
        else:
            record.coalesced_since = None
        record.series.observe(wl, plan, now)
        if plan.actions or plan.status is not None or plan.events or deferred is not None:
            loop = asyncio.get_running_loop()
            outcome = Outcome()
            if plan.actions:
                try:
                    await loop.run_in_executor(self.pool, self.executor.act, wl, plan, outcome)
                except Exception:
                    if deferred is not None:  # neither written nor its events posted
                        record.deferred = deferred
                    raise
                finally:
                    for deployment in outcome.deployments:
                        self.intake.wrote_deployment(deployment)
            if outcome.namespace_terminating:
                log.info("namespace %s is being deleted; leaving %s alone", *key)
                record.terminating = wl.uid
                return
            write = self.executor.compose(wl, plan, deferred, outcome, datetime.now(UTC))
            since = deferred.deferred_since if deferred is not None else time.monotonic()
            waited = time.monotonic() - since
            hold = held_until(plan, deferred)
            if write.status == written and not write.events:
                pass  # back where it was: nothing to tell
            elif hold is not None and hold > now and not write.events:
                # A cut within a move (core/coalesce.py): told with the move's end.
                record.deferred = dataclasses.replace(write, deferred_since=since, hold_until=hold)
                self.queue.add_after(key, (hold - now).total_seconds())
            elif self._backlog() and waited < self.settings.status_delay_seconds:
                record.deferred = dataclasses.replace(write, deferred_since=since)
                self.queue.add_deferred(key)
            else:
                try:
                    done = await loop.run_in_executor(
                        self.pool, self.executor.write, wl, written, write
                    )
                except Exception:
                    # Still to be written; its events have gone out, or failed for good.
                    record.deferred = dataclasses.replace(write, events=(), deferred_since=since)
                    raise
                if done is not None:
                    self.intake.wrote_workload(done)
            if outcome.requeue_after is not None:
                self.queue.add_after(key, outcome.requeue_after)
        if not wl.spread:
            await self.budgets.reconcile(wl, self.store, plan.computed or wl.status)
        for _, verdict in plan.verdicts:
            metrics.ZONE_VERDICTS.labels(source=verdict).inc()
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)

    def _plan(self, key: Key, wl: Workload, record: Record, now: datetime) -> Plan:
        """Ask the core what to do, with what the cache and the record say of the workload."""
        nodes, deployments = self.store.node_snapshot(), self.store.deployments_for(wl)
        shifts = shifts_selecting(self.store, key, wl, now)
        room = self.forecasts.zone_room(key, wl)
        if wl.spread:
            pods = list(self.store.pods.get(key, {}).values())
            return spread.plan(SpreadObserved(wl, nodes, deployments, now, shifts, room, pods))
        memo = record.memo_for(wl)
        plan = perzone.plan(
            PerZoneObserved(
                wl,
                nodes,
                deployments,
                now,
                shifts=shifts,
                zone_room=room,
                priority_classes=self.priority_classes.values,
                headroom_image=self.settings.headroom_image,
                unschedulable={
                    zone: len(names)
                    for zone, names in self.store.unschedulable.get(key, {}).items()
                    if names
                },
                pod_nodes={
                    zone: tuple(pod.node for pod in pods.values())
                    for zone, pods in self.store.placed.get(key, {}).items()
                },
                zone_pods={
                    zone: tuple(pods.values())
                    for zone, pods in self.store.placed.get(key, {}).items()
                },
                coalesced_since=record.coalesced_since,
                held_until=None if record.deferred is None else record.deferred.hold_until,
                match_memo=memo,
            )
        )
        memo.update(plan.matched)
        return plan

    def _backlog(self) -> bool:
        """As many workloads wait as the workers can take up at once, or more."""
        return self.queue.urgent >= self.settings.workers
