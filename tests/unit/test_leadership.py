"""The elector's loop (runtime/leadership.py) over an in-memory Lease with the API server's
optimistic concurrency (resourceVersion, 409), on short timings: who leads, when the gate
shuts, and the hand-over on release. The real API server is in tests/e2e/test_leader_election.py.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import pytest

from zonal_operator.runtime.kube import ApiException
from zonal_operator.runtime.leadership import ElectionSettings, LeaderElector, Leadership

LEASE, DEADLINE, RETRY = 0.6, 0.4, 0.1


class Leases:
    """One namespace's Leases, as the API server keeps them."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.down = False  # every request fails, as with the API server unreachable
        self.watchers: list[LeaderElector] = []
        self.loop = asyncio.get_running_loop()  # made inside the test's loop

    def _check(self) -> None:
        if self.down:
            raise ApiException(status=503, reason="Service Unavailable")

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(body)
        stored["metadata"] = {**stored["metadata"], "resourceVersion": str(self.version)}
        stored["metadata"].setdefault("uid", "lease-uid")
        self.objects[stored["metadata"]["name"]] = stored
        for watcher in self.watchers:  # a watch event: on the loop, as the reflector's
            self.loop.call_soon_threadsafe(watcher.nudge)
        return copy.deepcopy(stored)

    def get_lease(self, namespace: str, name: str, timeout: float) -> dict[str, Any] | None:
        self._check()
        found = self.objects.get(name)
        return copy.deepcopy(found) if found else None

    def create_lease(self, namespace: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        self._check()
        if body["metadata"]["name"] in self.objects:
            raise ApiException(status=409, reason="AlreadyExists")
        return self._store(body)

    def replace_lease(self, namespace: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        self._check()
        current = self.objects[body["metadata"]["name"]]
        if current["metadata"]["resourceVersion"] != body["metadata"].get("resourceVersion"):
            raise ApiException(status=409, reason="Conflict")
        return self._store(body)


class Replica:
    def __init__(self, leases: Leases, identity: str) -> None:
        self.leadership = Leadership(DEADLINE)
        self.started = self.stopped = 0
        self.record: dict[str, str] = {}  # what its renewals carry
        settings = ElectionSettings("ns", "zonal-operator", identity, LEASE, DEADLINE, RETRY)
        self.elector = LeaderElector(
            leases,
            settings,
            self.leadership,
            on_started=self._started,
            on_stopped=self._stopped,
            record=lambda: self.record,
        )
        leases.watchers.append(self.elector)
        self.task = asyncio.create_task(self.elector.run())

    def _started(self) -> None:
        self.started += 1

    def _stopped(self) -> None:
        self.stopped += 1

    def kill(self) -> None:
        self.task.cancel()


async def until(predicate: Any, timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "timed out"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def run(test: Any) -> None:
    asyncio.run(test())


def test_one_leads_and_the_other_takes_over_a_lease_duration_after_a_kill() -> None:
    async def scenario() -> None:
        leases = Leases()
        a, b = Replica(leases, "a"), Replica(leases, "b")
        await until(lambda: a.elector.leading or b.elector.leading, 1)
        await asyncio.sleep(3 * RETRY)
        leader, standby = (a, b) if a.elector.leading else (b, a)
        assert not standby.elector.leading and not standby.leadership.may_write()
        assert leader.leadership.may_write() and leader.started == 1
        leader.kill()
        killed = time.monotonic()
        await until(lambda: standby.elector.leading, LEASE + 2 * RETRY)
        # Never before the old leader's gate shut on its own clock.
        assert time.monotonic() - killed >= DEADLINE
        assert not leader.leadership.may_write()
        assert leases.objects["zonal-operator"]["spec"]["leaseTransitions"] == 1
        standby.kill()

    run(scenario)


def test_a_leader_that_cannot_renew_stops_writing_at_its_deadline() -> None:
    async def scenario() -> None:
        leases = Leases()
        a = Replica(leases, "a")
        await until(lambda: a.elector.leading, 1)
        leases.down = True
        shut = await until(lambda: not a.leadership.may_write(), DEADLINE + 0.1)
        assert shut < DEADLINE + 0.05  # from its last renewal, not from the failure
        await until(lambda: not a.elector.leading, 2 * RETRY + 0.2)
        assert a.stopped == 1 and a.elector.error.startswith("503")
        leases.down = False  # back: nobody took it, so it leads again
        await until(lambda: a.elector.leading, 2 * RETRY + 0.2)
        assert a.started == 2 and a.elector.error == ""
        a.kill()

    run(scenario)


def test_release_hands_over_within_a_round_trip() -> None:
    async def scenario() -> None:
        leases = Leases()
        a = Replica(leases, "a")
        await until(lambda: a.elector.leading, 1)
        b = Replica(leases, "b")
        await asyncio.sleep(3 * RETRY)
        assert not b.elector.leading
        a.kill()
        released = time.monotonic()
        await a.elector.release()
        assert not a.leadership.may_write() and not a.elector.leading
        await until(lambda: b.elector.leading, LEASE)
        # Woken by the watch of the released lease, not by its next try.
        assert time.monotonic() - released < RETRY / 2
        b.kill()

    run(scenario)


def test_the_renewals_carry_the_record_and_the_next_leader_inherits_it() -> None:
    """What a new leader resumes (the node silences proven, core/resume.py) rides on the
    leader's renewals, and the replica that acquires the lease takes it as it found it."""

    async def scenario() -> None:
        leases = Leases()
        a = Replica(leases, "a")
        await until(lambda: a.elector.leading, 1)
        assert a.elector.inherited == {}
        writes = leases.version
        a.record = {"zonal.dev/silent-nodes": '{"n1": ["r1", "2025-03-01T11:59:30Z"]}'}
        await until(lambda: "annotations" in leases.objects["zonal-operator"]["metadata"], 1)
        assert leases.version == writes + 1  # the next renewal: no write of its own
        b = Replica(leases, "b")
        b.record = {"zonal.dev/silent-nodes": ""}  # it has proven no silence
        a.kill()
        await a.elector.release()
        await until(lambda: b.elector.leading, LEASE)
        assert b.elector.inherited == a.record
        # The new leader's own record replaces it (empty: the annotation goes).
        await asyncio.sleep(2 * RETRY)
        assert "zonal.dev/silent-nodes" not in (
            leases.objects["zonal-operator"]["metadata"].get("annotations") or {}
        )
        b.kill()

    run(scenario)


@pytest.mark.parametrize("own", [True, False])
def test_a_restarted_replica_takes_its_own_lease_back_at_once(own: bool) -> None:
    async def scenario() -> None:
        leases = Leases()
        a = Replica(leases, "a")
        await until(lambda: a.elector.leading, 1)
        a.kill()
        again = Replica(leases, "a" if own else "c")
        waited = await until(lambda: again.elector.leading, LEASE + 3 * RETRY)
        assert (waited < RETRY) == own
        again.kill()

    run(scenario)
