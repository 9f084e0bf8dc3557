"""The zone-loss forecast's inputs, kept from watches, and its pass (core/loss_forecast.py
decides; this module only counts and schedules).

`Room` keeps each node's allocatable (from the nodes' watch) and the requests of every pod
bound to a node and not finished (a cluster-wide pod watch with a field selector, trimmed to
node, requests and whether it is a workload's headroom placeholder): what the scheduler's
NodeResourcesFit sees as used. An operator that watches cluster-wide shares that watch with
its workloads' pods (runtime/controller.py), so the API server sends each pod event once; a
pod's requests are read again only when its spec changes (its generation: a resize).

`Forecasts` answers a reconcile's question, the room per zone for the workload's pods, from a
snapshot of that room. The snapshot is taken again on a timer (--zone-loss-forecast-seconds),
never while a backlog of workloads waits, so a zone loss's reconciles all see one and its
writes carry no forecast of their own; a workload is queued only when its room changed in a
zone it serves, capped at its replicas (beyond that no answer changes), so a roomy cluster
queues nothing as pods come and go, nor a lost zone's nodes going down. Workloads with the
same placement and requests share one computation.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from zonal_operator.api.group import HEADROOM_LABEL
from zonal_operator.api.workload import Workload
from zonal_operator.core import loss_forecast
from zonal_operator.core.loss_forecast import PODS, NodeRoom
from zonal_operator.core.model import NodeInfo
from zonal_operator.core.requests import pod_requests_milli, quantity_milli
from zonal_operator.core.zones import SERVING
from zonal_operator.runtime.cache import Key, Store
from zonal_operator.runtime.watch import Deliver, Listing, Source, list_until_done
from zonal_operator.runtime.workqueue import WorkQueue

log = logging.getLogger("zonal_operator")

# Pods that have not finished: the only ones that hold room on a node (once bound), or that a
# workload counts (runtime/intake.py).
UNFINISHED = "status.phase!=Succeeded,status.phase!=Failed"
# Every pod that holds room on a node: bound, and not finished (the scheduler counts the same).
SOURCE = Source("pods (room)", "/api/v1/pods", field_selector=f"spec.nodeName!=,{UNFINISHED}")
Resources = dict[str, int]


class Reflecting(Listing, Protocol):
    async def run(self) -> None: ...


def _quantities(raw: Mapping[str, Any] | None) -> Resources:
    out: Resources = {}
    for key, value in (raw or {}).items():
        try:
            out[key] = quantity_milli(value)
        except ValueError:
            log.warning("cannot read the quantity %r of %s", value, key)
    return out


class Room:
    """Allocatable and used, per node; and the placeholder pods the scheduler preempted."""

    def __init__(self, preempted: dict[Key, int] | None = None) -> None:
        self.allocatable: dict[str, Resources] = {}
        # (namespace, name) -> (node, requests, the workload whose placeholder it is)
        self._pods: dict[Key, tuple[str, Resources, Key | None]] = {}
        # (uid, generation) of each pod's requests as read: only a spec change makes them new
        self._read: dict[Key, tuple[object, Resources]] = {}
        self._used: dict[str, Resources] = {}
        self._count: dict[str, int] = {}
        self.held: dict[Key, dict[str, int]] = {}  # workload -> node -> its placeholders
        self.version = 0  # changes with every change of what `rooms` returns
        self.preempted = {} if preempted is None else preempted  # workload -> count
        self._victims: set[str] = set()  # uids of the preempted placeholders still there
        self.listed = False  # the pods have been listed once

    def on_node(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        name = str((body.get("metadata") or {}).get("name", ""))
        before = self.allocatable.get(name)
        if event_type == "DELETED":
            self.allocatable.pop(name, None)
        else:
            self.allocatable[name] = _quantities((body.get("status") or {}).get("allocatable"))
        if self.allocatable.get(name) != before:
            self.version += 1

    def on_pod(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta, spec = body.get("metadata") or {}, body.get("spec") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        phase = (body.get("status") or {}).get("phase")
        gone = event_type == "DELETED" or phase in ("Succeeded", "Failed")
        labels = meta.get("labels") or {}
        owner = (key[0], labels[HEADROOM_LABEL]) if HEADROOM_LABEL in labels else None
        if owner is not None:
            self._preemption(owner, body)  # the condition may come first with the deletion
            if gone:
                self._victims.discard(str(meta.get("uid", "")))
        now = None
        if gone:
            self._read.pop(key, None)
        elif spec.get("nodeName"):
            now = (str(spec["nodeName"]), self._requests(key, meta, spec), owner)
        before = self._pods.get(key)
        if now == before:
            return
        if before is not None:
            self._account(before, -1)
            del self._pods[key]
        if now is not None:
            self._account(now, 1)
            self._pods[key] = now
        self.version += 1

    def _requests(self, key: Key, meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Resources:
        """The pod's requests, read once per spec: its generation grows with every spec change
        (an in-place resize too); a pod without one is read every time."""
        generation = meta.get("generation")
        version = (meta.get("uid"), generation)
        known = self._read.get(key)
        if generation is not None and known is not None and known[0] == version:
            return known[1]
        try:
            requests = pod_requests_milli(spec)
        except ValueError as exc:  # the API server validated it: not expected
            log.warning("pod %s/%s: %s; counted as asking nothing", *key, exc)
            requests = {}
        self._read[key] = (version, requests)
        return requests

    def _preemption(self, owner: Key, body: Mapping[str, Any]) -> None:
        """A placeholder the scheduler chose as a victim: its DisruptionTarget condition."""
        uid = str((body.get("metadata") or {}).get("uid", ""))
        conditions = (body.get("status") or {}).get("conditions") or []
        if uid in self._victims or not any(
            c.get("type") == "DisruptionTarget" and c.get("reason") == "PreemptionByScheduler"
            for c in conditions
        ):
            return
        self._victims.add(uid)
        self.preempted[owner] = self.preempted.get(owner, 0) + 1

    def _account(self, pod: tuple[str, Resources, Key | None], sign: int) -> None:
        node, requests, owner = pod
        used = self._used.setdefault(node, {})
        for resource, amount in requests.items():
            used[resource] = used.get(resource, 0) + sign * amount
        self._count[node] = self._count.get(node, 0) + sign
        if owner is not None:
            held = self.held.setdefault(owner, {})
            held[node] = held.get(node, 0) + sign
            if not held[node]:
                del held[node]
            if not held:
                del self.held[owner]

    def rooms(self, nodes: Mapping[str, NodeInfo]) -> list[NodeRoom]:
        """Every known node with what is free on it."""
        out = []
        for name, info in nodes.items():
            allocatable = self.allocatable.get(name, {})
            used = self._used.get(name, {})
            free = {r: a - used.get(r, 0) for r, a in allocatable.items() if r != PODS}
            slots = allocatable.get(PODS, 0) // 1000 - self._count.get(name, 0)
            out.append(NodeRoom(info, free=free, free_pods=slots))
        return out


def _shape(wl: Workload) -> str:
    """What a workload's room depends on besides the nodes: where its pods may run, what one
    asks, and its cap."""
    spec = wl.pod_spec
    placement = {
        "nodeSelector": spec.get("nodeSelector"),
        "nodeAffinity": (spec.get("affinity") or {}).get("nodeAffinity"),
        "tolerations": spec.get("tolerations"),
        "key": wl.topology_key,
        "need": pod_requests_milli(spec),
        "cap": wl.replicas,
    }
    return json.dumps(placement, sort_keys=True, default=str)


def _serving(raw: Mapping[str, Any]) -> set[str]:
    """The zones a workload's status says serve (core/zones.SERVING), whose room it reads."""
    zones = (raw.get("status") or {}).get("zones") or []
    return {str(z.get("name")) for z in zones if z.get("health") in SERVING}


