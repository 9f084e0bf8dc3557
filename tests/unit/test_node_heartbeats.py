"""The runtime side of the heartbeat verdict (runtime/heartbeats.py): renewals seen on the
watch, silence proven only by a read from the API server, and distrust of a quiet watch."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from zonal_operator.core.model import NodeInfo, Silence
from zonal_operator.core.node_changes import NodeChange
from zonal_operator.runtime.cache import Store
from zonal_operator.runtime.heartbeats import Heartbeats
from zonal_operator.runtime.intake import Intake
from zonal_operator.runtime.workqueue import WorkQueue

T0 = datetime(2026, 12, 4, 6, 16, 0, tzinfo=UTC)
ZONES = ("zone-a", "zone-b", "zone-c")


def lease(name: str, renew: int, seconds: int = 40) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {
            "renewTime": f"2026-12-04T06:{renew // 60:02d}:{renew % 60:02d}.000000Z",
            "leaseDurationSeconds": seconds,
        },
    }


class World:
    """A store with two nodes per zone, a clock the test moves, and an API server's Leases."""

    def __init__(self) -> None:
        self.store = Store()
        for zone in ZONES:
            for i in range(2):
                name = f"{zone}-{i}"
                labels = {"topology.kubernetes.io/zone": zone}
                self.store.put_node(NodeInfo(name, labels=labels, ready="True"))
        self.now, self.mono = T0, 1000.0
        self.server: dict[str, dict[str, Any]] = {}  # what a fresh read returns
        self.reads: list[str] = []
        self.failing_reads = False
        self.changes = 0
        self.node_changes: list[NodeChange | None] = []
        self.hb = Heartbeats(
            self.store, self.changed, self.read, now=lambda: self.now, monotonic=lambda: self.mono
        )
        for name in self.store.nodes:
            self.renew(name, 0)

    def changed(self, change: NodeChange | None) -> None:
        self.changes += 1
        self.node_changes.append(change)

    async def read(self, name: str) -> Mapping[str, Any] | None:
        self.reads.append(name)
        if self.failing_reads:
            raise OSError("connection refused")
        return self.server.get(name)

    def renew(self, name: str, at: int, watched: bool = True) -> None:
        body = lease(name, at)
        self.server[name] = body
        if watched:
            self.hb.on_lease("MODIFIED", body)

    def advance(self, seconds: float, renew_others: tuple[str, ...] = ()) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds
        elapsed = int((self.now - T0).total_seconds())
        for name in renew_others:
            self.renew(name, elapsed)

    def tick(self) -> None:
        asyncio.run(self.hb.tick())

    def silence(self, name: str) -> Silence | None:
        return self.store.nodes[name].silence


def others(world: World, zone: str) -> tuple[str, ...]:
    return tuple(n for n in world.store.nodes if not n.startswith(zone))


def test_renewing_nodes_are_never_read_and_never_silent() -> None:
    world = World()
    for _ in range(6):
        world.advance(10, renew_others=tuple(world.store.nodes))
        world.tick()
    assert world.reads == []
    assert all(n.silence is None for n in world.store.nodes.values())
    assert world.hb.trusted


def test_a_zone_that_stops_renewing_is_read_and_proven_silent() -> None:
    world = World()
    world.advance(10, renew_others=tuple(world.store.nodes))
    last = world.now
    world.advance(10, renew_others=others(world, "zone-a"))
    world.tick()
    assert world.reads == []  # 10 s: not even late
    world.advance(6, renew_others=others(world, "zone-a"))  # 16 s > 15 s: quiet
    world.tick()
    assert sorted(world.reads) == ["zone-a-0", "zone-a-1"]
    # The renewal the silence runs from, as served: a new leader resumes from it.
    renewed = world.server["zone-a-0"]["spec"]["renewTime"]
    assert world.silence("zone-a-0") == Silence(last, world.now, renew_time=renewed)
    assert world.changes == 2  # re-queued (soon) as each silence started: a node failing
    assert [c is not None and c.failing for c in world.node_changes] == [True, True]
    world.advance(1, renew_others=others(world, "zone-a"))
    world.tick()
    assert world.silence("zone-a-0") == Silence(last, world.now, renew_time=renewed)
    assert world.changes == 2  # a confirmation alone re-queues nothing
    # The kubelet is back: the first renewal on the watch ends the silence.
    world.renew("zone-a-0", 40)
    assert world.silence("zone-a-0") is None
    assert world.changes == 3
    assert world.node_changes[-1] is not None and not world.node_changes[-1].failing


def test_a_renewal_the_watch_missed_is_found_by_the_read_and_proves_nothing() -> None:
    world = World()
    world.advance(16, renew_others=others(world, "zone-a"))
    world.renew("zone-a-0", 16, watched=False)  # the watch lost this event
    world.renew("zone-a-1", 16, watched=False)
    world.tick()
    assert world.silence("zone-a-0") is None and world.silence("zone-a-1") is None
    assert world.changes == 0
    # Counted renewed at the read: quiet again only 15 s later.
    world.reads.clear()
    world.advance(10, renew_others=others(world, "zone-a"))
    world.tick()
    assert world.reads == []


def test_a_failed_read_proves_nothing() -> None:
    world = World()
    world.failing_reads = True
    world.advance(30, renew_others=others(world, "zone-a"))
    world.tick()
    assert world.reads and world.silence("zone-a-0") is None


def test_a_node_whose_lease_is_gone_is_judged_by_its_ready_condition() -> None:
    world = World()
    del world.server["zone-a-0"]
    world.advance(16, renew_others=others(world, "zone-a"))
    world.tick()
    assert world.silence("zone-a-0") is None and "zone-a-0" not in world.hb.leases
    assert world.silence("zone-a-1") is not None


def test_not_ready_nodes_are_not_read() -> None:
    world = World()
    node = world.store.nodes["zone-a-0"]
    world.store.put_node(NodeInfo(node.name, labels=node.labels, ready="Unknown"))
    world.advance(16, renew_others=others(world, "zone-a"))
    world.tick()
    assert world.reads == ["zone-a-1"]


def test_a_quiet_watch_is_distrusted_until_renewals_are_seen_again() -> None:
    world = World()
    world.advance(21)  # nothing delivered for two renew intervals and more
    world.tick()
    assert not world.hb.trusted
    assert not world.store.node_snapshot().heartbeats_trusted
    assert world.changes >= 1
    world.advance(1, renew_others=tuple(world.store.nodes))
    world.tick()
    assert world.hb.trusted and world.store.node_snapshot().heartbeats_trusted


def test_every_zone_quiet_is_distrusted() -> None:
    world = World()
    # One node renews now and then (the watch is alive), but every zone looks silent.
    world.advance(16, renew_others=("zone-c-1",))
    world.tick()
    assert world.hb.trusted  # zone-c has one quiet node of two: not every zone
    world.advance(1)
    world.hb.on_lease("MODIFIED", lease("zone-c-1", 16))  # no renewal, but the watch is alive
    world.advance(15)
    world.tick()
    assert not world.hb.trusted


def test_a_node_update_keeps_its_silence() -> None:
    intake = Intake(Store(), WorkQueue(), node_batch_seconds=0, deployment_batch_seconds=0)
    silence = Silence(since=T0, confirmed=T0 + timedelta(seconds=30))
    intake.store.put_node(NodeInfo("n", ready="True", silence=silence))
    ready = {"type": "Ready", "status": "True"}
    body = {"metadata": {"name": "n"}, "status": {"conditions": [ready]}}
    intake.on_node("MODIFIED", body)
    assert intake.store.nodes["n"].silence == silence
