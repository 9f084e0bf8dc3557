"""A reconcile defers its status write and events while a backlog of other workloads waits
in the queue, at least one per worker (Settings.status_delay_seconds), and the next one plans
as if they had been written. The controllers here have one worker unless said otherwise."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from fake_kube import FakeKube

from zonal_operator.core.model import NodeInfo
from zonal_operator.runtime.controller import Controller, Settings
from zonal_operator.runtime.kube import ApiException

ZONES = ("zone-a", "zone-b", "zone-c")


def _workload(name: str) -> dict[str, Any]:
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


class _Api(FakeKube):
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
        body = _workload(name)
        body["metadata"]["resourceVersion"] = str(next(self._rv))
        return {**body, "status": status}

    def create_event(self, namespace: str, name: str, uid: str, **event: str) -> None:
        self.calls.append(("event", name))

    def writes(self, verb: str, name: str) -> int:
        return sum(1 for call in self.calls if call == (verb, name))


def _controller(api: _Api, workers: int = 1, **settings: Any) -> Controller:
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


def _web_then_api(api: _Api, **settings: Any) -> Controller:
    """A controller with two new workloads queued: "web", then "api"."""
    controller = _controller(api, **settings)
    controller.intake.on_workload("ADDED", _workload("web"))
    controller.intake.on_workload("ADDED", _workload("api"))
    return controller


async def _next(controller: Controller) -> tuple[str, str]:
    """Take the next key from the queue and reconcile it, as a worker does."""
    key: tuple[str, str] = await asyncio.wait_for(controller.queue.get(), 1)  # type: ignore[assignment]
    try:
        await controller.reconcile(key)
    finally:
        controller.queue.done(key)
    return key


async def _drain(controller: Controller) -> list[tuple[str, str]]:
    """Reconcile until the queue is empty; the keys in the order they came."""
    keys = []
    while len(controller.queue):
        keys.append(await _next(controller))
    return keys


def test_a_status_waits_for_the_writes_of_the_workloads_queued_behind_it() -> None:
    async def scenario() -> None:
        api = _Api()
        controller = _web_then_api(api)

        assert await _next(controller) == ("shop", "web")
        # Its Deployments are created; its status and events wait, since "api" waits too.
        assert sorted(c for c in api.calls if c[1].startswith("web")) == [
            ("create", f"web-{zone}") for zone in ZONES
        ]
        assert (len(controller.queue), controller.queue.urgent) == (2, 1)

        assert await _next(controller) == ("shop", "api")  # the queue is empty behind it
        assert api.writes("create", "api-zone-a") == 1
        assert (api.writes("status", "api"), api.writes("event", "api")) == (1, 1)

        # Its own status write does not bring "api" back: "web" is next, and last.
        assert await _drain(controller) == [("shop", "web")]
        assert sum(verb == "create" for verb, name in api.calls if name.startswith("web")) == 3
        assert (api.writes("status", "web"), api.writes("event", "web")) == (1, 1)
        status = api.statuses["web"]
        assert status["observedGeneration"] == 1
        # The generations of the operator's own writes, from their responses, as at once.
        assert [z["deploymentGeneration"] for z in status["zones"]] == [1, 1, 1]
        assert len(controller.queue) == 0

        # Written: the next reconcile has nothing to do.
        controller.queue.add(("shop", "web"))
        calls = len(api.calls)
        await _next(controller)
        assert len(api.calls) == calls

    asyncio.run(scenario())


def test_a_deferred_status_is_planned_on_and_written_once() -> None:
    async def scenario() -> None:
        api = _Api()
        controller = _web_then_api(api)
        await _next(controller)  # web: Deployments created, status deferred
        controller.queue.add(("shop", "web"))  # web changes again while others wait
        controller.queue.add(("shop", "other"))  # (not a workload: reconciled as nothing)
        assert await _next(controller) == ("shop", "api")
        assert await _next(controller) == ("shop", "web")
        # Planned on the status deferred: nothing created again, and still deferred.
        assert api.writes("create", "web-zone-a") == 1
        assert api.writes("status", "web") == 0
        await _drain(controller)
        assert api.writes("create", "web-zone-a") == 1
        assert (api.writes("status", "web"), api.writes("event", "web")) == (1, 1)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"status_delay_seconds": 0}, id="no-delay"),
        pytest.param({"workers": 2}, id="fewer-waiting-than-workers"),
    ],
)
def test_a_status_is_written_at_once_without_a_delay_or_a_backlog(settings: Any) -> None:
    async def scenario() -> None:
        api = _Api()
        controller = _web_then_api(api, **settings)
        await _next(controller)
        assert (api.writes("status", "web"), api.writes("event", "web")) == (1, 1)
        assert not controller.deferred()

    asyncio.run(scenario())


def test_a_failed_status_write_is_tried_again_without_posting_its_events_twice() -> None:
    async def scenario() -> None:
        api = _Api()
        api.fail_status = 1
        controller = _controller(api)
        controller.intake.on_workload("ADDED", _workload("web"))
        with pytest.raises(ApiException):
            await _next(controller)
        assert (api.writes("status", "web"), api.writes("event", "web")) == (0, 1)
        controller.queue.add(("shop", "web"))
        await _next(controller)
        assert api.writes("create", "web-zone-a") == 1  # planned on what was decided
        assert (api.writes("status", "web"), api.writes("event", "web")) == (1, 1)
        assert [z["deploymentGeneration"] for z in api.statuses["web"]["zones"]] == [1, 1, 1]

    asyncio.run(scenario())


def test_an_operator_that_stops_writes_the_statuses_it_deferred() -> None:
    async def scenario() -> None:
        api = _Api()
        controller = _web_then_api(api)
        await _next(controller)  # web: status deferred
        assert api.writes("status", "web") == 0
        await controller.stop()
        assert (api.writes("status", "web"), api.writes("event", "web")) == (1, 1)
        assert [z["deploymentGeneration"] for z in api.statuses["web"]["zones"]] == [1, 1, 1]

    asyncio.run(scenario())
