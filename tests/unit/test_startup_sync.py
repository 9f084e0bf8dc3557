"""The start-up sync: the caches are whole before the first reconcile."""

from __future__ import annotations

import asyncio
from typing import Any

from zonal_operator.controller import Controller, select_namespaces


def _node(name: str, zone: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


class _ListingApi:
    """Serves lists only; a write would be a bug at start-up."""

    def __init__(self) -> None:
        self.scopes: list[str | None] = []

    def list_nodes(self) -> list[dict[str, Any]]:
        return [_node(f"n-{z}", z) for z in ("zone-a", "zone-b", "zone-c")]

    def list_namespaces(self) -> list[str]:
        return ["team-a", "team-b", "kube-system"]

    def list_deployments(self, namespace: str | None, keep: Any = None) -> list[dict[str, Any]]:
        self.scopes.append(namespace)
        items = [
            {"metadata": {"name": "web-zone-a", "namespace": "team-a", "resourceVersion": "7"}}
        ]
        return [keep(d) for d in items] if keep else items

    def list_pods(self, namespace: str | None, label_selector: str) -> list[dict[str, Any]]:
        assert label_selector == "zonal.dev/workload"
        pending = {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
        }
        labels = {"zonal.dev/workload": "web", "zonal.dev/zone": "zone-b"}
        return [
            {"metadata": {"name": "p", "namespace": "team-a", "labels": labels}, "status": pending}
        ]

    def list_workloads(self, namespace: str | None) -> list[dict[str, Any]]:
        return [{"metadata": {"name": "web", "namespace": "team-a", "resourceVersion": "3"}}]


def test_sync_fills_every_cache_and_queues_each_workload_once() -> None:
    async def run() -> Controller:
        controller = Controller(_ListingApi())  # type: ignore[arg-type]
        await controller.sync()
        return controller

    controller = asyncio.run(run())
    assert sorted(controller.store.nodes) == ["n-zone-a", "n-zone-b", "n-zone-c"]
    assert "web-zone-a" in controller.store.deployments["team-a"]
    assert controller.store.unschedulable[("team-a", "web")] == {"zone-b": {"p"}}
    assert ("team-a", "web") in controller.store.workloads
    assert len(controller.queue) == 1


def test_sync_lists_only_the_watched_namespaces() -> None:
    api = _ListingApi()

    async def run() -> None:
        await Controller(api).sync(["team-*", "!team-b"])  # type: ignore[arg-type]

    asyncio.run(run())
    assert api.scopes == ["team-a"]


def test_namespace_patterns_read_as_kopf_reads_them() -> None:
    names = ["team-a", "team-b", "kube-system", "default"]
    assert select_namespaces(["team-a"], names) == ["team-a"]
    assert select_namespaces(["team-*"], names) == ["team-a", "team-b"]
    assert select_namespaces(["team-*,!team-b"], names) == ["team-a"]
    assert select_namespaces(["!kube-*"], names) == ["team-a", "team-b", "default"]
    assert select_namespaces(["default", "team-b"], names) == ["team-b", "default"]
