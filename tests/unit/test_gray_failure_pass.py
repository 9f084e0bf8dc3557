"""The automatic shifts' pass (runtime/gray_failure.py) over a cache and a fake API: it samples
the opted-in workloads only, creates one automatic ZoneShift once the windows show it, writes
nothing more while it is in force, deletes only its own ended shifts, and starts over when it
may not write."""

from __future__ import annotations

import asyncio
import itertools
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.kit.fake_kube import store_with
from tests.kit.perzone_sim import ZONES

from zonal_operator.api.zoneshift import ZoneShift
from zonal_operator.core import gray_failure as gray
from zonal_operator.core.model import PodInfo
from zonal_operator.runtime.cache import Store
from zonal_operator.runtime.gray_failure import GrayFailure
from zonal_operator.runtime.kube import NotLeader

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
OLD = NOW - timedelta(minutes=10)


class Api:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.events: list[tuple[str, str]] = []
        self.leading = True
        self._uids = itertools.count(1)

    def create_zoneshift(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self.leading:
            raise NotLeader("standby")
        self.created.append(body)
        meta = {**body["metadata"], "uid": f"u{next(self._uids)}", "resourceVersion": "1"}
        return {**body, "metadata": meta}

    def delete_zoneshift(self, name: str, uid: str) -> None:
        self.deleted.append(name)

    def create_zoneshift_event(
        self, name: str, uid: str, *, type_: str, reason: str, message: str
    ) -> None:
        self.events.append((name, reason))

    def create_event(
        self, namespace: str, name: str, uid: str, *, type_: str, reason: str, message: str
    ) -> None:
        self.events.append((name, reason))


def body(name: str, opted: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": 6, "template": {}}
    if opted:
        spec["autoShift"] = {"enabled": True}
    return {"metadata": {"name": name, "namespace": "ns", "uid": name}, "spec": spec}


def place(store: Store, name: str, failing_in: str = "") -> None:
    for zone in ZONES:
        for i in range(2):
            pod = PodInfo(
                f"{name}-{zone}-{i}", node=f"{zone}-0", ready=zone != failing_in, created=OLD
            )
            store.place(("ns", name), zone, pod.name, pod)


def deliver(store: Store) -> Any:
    def put(_type: str | None, obj: dict[str, Any]) -> None:
        store.zoneshifts[obj["metadata"]["name"]] = ZoneShift.from_body(obj)

    return put


async def passes(shifter: GrayFailure, count: int, start: float = 0.0) -> list[Any]:
    """`count` samples 5 s apart; the judgements of the windows that closed."""
    judged = []
    for i in range(count):
        result = await shifter.step(NOW + timedelta(seconds=5 * i), start + 5.0 * (i + 1))
        if result is not None:
            judged.append(result)
    return judged


def make(store: Store, api: Api) -> GrayFailure:
    active = asyncio.Event()
    active.set()
    shifter = GrayFailure(store, api, ThreadPoolExecutor(2), active, deliver(store))
    shifter.window_started = 0.0
    return shifter


def test_two_failing_workloads_make_one_shift_and_nothing_more() -> None:
    store = store_with(body("a"), body("b"), body("c"), body("plain", opted=False))
    for name in ("a", "b", "plain"):
        place(store, name, failing_in="zone-b")
    place(store, "c")
    api = Api()
    shifter = make(store, api)

    async def run() -> None:
        judged = await passes(shifter, 8)  # two windows of four samples
        assert [j.zone for j in judged] == [None, "zone-b"]
        assert ("ns", "plain") not in shifter.windows
        # While it is in force: nothing more.
        await passes(shifter, 16, start=40.0)

    asyncio.run(run())
    assert len(api.created) == 1
    spec = api.created[0]["spec"]
    assert (spec["zone"], spec["optedInOnly"], spec["duration"]) == ("zone-b", True, "1h")
    assert "2 of 3 opted-in workloads" in spec["reason"]
    assert api.deleted == []
    assert ("a", "GrayFailure") in api.events and ("plain", "GrayFailure") not in api.events


def test_only_its_own_ended_shifts_are_deleted() -> None:
    store = store_with(body("a"))
    place(store, "a")
    past = {"startedAt": "2026-01-01T10:00:00Z", "expiresAt": "2026-01-01T11:00:00Z"}
    mine = gray.shift_body(gray.Judgement(zone="zone-a", evidence="e"), NOW, "1h")
    store.zoneshifts["mine"] = ZoneShift.from_body(
        {**mine, "metadata": {**mine["metadata"], "name": "mine", "uid": "1"}, "status": past}
    )
    theirs = {"metadata": {"name": "theirs"}, "spec": {"zone": "zone-a", "duration": "1h"}}
    store.zoneshifts["theirs"] = ZoneShift.from_body({**theirs, "status": past})
    api = Api()
    asyncio.run(passes(make(store, api), 4))
    assert api.deleted == ["mine"]


def test_a_replica_that_may_not_write_starts_its_windows_over() -> None:
    store = store_with(body("a"), body("b"))
    place(store, "a", failing_in="zone-b")
    place(store, "b", failing_in="zone-b")
    api = Api()
    api.leading = False
    shifter = make(store, api)

    async def run() -> None:
        try:
            await passes(shifter, 8)
        except NotLeader:
            shifter.reset()

    asyncio.run(run())
    assert api.created == [] and shifter.windows == {}


def test_a_workload_failing_alone_with_per_workload_action_gets_its_own_shift() -> None:
    alone = body("alone")
    alone["spec"]["autoShift"]["perWorkload"] = True
    store = store_with(alone, body("a"), body("b"))
    place(store, "alone", failing_in="zone-b")
    place(store, "a", failing_in="zone-c")  # alone too, without per-workload action
    place(store, "b")
    api = Api()
    shifter = make(store, api)

    async def run() -> None:
        judged = await passes(shifter, 8)
        assert [j.zone for j in judged] == [None, None]  # no zone failure
        await passes(shifter, 16, start=40.0)  # while it is in force: nothing more

    asyncio.run(run())
    [made] = api.created
    spec = made["spec"]
    assert spec["workload"] == {"namespace": "ns", "name": "alone"}
    assert (spec["zone"], spec["optedInOnly"], spec["duration"]) == ("zone-b", True, "1h")
    assert spec["reason"].startswith("Automatic: ns/alone alone fails in zone zone-b")
    assert ("alone", "GrayFailure") in api.events and ("a", "GrayFailure") not in api.events
    assert ("ns", "a") in shifter.windows


def test_a_shift_of_one_workload_ending_starts_only_its_windows_over() -> None:
    store = store_with(body("a"), body("b"))
    place(store, "a")
    place(store, "b")
    api = Api()
    shifter = make(store, api)
    until = {"startedAt": "2026-01-01T11:00:00Z", "expiresAt": "2026-01-01T12:01:00Z"}
    ended = gray.automatic_body(
        "one", "zone-b", "k", "e", "1h", workload={"namespace": "ns", "name": "a"}
    )
    store.zoneshifts["one"] = ZoneShift.from_body({**ended, "status": until})

    async def run() -> None:
        await passes(shifter, 8)
        assert set(shifter.windows) == {("ns", "a"), ("ns", "b")}
        del store.zoneshifts["one"]  # deleted by somebody
        await shifter.step(NOW + timedelta(seconds=45), 45.0)
        assert set(shifter.windows) == {("ns", "b")}

    asyncio.run(run())


def test_a_held_workload_is_told_once_per_zone() -> None:
    alone = body("alone")
    alone["spec"]["autoShift"]["perWorkload"] = True
    alone["status"] = {"zoneRollout": {"inFlight": ["zone-b"]}}
    store = store_with(alone, body("b"))
    place(store, "alone", failing_in="zone-b")
    place(store, "b")
    api = Api()
    asyncio.run(passes(make(store, api), 24))  # six windows, held in five
    assert api.created == []
    assert api.events.count(("alone", "AutoShiftHeld")) == 1
