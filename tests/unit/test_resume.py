"""A new leader resumes a heartbeat verdict in progress (core/resume.py, runtime/heartbeats.py,
Controller.lead): the silence a previous leader recorded on the leader-election Lease counts
from where it was, once a fresh read of the node's Lease shows no renewal since; any renewal
discards it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tests.kit.fake_kube import StatusApi, status_workload
from tests.kit.perzone_sim import (
    NOW,
    dep,
    scales,
    steady,
    zone_entry,
    zone_nodes,
)

from zonal_operator.api.group import SILENCES_ANNOTATION
from zonal_operator.core.health import zone_health
from zonal_operator.core.heartbeat import silent
from zonal_operator.core.model import NodeInfo, Silence
from zonal_operator.core.resume import Recorded, record, recorded, resume
from zonal_operator.runtime.controller import Controller, Settings
from zonal_operator.runtime.heartbeats import Heartbeats

TIMEOUT = 20
RENEW = "2025-03-01T11:59:29.123456Z"  # a renewTime as served (the kubelet's clock)
LAST = NOW - timedelta(seconds=31)


def silenced(zone: str, since: datetime, confirmed: datetime, count: int = 3) -> list[NodeInfo]:
    return [
        replace(n, silence=Silence(since, confirmed, renew_time=f"{RENEW}-{n.name}"))
        for n in zone_nodes(zone, count)
    ]


def others(nodes: list[NodeInfo], zone: str) -> list[NodeInfo]:
    return [n for n in nodes if not n.name.startswith(zone)]


# --- what the leader that proved the silence records ------------------------------------------


def test_the_record_holds_every_proven_silence_the_longest_first() -> None:
    early = LAST - timedelta(seconds=5)
    text = record(
        [
            ("n2", Silence(LAST, NOW, renew_time=f"{RENEW}-n2")),
            ("n1", Silence(early, NOW, renew_time=f"{RENEW}-n1")),
        ]
    )
    assert list(json.loads(text)) == ["n1", "n2"]
    assert recorded(text) == {
        "n1": [Recorded(f"{RENEW}-n1", early)],
        "n2": [Recorded(f"{RENEW}-n2", LAST)],
    }
    assert record([]) == ""  # no silence: nothing on the Lease
    # Bounded: what does not fit is left out, the latest silences first.
    many = [(f"n{i:03}", Silence(LAST + timedelta(seconds=i), NOW, RENEW)) for i in range(100)]
    bounded = record(many, limit=1000)
    assert len(bounded) <= 1000 and 0 < len(json.loads(bounded)) < 100
    assert list(json.loads(bounded)) == [f"n{i:03}" for i in range(len(json.loads(bounded)))]


def test_the_record_rounds_the_time_up_and_keeps_the_renew_time_as_served() -> None:
    since = datetime(2025, 3, 1, 11, 59, 29, 400000, tzinfo=UTC)
    assert json.loads(record([("n1", Silence(since, NOW, renew_time=RENEW))])) == {
        "n1": [RENEW, "2025-03-01T11:59:30Z"]
    }
    exact = since.replace(microsecond=0)
    assert json.loads(record([("n1", Silence(exact, NOW, RENEW))]))["n1"][1] == (
        "2025-03-01T11:59:29Z"
    )
    assert record([("n1", Silence(exact, NOW))]) == ""  # no renewTime seen: nothing to resume


def test_a_record_that_cannot_be_read_is_no_evidence() -> None:
    for text in ("", "not json", "[]", '{"n1": "x"}', '{"n1": ["", "2025-03-01T11:59:29Z"]}',
                 '{"n1": ["r", "yesterday"]}', '{"n1": ["r"]}'):  # fmt: skip
        assert recorded(text) == {}, text


def test_no_status_records_silent_nodes() -> None:
    """A zone's silence is the zone's: recorded once, on the leader's Lease, never in each
    workload's status (a thousand workloads would write it a thousand times)."""
    sim = steady(9)
    sim.nodes = others(sim.nodes, "zone-a") + silenced("zone-a", LAST, NOW)
    entry = zone_entry(sim.plan().status, "zone-a")
    assert entry["health"] == "Unhealthy" and "silentNodes" not in entry


