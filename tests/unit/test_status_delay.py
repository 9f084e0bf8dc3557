"""A reconcile defers its status write and events while a backlog of other workloads waits
in the queue, at least one per worker (Settings.status_delay_seconds), and the next one plans
as if they had been written. The controllers here have one worker unless said otherwise."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.kit.fake_kube import StatusApi, reconcile_next, status_controller, status_workload
from tests.kit.perzone_sim import ZONES

from zonal_operator.core.plan import Plan, Scale
from zonal_operator.runtime.controller import Controller
from zonal_operator.runtime.executor import StatusWrite, held_until
from zonal_operator.runtime.kube import ApiException


def _web_then_api(api: StatusApi, **settings: Any) -> Controller:
    """A controller with two new workloads queued: "web", then "api"."""
    controller = status_controller(api, **settings)
    controller.intake.on_workload("ADDED", status_workload("web"))
    controller.intake.on_workload("ADDED", status_workload("api"))
    return controller


async def _drain(controller: Controller) -> list[tuple[str, str]]:
    """Reconcile until the queue is empty; the keys in the order they came."""
    keys = []
    while len(controller.queue):
        keys.append(await reconcile_next(controller))
    return keys


def test_a_status_waits_for_the_writes_of_the_workloads_queued_behind_it() -> None:
    async def scenario() -> None:
        api = StatusApi()
        controller = _web_then_api(api)

        assert await reconcile_next(controller) == ("shop", "web")
        # Its Deployments are created; its status and events wait, since "api" waits too.
        assert sorted(c for c in api.calls if c[1].startswith("web")) == [
            ("create", f"web-{zone}") for zone in ZONES
        ]
        assert (len(controller.queue), controller.queue.urgent) == (2, 1)

        assert await reconcile_next(controller) == ("shop", "api")  # the queue is empty behind it
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
        await reconcile_next(controller)
        assert len(api.calls) == calls

    asyncio.run(scenario())


def test_a_deferred_status_is_planned_on_and_written_once() -> None:
    async def scenario() -> None:
        api = StatusApi()
        controller = _web_then_api(api)
        await reconcile_next(controller)  # web: Deployments created, status deferred
        controller.queue.add(("shop", "web"))  # web changes again while others wait
        controller.queue.add(("shop", "other"))  # (not a workload: reconciled as nothing)
        assert await reconcile_next(controller) == ("shop", "api")
        assert await reconcile_next(controller) == ("shop", "web")
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
        api = StatusApi()
        controller = _web_then_api(api, **settings)
        await reconcile_next(controller)
        assert (api.writes("status", "web"), api.writes("event", "web")) == (1, 1)
        assert not controller.deferred()

    asyncio.run(scenario())


def test_a_failed_status_write_is_tried_again_without_posting_its_events_twice() -> None:
    async def scenario() -> None:
        api = StatusApi()
        api.fail_status = 1
        controller = status_controller(api)
        controller.intake.on_workload("ADDED", status_workload("web"))
        with pytest.raises(ApiException):
            await reconcile_next(controller)
        assert (api.writes("status", "web"), api.writes("event", "web")) == (0, 1)
        controller.queue.add(("shop", "web"))
        await reconcile_next(controller)
        assert api.writes("create", "web-zone-a") == 1  # planned on what was decided
        assert (api.writes("status", "web"), api.writes("event", "web")) == (1, 1)
        assert [z["deploymentGeneration"] for z in api.statuses["web"]["zones"]] == [1, 1, 1]

    asyncio.run(scenario())


def test_an_operator_that_stops_writes_the_statuses_it_deferred() -> None:
    async def scenario() -> None:
        api = StatusApi()
        controller = _web_then_api(api)
        await reconcile_next(controller)  # web: status deferred
        assert api.writes("status", "web") == 0
        await controller.stop()
        assert (api.writes("status", "web"), api.writes("event", "web")) == (1, 1)
        assert [z["deploymentGeneration"] for z in api.statuses["web"]["zones"]] == [1, 1, 1]

    asyncio.run(scenario())


def test_a_held_status_waits_until_its_hold_or_a_change_that_may_not_wait() -> None:
    """held_until (runtime/executor.py): a cut within a move is held (core/coalesce.py); a
    plan with nothing new keeps the hold, a newer hold cannot extend it, and a change that may
    not wait ends it."""
    t = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    held = StatusWrite("uid", {}, hold_until=t)
    assert held_until(Plan(status={}, status_hold_until=t), None) == t
    assert held_until(Plan(), held) == t  # nothing new
    assert held_until(Plan(status_coalesced=True), held) == t
    later = Plan(status={}, actions=[Scale("web-zone-a", 0)], status_hold_until=t.replace(minute=5))
    assert held_until(later, held) == t
    assert held_until(Plan(status={"readyReplicas": 3}), held) is None
    assert held_until(Plan(status={}), None) is None
