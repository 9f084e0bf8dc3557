"""The intake: watch events go into the cache, and the workloads they concern into the work
queue, at once, in front, or once a batch of changes is in (called on the event loop).

The responses to the operator's own writes go into the cache too, at once, but queue nothing:
the reconcile that wrote planned on what it wrote. Their watch events (the same object at the
same resourceVersion) queue nothing either; every other event does, as it may carry somebody
else's change. What is remembered for that is only ever a reason not to reconcile once more:
a restarted operator, which remembers nothing, reconciles every workload anyway."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from zonal_operator.api.group import WORKLOAD_LABEL, ZONE_LABEL
from zonal_operator.api.status import WorkloadStatus
from zonal_operator.api.workload import KIND, TOPOLOGY_KEY
from zonal_operator.api.zoneshift import ZoneShift
from zonal_operator.core import node_changes
from zonal_operator.core.health import node_failed
from zonal_operator.core.model import NodeInfo, PodInfo
from zonal_operator.runtime import metrics
from zonal_operator.runtime.cache import Key, Store, newer_or_same
from zonal_operator.runtime.watch import Deliver
from zonal_operator.runtime.workqueue import WorkQueue


def _nothing(_: Key | None) -> None:
    pass


class Intake:
    """Routes watch events: the cache keeps them, the queue gets the workloads to reconcile.
    `forget` drops what else is kept of a workload that is gone (the controller's record);
    `shifts_changed` says the ZoneShifts, or what they select, changed, or the Deployments of
    a workload a drill measures (runtime/shift_status.py)."""

    def __init__(
        self,
        store: Store,
        queue: WorkQueue,
        *,
        node_batch_seconds: float,
        deployment_batch_seconds: float,
        forget: Callable[[Key], None] = _nothing,
        shifts_changed: Callable[[Key | None], None] = _nothing,
    ) -> None:
        self.store, self.queue = store, queue
        # How long changes of nodes, and of a workload's Deployments, are batched (Settings).
        self.node_batch_seconds = node_batch_seconds
        self.deployment_batch_seconds = deployment_batch_seconds
        self.forget, self.shifts_changed = forget, shifts_changed
        self.last_event = time.monotonic()
        self._nodes_changed: asyncio.TimerHandle | None = None  # a pending re-queue of all
        # The node changes of the pending batch; None: one that concerns every workload.
        self._node_changes: list[node_changes.NodeChange] | None = []
        # (kind, namespace, name) -> the resourceVersion of the operator's own last write of
        # it, until its watch event comes (or a later one: see _echo).
        self._written: dict[tuple[str, str, str], str] = {}

    def on_zoneshift(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A ZoneShift changed: every workload is planned again (shifts are few and rare, and
        a shift's selectors may reach any workload); runtime/shift_status.py keeps its
        status."""
        self.last_event = time.monotonic()
        name = (body.get("metadata") or {}).get("name", "")
        before = self.store.zoneshifts.get(name)
        if event_type == "DELETED":
            self.store.zoneshifts.pop(name, None)
        else:
            shift = ZoneShift.from_body(body)
            if before is not None and not newer_or_same(
                {"metadata": {"resourceVersion": shift.resource_version}},
                {"metadata": {"resourceVersion": before.resource_version}},
            ):
                return
            self.store.zoneshifts[name] = shift
            if (
                before is not None
                and dataclasses.replace(before, resource_version=shift.resource_version) == shift
            ):
                return  # nothing a plan reads changed
        for key in self.store.workloads:
            self.queue.add(key)
        self.shifts_changed(None)

    def on_namespace(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A namespace's labels, for the ZoneShifts' namespaceSelector."""
        meta = body.get("metadata") or {}
        name = meta.get("name", "")
        labels = {} if event_type == "DELETED" else dict(meta.get("labels") or {})
        before = self.store.namespaces.get(name)
        if event_type == "DELETED":
            self.store.namespaces.pop(name, None)
        else:
            self.store.namespaces[name] = labels
        if before is None or before == labels:
            return
        if any(s.namespace_selector for s in self.store.zoneshifts.values()):
            for key in self.store.workloads:
                if key[0] == name:
                    self.queue.add(key)
            self.shifts_changed(None)

    def wrote_workload(self, body: Mapping[str, Any]) -> None:
        """The API server's response to the operator's own write of a workload (its status)."""
        meta = body.get("metadata") or {}
        self._keep_workload((meta.get("namespace", ""), meta.get("name", "")), body)
        self._remember(KIND, body)

    def wrote_deployment(self, body: Mapping[str, Any]) -> None:
        """The API server's response to the operator's own write of a Deployment."""
        self.store.put_deployment(body)  # a fresh dict per response: kept, not copied
        self._remember("Deployment", body)

    def _remember(self, kind: str, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        if meta.get("resourceVersion"):
            where = (kind, meta.get("namespace", ""), meta.get("name", ""))
            self._written[where] = str(meta["resourceVersion"])

    def _echo(self, kind: str, event_type: str | None, body: Mapping[str, Any]) -> bool:
        """Whether a watch event is the echo of the operator's own last write of the object:
        the object at the resourceVersion the write's response had, which the cache holds
        already. Any other event of the object may carry a change of somebody else's; one as
        new as the write or newer (or a deletion) also ends the wait for the echo."""
        meta = body.get("metadata") or {}
        where = (kind, meta.get("namespace", ""), meta.get("name", ""))
        written = self._written.get(where)
        if written is None:
            return False
        seen = str(meta.get("resourceVersion", ""))
        if event_type != "DELETED" and seen == written:
            del self._written[where]
            return True
        if event_type == "DELETED" or newer_or_same(
            body, {"metadata": {"resourceVersion": written}}
        ):
            del self._written[where]
        return False

    def on_workload(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        self.last_event = time.monotonic()
        meta = body.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        # Each change comes twice, from kopf's watch and from the controller's own reflector
        # (runtime/controller.py): the second, of the version cached already, is not news.
        cached = self.store.workloads.get(key)
        if event_type != "DELETED" and cached is not None and _version(cached) == _version(body):
            return
        echo = self._echo(KIND, event_type, body)
        if event_type == "DELETED":
            if self.store.workloads.pop(key, None) is not None:
                self.store.index_workload(*key, present=False)
            self.forget(key)
            self.store.unschedulable.pop(key, None)
            self.store.forget_pods(key)
        else:
            self._keep_workload(key, body)
        if not echo:
            self.queue.add(key)
        if event_type != "MODIFIED":  # a workload came or went: the shifts' counts move
            self.shifts_changed(None)

    def _keep_workload(self, key: Key, body: Mapping[str, Any]) -> None:
        if newer_or_same(body, self.store.workloads.get(key)):
            # Kept as is, not copied: each event (and API response) is a fresh dict, and
            # Workload.from_body copies what a reconcile could change.
            if key not in self.store.workloads:
                self.store.index_workload(*key, present=True)
            self.store.workloads[key] = dict(body)
        metrics.WORKLOADS.set(len(self.store.workloads))

    def on_deployment(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        self.last_event = time.monotonic()
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        echo = self._echo("Deployment", event_type, body)
        if event_type == "DELETED":
            self.store.remove_deployment(namespace, name)
        else:
            self.store.put_deployment(body)  # a fresh dict per event: kept, not copied
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") == KIND and ref.get("controller"):
                if not echo:
                    self._add_soon((namespace, ref["name"]), self.deployment_batch_seconds)
                if (namespace, ref["name"]) in self.store.drilled:
                    self.shifts_changed((namespace, ref["name"]))
                return
        # Not ours: it matters only to a workload whose Deployment name it takes.
        for wl_name in self.store.workloads_named_in(namespace, name):
            self.queue.add((namespace, wl_name))
        if (namespace, name) in self.store.workloads:  # Spread placement's name
            self.queue.add((namespace, name))

    def pods_within(self, accept: Callable[[str], bool] | None) -> Deliver:
        """`on_pod` for the workloads' pods in the watched namespaces, out of a watch of every
        pod (shared with the zone-loss forecast)."""

        def deliver(event_type: str | None, body: dict[str, Any]) -> None:
            meta = body.get("metadata") or {}
            if WORKLOAD_LABEL in (meta.get("labels") or {}) and (
                accept is None or accept(meta.get("namespace", ""))
            ):
                self.on_pod(event_type, body)

        return deliver

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
                if key in self.store.drilled:  # its pods are what a drill measures
                    self.shifts_changed(key)
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
        before = self.store.place(key, zone, name, None if gone else pod)
        if (before.node if before else None) != (None if gone else pod.node):
            # A pod on a failed node may leave its zone with none that serves (perzone.plan);
            # other pod changes reach the workload through its Deployment's status, but for
            # a container restart, which may halt a zone-by-zone rollout (core/waves.py).
            node = self.store.nodes.get(pod.node)
            if node is not None and node_failed(node):
                self.queue.add_front(key)
        elif not gone and before is not None and before.restarted != pod.restarted:
            self.queue.add(key)

    def on_node(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        self.last_event = time.monotonic()
        info = NodeInfo.from_body(body)
        deleted = event_type == "DELETED"
        was = self.store.nodes.get(info.name)
        if was is not None and was.silence is not None:
            # The Node says nothing of its Lease: its silence stays until a renewal ends it.
            info = dataclasses.replace(info, silence=was.silence)
        if self.store.drop_node(info.name) if deleted else self.store.put_node(info):
            self.nodes_changed(node_changes.change(was, None if deleted else info))
            if not deleted and was is not None and node_failed(info) and not node_failed(was):
                # Its pods serve no more: a workload with one there may have a zone left with
                # none that serves (perzone.plan), to cut or fail over now, not after the batch.
                for key in self.store.workloads_on(info.name):
                    self.queue.add_front(key)

    def _add_soon(self, key: Key, delay: float) -> None:
        try:
            self.queue.add_after(key, delay)
        except RuntimeError:  # no running loop (tests): at once
            self.queue.add(key)

    def nodes_changed(self, change: node_changes.NodeChange | None = None) -> None:
        """A node changed (None: something every workload reads, as the heartbeats' trust):
        the workloads it concerns are re-queued once the current batch of changes is in, the
        others a while later (core/node_changes.py)."""
        if change is None or self._node_changes is None:
            self._node_changes = None
        else:
            self._node_changes.append(change)
        if self._nodes_changed is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (tests): at once
            self._requeue_nodes_changed()
            return
        self._nodes_changed = loop.call_later(self.node_batch_seconds, self._requeue_nodes_changed)

    def _requeue_nodes_changed(self) -> None:
        self._nodes_changed = None
        changes, self._node_changes = self._node_changes, []
        later = 0
        for key, body in self.store.workloads.items():
            spec = body.get("spec") or {}
            if changes and node_changes.can_wait(
                cast(WorkloadStatus, body.get("status") or {}),
                str(TOPOLOGY_KEY.read(spec)),
                changes,
            ):
                later += 1
                self._add_soon(key, node_changes.WAIT_SECONDS)
            else:
                self.queue.add(key)
        metrics.NODE_CHANGE_REQUEUES.labels(when="later").inc(later)
        metrics.NODE_CHANGE_REQUEUES.labels(when="now").inc(len(self.store.workloads) - later)


def _version(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("resourceVersion") or "")