# --- the decision --------------------------------------------------------------------------


def test_a_read_showing_the_recorded_renewal_resumes_the_silence_from_the_record() -> None:
    record = Recorded(RENEW, LAST)
    silence = resume([record], RENEW, NOW, own=(RENEW, NOW - timedelta(seconds=2)))
    assert silence == Silence(since=LAST, confirmed=NOW, renew_time=RENEW)
    # This leader's own sight of the same renewal, earlier than the record, counts.
    early = NOW - timedelta(minutes=5)
    assert resume([record], RENEW, NOW, own=(RENEW, early)) == Silence(early, NOW, RENEW)
    # Two leaders recorded the same renewal at different moments: the later counts.
    later = Recorded(RENEW, LAST + timedelta(seconds=3))
    assert resume([record, later], RENEW, NOW) == Silence(later.since, NOW, RENEW)


def test_any_renewal_since_the_record_discards_it() -> None:
    record = Recorded(RENEW, LAST)
    newer = "2025-03-01T11:59:39.123456Z"
    assert resume([record], newer, NOW) is None
    # Even one whose renewTime, on the kubelet's clock, reads as older: a clock set back.
    assert resume([record], "2025-03-01T11:00:00.000000Z", NOW) is None
    assert resume([record], "", NOW) is None  # no Lease
    # This leader saw a renewal since (the read and its own sight disagree).
    assert resume([record], RENEW, NOW, own=(newer, NOW)) is None


renew_times = st.text("0123456789:.-TZ", min_size=1, max_size=8)
offsets = st.integers(min_value=0, max_value=600)


@given(
    record_at=offsets,
    read_at=offsets,
    own_at=st.none() | offsets,
    renews=st.lists(renew_times, min_size=1, max_size=3),
    read=renew_times,
    timeout=st.integers(min_value=1, max_value=120),
)
def test_resumed_verdicts_never_come_sooner_than_the_evidence(
    *,
    record_at: int,
    read_at: int,
    own_at: int | None,
    renews: list[str],
    read: str,
    timeout: int,
) -> None:
    start = NOW - timedelta(minutes=10)
    records = [Recorded(r, start + timedelta(seconds=record_at)) for r in renews]
    sent = start + timedelta(seconds=record_at + read_at)
    own = None if own_at is None else (read, start + timedelta(seconds=own_at))
    silence = resume(records, read, sent, own)
    if read not in renews:
        assert silence is None  # a fresh renewal always discards the record
        return
    assert silence is not None and silence.renew_time == read and silence.confirmed == sent
    node = NodeInfo("n", ready="True", silence=silence)
    earliest = min(r.since for r in records if r.renew_time == read)
    if silent(node, timeout):
        # Never before the recorded silence start plus the timeout, unless this leader's own
        # sight of the same renewal already proves more.
        assert sent > min(earliest, own[1] if own else earliest) + timedelta(seconds=timeout)
        if own is None or own[1] >= earliest:
            assert sent > max(r.since for r in records if r.renew_time == read) + timedelta(
                seconds=timeout
            )
    # Resuming twice changes nothing: the second read, later, shows the same renewal.
    again = resume(records, read, sent + timedelta(seconds=1), (read, silence.since))
    assert again == replace(silence, confirmed=sent + timedelta(seconds=1))


# --- the plan of a new leader ---------------------------------------------------------------


