"""The zone-loss forecast (core/loss_forecast.py): room per node and zone, exact against a
brute-force placement; the losses of PerZone and Spread workloads; the ZoneLossCovered
condition and status.zones[].lossShortfall through a PerZone reconcile."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.kit.perzone_sim import (
    ZONES,
    Sim,
    cluster_nodes,
    condition,
    workload_body,
    zone_entry,
)

from zonal_operator.api.workload import Workload
from zonal_operator.core import headroom, loss_forecast
from zonal_operator.core.distribution import distribute
from zonal_operator.core.loss_forecast import NodeRoom
from zonal_operator.core.model import NodeInfo, Silence, Taint
from zonal_operator.core.plan import PerZoneObserved
from zonal_operator.core.requests import pod_requests_milli, quantity_milli

ZONE_KEY = "topology.kubernetes.io/zone"
T = datetime(2026, 12, 8, tzinfo=UTC)
RESOURCES = ("cpu", "memory")


def node(name: str, zone: str, **extra: object) -> NodeInfo:
    fields: dict[str, object] = {"labels": {ZONE_KEY: zone}, "ready": "True", **extra}
    return NodeInfo(name, **fields)  # type: ignore[arg-type]


def fits_brute_force(
    frees: Sequence[tuple[Mapping[str, int], int]], need: Mapping[str, int], count: int
) -> bool:
    """Whether ``count`` pods asking ``need`` can be placed on the nodes, by trying every way
    of handing them out (small inputs only)."""
    for split in itertools.product(range(count + 1), repeat=len(frees)):
        if sum(split) != count:
            continue
        if all(
            n <= pods and all(n * need.get(r, 0) <= free.get(r, 0) for r in need)
            for n, (free, pods) in zip(split, frees, strict=True)
        ):
            return True
    return count == 0


NEEDS = st.fixed_dictionaries({r: st.integers(0, 4) for r in RESOURCES})
FREES = st.lists(
    st.tuples(st.fixed_dictionaries({r: st.integers(0, 9) for r in RESOURCES}), st.integers(0, 4)),
    min_size=1,
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(FREES, NEEDS)
def test_a_zones_room_is_exactly_what_a_placement_can_do(
    frees: list[tuple[dict[str, int], int]], need: dict[str, int]
) -> None:
    rooms = [
        NodeRoom(node(f"n{i}", "z"), free=free, free_pods=pods)
        for i, (free, pods) in enumerate(frees)
    ]
    room = loss_forecast.zone_rooms(rooms, {}, ZONE_KEY, need, cap=12)["z"]
    assert fits_brute_force(frees, need, room)
    assert room == 12 or not fits_brute_force(frees, need, room + 1)


@settings(max_examples=200, deadline=None)
@given(FREES, NEEDS, st.lists(st.integers(0, 2), min_size=3, max_size=3))
def test_own_placeholders_are_room_for_the_workload(
    frees: list[tuple[dict[str, int], int]], need: dict[str, int], held: list[int]
) -> None:
    # A placeholder asks what one pod asks: freeing it makes room for one pod exactly.
    rooms = [
        NodeRoom(node(f"n{i}", "z"), free=free, free_pods=pods)
        for i, (free, pods) in enumerate(frees)
    ]
    placeholders = {f"n{i}": held[i] for i in range(len(frees))}
    freed = [
        ({r: free.get(r, 0) + held[i] * need[r] for r in need}, pods + held[i])
        for i, (free, pods) in enumerate(frees)
    ]
    room = loss_forecast.zone_rooms(rooms, {}, ZONE_KEY, need, cap=20, placeholders=placeholders)[
        "z"
    ]
    assert room >= loss_forecast.zone_rooms(rooms, {}, ZONE_KEY, need, cap=20)["z"]
    assert fits_brute_force(freed, need, room)
    assert room == 20 or not fits_brute_force(freed, need, room + 1)


def test_only_nodes_the_scheduler_would_use_count() -> None:
    free, need = {"cpu": 4000}, {"cpu": 1000}
    rooms = [
        NodeRoom(node("ok", "a"), free=free, free_pods=10),
        NodeRoom(node("cordoned", "a", unschedulable=True), free=free, free_pods=10),
        NodeRoom(node("not-ready", "a", ready="False"), free=free, free_pods=10),
        NodeRoom(
            node("tainted", "a", taints=(Taint("dedicated", "NoSchedule", "gpu"),)),
            free=free,
            free_pods=10,
        ),
        NodeRoom(node("gpu", "b", labels={ZONE_KEY: "b", "kind": "gpu"}), free=free, free_pods=10),
        NodeRoom(NodeInfo("no-zone", ready="True"), free=free, free_pods=10),
        # Silent but Ready: the scheduler still places pods there, and so does the forecast.
        NodeRoom(node("silent", "b", silence=Silence(T, T)), free=free, free_pods=10),
    ]
    spec: dict[str, object] = {"nodeSelector": {}}
    assert loss_forecast.zone_rooms(rooms, spec, ZONE_KEY, need, cap=99) == {"a": 4, "b": 8}
    picky = {"nodeSelector": {"kind": "gpu"}}
    assert loss_forecast.zone_rooms(rooms, picky, ZONE_KEY, need, cap=99) == {"a": 0, "b": 4}
    # A resource the node does not have at all fits nothing; a pod asking nothing fits the
    # free pod slots.
    assert loss_forecast.zone_rooms(rooms, spec, ZONE_KEY, {"nvidia.com/gpu": 1000}, cap=99) == {
        "a": 0,
        "b": 0,
    }
    assert loss_forecast.zone_rooms(rooms, spec, ZONE_KEY, {}, cap=99) == {"a": 10, "b": 20}
    assert loss_forecast.zone_rooms(rooms, spec, ZONE_KEY, {}, cap=3) == {"a": 3, "b": 3}


def test_quantities_and_requests_as_the_scheduler_counts_them() -> None:
    assert quantity_milli("250m") == 250
    assert quantity_milli("1.5Gi") == 1536 * 2**20 * 1000
    assert quantity_milli("1e3") == quantity_milli("1k") == 1_000_000
    assert quantity_milli("100n") == 1  # rounded up, as MilliValue is
    spec = {
        "containers": [
            {"resources": {"requests": {"cpu": "200m", "memory": "64Mi"}}},
            {"resources": {"requests": {"cpu": "300m"}}},
        ],
        "initContainers": [{"resources": {"requests": {"cpu": "1", "memory": "32Mi"}}}],
        "overhead": {"cpu": "10m"},
    }
    assert pod_requests_milli(spec) == {"cpu": 1010, "memory": 64 * 2**20 * 1000}


def workload(replicas: int, **failover: object) -> Workload:
    return Workload.from_body(workload_body(replicas, failover=failover))


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, int], dict[str, int], int]:
    zones = draw(st.lists(st.sampled_from("abcd"), min_size=2, max_size=4, unique=True))
    replicas = draw(st.integers(1, 20))
    rooms = {z: draw(st.integers(0, 12)) for z in zones}
    return distribute(replicas, zones, max_skew=1), rooms, replicas


@given(cases())
def test_a_per_zone_loss_is_short_exactly_where_the_failover_would_not_fit(
    case: tuple[dict[str, int], dict[str, int], int],
) -> None:
    shares, rooms, replicas = case
    wl = workload(replicas)
    for loss in loss_forecast.per_zone_losses(wl, shares, rooms):
        after = headroom.after_loss(shares, loss.zone)
        placed = {z: shares[z] + min(rooms[z], after[z] - shares[z]) for z in after}
        # What the others would run after the failover, with the room they have, is what was
        # asked less the shortfall.
        assert sum(placed.values()) == replicas - loss.shortfall
        assert loss.moving == shares[loss.zone]
        assert loss.shortfall <= loss.moving
        assert sum(n for _, n in loss.short_in) == loss.shortfall


@given(cases())
def test_pooled_room_is_never_worse_than_pinned(
    case: tuple[dict[str, int], dict[str, int], int],
) -> None:
    shares, rooms, replicas = case
    pinned = loss_forecast.per_zone_losses(workload(replicas), shares, rooms)
    pooled = loss_forecast.pooled_losses(shares, rooms)
    for a, b in zip(pinned, pooled, strict=True):
        assert a.zone == b.zone and b.shortfall <= a.shortfall


def test_static_stability_is_short_only_of_what_the_zones_left_lack() -> None:
    wl = workload(9, headroom={"mode": "StaticStability"})
    shares = {"a": 5, "b": 5, "c": 5}
    losses = loss_forecast.per_zone_losses(wl, shares, {"a": 0, "b": 0, "c": 0})
    assert all(loss.shortfall == 0 for loss in losses)
    short = loss_forecast.per_zone_losses(wl, {"a": 5, "b": 5, "c": 3}, {"a": 0, "b": 0, "c": 0})
    assert [(loss.zone, loss.shortfall) for loss in short] == [("a", 1), ("b", 1), ("c", 0)]


def test_one_serving_zone_is_never_covered() -> None:
    (loss,) = loss_forecast.per_zone_losses(workload(3), {"a": 3}, {"a": 9})
    assert loss.shortfall == 3
    (pooled,) = loss_forecast.pooled_losses({"a": 3}, {"a": 9})
    assert pooled.shortfall == 3


@dataclasses.dataclass
class RoomSim(Sim):
    zone_room: dict[str, int] | None = None

    def observed(self) -> PerZoneObserved:
        return dataclasses.replace(super().observed(), zone_room=self.zone_room)


def test_the_condition_and_the_shortfalls_through_a_reconcile() -> None:
    sim = RoomSim(workload_body(9), cluster_nodes(), zone_room=dict.fromkeys(ZONES, 9))
    sim.converge()
    covered = condition(sim.status, "ZoneLossCovered")
    assert (covered["status"], covered["reason"]) == ("True", "ZoneLossFits")
    assert [zone_entry(sim.status, z)["lossShortfall"] for z in ZONES] == [0, 0, 0]
    assert sim.plan().status is None  # nothing more to write: the same room, the same answer

    sim.zone_room = {"zone-a": 1, "zone-b": 0, "zone-c": 9}
    result = sim.step()
    short = condition(sim.status, "ZoneLossCovered")
    assert (short["status"], short["reason"]) == ("False", "ZoneLossShortfall")
    # Losing zone-a moves its 3 replicas as 2 to zone-b (no room) and 1 to zone-c (room);
    # the worst zone comes first, the first by name on a tie.
    assert short["message"] == (
        "if zone-a were lost now, 2 of the 3 replicas that would move would find no room "
        "(zone-b short 2); short too if lost: zone-b 1, zone-c 2"
    )
    assert [zone_entry(sim.status, z)["lossShortfall"] for z in ZONES] == [2, 1, 2]
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "ZoneLossShortfall")]
    assert not sim.step().events  # the event comes once, when it turns False

    sim.zone_room = None  # the forecast turned off: its condition and fields go
    sim.step()
    assert all(c["type"] != "ZoneLossCovered" for c in sim.status["conditions"])
    assert "lossShortfall" not in zone_entry(sim.status, "zone-a")


def test_zone_rooms_of_real_requests() -> None:
    need = pod_requests_milli({"containers": [{"resources": {"requests": {"cpu": "500m"}}}]})
    free = {"cpu": quantity_milli("1750m"), "memory": quantity_milli("1Gi")}
    rooms = [NodeRoom(node("n", "a"), free=free, free_pods=110)]
    assert loss_forecast.zone_rooms(rooms, {}, ZONE_KEY, need, cap=9) == {"a": 3}
