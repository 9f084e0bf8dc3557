"""Zone drills in the runtime (runtime/drills.py, through the ZoneShift status controller) over an
in-memory API and a clock of the test's own: a run starts on time, the meter measures a dip
between two passes as the Deployment events arrive, the end is written and counted in the
metrics; a run is skipped while another shift is in force; the intake hands the drilled
workloads' Deployment changes to the keeper."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from tests.kit.fake_kube import ShiftApi, store_with
from tests.kit.perzone_sim import UID, cluster_nodes, workload_body

from zonal_operator.api.group import MANAGED_BY, MANAGED_BY_LABEL, WORKLOAD_LABEL, ZONE_LABEL
from zonal_operator.api.zoneshift import ZoneShift
from zonal_operator.core.drills import Reading
from zonal_operator.core.naming import deployment_name
from zonal_operator.runtime import metrics
from zonal_operator.runtime import shift_status as shifts_module
from zonal_operator.runtime.cache import Key, Store
from zonal_operator.runtime.drills import reading
from zonal_operator.runtime.intake import Intake
from zonal_operator.runtime.shift_status import ShiftStatusController
from zonal_operator.runtime.workqueue import WorkQueue

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
WEB = ("shop", "web")


class Clock(datetime):
    current: ClassVar[datetime] = T0

    @classmethod
    def now(cls, tz: Any = None) -> Clock:  # type: ignore[override]
        return cls.current  # type: ignore[return-value]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> type[Clock]:
    monkeypatch.setattr(shifts_module, "datetime", Clock)
    Clock.current = T0 + timedelta(seconds=2)
    return Clock


def deployment(zone: str, ready: int, version: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": deployment_name("web", zone),
            "namespace": "shop",
            "resourceVersion": str(version),
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, ZONE_LABEL: zone},
            "ownerReferences": [
                {"kind": "ZonalWorkload", "name": "web", "uid": UID, "controller": True}
            ],
        },
        "spec": {"replicas": ready},
        "status": {"readyReplicas": ready},
    }


def drill_body(name: str = "weekly-b", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "generation": 1,
            "creationTimestamp": "2026-11-01T00:00:00Z",
        },
        "spec": {"zone": "zone-b", "duration": "10m", "schedule": "0 10 * * 1"},
        "status": status,
    }


def keeper_over(store: Store, api: ShiftApi) -> ShiftStatusController:
    bodies = dict(store.zoneshifts)

    def deliver(_type: str | None, response: dict[str, Any]) -> None:
        name = response["metadata"]["name"]
        written = next(status for n, status in reversed(api.patches) if n == name)
        kept = {k: v for k, v in written.items() if v is not None}
        before = bodies[name]
        store.zoneshifts[name] = ZoneShift.from_body(
            {
                "metadata": {
                    "name": name,
                    "uid": before.uid,
                    "generation": 1,
                    "creationTimestamp": "2026-11-01T00:00:00Z",
                },
                "spec": {
                    "zone": before.zone,
                    "duration": before.duration,
                    "schedule": before.schedule,
                },
                "status": kept,
            }
        )

    active = asyncio.Event()
    active.set()
    return ShiftStatusController(store, api, ThreadPoolExecutor(2), active, deliver)


def sample(name: str, **labels: str) -> float:
    value = metrics.DRILL_RUNS.collect()[0]  # a registry read, for the labels given
    for s in value.samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    return 0.0


def histogram_count(zoneshift: str) -> float:
    for family in metrics.DRILL_CAPACITY_BACK.collect():
        for s in family.samples:
            if s.name.endswith("_count") and s.labels.get("zoneshift") == zoneshift:
                return float(s.value)
    return 0.0


def test_a_run_starts_measures_a_dip_between_passes_and_is_counted_at_its_end(
    clock: type[Clock],
) -> None:
    store = store_with(workload_body(9))
    version = iter(range(1, 1000))
    for zone in ("zone-a", "zone-b", "zone-c"):
        store.put_deployment(deployment(zone, 3, next(version)))
    store.zoneshifts["weekly-b"] = ZoneShift.from_body(drill_body())
    api = ShiftApi()
    keeper = keeper_over(store, api)

    asyncio.run(keeper.sync())
    [(_, started)] = api.patches
    assert started["active"] is True and started["runs"][0]["outcome"] == "Running"
    assert [e[2] for e in api.events] == ["DrillStarted"]
    assert store.drilled == {WEB}

    # Between passes: zone-a and -c surge, then Ready dips to 8 for a moment.
    clock.current = T0 + timedelta(seconds=20)
    for zone, ready in (("zone-a", 5), ("zone-c", 4), ("zone-b", 0), ("zone-a", 4), ("zone-a", 5)):
        store.put_deployment(deployment(zone, ready, next(version)))
        keeper.nudge(WEB)
    # A moment later it is all back: the pass finds 9 Ready, yet the dip was measured.
    clock.current = T0 + timedelta(seconds=25)
    asyncio.run(keeper.sync())
    item = api.patches[-1][1]["runs"][0]["workloads"][0]
    assert (item["lowestReady"], item["failed"]) == (8, True)
    assert item["capacityBackSeconds"] == 18  # zone-c at 4: 9 Ready outside zone-b, at +20s

    failed_before = sample(
        "zonal_operator_drill_runs_total", zoneshift="weekly-b", outcome="failed"
    )
    clock.current = T0 + timedelta(minutes=10, seconds=1)
    asyncio.run(keeper.sync())
    ended = api.patches[-1][1]
    assert ended["active"] is False and ended["runs"][0]["outcome"] == "Failed"
    assert api.events[-1][2] == "DrillFailed"
    assert store.drilled == set()
    failed_after = sample("zonal_operator_drill_runs_total", zoneshift="weekly-b", outcome="failed")
    assert failed_after == failed_before + 1
    assert histogram_count("weekly-b") >= 1

    writes = len(api.patches)
    clock.current = T0 + timedelta(days=1)
    asyncio.run(keeper.sync())
    assert len(api.patches) == writes  # between runs: nothing


def test_a_run_is_skipped_while_another_shift_is_in_force(clock: type[Clock]) -> None:
    store = store_with(workload_body(9))
    for i, zone in enumerate(("zone-a", "zone-b", "zone-c")):
        store.put_deployment(deployment(zone, 3, i + 1))
    store.zoneshifts["weekly-b"] = ZoneShift.from_body(drill_body())
    store.zoneshifts["maint-a"] = ZoneShift.from_body(
        {
            "metadata": {"name": "maint-a", "uid": "uid-maint-a", "generation": 1},
            "spec": {"zone": "zone-a", "duration": "1h"},
            "status": {
                "startedAt": "2026-12-07T09:30:00Z",
                "countedFrom": "2026-12-07T09:30:00Z",
                "duration": "1h",
                "expiresAt": "2026-12-07T10:30:00Z",
            },
        }
    )
    api = ShiftApi()
    keeper = keeper_over(store, api)
    skipped_before = sample(
        "zonal_operator_drill_runs_total", zoneshift="weekly-b", outcome="skipped"
    )
    asyncio.run(keeper.sync())
    drill = next(status for name, status in api.patches if name == "weekly-b")
    [run] = drill["runs"]
    assert (run["skipped"], run["reason"]) == (True, "ShiftInForce")
    assert "maint-a" in run["message"]
    assert ("weekly-b", "Warning", "DrillSkipped") in api.events
    skipped_after = sample(
        "zonal_operator_drill_runs_total", zoneshift="weekly-b", outcome="skipped"
    )
    assert skipped_after == skipped_before + 1
    assert store.drilled == set()


class Seen(Intake):
    """An intake that records what it hands on to the drill keeper."""

    def __init__(self) -> None:
        self.calls: list[Key | None] = []
        super().__init__(
            Store(),
            WorkQueue(),
            node_batch_seconds=1.0,
            deployment_batch_seconds=1.0,
            shifts_changed=self.calls.append,
        )


def test_the_intake_hands_only_the_drilled_workloads_deployment_changes_on() -> None:
    intake = Seen()
    intake.on_deployment("MODIFIED", deployment("zone-a", 3, 1))
    assert intake.calls == []
    intake.store.drilled = {WEB}
    intake.on_deployment("MODIFIED", deployment("zone-a", 4, 2))
    assert intake.calls == [WEB]


def spread_pod(name: str, node: str, ready: bool = True, version: int = 1) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"uid-{name}",
            "resourceVersion": str(version),
            "labels": {WORKLOAD_LABEL: "web"},
        },
        "spec": {"nodeName": node},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_a_spread_workload_is_read_from_its_pods_and_its_pod_changes_handed_on() -> None:
    intake = Seen()
    for node in cluster_nodes():
        intake.store.put_node(node)
    intake.store.workloads[WEB] = workload_body(4, placement="Spread")
    intake.on_pod("ADDED", spread_pod("web-1", "zone-a-0"))
    assert intake.calls == []
    intake.store.drilled = {WEB}
    intake.on_pod("ADDED", spread_pod("web-2", "zone-b-0"))
    intake.on_pod("ADDED", spread_pod("web-3", "zone-c-0", ready=False))
    intake.on_pod("ADDED", spread_pod("web-4", "gone-node"))
    assert intake.calls == [WEB, WEB, WEB]
    # Ready: web-1, web-2, web-4; outside zone-b: web-1 (web-4's node is not known).
    assert reading(intake.store, WEB, "zone-b") == Reading(4, 3, 1)


def test_the_keeper_wakes_at_the_next_scheduled_time(clock: type[Clock]) -> None:
    store = store_with(workload_body(9))
    store.zoneshifts["weekly-b"] = ZoneShift.from_body(drill_body())
    keeper = keeper_over(store, ShiftApi())
    clock.current = T0 - timedelta(seconds=10)
    assert keeper._requeue_after() == pytest.approx(10.5)
    clock.current = T0 - timedelta(hours=1)
    assert keeper._requeue_after() == shifts_module.RESYNC_SECONDS


def test_a_drill_made_a_standing_shift_drops_the_drills_status_fields(
    clock: type[Clock],
) -> None:
    store = store_with(workload_body(9))
    drill = drill_body(schedule="0 10 * * 1", nextRunAt="2026-12-14T10:00:00Z", runs=[])
    del drill["spec"]["schedule"]  # edited: no longer a drill
    store.zoneshifts["weekly-b"] = ZoneShift.from_body(drill)
    api = ShiftApi()
    asyncio.run(keeper_over(store, api).sync())
    [(_, patch)] = api.patches
    assert patch["schedule"] is None and patch["runs"] is None and patch["nextRunAt"] is None
    assert patch["active"] is True  # now a standing shift, in force from now


def test_a_shift_started_in_the_same_pass_is_in_force_for_the_drill(clock: type[Clock]) -> None:
    store = store_with(workload_body(9))
    for i, zone in enumerate(("zone-a", "zone-b", "zone-c")):
        store.put_deployment(deployment(zone, 3, i + 1))
    store.zoneshifts["weekly-b"] = ZoneShift.from_body(drill_body())
    store.zoneshifts["maint-c"] = ZoneShift.from_body(
        {
            "metadata": {"name": "maint-c", "uid": "uid-maint-c", "generation": 1},
            "spec": {"zone": "zone-c", "duration": "1h"},
        }
    )
    api = ShiftApi()
    keeper = keeper_over(store, api)
    asyncio.run(keeper.sync())
    drill = next(status for name, status in api.patches if name == "weekly-b")
    assert drill["runs"][0]["reason"] == "ShiftInForce"
