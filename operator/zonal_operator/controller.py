"""The level-triggered loop: watch events fill in-memory caches and queue workloads; workers
take a workload from the queue, ask the pure planner what to do, and do it.

kopf delivers the watch events (see handlers.py); nothing here imports kopf. The caches are
touched only from the event loop; blocking API calls run in a thread pool and hand their
responses back to the loop, which writes them through to the caches, so the next reconcile
never acts on an object older than the operator's own last write.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import fnmatch
import functools
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from zonal_operator import metrics, planner, spread
from zonal_operator.conditions import Condition, render_conditions
from zonal_operator.health import node_failed
from zonal_operator.kube import ApiException, KubeApi
from zonal_operator.model import NodeInfo, PodInfo, parse_time
from zonal_operator.naming import deployment_name
from zonal_operator.status_change import status_change
from zonal_operator.watch import Deliver, Source
from zonal_operator.workload import (
    KIND,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    WORKLOAD_LABEL,
    ZONE_LABEL,
    Workload,
)
from zonal_operator.workqueue import WorkQueue

log = logging.getLogger("zonal_operator")
Key = tuple[str, str]  # (namespace, name)


def _newer_or_same(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> bool:
    """Whether `new` is not older than `old` (a watch event may trail our own write)."""
    if old is None:
        return True
    a = (new.get("metadata") or {}).get("resourceVersion", "")
    b = (old.get("metadata") or {}).get("resourceVersion", "")
    if str(a).isdigit() and str(b).isdigit():
        return int(a) >= int(b)
    return True  # resourceVersions are opaque to clients when not numbers


def _slim(body: Mapping[str, Any]) -> dict[str, Any]:
    """What is kept of a Deployment the operator does not manage: enough to spot a name clash."""
    meta = body.get("metadata") or {}
    keep = ("name", "namespace", "uid", "resourceVersion", "ownerReferences", "labels")
    return {"metadata": {k: meta[k] for k in keep if k in meta}}


@dataclass
class Store:
    """The caches: what the watches have told us, plus our own writes' responses."""

    workloads: dict[Key, dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    # namespace -> name -> Deployment (full when managed by us, slim otherwise)
    deployments: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    # workload -> zone -> names of its pods Pending as Unschedulable
    unschedulable: dict[Key, dict[str, set[str]]] = field(default_factory=dict)
    # PerZone placement: workload -> zone -> pod name -> its node ("" while unscheduled), for
    # the pods not being deleted
    placed: dict[Key, dict[str, dict[str, str]]] = field(default_factory=dict)
    # Spread placement: workload -> pod name -> the pod
    pods: dict[Key, dict[str, PodInfo]] = field(default_factory=dict)
    # Indexes over `deployments`, so that a reconcile looks at its own Deployments only, not at
    # its whole namespace: owner uid -> (namespace, name); (namespace, p) -> names that start
    # with p + "-", for every such p (a workload's generated names all start with one of them).
    _by_owner: dict[str, set[Key]] = field(default_factory=lambda: defaultdict(set))
    _by_prefix: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    # (namespace, name prefix of its Deployments) -> workload names, for Deployments not ours
    _workloads_by_prefix: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    # node name -> workload -> how many of its pods (in `placed` and `pods`) sit there: a node
    # turning NotReady reaches the workloads it concerns without a look at every workload
    _on_node: dict[str, dict[Key, int]] = field(default_factory=dict)
    _node_snapshot: tuple[NodeInfo, ...] | None = None

    def put_node(self, info: NodeInfo) -> bool:
        """Keep a node; whether that changed anything the planner reads."""
        if self.nodes.get(info.name) == info:
            return False  # heartbeats alone
        self.nodes[info.name], self._node_snapshot = info, None
        return True

    def drop_node(self, name: str) -> bool:
        if self.nodes.pop(name, None) is None:
            return False
        self._node_snapshot = None
        return True

    def node_snapshot(self) -> tuple[NodeInfo, ...]:
        """Every node, as one object that stays the same until a node changes: the zone
        healths computed over it are reused by every plan until then (health.zone_healths)."""
        if self._node_snapshot is None:
            self._node_snapshot = tuple(self.nodes.values())
        return self._node_snapshot

    def place(self, key: Key, zone: str, pod: str, node: str | None) -> bool:
        """Record where a PerZone pod is (None: gone); whether that changed anything."""
        zones = self.placed.setdefault(key, {})
        pods = zones.setdefault(zone, {})
        before = pods.pop(pod, None)
        if node is not None:
            pods[pod] = node
        if not pods:
            del zones[zone]
        if not zones:
            del self.placed[key]
        self._seat(key, before or "", node or "")
        return before != node

    def put_pod(self, key: Key, name: str, pod: PodInfo | None) -> bool:
        """Record a Spread pod (None: gone); whether that changed anything."""
        pods = self.pods.setdefault(key, {})
        before = pods.pop(name, None)
        if pod is not None:
            pods[name] = pod
        if not pods:
            del self.pods[key]
        self._seat(key, before.node if before else "", pod.node if pod else "")
        return pod != before

    def _seat(self, key: Key, before: str, after: str) -> None:
        """One of the workload's pods moved from node `before` to `after` ("": none)."""
        if before == after:
            return
        counts = self._on_node.get(before) if before else None
        if counts is not None and key in counts:
            counts[key] -= 1
            if not counts[key]:
                del counts[key]
                if not counts:
                    del self._on_node[before]
        if after:
            counts = self._on_node.setdefault(after, {})
            counts[key] = counts.get(key, 0) + 1

    def workloads_on(self, node: str) -> list[Key]:
        """The workloads with a pod on the node."""
        return list(self._on_node.get(node, ()))

    def forget_pods(self, key: Key) -> None:
        """Drop what is known of the workload's pods (it is gone)."""
        for pods in (self.placed.pop(key, None) or {}).values():
            for node in pods.values():
                self._seat(key, node, "")
        for pod in (self.pods.pop(key, None) or {}).values():
            self._seat(key, pod.node, "")

    def put_deployment(self, body: Mapping[str, Any]) -> None:
        """Cache a Deployment. The body is kept, not copied: it must be one nobody changes
        afterwards (each watch event and API response is a fresh dict; the planner copies
        whatever it takes from a live object into what it writes)."""
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        ns = self.deployments[namespace]
        old = ns.get(name)
        if not _newer_or_same(body, old):
            return
        managed = (meta.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY
        new = dict(body) if managed else _slim(body)
        if old is not None:
            self._unindex(namespace, name, old)
        ns[name] = new
        self._index(namespace, name, new)

    def remove_deployment(self, namespace: str, name: str) -> None:
        old = self.deployments[namespace].pop(name, None)
        if old is not None:
            self._unindex(namespace, name, old)

    def deployments_for(self, wl: Workload) -> dict[str, Mapping[str, Any]]:
        """Deployments owned by `wl`, and namesakes of the ones it would generate."""
        ns = self.deployments.get(wl.namespace, {})
        names = set(self._by_prefix.get((wl.namespace, self.name_prefix(wl.name)), ()))
        names.update(n for s, n in self._by_owner.get(wl.uid, ()) if s == wl.namespace)
        names.add(wl.name)  # Spread placement's one Deployment is named like the workload
        return {name: ns[name] for name in names if name in ns}

    def workloads_named_in(self, namespace: str, deployment: str) -> list[str]:
        """The workloads whose generated Deployment names `deployment` could be."""
        return [
            workload
            for prefix in _dash_prefixes(deployment)
            for workload in self._workloads_by_prefix.get((namespace, prefix), ())
        ]

    def index_workload(self, namespace: str, name: str, present: bool) -> None:
        prefix = (namespace, self.name_prefix(name))
        if present:
            self._workloads_by_prefix[prefix].add(name)
        elif prefix in self._workloads_by_prefix:
            self._workloads_by_prefix[prefix].discard(name)
            if not self._workloads_by_prefix[prefix]:
                del self._workloads_by_prefix[prefix]

    @staticmethod
    @functools.lru_cache(maxsize=65536)
    def name_prefix(workload: str) -> str:
        """What a workload's Deployment names start with, before their "-<zone>"."""
        try:
            return deployment_name(workload, "x")[:-2]
        except ValueError:  # not a valid name: it generates nothing
            return workload

    def _index(self, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("uid"):
                self._by_owner[ref["uid"]].add((namespace, name))
        for prefix in _dash_prefixes(name):
            self._by_prefix[(namespace, prefix)].add(name)

    def _unindex(self, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
            owned = self._by_owner.get(ref.get("uid") or "")
            if owned is not None:
                owned.discard((namespace, name))
                if not owned:
                    del self._by_owner[ref["uid"]]
        for prefix in _dash_prefixes(name):
            names = self._by_prefix.get((namespace, prefix))
            if names is not None:
                names.discard(name)
                if not names:
                    del self._by_prefix[(namespace, prefix)]


def _dash_prefixes(name: str) -> list[str]:
    """Every p such that `name` starts with p + "-"."""
    return [name[:i] for i, char in enumerate(name) if char == "-" and i > 0]


@dataclass(frozen=True)
class Settings:
    # Reconciles running at once, each in a thread of its own for its blocking API calls (the
    # API client's connection pool has as many connections). A reconcile mostly waits on API
    # round trips, so this is what bounds throughput, and on a busy API server the operator's
    # share of it: with 1000 workloads, 4 needed 82 s to create every Deployment, 16 38 s; in a
    # zone loss 16 asked for every replacement within 39 s of the judgement, 32 within 28 s
    # (docs/benchmarks.md, bench-scale).
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
    # sends its Deployment writes and keeps its status write and events back, at most this
    # long, until the backlog is gone: in a zone loss every workload's replicas move before
    # statuses are written, and a status write costs the API server three times what a scale
    # does. A trickle of changes (workloads created one by one, pods turning Ready) is no
    # backlog, and is written at once. 0: always write at once.
    status_delay_seconds: float = 30.0


class Reflecting(Protocol):
    """What the controller needs of a reflector (watch.Reflector)."""

    async def list(self) -> None: ...

    async def run(self) -> None: ...


# Builds the reflector of one collection: source, where its events go, which namespaces count.
ReflectorFactory = Callable[[Source, Deliver, Callable[[str], bool] | None], Reflecting]


class Controller:
    def __init__(
        self,
        api: KubeApi,
        settings: Settings | None = None,
        reflector: ReflectorFactory | None = None,
    ) -> None:
        self.api = api
        self.settings = settings or Settings()
        self._reflector = reflector
        self._reflectors: list[Reflecting] = []
        self.store = Store()
        self.queue = WorkQueue()
        self.pool = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="reconcile")
        # Requests a reconcile sends alongside its own, so that they cost it one round trip:
        # its events, posted with its status write, and the writes it may send at once
        # (planner.Plan.together). In a failover each would be one more of every workload's
        # round trips. Nothing that runs here waits on anything else.
        self.alongside = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="alongside")
        self._nodes_changed: asyncio.TimerHandle | None = None  # a pending re-queue of all
        self.last_event = time.monotonic()
        self._tasks: list[asyncio.Task[None]] = []
        # Workloads (by uid) whose namespace is being deleted: the namespace controller will
        # delete them too; recreating their Deployments meanwhile would only fight it.
        self._terminating: set[str] = set()
        self._metric_zones: dict[Key, set[str]] = {}  # zones with metric series, per workload
        self._restoring: dict[Key, datetime] = {}  # failover start, until capacity is back
        # Since when a workload's status has held back a change (planner._hold_until).
        self._held: dict[Key, datetime] = {}
        # Statuses (and their events) decided but not written yet (Settings.status_delay_seconds):
        # the next reconcile plans as if they had been written.
        self._unwritten: dict[Key, _Unwritten] = {}
        # Per workload: (uid, generation) and the planner's matches_live memo for it.
        self._matches: dict[Key, tuple[tuple[str, int], dict[tuple[str, str, str], bool]]] = {}

    # -- watch events (called on the event loop) -----------------------------------------------
    def on_workload(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        self.last_event = time.monotonic()
        meta = body.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if event_type == "DELETED":
            if self.store.workloads.pop(key, None) is not None:
                self.store.index_workload(*key, present=False)
            self._terminating.discard(meta.get("uid", ""))
            self._forget_workload(key)
            self.store.unschedulable.pop(key, None)
            self.store.forget_pods(key)
        elif _newer_or_same(body, self.store.workloads.get(key)):
            # Kept as is, not copied: each event (and API response) is a fresh dict, and
            # Workload.from_body copies what a reconcile could change.
            if key not in self.store.workloads:
                self.store.index_workload(*key, present=True)
            self.store.workloads[key] = dict(body)
        metrics.WORKLOADS.set(len(self.store.workloads))
        self.queue.add(key)

    def on_deployment(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        self.last_event = time.monotonic()
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        if event_type == "DELETED":
            self.store.remove_deployment(namespace, name)
        else:
            self.store.put_deployment(body)  # a fresh dict per event: kept, not copied
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") == KIND and ref.get("controller"):
                self._add_soon((namespace, ref["name"]), self.settings.deployment_batch_seconds)
                return
        # Not ours: it matters only to a workload whose Deployment name it takes.
        for wl_name in self.store.workloads_named_in(namespace, name):
            self.queue.add((namespace, wl_name))
        if (namespace, name) in self.store.workloads:  # Spread placement's name
            self.queue.add((namespace, name))

    def on_pod(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """PerZone pods: per zone, the node of each, and which sit Pending as Unschedulable.
        Spread pods (no zone label): where each one is and whether it is Ready."""
        meta = body.get("metadata") or {}
        labels = meta.get("labels") or {}
        workload, zone = labels.get(WORKLOAD_LABEL), labels.get(ZONE_LABEL)
        if not workload:
            return
        key = (meta.get("namespace", ""), workload)
        if not zone:
            after = None if event_type == "DELETED" else PodInfo.from_body(body)
            if self.store.put_pod(key, meta.get("name", ""), after):
                self.queue.add(key)
            return
        name, pod = meta.get("name", ""), PodInfo.from_body(body)
        gone = event_type == "DELETED" or pod.deleting
        names = self.store.unschedulable.setdefault(key, {}).setdefault(zone, set())
        before_count = len(names)
        if pod.unschedulable and not gone:
            names.add(name)
        else:
            names.discard(name)
        if len(names) != before_count:
            self.queue.add(key)
        if self.store.place(key, zone, name, None if gone else pod.node):
            # A pod on a failed node may leave its zone with none that serves (planner.plan);
            # other pod changes reach the workload through its Deployment's status.
            node = self.store.nodes.get(pod.node)
            if node is not None and node_failed(node):
                self.queue.add_front(key)

    def on_node(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        self.last_event = time.monotonic()
        info = NodeInfo.from_body(body)
        deleted = event_type == "DELETED"
        was = self.store.nodes.get(info.name)
        if self.store.drop_node(info.name) if deleted else self.store.put_node(info):
            self._requeue_all_soon()
            if not deleted and was is not None and node_failed(info) and not node_failed(was):
                # Its pods serve no more: a workload with one there may have a zone left with
                # none that serves (planner.plan), to cut or fail over now, not after the batch.
                for key in self.store.workloads_on(info.name):
                    self.queue.add_front(key)

    def _add_soon(self, key: Key, delay: float) -> None:
        try:
            self.queue.add_after(key, delay)
        except RuntimeError:  # no running loop (tests): at once
            self.queue.add(key)

    def _requeue_all_soon(self) -> None:
        """Re-queue every workload once the current batch of node changes is in."""
        if self._nodes_changed is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (tests): at once
            self._requeue_all()
            return
        self._nodes_changed = loop.call_later(self.settings.node_batch_seconds, self._requeue_all)

    def _requeue_all(self) -> None:
        self._nodes_changed = None
        for key in self.store.workloads:
            self.queue.add(key)

    # -- start-up ----------------------------------------------------------------------------------
    async def sync(self, namespaces: Sequence[str] = ()) -> None:
        """Fill the caches from full lists before the first reconcile, as client-go's informers
        do before their controllers start; the watches then go on from where the lists were
        taken. Without this, a restarted operator could plan against the first few nodes it
        hears of: with a zone down and another one not heard of yet, all replicas would be
        asked of the one zone left. ZonalWorkloads are listed here too, and kopf watches them."""
        if self._reflector is not None:
            self._reflectors = self._make_reflectors(namespaces)
        await asyncio.gather(*map(_list_until_done, self._reflectors))
        loop = asyncio.get_running_loop()
        while True:
            try:
                workloads = await loop.run_in_executor(self.pool, self._list_workloads, namespaces)
                break
            except ApiException as exc:
                log.warning("listing at start-up failed (%s); retrying in 5s", exc.reason)
                await asyncio.sleep(5)
        for workload in workloads:
            self.on_workload(None, workload)
        log.info(
            "caches filled: %d nodes, %d Deployments, %d workload pods, %d ZonalWorkloads",
            len(self.store.nodes),
            sum(map(len, self.store.deployments.values())),
            sum(map(len, self.store.pods.values()))
            + sum(len(n) for zones in self.store.placed.values() for n in zones.values()),
            len(workloads),
        )

    def _make_reflectors(self, patterns: Sequence[str]) -> list[Reflecting]:
        """Nodes, and per watched scope Deployments and the workloads' pods. Plain namespace
        names are watched one by one; glob patterns (which may match namespaces created later)
        are watched cluster-wide and filtered as kopf filters them."""
        assert self._reflector is not None
        scopes: list[str | None] = [None]
        accept: Callable[[str], bool] | None = None
        if _has_globs(patterns):
            accept = functools.partial(_namespace_selected, tuple(patterns))
        elif patterns:
            scopes = list(patterns)
        made = [self._reflector(Source("nodes", "/api/v1/nodes"), self.on_node, None)]
        for scope in scopes:
            within = "" if scope is None else f"/namespaces/{scope}"
            deployments = Source("deployments", f"/apis/apps/v1{within}/deployments")
            pods = Source("pods", f"/api/v1{within}/pods", WORKLOAD_LABEL)
            made.append(self._reflector(deployments, self.on_deployment, accept))
            made.append(self._reflector(pods, self.on_pod, accept))
        return made

    def _list_workloads(self, patterns: Sequence[str]) -> list[dict[str, Any]]:
        scopes: list[str | None] = [None]  # None: every namespace
        if patterns:
            names = patterns
            if _has_globs(patterns):
                names = select_namespaces(patterns, self.api.list_namespaces())
            scopes = list(names)
        return [w for ns in scopes for w in self.api.list_workloads(ns)]

    # -- workers ---------------------------------------------------------------------------------
    def start(self) -> None:
        for reflector in self._reflectors:
            self._tasks.append(asyncio.create_task(reflector.run()))
        for i in range(self.settings.workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"zonal-worker-{i}"))
        self._tasks.append(asyncio.create_task(self._resync(), name="zonal-resync"))

    async def stop(self, flush_seconds: float = 10.0) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flush(flush_seconds)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.alongside.shutdown(wait=False)

    async def _flush(self, timeout: float) -> None:
        """Write the statuses kept back (Settings.status_delay_seconds) before stopping. One
        that is lost records older Deployment generations than the operator's own last writes
        produced, and the next operator would take those writes for edits by hand: it would
        replace the Deployments with what they already are, and say it restored them."""
        loop = asyncio.get_running_loop()
        writes = []
        for key in list(self._unwritten):
            body = self.store.workloads.get(key)
            wl = None if body is None else Workload.from_body(body)
            unwritten = None if wl is None else self._kept_back(key, wl)
            if wl is not None and unwritten is not None:
                run = functools.partial(self._write, wl, wl.status, unwritten)
                writes.append(loop.run_in_executor(self.pool, run))
        if not writes:
            return
        done, late = await asyncio.wait(writes, timeout=timeout)
        failed = sum(1 for future in done if future.exception() is not None)
        log.info(
            "stopping: wrote %d statuses kept back (%d failed, %d not in time)",
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
            key: Key = await self.queue.get()  # type: ignore[assignment]
            metrics.QUEUE_DEPTH.set(len(self.queue))
            metrics.STATUS_WAITING.set(len(self._unwritten))
            started = time.perf_counter()
            try:
                await self.reconcile(key)
                self.queue.forget(key)
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
        if wl.uid in self._terminating:
            return
        written = wl.status
        pending = self._kept_back(key, wl)
        self._unwritten.pop(key, None)
        if pending is not None:
            wl = dataclasses.replace(wl, status=pending.status)
        observed = planner.Observed(
            workload=wl,
            nodes=self.store.node_snapshot(),
            deployments=self.store.deployments_for(wl),
            now=datetime.now(UTC),
            unschedulable={
                zone: len(names)
                for zone, names in self.store.unschedulable.get(key, {}).items()
                if names
            },
            pods=list(self.store.pods.get(key, {}).values()),
            pod_nodes={
                zone: tuple(pods.values()) for zone, pods in self.store.placed.get(key, {}).items()
            },
            status_held_since=self._held.get(key),
            match_memo=self._match_memo(key, wl),
        )
        plan = spread.plan(observed) if wl.spread else planner.plan(observed)
        if plan.status_held:
            self._held.setdefault(key, observed.now)
        else:
            self._held.pop(key, None)
        self._observe(wl, plan, observed.now)
        if plan.actions or plan.status is not None or plan.events or pending is not None:
            loop = asyncio.get_running_loop()
            outcome = _Outcome()
            if plan.actions:
                try:
                    await loop.run_in_executor(self.pool, self._act, wl, plan, outcome)
                except Exception:
                    if pending is not None:  # neither written nor its events posted
                        self._unwritten[key] = pending
                    raise
                finally:
                    for deployment in outcome.deployments:
                        self.store.put_deployment(deployment)
            if outcome.namespace_terminating:
                log.info("namespace %s is being deleted; leaving %s alone", *key)
                self._terminating.add(wl.uid)
                return
            unwritten = self._compose(wl, plan, pending, outcome)
            since = pending.since if pending is not None else time.monotonic()
            waited = time.monotonic() - since
            if unwritten.status == written and not unwritten.events:
                pass  # back where it was: nothing to tell
            elif self._backlog() and waited < self.settings.status_delay_seconds:
                self._unwritten[key] = dataclasses.replace(unwritten, since=since)
                self.queue.add_later(key)
            else:
                try:
                    done = await loop.run_in_executor(
                        self.pool, self._write, wl, written, unwritten
                    )
                except Exception:
                    # Still to be written; its events have gone out, or failed for good.
                    self._unwritten[key] = dataclasses.replace(unwritten, events=(), since=since)
                    raise
                if done is not None:
                    self.on_workload("MODIFIED", done)
            if outcome.retry or outcome.retry_after:
                self.queue.add_after(key, outcome.retry_after or 1.0)
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)

    def _kept_back(self, key: Key, wl: Workload) -> _Unwritten | None:
        """The status kept back for the workload, unless it was for an earlier namesake."""
        unwritten = self._unwritten.get(key)
        return unwritten if unwritten is not None and unwritten.uid == wl.uid else None

    def _backlog(self) -> bool:
        """As many workloads wait as the workers can take up at once, or more."""
        return self.queue.urgent >= self.settings.workers

    def _observe(self, wl: Workload, plan: planner.Plan, now: datetime) -> None:
        """Keep the per-zone metrics and the failover counters and timings current."""
        status = plan.status if plan.status is not None else wl.status
        labels = (wl.namespace, wl.name)
        zones = status.get("zones") or []
        for gone in self._metric_zones.get(wl.key, set()) - {z["name"] for z in zones}:
            _forget_zone(*labels, gone)
        self._metric_zones[wl.key] = {z["name"] for z in zones}
        for zone in zones:
            for state in planner.ZoneState:
                value = 1 if zone.get("health") == state.value else 0
                metrics.ZONE_STATE.labels(*labels, zone["name"], state.value).set(value)
            # Spread placement has no per-zone target: the pods the zone runs stand for it.
            desired = zone.get("desiredReplicas", zone.get("replicas", 0))
            metrics.ZONE_DESIRED.labels(*labels, zone["name"]).set(desired)
            metrics.ZONE_READY.labels(*labels, zone["name"]).set(zone.get("readyReplicas", 0))
        for event in plan.events:
            if event.reason == "ZoneUnhealthy":
                metrics.FAILOVERS.labels(*labels, event.zone).inc()
                entry: Mapping[str, Any] = next((z for z in zones if z["name"] == event.zone), {})
                started = parse_time(entry.get("unhealthySince")) or now
                self._restoring[wl.key] = min(self._restoring.get(wl.key, started), started)
            elif event.reason == "ReplicasReturned":
                metrics.FAILBACKS.labels(*labels, event.zone).inc()
        began = self._restoring.get(wl.key)
        if began is not None and int(status.get("readyReplicas") or 0) >= wl.replicas:
            metrics.RESTORE_SECONDS.observe((now - began).total_seconds())
            del self._restoring[wl.key]

    def _forget_workload(self, key: Key) -> None:
        for zone in self._metric_zones.pop(key, set()):
            _forget_zone(*key, zone)
        self._restoring.pop(key, None)
        self._held.pop(key, None)
        self._matches.pop(key, None)
        self._unwritten.pop(key, None)

    def _match_memo(self, key: Key, wl: Workload) -> dict[tuple[str, str, str], bool]:
        """The memo of planner.matches_live results for the workload's current spec."""
        entry = self._matches.get(key)
        if entry is None or entry[0] != (wl.uid, wl.generation) or len(entry[1]) > 64:
            entry = self._matches[key] = ((wl.uid, wl.generation), {})
        return entry[1]

    # -- execution (the API calls run in a worker thread) --------------------------------------
    def _act(self, wl: Workload, plan: planner.Plan, outcome: _Outcome) -> None:
        """Carry out the plan's actions: the first group at once, the rest one by one."""
        together, rest = plan.actions[: plan.together], plan.actions[plan.together :]
        groups = [together] if together else []
        groups += [[action] for action in rest]
        for group in groups:
            conflict = False
            for action, result in zip(group, self._send(wl, group, outcome), strict=True):
                if isinstance(result, ApiException):
                    exc = result
                    if exc.status == 409:  # changed under us, or already there: look again
                        outcome.retry = conflict = True
                        continue
                    deleting = isinstance(action, planner.Delete | planner.DeletePod)
                    if exc.status == 404 and deleting:
                        continue
                    if _namespace_terminating(exc):
                        outcome.namespace_terminating = True
                        return
                    if exc.status in (400, 403, 422):
                        outcome.rejected.append(_describe_rejection(action, exc))
                        continue
                if isinstance(result, BaseException):
                    raise result
                if result is not None:
                    outcome.deployments.append(result)
                    meta = result.get("metadata") or {}
                    outcome.generations[meta["name"]] = int(meta.get("generation") or 0)
            if conflict:
                break

    def _send(
        self, wl: Workload, group: list[planner.Action], outcome: _Outcome
    ) -> list[dict[str, Any] | BaseException | None]:
        """Carry out the actions of a group at once (the first in this thread), each one's
        response or exception in their order."""

        def send(action: planner.Action) -> dict[str, Any] | BaseException | None:
            try:
                if isinstance(action, planner.Evict):
                    return self._evict(wl, action, outcome)
                return self._apply(wl, action)
            except Exception as exc:
                return exc

        others = [self.alongside.submit(send, action) for action in group[1:]]
        return [send(group[0]), *(future.result() for future in others)]

    @staticmethod
    def _compose(
        wl: Workload, plan: planner.Plan, pending: _Unwritten | None, outcome: _Outcome
    ) -> _Unwritten:
        """The status to write, with the Deployment generations the writes produced and what
        was refused, and the events to post with it (those of a status kept back included)."""
        status = plan.status
        generations = {} if wl.spread else outcome.generations  # Spread: nothing to record
        if generations or outcome.rejected or outcome.blocked:
            status = copy.deepcopy(status if status is not None else dict(wl.status))
            planner.record_generations(status, generations)
            if outcome.rejected:
                _mark_rejected(status, wl, "; ".join(outcome.rejected))
            if outcome.blocked:
                _mark_blocked(status, wl, outcome.blocked)
        events = [
            *(pending.events if pending is not None else ()),
            *((e.type, e.reason, e.message) for e in plan.events),
            *(("Warning", "DeploymentRejected", message) for message in outcome.rejected),
        ]
        return _Unwritten(wl.uid, status if status is not None else wl.status, tuple(events))

    def _write(
        self, wl: Workload, written: Mapping[str, Any], unwritten: _Unwritten
    ) -> dict[str, Any] | None:
        """Write the status if it differs from the one the workload has, and post the events
        alongside; returns the workload as written. The reconcile ends only once both are done:
        nothing piles up behind a busy API server, and an operator that stops after a
        reconcile has told of everything that reconcile recorded."""
        posting = [self.alongside.submit(self._event, wl, *event) for event in unwritten.events]
        try:
            if unwritten.status == written:
                return None
            metrics.STATUS_WRITES.labels(status_change(written, unwritten.status)).inc()
            return self.api.patch_workload_status(wl.namespace, wl.name, dict(unwritten.status))
        finally:
            for future in posting:
                future.result()

    def _apply(self, wl: Workload, action: planner.Action) -> dict[str, Any] | None:
        ns = wl.namespace
        if isinstance(action, planner.Create):
            log.info("creating Deployment %s/%s", ns, action.body["metadata"]["name"])
            return self.api.create_deployment(ns, action.body)
        if isinstance(action, planner.Replace):
            log.info("updating Deployment %s/%s", ns, action.body["metadata"]["name"])
            return self.api.replace_deployment(ns, action.body)
        if isinstance(action, planner.Scale):
            log.info("scaling Deployment %s/%s to %d", ns, action.name, action.replicas)
            return self.api.scale_deployment(ns, action.name, action.replicas)
        if isinstance(action, planner.DeletePod):
            log.info("deleting pod %s/%s on a failed node", ns, action.name)
            self.api.delete_pod(ns, action.name, action.uid)
            return None
        assert isinstance(action, planner.Delete)
        log.info("deleting Deployment %s/%s", ns, action.name)
        self.api.delete_deployment(ns, action.name, action.uid)
        return None

    def _evict(
        self, wl: Workload, action: planner.Evict, outcome: _Outcome
    ) -> dict[str, Any] | None:
        """Evict the pods one by one, then shrink the Deployment by as many as went. Should the
        ReplicaSet replace an evicted pod before the shrink lands, the shrink removes the
        replacement: a ReplicaSet scales down unscheduled and not-ready pods first."""
        ns, evicted = wl.namespace, 0
        for name, uid in action.pods:
            try:
                self.api.evict_pod(ns, name, uid)
            except ApiException as exc:
                if exc.status == 429:  # a PodDisruptionBudget says not now
                    if not evicted:  # no progress at all: say so, and ask again shortly
                        outcome.blocked = _api_message(exc)
                        outcome.retry_after = 5.0
                    break
                if exc.status in (404, 409):  # gone already, or replaced by a namesake
                    continue
                raise
            log.info("evicted pod %s/%s to rebalance zones", ns, name)
            evicted += 1
        if not evicted:
            return None
        replicas = action.replicas - evicted
        log.info("scaling Deployment %s/%s to %d", ns, action.deployment, replicas)
        return self.api.scale_deployment(ns, action.deployment, replicas)

    def _event(self, wl: Workload, type_: str, reason: str, message: str) -> None:
        try:
            self.api.create_event(
                wl.namespace, wl.name, wl.uid, type_=type_, reason=reason, message=message
            )
        except Exception as exc:  # an event is worth a log line, never a failed reconcile
            why = exc.reason if isinstance(exc, ApiException) else exc
            log.warning("could not record event %s for %s/%s: %s", reason, *wl.key, why)


@dataclass
class _Outcome:
    """What a reconcile's actions brought back."""

    deployments: list[dict[str, Any]] = field(default_factory=list)
    generations: dict[str, int] = field(default_factory=dict)  # Deployment name -> generation
    rejected: list[str] = field(default_factory=list)  # what the API server refused, and why
    retry: bool = False
    retry_after: float | None = None
    namespace_terminating: bool = False
    blocked: str = ""  # why an eviction was refused


@dataclass(frozen=True)
class _Unwritten:
    """A workload's status as the operator decided it, and the events that tell of it."""

    uid: str
    status: Mapping[str, Any]
    events: tuple[tuple[str, str, str], ...] = ()  # type, reason, message
    since: float = 0.0  # monotonic time it was first kept back


async def _list_until_done(reflector: Reflecting) -> None:
    while True:
        try:
            await reflector.list()
            return
        except Exception as exc:
            log.warning("listing at start-up failed (%s); retrying in 5s", exc)
            await asyncio.sleep(5)


def _has_globs(patterns: Sequence[str]) -> bool:
    return any(set(p) & set("*?[!,") for p in patterns)


def _namespace_selected(patterns: Sequence[str], namespace: str) -> bool:
    return bool(select_namespaces(patterns, [namespace]))


def select_namespaces(patterns: Sequence[str], names: Sequence[str]) -> list[str]:
    """The namespaces that `--namespace` patterns select, as kopf reads them: each pattern is a
    comma-separated list of globs, where `!glob` excludes."""
    include: list[str] = []
    exclude: list[str] = []
    for pattern in patterns:
        for part in filter(None, (p.strip() for p in pattern.split(","))):
            (exclude if part.startswith("!") else include).append(part.lstrip("!"))
    return [
        name
        for name in names
        if (not include or any(fnmatch.fnmatchcase(name, g) for g in include))
        and not any(fnmatch.fnmatchcase(name, g) for g in exclude)
    ]


def _forget_zone(namespace: str, workload: str, zone: str) -> None:
    for state in planner.ZoneState:
        with contextlib.suppress(KeyError):
            metrics.ZONE_STATE.remove(namespace, workload, zone, state.value)
    for gauge in (metrics.ZONE_DESIRED, metrics.ZONE_READY):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, workload, zone)


def _namespace_terminating(exc: ApiException) -> bool:
    if exc.status != 403 or not exc.body:
        return False
    try:
        causes = (json.loads(exc.body).get("details") or {}).get("causes") or []
    except ValueError:
        return False
    return any(c.get("reason") == "NamespaceTerminating" for c in causes)


def _describe_rejection(action: planner.Action, exc: ApiException) -> str:
    if isinstance(action, planner.Create | planner.Replace):
        what = f"Deployment {action.body['metadata']['name']}"
    elif isinstance(action, planner.Evict):
        what = f"Deployment {action.deployment}"
    elif isinstance(action, planner.DeletePod):
        what = f"Pod {action.name}"
    else:
        what = f"Deployment {action.name}"
    return f"{what}: {_api_message(exc)}"


def _api_message(exc: ApiException) -> str:
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return str(json.loads(exc.body or "").get("message") or exc.reason)
    return str(exc.reason)


def _mark_blocked(status: dict[str, Any], wl: Workload, message: str) -> None:
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Balanced"]
    previous = [c for c in wl.status.get("conditions") or [] if c.get("type") == "Balanced"]
    balanced = render_conditions(
        [Condition("Balanced", False, "EvictionBlocked", f"Rebalancing paused: {message}")],
        previous,
        wl.generation,
        datetime.now(UTC),
    )
    status["conditions"] = [*conditions, *balanced]


def _mark_rejected(status: dict[str, Any], wl: Workload, message: str) -> None:
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Degraded"]
    previous = [c for c in wl.status.get("conditions") or [] if c.get("type") == "Degraded"]
    degraded = render_conditions(
        [Condition("Degraded", True, "DeploymentRejected", message)],
        previous,
        wl.generation,
        datetime.now(UTC),
    )
    status["conditions"] = [*conditions, *degraded]