def test_a_new_leader_resuming_fails_the_zone_over_at_once_past_the_grace_period() -> None:
    sim = steady(9)
    # The previous leader had proven zone-a silent 25 s in (grace 30 s): failing, not yet
    # failed over (its status may not say Degraded yet: that is an observation, coalesced).
    sim.now = LAST + timedelta(seconds=25)
    sim.nodes = others(sim.nodes, "zone-a") + silenced("zone-a", LAST, sim.now)
    sim.apply(sim.plan())
    assert zone_entry(sim.status, "zone-a").get("health", "Healthy") != "Unhealthy"
    # The new leader, 10 s later, first saw the Leases 3 s ago: on its own, nothing yet.
    sim.now += timedelta(seconds=10)
    own_since = sim.now - timedelta(seconds=3)
    sim.nodes = others(sim.nodes, "zone-a") + silenced("zone-a", own_since, sim.now)
    assert scales(sim.plan()) == {}  # nothing moves yet
    # Resumed from the previous leader's record (zone-a-0 and -1, say; -2 keeps its own
    # sight): failed over now, counted from the last heartbeat.
    previous = silenced("zone-a", LAST, LAST + timedelta(seconds=25))[:2]
    records = recorded(record((n.name, n.silence) for n in previous if n.silence))
    assert sorted(records) == ["zone-a-0", "zone-a-1"]

    def resumed(node: NodeInfo) -> NodeInfo:
        assert node.silence is not None
        if node.name not in records:
            return node
        own = (node.silence.renew_time, own_since)
        return replace(node, silence=resume(records[node.name], own[0], sim.now, own))

    sim.nodes = others(sim.nodes, "zone-a") + [
        resumed(n) for n in silenced("zone-a", own_since, sim.now)
    ]
    result = sim.plan()
    entry = zone_entry(result.status, "zone-a")
    assert entry["health"] == "Unhealthy"
    assert entry["unhealthySince"] == "2025-03-01T11:59:29Z"
    assert scales(result) == {dep("zone-b"): 5, dep("zone-c"): 4}


# --- the runtime ------------------------------------------------------------------------------


class Leases:
    """The API server's node Leases, as a fresh read returns them."""

    def __init__(self) -> None:
        self.served: dict[str, dict[str, Any]] = {}
        self.reads: list[str] = []

    def put(self, name: str, renew_time: str) -> dict[str, Any]:
        body = {"metadata": {"name": name}, "spec": {"renewTime": renew_time}}
        self.served[name] = body
        return body

    async def read(self, name: str) -> Mapping[str, Any] | None:
        self.reads.append(name)
        return self.served.get(name)


def lease_record(nodes: Mapping[str, str], since: str) -> str:
    """The record a previous leader left on the leader-election Lease."""
    return json.dumps({n: [r, since] for n, r in nodes.items()})


def controller_with(leases: Leases, now: datetime) -> Controller:
    controller = Controller(StatusApi(), Settings(workers=1), read_lease=leases.read)
    controller.heartbeats.now = lambda: now
    for i in range(2):
        name = f"a{i}"
        labels = {"topology.kubernetes.io/zone": "zone-a"}
        controller.store.put_node(NodeInfo(name, labels=labels, ready="True"))
        # First sight of the Lease at start-up: counted as renewed now.
        controller.heartbeats.on_lease("ADDED", leases.put(name, f"{RENEW}-{name}"))
    return controller


def test_a_new_leader_reads_the_recorded_nodes_and_resumes_before_its_first_reconcile() -> None:
    async def scenario() -> None:
        leases = Leases()
        controller = controller_with(leases, NOW)
        renewed = leases.put("a1", "2025-03-01T11:59:59.000000Z")  # a1 renewed: not seen yet
        records = {"a0": f"{RENEW}-a0", "a1": f"{RENEW}-a1"}
        controller.intake.on_workload("ADDED", status_workload("web"))
        controller.active.clear()  # a standby
        controller.lead(lease_record(records, "2025-03-01T11:59:29Z"))
        assert not controller.active.is_set()  # not before the reads
        assert controller.lease_record() == {}  # the predecessor's record stays meanwhile
        await asyncio.sleep(0.05)
        assert controller.active.is_set()
        # From its next renewal on, the Lease records what this leader has resumed.
        mine = json.loads(controller.lease_record()[SILENCES_ANNOTATION])
        assert mine == {"a0": [f"{RENEW}-a0", "2025-03-01T11:59:29Z"]}
        assert sorted(leases.reads) == ["a0", "a1"]
        assert controller.store.nodes["a0"].silence == Silence(LAST, NOW, f"{RENEW}-a0")
        assert controller.store.nodes["a1"].silence is None  # a renewal discards the record
        assert controller.heartbeats.leases["a1"].renew_time == renewed["spec"]["renewTime"]
        # Its own confirmations go on from the resumed silence.
        await controller.heartbeats.tick()
        assert controller.store.nodes["a0"].silence == Silence(LAST, NOW, f"{RENEW}-a0")
        await controller.stop(flush_seconds=0.1)

    asyncio.run(scenario())


