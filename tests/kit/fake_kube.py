"""Fakes of the API for the runtime's tests.

`FakeKube`: a `Kube` (runtime/kube.py) whose every call fails the test unless a fake overrides
it. `StatusApi`, `status_controller` and `status_workload`: one that answers as an API server
would and records every write, a controller over it with a node in each zone, and the
workloads they take (test_status_delay.py, test_standby.py). `ShiftApi` and `store_with`: the
ZoneShift status controller's API and the cache it reads (test_shift_status.py,
test_drill_status.py)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from tests.kit.perzone_sim import ZONES, cluster_nodes
from zonal_operator.core.model import NodeInfo
from zonal_operator.runtime.cache import Store
from zonal_operator.runtime.controller import Controller, Settings
from zonal_operator.runtime.kube import ApiException, Kube, NotLeader


class FakeKube(Kube):
    def _unexpected(self, call: str) -> AssertionError:
        return AssertionError(f"{type(self).__name__} was not to be called: {call}")

    def list_namespaces(self) -> list[str]:
        raise self._unexpected("list_namespaces")

    def list_workloads(self, namespace: str | None) -> list[dict[str, Any]]:
        raise self._unexpected("list_workloads")

    def create_deployment(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        raise self._unexpected("create_deployment")

    def replace_deployment(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        raise self._unexpected("replace_deployment")

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        raise self._unexpected("scale_deployment")

    def delete_deployment(self, namespace: str, name: str, uid: str) -> None:
        raise self._unexpected("delete_deployment")

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        raise self._unexpected("delete_pod")

    def evict_pod(self, namespace: str, name: str, uid: str) -> None:
        raise self._unexpected("evict_pod")

    def patch_workload_status(
        self, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        raise self._unexpected("patch_workload_status")

    def create_event(
        self, namespace: str, name: str, uid: str, *, type_: str, reason: str, message: str
    ) -> None:
        raise self._unexpected("create_event")


# --- answering as an API server would (the status delay, the standby) -------------------------


def status_workload(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "zonal.dev/v1alpha1",
        "kind": "ZonalWorkload",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"uid-{name}",
            "generation": 1,
            "resourceVersion": "1",
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx"}]},
            },
        },
    }


class StatusApi(FakeKube):
    """Answers as an API server would, and records every write."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []  # (verb, object)
        self.statuses: dict[str, dict[str, Any]] = {}
        self.fail_status = 0  # status writes to refuse
        self._rv = itertools.count(2)

    def create_deployment(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("create", body["metadata"]["name"]))
        meta = {**body["metadata"], "generation": 1, "resourceVersion": str(next(self._rv))}
        return {**body, "metadata": meta, "status": {}}

    def patch_workload_status(
        self, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        if self.fail_status:
            self.fail_status -= 1
            raise ApiException(status=500, reason="Internal Server Error")
        self.calls.append(("status", name))
        self.statuses[name] = status
        body = status_workload(name)
        body["metadata"]["resourceVersion"] = str(next(self._rv))
        return {**body, "status": status}

    def create_event(self, namespace: str, name: str, uid: str, **event: str) -> None:
        self.calls.append(("event", name))

    def writes(self, verb: str, name: str) -> int:
        return sum(1 for call in self.calls if call == (verb, name))


def status_controller(api: Kube, workers: int = 1, **settings: Any) -> Controller:
    controller = Controller(api, Settings(workers=workers, **settings))
    for i, zone in enumerate(ZONES):
        controller.store.put_node(
            NodeInfo.from_body(
                {
                    "metadata": {"name": f"n{i}", "labels": {"topology.kubernetes.io/zone": zone}},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                }
            )
        )
    return controller


async def reconcile_next(controller: Controller) -> tuple[str, str]:
    """Take the next key from the queue and reconcile it, as a worker does."""
    key: tuple[str, str] = await asyncio.wait_for(controller.queue.get(), 1)  # type: ignore[assignment]
    try:
        await controller.reconcile(key)
    finally:
        controller.queue.done(key)
    return key


# --- the ZoneShift status controller --------------------------------------------------------------


class ShiftApi:
    def __init__(self, leading: bool = True) -> None:
        self.leading = leading
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.events: list[tuple[str, str, str]] = []

    def patch_zoneshift_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]:
        if not self.leading:
            raise NotLeader
        self.patches.append((name, status))
        return {"metadata": {"name": name, "resourceVersion": str(len(self.patches))}}

    def create_zoneshift_event(
        self, name: str, uid: str, *, type_: str, reason: str, message: str
    ) -> None:
        self.events.append((name, type_, reason))


def store_with(*workloads: dict[str, Any]) -> Store:
    store = Store()
    for node in cluster_nodes():
        store.put_node(node)
    for body in workloads:
        meta = body["metadata"]
        store.workloads[(meta["namespace"], meta["name"])] = body
    return store
