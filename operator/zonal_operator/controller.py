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
import fnmatch
import json
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from zonal_operator import metrics, planner
from zonal_operator.conditions import Condition, render_conditions
from zonal_operator.kube import ApiException, KubeApi
from zonal_operator.model import NodeInfo, parse_time
from zonal_operator.naming import deployment_name
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

    def put_deployment(self, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        ns = self.deployments[meta.get("namespace", "")]
        if not _newer_or_same(body, ns.get(meta.get("name", ""))):
            return
        managed = (meta.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY
        ns[meta["name"]] = dict(body) if managed else _slim(body)

    def deployments_for(self, wl: Workload) -> dict[str, Mapping[str, Any]]:
        """Deployments owned by `wl`, and namesakes of the ones it would generate."""
        prefix = deployment_name(wl.name, "x")[:-1]
        found: dict[str, Mapping[str, Any]] = {}
        for name, body in self.deployments.get(wl.namespace, {}).items():
            refs = (body.get("metadata") or {}).get("ownerReferences") or []
            if name.startswith(prefix) or any(r.get("uid") == wl.uid for r in refs):
                found[name] = body
        return found


@dataclass(frozen=True)
class Settings:
    workers: int = 4  # reconciles running at once (threads for blocking API calls)
    resync_seconds: float = 600.0  # every workload is reconciled at least this often


class Controller:
    def __init__(self, api: KubeApi, settings: Settings | None = None) -> None:
        self.api = api
        self.settings = settings or Settings()
        self.store = Store()
        self.queue = WorkQueue()
        self.pool = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="reconcile")
        self.last_event = time.monotonic()
        self._tasks: list[asyncio.Task[None]] = []
        # Workloads (by uid) whose namespace is being deleted: the namespace controller will
        # delete them too; recreating their Deployments meanwhile would only fight it.
        self._terminating: set[str] = set()
        self._metric_zones: dict[Key, set[str]] = {}  # zones with metric series, per workload
        self._restoring: dict[Key, datetime] = {}  # failover start, until capacity is back

    # -- watch events (called on the event loop) -----------------------------------------------
    def on_workload(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        self.last_event = time.monotonic()
        meta = body.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if event_type == "DELETED":
            self.store.workloads.pop(key, None)
            self._terminating.discard(meta.get("uid", ""))
            self._forget_workload(key)
            self.store.unschedulable.pop(key, None)
        elif _newer_or_same(body, self.store.workloads.get(key)):
            self.store.workloads[key] = copy.deepcopy(dict(body))
        metrics.WORKLOADS.set(len(self.store.workloads))
        self.queue.add(key)

    def on_deployment(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        self.last_event = time.monotonic()
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        if event_type == "DELETED":
            self.store.deployments[namespace].pop(name, None)
        else:
            self.store.put_deployment(copy.deepcopy(dict(body)))
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") == KIND and ref.get("controller"):
                self.queue.add((namespace, ref["name"]))
                return
        # Not ours: it matters only to a workload whose Deployment name it takes.
        for ns, wl_name in self.store.workloads:
            if ns == namespace and name.startswith(deployment_name(wl_name, "x")[:-1]):
                self.queue.add((ns, wl_name))

    def on_pod(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """Only whether a workload's pod sits Pending as Unschedulable is kept, per zone."""
        meta = body.get("metadata") or {}
        labels = meta.get("labels") or {}
        workload, zone = labels.get(WORKLOAD_LABEL), labels.get(ZONE_LABEL)
        if not workload or not zone:
            return
        key = (meta.get("namespace", ""), workload)
        names = self.store.unschedulable.setdefault(key, {}).setdefault(zone, set())
        before = len(names)
        if event_type != "DELETED" and _unschedulable(body):
            names.add(meta.get("name", ""))
        else:
            names.discard(meta.get("name", ""))
        if len(names) != before:
            self.queue.add(key)

    def on_node(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        self.last_event = time.monotonic()
        info = NodeInfo.from_body(body)
        if event_type == "DELETED":
            changed = self.store.nodes.pop(info.name, None) is not None
        else:
            changed = self.store.nodes.get(info.name) != info
            self.store.nodes[info.name] = info
        if changed:  # heartbeats alone change nothing the planner reads
            for key in self.store.workloads:
                self.queue.add(key)

    # -- start-up ----------------------------------------------------------------------------------
    async def sync(self, namespaces: Sequence[str] = ()) -> None:
        """Fill the caches from full lists before the first reconcile, as client-go's informers
        do before their controllers start. The watches begin only afterwards, so nothing they
        deliver is older than what is listed here. Without this, a restarted operator could plan
        against the first few nodes it hears of: with a zone down and another one not heard of
        yet, all replicas would be asked of the one zone left."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                listed = await loop.run_in_executor(self.pool, self._list_all, namespaces)
                break
            except ApiException as exc:
                log.warning("listing at start-up failed (%s); retrying in 5s", exc.reason)
                await asyncio.sleep(5)
        nodes, deployments, pods, workloads = listed
        for node in nodes:
            info = NodeInfo.from_body(node)
            self.store.nodes[info.name] = info
        for deployment in deployments:
            self.store.put_deployment(deployment)
        for pod in pods:
            self.on_pod(None, pod)
        for workload in workloads:
            self.on_workload(None, workload)
        log.info(
            "caches filled: %d nodes, %d Deployments, %d workload pods, %d ZonalWorkloads",
            *map(len, listed),
        )

    def _list_all(self, patterns: Sequence[str]) -> tuple[list[dict[str, Any]], ...]:
        scopes: list[str | None] = [None]  # None: every namespace
        if patterns:
            names = patterns
            if any(set(p) & set("*?[!,") for p in patterns):
                names = select_namespaces(patterns, self.api.list_namespaces())
            scopes = list(names)
        selector = WORKLOAD_LABEL
        return (
            self.api.list_nodes(),
            [d for ns in scopes for d in self.api.list_deployments(ns)],
            [p for ns in scopes for p in self.api.list_pods(ns, selector)],
            [w for ns in scopes for w in self.api.list_workloads(ns)],
        )

    # -- workers ---------------------------------------------------------------------------------
    def start(self) -> None:
        for i in range(self.settings.workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"zonal-worker-{i}"))
        self._tasks.append(asyncio.create_task(self._resync(), name="zonal-resync"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync_seconds)
            for key in list(self.store.workloads):
                self.queue.add(key)

    async def _worker(self) -> None:
        while True:
            key: Key = await self.queue.get()  # type: ignore[assignment]
            metrics.QUEUE_DEPTH.set(len(self.queue))
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
        observed = planner.Observed(
            workload=wl,
            nodes=list(self.store.nodes.values()),
            deployments=self.store.deployments_for(wl),
            now=datetime.now(UTC),
            unschedulable={
                zone: len(names)
                for zone, names in self.store.unschedulable.get(key, {}).items()
                if names
            },
        )
        plan = planner.plan(observed)
        self._observe(wl, plan, observed.now)
        if plan.actions or plan.status is not None or plan.events:
            loop = asyncio.get_running_loop()
            outcome = await loop.run_in_executor(self.pool, self._execute, wl, plan)
            for deployment in outcome.deployments:
                self.store.put_deployment(deployment)
            if outcome.workload is not None:
                self.on_workload("MODIFIED", outcome.workload)
            if outcome.retry:
                self.queue.add_after(key, 1.0)
            if outcome.namespace_terminating:
                log.info("namespace %s is being deleted; leaving %s alone", *key)
                self._terminating.add(wl.uid)
                return
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)

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
            metrics.ZONE_DESIRED.labels(*labels, zone["name"]).set(zone.get("desiredReplicas", 0))
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

    # -- execution (runs in a worker thread) ---------------------------------------------------
    def _execute(self, wl: Workload, plan: planner.Plan) -> _Outcome:
        outcome = _Outcome()
        generations: dict[str, int] = {}
        rejected: list[str] = []
        for action in plan.actions:
            try:
                response = self._apply(wl, action)
            except ApiException as exc:
                if exc.status == 409:  # changed under us, or already there: look again
                    outcome.retry = True
                    break
                if exc.status == 404 and isinstance(action, planner.Delete):
                    continue
                if _namespace_terminating(exc):
                    outcome.namespace_terminating = True
                    return outcome
                if exc.status in (400, 403, 422):
                    rejected.append(_describe_rejection(action, exc))
                    continue
                raise
            if response is not None:
                outcome.deployments.append(response)
                meta = response.get("metadata") or {}
                generations[meta["name"]] = int(meta.get("generation") or 0)
        for event in plan.events:
            self._event(wl, event.type, event.reason, event.message)
        for message in rejected:
            self._event(wl, "Warning", "DeploymentRejected", message)

        status = plan.status
        if generations or rejected:
            status = copy.deepcopy(status if status is not None else dict(wl.status))
            planner.record_generations(status, generations)
            if rejected:
                _mark_rejected(status, wl, "; ".join(rejected))
        if status is not None and status != wl.status:
            outcome.workload = self.api.patch_workload_status(wl.namespace, wl.name, status)
        return outcome

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
        log.info("deleting Deployment %s/%s", ns, action.name)
        self.api.delete_deployment(ns, action.name, action.uid)
        return None

    def _event(self, wl: Workload, type_: str, reason: str, message: str) -> None:
        try:
            self.api.create_event(
                wl.namespace, wl.name, wl.uid, type_=type_, reason=reason, message=message
            )
        except ApiException as exc:  # an event is worth a log line, never a failed reconcile
            log.warning(
                "could not record event %s for %s/%s: %s", reason, wl.namespace, wl.name, exc.reason
            )


@dataclass
class _Outcome:
    deployments: list[dict[str, Any]] = field(default_factory=list)
    workload: dict[str, Any] | None = None
    retry: bool = False
    namespace_terminating: bool = False


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


def _unschedulable(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp") or status.get("phase") != "Pending":
        return False
    return any(
        c.get("type") == "PodScheduled"
        and c.get("status") == "False"
        and c.get("reason") == "Unschedulable"
        for c in status.get("conditions") or []
    )


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
    name = (
        action.body["metadata"]["name"]
        if isinstance(action, planner.Create | planner.Replace)
        else action.name
    )
    detail = exc.reason
    if exc.body:
        with contextlib.suppress(ValueError):
            detail = json.loads(exc.body).get("message", detail)
    return f"Deployment {name}: {detail}"


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
