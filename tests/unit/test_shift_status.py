"""The ZoneShift status controller (runtime/shift_status.py) over an in-memory API: it starts
a shift, counts the workloads it applies to and is refused for, writes nothing when nothing
changed, and nothing at all on a standby."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.kit.fake_kube import ShiftApi, store_with
from tests.kit.perzone_sim import workload_body

from zonal_operator.api.zoneshift import ZoneShift
from zonal_operator.runtime.cache import Store
from zonal_operator.runtime.shift_status import ShiftStatusController


def shift_body(name: str = "maint-b", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "generation": 1},
        "spec": {"zone": "zone-b", "duration": "1h", "reason": "test", **spec},
    }


def keeper_for(store: Store, api: ShiftApi, active: bool = True) -> ShiftStatusController:
    bodies = {s.name: s for s in store.zoneshifts.values()}

    def deliver(_type: str | None, response: dict[str, Any]) -> None:
        # The API server's answer: the spec as it was, the status as written.
        name = response["metadata"]["name"]
        written = next(status for n, status in reversed(api.patches) if n == name)
        spec = bodies[name]
        store.zoneshifts[name] = ZoneShift.from_body(
            {**shift_body(name, zone=spec.zone, duration=spec.duration), "status": written}
        )

    flag = asyncio.Event()
    if active:
        flag.set()
    return ShiftStatusController(store, api, ThreadPoolExecutor(2), flag, deliver)


def test_the_keeper_starts_a_shift_counts_and_then_writes_nothing() -> None:
    solo = workload_body(2, zones=["zone-b"])
    solo["metadata"]["name"] = "solo"
    store = store_with(workload_body(9), solo)
    store.zoneshifts["maint-b"] = ZoneShift.from_body(shift_body())
    api = ShiftApi()
    keeper = keeper_for(store, api)

    async def passes() -> None:
        await keeper.sync()  # starts it: not in force before, so it selects nothing yet
        await keeper.sync()  # in force: counts
        await keeper.sync()  # nothing changed

    asyncio.run(passes())
    assert len(api.patches) == 2, api.patches
    started, counted = api.patches[0][1], api.patches[1][1]
    assert started["active"] is True and started["appliedWorkloads"] == 0
    assert (counted["appliedWorkloads"], counted["refusedWorkloads"]) == (1, 1)
    assert counted["refused"][0]["name"] == "solo"
    assert counted["startedAt"] == started["startedAt"]
    assert [e[2] for e in api.events] == ["ZoneShiftStarted", "ZoneShiftRefused"]


def test_a_standby_writes_nothing() -> None:
    store = store_with(workload_body(9))
    store.zoneshifts["maint-b"] = ZoneShift.from_body(shift_body())
    api = ShiftApi()
    keeper = keeper_for(store, api, active=False)

    async def run_a_while() -> None:
        task = asyncio.create_task(keeper.run())
        keeper.nudge()
        await asyncio.sleep(1.5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run_a_while())
    assert api.patches == [] and api.events == []


def test_a_refused_write_gate_is_no_error() -> None:
    store = store_with(workload_body(9))
    store.zoneshifts["maint-b"] = ZoneShift.from_body(shift_body())
    api = ShiftApi(leading=False)  # the gate refuses: leadership lost meanwhile
    keeper = keeper_for(store, api)

    async def run_a_while() -> None:
        task = asyncio.create_task(keeper.run())
        keeper.nudge()
        await asyncio.sleep(1.5)
        assert not task.done()  # the loop goes on
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run_a_while())
    assert api.patches == []


def test_a_reconcile_writes_the_one_zoneshift_it_is_given() -> None:
    store = store_with(workload_body(9))
    for name, zone in (("maint-a", "zone-a"), ("maint-b", "zone-b")):
        store.zoneshifts[name] = ZoneShift.from_body(shift_body(name, zone=zone))
    api = ShiftApi()
    keeper = keeper_for(store, api)
    asyncio.run(keeper.reconcile("maint-b"))
    assert [name for name, _ in api.patches] == ["maint-b"]
    asyncio.run(keeper.reconcile("gone"))  # deleted meanwhile: nothing to do
    assert [name for name, _ in api.patches] == ["maint-b"]


def test_the_worker_takes_each_queued_zoneshift_and_retries_a_failed_one() -> None:
    store = store_with(workload_body(9))
    for name, zone in (("maint-a", "zone-a"), ("maint-b", "zone-b")):
        store.zoneshifts[name] = ZoneShift.from_body(shift_body(name, zone=zone))

    class Flaky(ShiftApi):
        failed = False

        def patch_zoneshift_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]:
            if name == "maint-a" and not self.failed:
                self.failed = True
                raise RuntimeError("the API server is busy")
            return super().patch_zoneshift_status(name, status)

    api = Flaky()
    keeper = keeper_for(store, api)

    async def run_a_while() -> None:
        task = asyncio.create_task(keeper.run())
        keeper.nudge()
        await asyncio.sleep(2.0)  # a second to settle, half a second of backoff
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run_a_while())
    assert api.failed
    assert sorted(name for name, _ in api.patches) == ["maint-a", "maint-b"]
