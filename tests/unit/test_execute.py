"""Carrying out a plan: the writes, then the status and the events, which the reconcile waits
for. (When the status waits for other workloads' writes: test_status_delay.py.)"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from tests.kit.fake_kube import FakeKube

from zonal_operator.api.workload import Workload
from zonal_operator.core import plan as planner
from zonal_operator.runtime.executor import Executor
from zonal_operator.runtime.kube import ApiException, merge_patch

BODY = {
    "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "generation": 1},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]},
        },
    },
}


class _Api(FakeKube):
    """Records the calls; events are slow, and the first one can be made to fail."""

    def __init__(self, fail_event: bool = False) -> None:
        self.calls: list[str] = []
        self.fail_event = fail_event
        self.lock = threading.Lock()

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        self.calls.append(f"scale {name} {replicas}")
        return {"metadata": {"name": name, "generation": 2}}

    def patch_workload_status(self, namespace: str, name: str, status: Any) -> dict[str, Any]:
        self.calls.append("status")
        return {**BODY, "status": status}

    def create_event(self, namespace: str, name: str, uid: str, **event: str) -> None:
        time.sleep(0.2)
        with self.lock:
            if self.fail_event:
                self.fail_event = False
                raise ApiException(status=500, reason="Internal Server Error")
            self.calls.append(f"event {event['reason']}")


def _execute(executor: Executor, plan: planner.Plan) -> None:
    """What a reconcile does with a plan once it has decided to write the status."""
    wl = Workload.from_body(BODY)
    outcome = executor.act(wl, plan)
    executor.write(wl, wl.status, executor.compose(wl, plan, None, outcome, datetime.now(UTC)))


def _run(api: _Api) -> None:
    executor = Executor(api, workers=2)
    plan = planner.Plan(
        actions=[planner.Scale("web-zone-b", 2)],
        status={"observedGeneration": 1},
        events=[
            planner.Event("Warning", "ZoneUnhealthy", "zone-a is unhealthy"),
            planner.Event("Normal", "Other", "something else"),
        ],
    )
    _execute(executor, plan)


def test_a_reconcile_ends_only_once_its_events_are_posted() -> None:
    api = _Api()
    _run(api)
    assert api.calls[0] == "scale web-zone-b 2"  # the moves come first
    assert sorted(api.calls[1:]) == ["event Other", "event ZoneUnhealthy", "status"]


def test_an_event_that_cannot_be_posted_fails_nothing() -> None:
    api = _Api(fail_event=True)
    _run(api)
    assert "status" in api.calls
    assert len([c for c in api.calls if c.startswith("event")]) == 1


class _ScalingApi(_Api):
    """The scales of `together` wait for each other at a barrier; one Deployment can refuse."""

    def __init__(self, together: set[str], conflict: str = "") -> None:
        super().__init__()
        self.together = together
        self.barrier = threading.Barrier(len(together), timeout=5)
        self.conflict = conflict

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        if name in self.together:
            self.barrier.wait()  # broken, and so raising, unless the others come too
        if name == self.conflict:
            raise ApiException(status=409, reason="Conflict")
        with self.lock:
            return super().scale_deployment(namespace, name, replicas)


FIRST = {"web-zone-a", "web-zone-b", "web-zone-c"}


def _failover(api: _Api) -> planner.Plan:
    plan = planner.Plan(
        actions=[
            planner.Scale("web-zone-a", 0),  # dark: it goes with the increases
            planner.Scale("web-zone-b", 2),
            planner.Scale("web-zone-c", 1),
            planner.Scale("web-zone-d", 0),  # after them
        ],
        status={"observedGeneration": 1, "zones": [{"deployment": "web-zone-b"}]},
        together=3,
    )
    _execute(Executor(api, workers=2), plan)
    return plan


def test_the_first_writes_of_a_plan_go_at_once_and_the_rest_after_them() -> None:
    api = _ScalingApi(together=FIRST)
    _failover(api)
    assert sorted(api.calls[:3]) == [
        "scale web-zone-a 0",
        "scale web-zone-b 2",
        "scale web-zone-c 1",
    ]
    assert api.calls[3:] == ["scale web-zone-d 0", "status"]


def test_a_conflict_in_a_group_keeps_the_others_and_stops_what_follows() -> None:
    api = _ScalingApi(together=FIRST, conflict="web-zone-c")
    _failover(api)
    assert sorted(api.calls) == ["scale web-zone-a 0", "scale web-zone-b 2", "status"]


def test_a_status_write_drops_removed_fields_explicitly() -> None:
    """A merge patch keeps what it does not mention: a field the new status no longer has is
    sent as null, at any depth; lists are sent whole."""
    before = {"zoneRollout": {"revision": "a", "inFlight": ["zone-a"]}, "skew": 1, "zones": [1]}
    after = {"zoneRollout": {"revision": "a"}, "zones": [2]}
    assert merge_patch(before, after) == {
        "zoneRollout": {"revision": "a", "inFlight": None},
        "skew": None,
        "zones": [2],
    }
