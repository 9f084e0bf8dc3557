"""The responses to the operator's own writes go into the cache and queue nothing, and neither
do their watch events (the same object at the same resourceVersion); somebody else's change
does, and so does a timer the plan set (runtime/intake.py)."""

from __future__ import annotations

import asyncio
import copy
import itertools
from typing import Any

from tests.kit.fake_kube import FakeKube, reconcile_next, status_controller, status_workload
from tests.kit.perzone_sim import ZONES

from zonal_operator.runtime.controller import Controller

KEY = ("shop", "web")


def _merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    """A JSON merge patch, as the API server applies it."""
    for k, v in patch.items():
        if v is None:
            into.pop(k, None)
        elif isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = copy.deepcopy(v)


class _Server(FakeKube):
    """Keeps the objects written, each write a new resourceVersion, as an API server would."""

    def __init__(self) -> None:
        self.rv = itertools.count(2)
        self.workloads: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, str]] = []  # (verb, object)

    def _bump(self, body: dict[str, Any]) -> dict[str, Any]:
        body["metadata"]["resourceVersion"] = str(next(self.rv))
        return copy.deepcopy(body)

    def change(self, name: str, **spec: Any) -> dict[str, Any]:
        """Somebody else edits the workload's spec: its watch event."""
        body = self.workloads[name]
        body["spec"].update(spec)
        body["metadata"]["generation"] += 1
        return self._bump(body)

    def progress(self, name: str, ready: int) -> dict[str, Any]:
        """The deployment controller reports on a Deployment: its watch event."""
        body = self.deployments[name]
        replicas = body["spec"]["replicas"]
        body["status"] = {
            "observedGeneration": body["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
        }
        return self._bump(body)

    def create_deployment(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(("create", body["metadata"]["name"]))
        stored = copy.deepcopy(body)
        stored["metadata"]["generation"] = 1
        stored["status"] = {}
        self.deployments[body["metadata"]["name"]] = stored
        return self._bump(stored)

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        self.writes.append(("scale", name))
        stored = self.deployments[name]
        stored["spec"]["replicas"] = replicas
        stored["metadata"]["generation"] += 1
        return self._bump(stored)

    def patch_workload_status(
        self, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        self.writes.append(("status", name))
        stored = self.workloads[name]
        _merge(stored.setdefault("status", {}), status)
        return self._bump(stored)

    def create_event(self, namespace: str, name: str, uid: str, **event: str) -> None:
        pass


def _created(api: _Server) -> Controller:
    """A controller that has reconciled the new workload "web" once, with the fake server."""
    controller = status_controller(api, workers=4, deployment_batch_seconds=0.01)
    body = status_workload("web")
    api.workloads["web"] = copy.deepcopy(body)
    controller.intake.on_workload("ADDED", body)
    return controller


async def _settle(controller: Controller) -> list[tuple[str, str]]:
    """Reconcile what is queued, and what the intake's short batches queue meanwhile."""
    keys = []
    for _ in range(5):
        await asyncio.sleep(0.05)
        while len(controller.queue):
            keys.append(await reconcile_next(controller))
    return keys


def test_a_status_write_and_its_watch_event_bring_the_workload_back_no_more() -> None:
    async def scenario() -> None:
        api = _Server()
        controller = _created(api)
        assert await reconcile_next(controller) == KEY
        assert api.writes.count(("status", "web")) == 1
        assert len(controller.queue) == 0  # the write itself queued nothing
        # The cache holds the response: the next reconcile plans on what was written.
        cached = controller.store.workloads[KEY]
        assert (
            cached["metadata"]["resourceVersion"]
            == api.workloads["web"]["metadata"]["resourceVersion"]
        )
        # The watch events of the writes (the same objects, at the same resourceVersions).
        controller.intake.on_workload("MODIFIED", copy.deepcopy(api.workloads["web"]))
        for deployment in api.deployments.values():
            controller.intake.on_deployment("ADDED", copy.deepcopy(deployment))
        assert await _settle(controller) == []
        assert len(api.writes) == 4  # three Deployments and one status, once each

    asyncio.run(scenario())


def test_a_change_by_somebody_else_still_brings_it_back() -> None:
    async def scenario() -> None:
        api = _Server()
        controller = _created(api)
        await reconcile_next(controller)
        controller.intake.on_workload("MODIFIED", api.change("web", replicas=6))
        assert await _settle(controller) == [KEY]
        assert sorted(v for v in api.writes if v[0] == "scale") == [
            ("scale", f"web-{zone}") for zone in ZONES
        ]
        # A Deployment's progress, reported by the deployment controller, too.
        controller.intake.on_deployment("MODIFIED", api.progress("web-zone-a", ready=2))
        assert await _settle(controller) == [KEY]

    asyncio.run(scenario())


def test_a_change_whose_event_trails_the_write_still_brings_it_back() -> None:
    """Somebody's edit lands just before the operator's status write, whose response (which
    includes the edit) reaches the cache before the edit's own watch event: that event is
    older than what the cache holds, but not the write's, and it is not lost."""

    async def scenario() -> None:
        api = _Server()
        controller = _created(api)
        edit = api.change("web", replicas=6)  # lands first...
        await reconcile_next(controller)  # ...the status write's response carries it into the cache
        assert controller.store.workloads[KEY]["spec"]["replicas"] == 6
        controller.intake.on_workload("MODIFIED", edit)  # its event, older than the cache's
        assert await _settle(controller) == [KEY]
        assert any(verb == "scale" for verb, _ in api.writes)

    asyncio.run(scenario())


def test_a_timer_the_plan_set_still_brings_it_back() -> None:
    async def scenario() -> None:
        api = _Server()
        controller = _created(api)
        key = await controller.queue.get()
        controller.queue.done(key)
        controller.queue.add_after(KEY, 0.01)  # as a plan's requeue_after does
        assert await _settle(controller) == [KEY]

    asyncio.run(scenario())


def test_a_restarted_operator_remembers_no_write_and_converges_writing_nothing() -> None:
    async def scenario() -> None:
        api = _Server()
        first = _created(api)
        await reconcile_next(first)
        for deployment in list(api.deployments):
            first.intake.on_deployment("MODIFIED", api.progress(deployment, ready=1))
        await _settle(first)
        writes = len(api.writes)
        # A new operator, from full lists: every workload is reconciled, nothing is written.
        restarted = status_controller(api, workers=4, deployment_batch_seconds=0.01)
        for deployment in api.deployments.values():
            restarted.intake.on_deployment(None, copy.deepcopy(deployment))
        restarted.intake.on_workload(None, copy.deepcopy(api.workloads["web"]))
        assert await _settle(restarted) == [KEY]
        assert len(api.writes) == writes

    asyncio.run(scenario())