class Forecasts:
    """The room per zone that each workload's reconcile reads (Observed.zone_room)."""

    def __init__(
        self,
        store: Store,
        queue: WorkQueue,
        *,
        enabled: bool,
        interval: float,
        busy: Callable[[], bool],
    ) -> None:
        self.store, self.queue, self.room = store, queue, Room(store.preempted)
        self.enabled, self.interval, self._busy = enabled, interval, busy
        self._snapshot: list[NodeRoom] | None = None
        # What the snapshot was taken from: the Room's version and the cache's node snapshot
        # (a new one whenever a node changes: cordoned, Ready, silent).
        self._taken: tuple[int, object] = (-1, None)
        # What each workload's reconcile read, with the shape it was computed for: a spec
        # change (replicas, requests, placement) is answered anew at once.
        self._answers: dict[Key, tuple[str, dict[str, int]]] = {}
        self._shapes: dict[Key, tuple[tuple[str, int], str]] = {}  # by (uid, generation)

    def zone_room(self, key: Key, wl: Workload) -> dict[str, int] | None:
        """The room per zone for the workload's pods, as of the snapshot; None: no forecast."""
        if not self.enabled or not self.room.listed:
            return None
        if self._snapshot is None:
            self._take()
        try:
            shape = self._shape(key, wl)
        except ValueError as exc:  # a request the API server let through but no one can read
            log.warning("workload %s/%s: no zone-loss forecast (%s)", *key, exc)
            return None
        cached = self._answers.get(key)
        if cached is None or cached[0] != shape:
            cached = self._answers[key] = (shape, self._compute(key, wl, shape, {}))
        return cached[1]

    def _shape(self, key: Key, wl: Workload) -> str:
        known = self._shapes.get(key)
        if known is None or known[0] != (wl.uid, wl.generation):
            known = self._shapes[key] = ((wl.uid, wl.generation), _shape(wl))
        return known[1]

    def _source(self) -> tuple[int, object]:
        return self.room.version, self.store.node_snapshot()

    def _take(self) -> None:
        self._snapshot, self._taken = self.room.rooms(self.store.nodes), self._source()

    def _compute(
        self, key: Key, wl: Workload, shape: str, memo: dict[str, dict[str, int]]
    ) -> dict[str, int]:
        """Workloads of one shape share an answer, unless they hold placeholders."""
        assert self._snapshot is not None
        held = self.room.held.get(key)
        if not held and shape in memo:
            return memo[shape]
        answer = loss_forecast.zone_rooms(
            self._snapshot,
            wl.pod_spec,
            wl.topology_key,
            pod_requests_milli(wl.pod_spec),
            cap=wl.replicas,
            placeholders=held,
        )
        if not held:
            memo[shape] = answer
        return answer

    def refresh(self) -> int:
        """Take a new snapshot if the room changed; queue the workloads whose room changed.
        Returns how many were queued."""
        version, nodes = self._source()
        if self._snapshot is None or (version == self._taken[0] and nodes is self._taken[1]):
            return 0
        self._take()
        memo: dict[str, dict[str, int]] = {}
        queued = 0
        for key, (shape, before) in list(self._answers.items()):
            raw = self.store.workloads.get(key)
            if raw is None:
                del self._answers[key]
                self._shapes.pop(key, None)
                self.store.preempted.pop(key, None)
                continue
            answer = self._compute(key, Workload.from_body(raw), shape, memo)
            if answer == before:
                continue
            self._answers[key] = (shape, answer)
            # Only the zones it serves count in its forecast: a lost zone's room going (and
            # coming back) queues nobody; the reconcile that serves it again reads the answer.
            serving = _serving(raw) or answer.keys() | before.keys()  # no status yet: all
            if any(answer.get(z) != before.get(z) for z in serving):
                self.queue.add(key)
                queued += 1
        return queued

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self.enabled and not self._busy():
                try:
                    self.refresh()
                except Exception:  # the forecast must never stop the operator
                    log.exception("zone-loss forecast pass failed")

    def tasks(
        self, reflector: Callable[[Source, Deliver, None], Reflecting] | None, *, shared: bool
    ) -> list[asyncio.Task[None]]:
        """The pass, when the forecast is on (none without watches), and the pod watch unless
        the room is `shared`: fed by the controller's cluster-wide pod watch, listed with it."""
        if not self.enabled or reflector is None:
            return []
        tasks = [asyncio.create_task(self.run(), name="zonal-loss-forecast")]
        if not shared:
            pods = reflector(SOURCE, self.room.on_pod, None)
            tasks.append(asyncio.create_task(self._watch(pods), name="zonal-room-pods"))
        return tasks

    async def _watch(self, pods: Reflecting) -> None:
        # Not part of the start-up lists: without the room (RBAC, say) there is no forecast,
        # and everything else goes on.
        await list_until_done(pods)
        self.room.listed = True
        await pods.run()
