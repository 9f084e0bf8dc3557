"""The heartbeat verdict (core/heartbeat.py, core/health.py): a zone whose kubelets stopped
renewing their Leases fails before its nodes turn NotReady, and only then."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from tests.kit.perzone_sim import (
    NOW,
    ZONES,
    Sim,
    condition,
    dep,
    down,
    reasons,
    scales,
    steady,
    workload_body,
    zone_entry,
    zone_nodes,
)

from zonal_operator.api.group import DEFAULT_TOPOLOGY_KEY
from zonal_operator.core.health import (
    NodeSnapshot,
    ZoneHealth,
    failed_node_names,
    zone_health,
    zone_healths,
)
from zonal_operator.core.heartbeat import correlated, due, quiet_after, silent
from zonal_operator.core.model import NodeInfo, Silence
from zonal_operator.runtime.metrics import WorkloadSeries


def silenced(nodes: list[NodeInfo], since: datetime, confirmed: datetime) -> list[NodeInfo]:
    return [replace(n, silence=Silence(since=since, confirmed=confirmed)) for n in nodes]


def quiet_zone(zone: str, since: datetime, confirmed: datetime = NOW, count: int = 3) -> list:
    return silenced(zone_nodes(zone, count), since, confirmed)


def with_zone(nodes: list[NodeInfo], zone: str, replacement: list[NodeInfo]) -> list[NodeInfo]:
    return [n for n in nodes if not n.name.startswith(zone)] + replacement


# --- which nodes are silent --------------------------------------------------------------------


def test_silence_counts_once_a_fresh_read_proves_it_longer_than_the_timeout() -> None:
    [node] = quiet_zone("zone-a", NOW - timedelta(seconds=21), count=1)
    assert silent(node, 20)
    assert not silent(node, 21)  # proven 21 s: not longer than 21
    assert not silent(node, 0)  # 0: the heartbeat verdict is off
    assert not silent(node, 20, trusted=False)
    # Quiet long ago, but proven only 5 s after its last renewal: not silent yet.
    long_ago = NOW - timedelta(minutes=5)
    [late] = silenced(zone_nodes("zone-a", 1), long_ago, long_ago + timedelta(seconds=5))
    assert not silent(late, 20)


def test_quiet_after_is_one_and_a_half_renew_intervals() -> None:
    assert quiet_after(40) == 15  # the kubelet's default: renewals every 10 s
    assert quiet_after(8) == 3


def test_silence_is_correlated_from_two_nodes_or_a_zone_of_one() -> None:
    assert not correlated(1, 3)
    assert correlated(2, 3)
    assert correlated(1, 1)
    assert not correlated(0, 1)


def test_one_silent_node_never_fails_a_zone_on_its_own() -> None:
    nodes = zone_nodes("zone-a")
    nodes[0] = quiet_zone("zone-a", NOW - timedelta(minutes=1), count=1)[0]
    # Even where one failed node is enough (1 %), one silent node is not.
    health = zone_health("zone-a", nodes, threshold_percent=1, heartbeat_timeout=20)
    assert not health.failing and health.failed == 0
    # A NotReady node still is, as before.
    nodes[1] = replace(nodes[1], ready="Unknown", ready_since=NOW)
    assert zone_health("zone-a", nodes, threshold_percent=1, heartbeat_timeout=20).failing


def test_a_silent_zone_fails_from_its_last_heartbeat_and_says_so() -> None:
    last = NOW - timedelta(seconds=24)
    nodes = quiet_zone("zone-a", last)
    health = zone_health("zone-a", nodes, threshold_percent=50, heartbeat_timeout=20)
    assert health.failing and health.verdict == "Heartbeat"
    assert health.failing_since == last
    assert health.ready == 3  # the node lifecycle controller has not noticed yet
    assert health.describe() == "3/3 nodes silent, last heartbeat 11:59:36"


def test_nodes_both_silent_and_not_ready_failed_at_the_earlier_moment() -> None:
    last = NOW - timedelta(seconds=60)
    nodes = silenced(down("zone-a", NOW - timedelta(seconds=10)), last, NOW - timedelta(seconds=5))
    health = zone_health("zone-a", nodes, threshold_percent=50, heartbeat_timeout=20)
    assert health.verdict == "NotReady" and health.failing_since == last
    assert health.describe() == "0/3 nodes Ready, 3 not Ready"
    # With the verdict off, only the Ready transition counts.
    off = zone_health("zone-a", nodes, threshold_percent=50, heartbeat_timeout=0)
    assert off.failing_since == NOW - timedelta(seconds=10)


def test_every_zone_silent_distrusts_the_signal() -> None:
    last = NOW - timedelta(seconds=60)
    nodes = [n for zone in ZONES for n in quiet_zone(zone, last)]
    pod_spec = workload_body()["spec"]["template"]["spec"]

    def judged(nodes: list[NodeInfo]) -> dict[str, ZoneHealth]:
        return zone_healths(nodes, pod_spec, DEFAULT_TOPOLOGY_KEY, None, 50, heartbeat_timeout=20)

    assert not any(h.failing for h in judged(nodes).values())
    # Two silent, one NotReady: every zone would fail; judged by Ready, only the NotReady one.
    nodes = with_zone(nodes, "zone-c", down("zone-c", last))
    assert [z for z, h in judged(nodes).items() if h.failing] == ["zone-c"]


def test_a_distrusted_snapshot_makes_silence_count_for_nothing() -> None:
    nodes = [*quiet_zone("zone-a", NOW - timedelta(minutes=1)), *zone_nodes("zone-b")]
    assert failed_node_names(NodeSnapshot(nodes), 20) == {"zone-a-0", "zone-a-1", "zone-a-2"}
    assert failed_node_names(NodeSnapshot(nodes, heartbeats_trusted=False), 20) == frozenset()
    assert failed_node_names(NodeSnapshot(nodes), 0) == frozenset()


def test_due_is_when_a_quiet_node_could_be_proven_silent() -> None:
    since = NOW - timedelta(seconds=5)
    nodes = quiet_zone("zone-a", since)
    assert due(nodes, 20) == since + timedelta(seconds=22)
    assert due(nodes, 0) is None
    # Already silent, or NotReady (judged by that): nothing to wait for.
    assert due(quiet_zone("zone-a", NOW - timedelta(seconds=30)), 20) is None
    assert due(silenced(down("zone-a", NOW), since, NOW), 20) is None


# --- PerZone placement -------------------------------------------------------------------------


def test_a_silent_zone_fails_over_surge_first_before_any_node_is_not_ready() -> None:
    sim = steady(9)
    last = NOW - timedelta(seconds=31)
    sim.nodes = with_zone(sim.nodes, "zone-a", quiet_zone("zone-a", last))
    result = sim.plan()
    entry = zone_entry(result.status, "zone-a")
    assert (entry["health"], entry["reason"]) == ("Unhealthy", "FailedOver")
    assert entry["unhealthySince"] == "2025-03-01T11:59:29Z"  # the last heartbeat
    assert "3/3 nodes silent, last heartbeat 11:59:29" in entry["message"]
    # Capacity is added first; zone-a's pods may still serve, so they stay until it is Ready.
    assert scales(result) == {dep("zone-b"): 5, dep("zone-c"): 4}
    assert reasons(result) == ["ZoneUnhealthy"]
    assert "silent" in result.events[0].message
    assert result.verdicts == [("zone-a", "Heartbeat")]
    sim.apply(result)
    sim.settle()
    sim.converge()
    assert sim.replicas() == {dep("zone-a"): 0, dep("zone-b"): 5, dep("zone-c"): 4}


def test_within_the_grace_period_a_silent_zone_waits_counting_from_its_last_heartbeat() -> None:
    sim = steady(9)
    last = NOW - timedelta(seconds=22)
    sim.nodes = with_zone(sim.nodes, "zone-a", quiet_zone("zone-a", last))
    result = sim.plan()
    assert result.actions == []
    # Degraded, and said so with the verdict: the silence is still growing, so the change
    # waits (core/coalesce.py) for the grace period's end, which is a decision, written at once.
    assert result.status is None and result.status_coalesced
    assert result.requeue_after == 8  # the 30 s grace period runs from the last heartbeat
    sim.now += timedelta(seconds=8)
    sim.nodes = with_zone(sim.nodes, "zone-a", quiet_zone("zone-a", last, confirmed=sim.now))
    result = sim.plan()
    assert result.actions and zone_entry(result.status, "zone-a")["health"] == "Unhealthy"


def test_a_pause_shorter_than_the_timeout_moves_nothing_and_writes_nothing() -> None:
    sim = steady(9)
    last = NOW - timedelta(seconds=12)
    sim.nodes = with_zone(sim.nodes, "zone-a", quiet_zone("zone-a", last))
    result = sim.plan()
    assert (result.actions, result.status, result.events) == ([], None, [])
    # It looks again when the silence could be proven (20 s after the last heartbeat, plus the
    # time a fresh read takes).
    assert result.requeue_after == 10
    # The heartbeats are back: nothing to say either.
    sim.nodes = with_zone(sim.nodes, "zone-a", zone_nodes("zone-a"))
    sim.now += timedelta(seconds=10)
    assert (sim.plan().actions, sim.plan().status) == ([], None)


def test_the_heartbeat_verdict_off_waits_for_not_ready() -> None:
    sim = Sim(workload_body(failover={"heartbeatTimeoutSeconds": 0}), steady(9).nodes)
    sim.converge()
    sim.nodes = with_zone(sim.nodes, "zone-a", quiet_zone("zone-a", NOW - timedelta(minutes=5)))
    result = sim.plan()
    assert result.actions == [] and result.requeue_after is None
    assert zone_entry(sim.status, "zone-a")["health"] == "Healthy"


def test_zone_recovering_from_silence_waits_out_the_failback_delay() -> None:
    sim = steady(9)
    sim.nodes = with_zone(sim.nodes, "zone-a", quiet_zone("zone-a", NOW - timedelta(seconds=40)))
    sim.converge()
    assert condition(sim.status, "FailedOver")["status"] == "True"
    sim.nodes = with_zone(sim.nodes, "zone-a", zone_nodes("zone-a"))  # renewing again
    result = sim.step()
    assert zone_entry(result.status, "zone-a")["health"] == "Recovering"
    assert scales(result) == {}


@given(
    silent_count=st.integers(0, 4),
    not_ready=st.integers(0, 4),
    size=st.integers(1, 4),
    threshold=st.integers(1, 100),
    timeout=st.sampled_from([0, 6, 20]),
)
def test_silence_only_adds_failures_and_only_when_correlated(
    silent_count: int, not_ready: int, size: int, threshold: int, timeout: int
) -> None:
    """Silence never heals a failed zone nor delays it; one silent node in a zone of several
    fails nothing; with the verdict off, silence changes nothing at all."""
    silent_count, not_ready = min(silent_count, size), min(not_ready, size)
    nodes = zone_nodes("zone-a", size)
    bare = list(nodes)
    for i in range(not_ready):
        nodes[i] = bare[i] = replace(nodes[i], ready="Unknown", ready_since=NOW)
    last = NOW - timedelta(seconds=30)
    for i in range(size - silent_count, size):
        nodes[i] = replace(nodes[i], silence=Silence(since=last, confirmed=NOW))
    with_silence = zone_health("zone-a", nodes, threshold, heartbeat_timeout=timeout)
    without = zone_health("zone-a", bare, threshold, heartbeat_timeout=timeout)
    if without.failing:
        assert with_silence.failing
        assert with_silence.failing_since is not None and without.failing_since is not None
        assert with_silence.failing_since <= without.failing_since
    if timeout == 0 or (silent_count == 1 and size > 1):
        assert with_silence.failing == without.failing
        assert with_silence.failed == without.failed
    if with_silence.verdict == "Heartbeat":
        assert not without.failing


def test_a_zone_lost_costs_two_status_writes_the_verdict_with_the_move_and_the_end() -> None:
    """A zone's kubelets stop at NOW - 31 s (past the heartbeat timeout and the grace period);
    the node lifecycle controller marks its nodes NotReady 20 s later, and the replacements get
    Ready 30 s later. What happens in between (the silence growing, the lost zone's pods no
    longer counted Ready and cut, node counts) is told by the write that ends the move."""
    sim = steady(9)
    sim.writes = 0
    last = NOW - timedelta(seconds=31)
    statuses: list[dict[str, object]] = []
    for second in range(0, 90):
        if second < 20:
            sim.nodes = with_zone(sim.nodes, "zone-a", quiet_zone("zone-a", last, sim.now))
        elif second == 20:
            sim.nodes = with_zone(sim.nodes, "zone-a", down("zone-a", sim.now))
        new_pods_ready = second >= 30
        result = sim.step(None if new_pods_ready else {dep("zone-b"): 3, dep("zone-c"): 3})
        sim.settle(None if new_pods_ready else {dep("zone-b"): 3, dep("zone-c"): 3})
        if result.status is not None:
            statuses.append(result.status)
        sim.now += timedelta(seconds=1)
    assert sim.replicas() == {dep("zone-a"): 0, dep("zone-b"): 5, dep("zone-c"): 4}
    assert sim.writes == 2
    verdict, end = statuses[0], statuses[-1]
    assert zone_entry(verdict, "zone-a")["health"] == "Unhealthy"
    assert condition(verdict, "FailedOver")["status"] == "True"
    assert condition(end, "Progressing")["status"] == "False"
    assert condition(end, "Ready")["status"] == "True"
    assert zone_entry(end, "zone-a")["readyNodes"] == 0


def test_while_the_status_waits_the_metrics_show_the_workload_as_it_is() -> None:
    """A coalesced change is not written, but the per-zone metrics read what the plan computed
    (Plan.computed), not the last status written."""
    sim = steady(9)
    last = NOW - timedelta(seconds=22)
    sim.nodes = with_zone(sim.nodes, "zone-a", quiet_zone("zone-a", last))
    result = sim.plan()
    assert result.status is None and result.status_coalesced
    WorkloadSeries().observe(sim.workload, result, sim.now)
    labels = {"namespace": sim.workload.namespace, "workload": sim.workload.name, "zone": "zone-a"}
    degraded = REGISTRY.get_sample_value(
        "zonal_operator_zone_state", {**labels, "state": "Degraded"}
    )
    assert degraded == 1  # the status still says Healthy
