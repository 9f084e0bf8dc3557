"""The start-up sync: the caches are whole before the first reconcile."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.kit.fake_kube import FakeKube

from zonal_operator.runtime.controller import Controller, Settings
from zonal_operator.runtime.loss_forecast import UNFINISHED
from zonal_operator.runtime.namespaces import select_namespaces
from zonal_operator.runtime.watch import Deliver, Source


def _node(name: str, zone: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "allocatable": {"cpu": "4", "pods": "110"},
        },
    }


_PENDING = {
    "phase": "Pending",
    "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
}
_LISTS: dict[str, list[dict[str, Any]]] = {
    "nodes": [_node(f"n-{z}", z) for z in ("zone-a", "zone-b", "zone-c")],
    "deployments": [
        {"metadata": {"name": "web-zone-a", "namespace": "team-a", "resourceVersion": "7"}},
        {"metadata": {"name": "web-zone-a", "namespace": "team-b", "resourceVersion": "8"}},
    ],
    "pods": [
        {
            "metadata": {
                "name": "p",
                "namespace": "team-a",
                "labels": {"zonal.dev/workload": "web", "zonal.dev/zone": "zone-b"},
            },
            "status": _PENDING,
        },
        {  # no workload's, but it holds room on its node
            "metadata": {"name": "dns", "namespace": "kube-system"},
            "spec": {
                "nodeName": "n-zone-a",
                "containers": [{"resources": {"requests": {"cpu": "1"}}}],
            },
            "status": {"phase": "Running"},
        },
    ],
    "leases": [
        {
            "metadata": {"name": f"n-{z}", "namespace": "kube-node-lease"},
            "spec": {"renewTime": "2026-12-04T03:00:00.000000Z", "leaseDurationSeconds": 40},
        }
        for z in ("zone-a", "zone-b", "zone-c")
    ],
    "zoneshifts": [
        {
            "metadata": {"name": "maint-b", "resourceVersion": "9"},
            "spec": {"zone": "zone-b", "duration": "1h"},
        }
    ],
    "priorityclasses": [{"metadata": {"name": "zonal-headroom"}, "value": -10}],
    "zonalworkloads": [
        {"metadata": {"name": "web", "namespace": "team-a", "resourceVersion": "3"}},
        {"metadata": {"name": "web", "namespace": "team-b", "resourceVersion": "4"}},
    ],
    "namespaces": [
        {"metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}}
        for n in ("team-a", "team-b")
    ],
}
# ZoneShifts, namespaces and PriorityClasses: cluster-wide, whatever the watched namespaces.
SHIFT_PATHS = [
    "/api/v1/namespaces",
    "/apis/scheduling.k8s.io/v1/priorityclasses",
    "/apis/zonal.dev/v1alpha1/zoneshifts",
]


class _ListingApi(FakeKube):
    """Serves the ZonalWorkload lists; a write would be a bug at start-up."""

    def __init__(self) -> None:
        self.scopes: list[str | None] = []

    def list_namespaces(self) -> list[str]:
        return ["team-a", "team-b", "kube-system"]

    def list_workloads(self, namespace: str | None) -> list[dict[str, Any]]:
        self.scopes.append(namespace)
        return [{"metadata": {"name": "web", "namespace": "team-a", "resourceVersion": "3"}}]


class _Reflector:
    """Lists canned objects, as watch.Reflector delivers a list; never watches."""

    made: list[_Reflector] = []  # noqa: RUF012

    def __init__(self, source: Source, deliver: Deliver, accept: Any) -> None:
        self.source, self.deliver, self.accept = source, deliver, accept
        self.listed = False
        _Reflector.made.append(self)

    async def list(self) -> None:
        for item in _LISTS[self.source.resource]:
            namespace = item["metadata"].get("namespace", "")
            if self.accept is None or self.accept(namespace):
                self.deliver(None, item)
        self.listed = True

    async def run(self) -> None:
        raise AssertionError("not in these tests")


def _sync(patterns: list[str]) -> tuple[Controller, _ListingApi]:
    api = _ListingApi()
    _Reflector.made = []

    async def run() -> Controller:
        controller = Controller(api, reflector=_Reflector)
        await controller.sync(patterns)
        return controller

    return asyncio.run(run()), api


def test_sync_fills_every_cache_and_queues_each_workload_once() -> None:
    controller, _ = _sync([])
    assert all(r.listed for r in _Reflector.made)
    assert sorted(controller.store.nodes) == ["n-zone-a", "n-zone-b", "n-zone-c"]
    assert "web-zone-a" in controller.store.deployments["team-a"]
    assert controller.store.unschedulable[("team-a", "web")] == {"zone-b": {"p"}}
    assert ("team-a", "web") in controller.store.workloads
    assert sorted(controller.heartbeats.leases) == ["n-zone-a", "n-zone-b", "n-zone-c"]
    assert list(controller.store.zoneshifts) == ["maint-b"]
    assert controller.store.namespaces["team-b"] == {"kubernetes.io/metadata.name": "team-b"}
    assert len(controller.queue) == 2  # team-a's web and team-b's, each once


def test_sync_goes_on_when_zoneshifts_cannot_be_listed() -> None:
    """Without the ZoneShift CRD (or the right to read it) the operator still fails over."""
    shifts = _LISTS.pop("zoneshifts")
    try:
        controller, _ = _sync([])
    finally:
        _LISTS["zoneshifts"] = shifts
    assert controller.store.zoneshifts == {}
    assert sorted(controller.store.nodes) == ["n-zone-a", "n-zone-b", "n-zone-c"]
    assert len(controller.queue) == 2  # team-a's web and team-b's, each once


def test_sync_goes_on_when_node_leases_cannot_be_listed() -> None:
    """Without RBAC for kube-node-lease the operator still starts: zones are judged by Ready."""
    leases = _LISTS.pop("leases")
    try:
        controller, _ = _sync([])
    finally:
        _LISTS["leases"] = leases
    assert sorted(controller.store.nodes) == ["n-zone-a", "n-zone-b", "n-zone-c"]
    assert controller.heartbeats.leases == {}
    assert len(controller.queue) == 2  # team-a's web and team-b's, each once


def test_sync_watches_plain_namespaces_one_by_one() -> None:
    controller, api = _sync(["team-a", "team-b"])
    paths = sorted(r.source.path for r in _Reflector.made)
    assert paths == [
        *SHIFT_PATHS[:1],
        "/api/v1/namespaces/team-a/pods",
        "/api/v1/namespaces/team-b/pods",
        "/api/v1/nodes",
        "/apis/apps/v1/namespaces/team-a/deployments",
        "/apis/apps/v1/namespaces/team-b/deployments",
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
        *SHIFT_PATHS[1:2],
        "/apis/zonal.dev/v1alpha1/namespaces/team-a/zonalworkloads",
        "/apis/zonal.dev/v1alpha1/namespaces/team-b/zonalworkloads",
        *SHIFT_PATHS[2:],
    ]
    pods = [r.source for r in _Reflector.made if r.source.resource == "pods"]
    assert {s.label_selector for s in pods} == {"zonal.dev/workload"}
    assert {s.field_selector for s in pods} == {UNFINISHED}
    assert api.scopes == []  # the workloads come from reflectors, one per namespace
    # The forecast's room has a cluster-wide watch of its own, started with the workers.
    assert not controller.forecasts.room.listed


def test_sync_watches_glob_patterns_cluster_wide_and_filters() -> None:
    team_b = {
        "metadata": {
            "name": "q",
            "namespace": "team-b",
            "labels": {"zonal.dev/workload": "web", "zonal.dev/zone": "zone-b"},
        },
        "status": _PENDING,
    }
    _LISTS["pods"].append(team_b)
    try:
        controller, _ = _sync(["team-*", "!team-b"])
    finally:
        _LISTS["pods"].remove(team_b)
    assert sorted(r.source.path for r in _Reflector.made) == [
        *SHIFT_PATHS[:1],
        "/api/v1/nodes",
        "/api/v1/pods",
        "/apis/apps/v1/deployments",
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
        *SHIFT_PATHS[1:2],
        "/apis/zonal.dev/v1alpha1/zonalworkloads",
        *SHIFT_PATHS[2:],
    ]
    assert "team-b" not in controller.store.deployments
    assert "web-zone-a" in controller.store.deployments["team-a"]
    # The workloads: listed and watched cluster-wide, kept in the namespaces that match.
    assert sorted(controller.store.workloads) == [("team-a", "web")]
    # One watch of every unfinished pod feeds the workloads' pods (of the namespaces that
    # match) and the forecast's room (every pod on a node), listed with the rest.
    (pods,) = [r.source for r in _Reflector.made if r.source.resource == "pods"]
    assert (pods.label_selector, pods.field_selector) == ("", UNFINISHED)
    assert list(controller.store.unschedulable) == [("team-a", "web")]
    room = controller.forecasts.room
    assert room.listed
    free = {r.node.name: r.free["cpu"] for r in room.rooms(controller.store.nodes)}
    assert free == {"n-zone-a": 3000, "n-zone-b": 4000, "n-zone-c": 4000}


def test_without_the_forecast_the_workloads_pods_are_watched_alone() -> None:
    api = _ListingApi()
    _Reflector.made = []

    async def run() -> Controller:
        controller = Controller(api, Settings(zone_loss_forecast=False), reflector=_Reflector)
        await controller.sync([])
        return controller

    controller = asyncio.run(run())
    (pods,) = [r.source for r in _Reflector.made if r.source.resource == "pods"]
    assert (pods.path, pods.label_selector) == ("/api/v1/pods", "zonal.dev/workload")
    assert not controller.forecasts.room.listed


def test_namespace_patterns_read_as_kopf_reads_them() -> None:
    names = ["team-a", "team-b", "kube-system", "default"]
    assert select_namespaces(["team-a"], names) == ["team-a"]
    assert select_namespaces(["team-*"], names) == ["team-a", "team-b"]
    assert select_namespaces(["team-*,!team-b"], names) == ["team-a"]
    assert select_namespaces(["!kube-*"], names) == ["team-a", "team-b", "default"]
    assert select_namespaces(["default", "team-b"], names) == ["team-b", "default"]