def test_a_leader_that_stood_down_while_resuming_does_not_start_its_workers() -> None:
    async def scenario() -> None:
        leases = Leases()
        controller = controller_with(leases, NOW)
        controller.intake.on_workload("ADDED", status_workload("web"))
        controller.active.clear()
        controller.lead(lease_record({"a0": f"{RENEW}-a0"}, "2025-03-01T11:59:29Z"))
        controller.follow()
        await asyncio.sleep(0.05)
        assert not controller.active.is_set()
        await controller.stop(flush_seconds=0.1)

    asyncio.run(scenario())


def test_nothing_recorded_leads_at_once_and_reads_nothing() -> None:
    async def scenario() -> None:
        leases = Leases()
        controller = controller_with(leases, NOW)
        controller.intake.on_workload("ADDED", status_workload("web"))
        controller.active.clear()
        controller.lead()
        assert controller.active.is_set() and leases.reads == []
        await controller.stop(flush_seconds=0.1)

    asyncio.run(scenario())


def test_a_failed_read_resumes_nothing() -> None:
    async def failing(name: str) -> Mapping[str, Any] | None:
        raise OSError("connection refused")

    hb = Heartbeats(controller_with(Leases(), NOW).store, lambda: None, failing, now=lambda: NOW)
    hb.on_lease("ADDED", Leases().put("a0", RENEW))
    asyncio.run(hb.resume({"a0": [Recorded(RENEW, LAST)]}))
    assert hb.store.nodes["a0"].silence is None


@given(
    onsets=st.lists(st.integers(min_value=0, max_value=30_000), min_size=3, max_size=3),
    judged_at=st.integers(min_value=20_001, max_value=60_000),
    own_at=st.integers(min_value=0, max_value=60_000),
    read_at=st.integers(min_value=0, max_value=60_000),
)
def test_a_resumed_zone_never_fails_before_its_recorded_unhealthy_since_plus_the_timeout(
    *, onsets: list[int], judged_at: int, own_at: int, read_at: int
) -> None:
    """The zone as the previous leader recorded it (times in ms from a start), resumed by a
    leader that first saw the Leases `own_at` ms after its predecessor's judgement and read
    them `read_at` ms after that: failing by silence only past unhealthySince + timeout."""
    start = NOW - timedelta(minutes=5)
    at = [start + timedelta(milliseconds=ms) for ms in onsets]
    judged = start + timedelta(milliseconds=judged_at)
    old = [
        replace(n, silence=Silence(since, judged, renew_time=f"r-{n.name}"))
        for n, since in zip(zone_nodes("zone-a"), at, strict=True)
    ]
    health = zone_health("zone-a", old, 50, heartbeat_timeout=TIMEOUT)
    if not health.failing:
        return
    assert health.failing_since is not None
    unhealthy_since = health.failing_since.replace(microsecond=0)  # as the status writes it
    records = recorded(record((n.name, n.silence) for n in old if n.silence))
    own_since = judged + timedelta(milliseconds=own_at)
    sent = own_since + timedelta(milliseconds=read_at)
    new = []
    for node in zone_nodes("zone-a"):
        token = f"r-{node.name}"
        silence = resume(records.get(node.name, []), token, sent, (token, own_since))
        new.append(replace(node, silence=silence or Silence(own_since, sent, token)))
    resumed = zone_health("zone-a", new, 50, heartbeat_timeout=TIMEOUT)
    if resumed.failing:
        assert sent > unhealthy_since + timedelta(seconds=TIMEOUT)
        assert resumed.failing_since is not None
        assert resumed.failing_since >= health.failing_since  # never an earlier failure
