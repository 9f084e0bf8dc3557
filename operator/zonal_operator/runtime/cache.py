"""The caches: what the watches have told the operator, and the responses to its own writes,
with the indexes that let a reconcile look at its own objects only (touched from the event
loop only)."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zonal_operator.api.group import MANAGED_BY, MANAGED_BY_LABEL
from zonal_operator.api.workload import Workload
from zonal_operator.api.zoneshift import ZoneShift
from zonal_operator.core.health import NodeSnapshot
from zonal_operator.core.model import NodeInfo, PodInfo
from zonal_operator.core.naming import deployment_name

Key = tuple[str, str]  # (namespace, name)


def newer_or_same(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> bool:
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
    # PerZone placement: workload -> zone -> pod name -> the pod, for the pods not being deleted
    placed: dict[Key, dict[str, dict[str, PodInfo]]] = field(default_factory=dict)
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
    _node_snapshot: NodeSnapshot | None = None
    # ZoneShifts by name (cluster-scoped), and the labels of every namespace (for their
    # namespaceSelector): runtime/shifts.py
    zoneshifts: dict[str, ZoneShift] = field(default_factory=dict)
    namespaces: dict[str, Mapping[str, str]] = field(default_factory=dict)
    # The workloads a drill's run in force measures at each change of their Deployments
    # (runtime/drills.py)
    drilled: set[Key] = field(default_factory=set)
    # Whether the node Lease signal is trusted (runtime/heartbeats.py); part of the snapshot.
    heartbeats_trusted: bool = True
    # Workload -> how many of its headroom placeholders the scheduler preempted since the
    # operator started (runtime/loss_forecast.Room counts them; a drill reads them).
    preempted: dict[Key, int] = field(default_factory=dict)

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

    def set_heartbeats_trusted(self, trusted: bool) -> None:
        if trusted != self.heartbeats_trusted:
            self.heartbeats_trusted, self._node_snapshot = trusted, None

    def node_snapshot(self) -> NodeSnapshot:
        """Every node, as one object that stays the same until a node changes: the zone
        healths computed over it are kept in it, and reused by every plan until then
        (health.zone_healths)."""
        if self._node_snapshot is None:
            self._node_snapshot = NodeSnapshot(
                tuple(self.nodes.values()), heartbeats_trusted=self.heartbeats_trusted
            )
        return self._node_snapshot

    def place(self, key: Key, zone: str, name: str, pod: PodInfo | None) -> PodInfo | None:
        """Record a PerZone pod (None: gone); what was recorded of it before."""
        zones = self.placed.setdefault(key, {})
        pods = zones.setdefault(zone, {})
        before = pods.pop(name, None)
        if pod is not None:
            pods[name] = pod
        if not pods:
            del zones[zone]
        if not zones:
            del self.placed[key]
        self._seat(key, before.node if before else "", pod.node if pod else "")
        return before

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
            for pod in pods.values():
                self._seat(key, pod.node, "")
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
        if not newer_or_same(body, old):
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
