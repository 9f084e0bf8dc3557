"""Zone health from the zone's nodes (health.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonal_operator.core.health import failed_nodes_to_fail, node_failed, zone_health, zone_healths
from zonal_operator.core.model import NodeInfo, Taint

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
UNREACHABLE = Taint("node.kubernetes.io/unreachable", "NoExecute")
NOT_READY = Taint("node.kubernetes.io/not-ready", "NoExecute")


def node(
    name: str,
    ready: str = "True",
    ago: float | None = 3600,
    taints: tuple[Taint, ...] = (),
    unschedulable: bool = False,
) -> NodeInfo:
    """A node whose Ready condition moved to `ready` `ago` seconds before NOW (None: unknown)."""
    return NodeInfo(
        name=name,
        labels={"topology.kubernetes.io/zone": "z"},
        taints=taints,
        unschedulable=unschedulable,
        ready=ready,
        ready_since=None if ago is None else NOW - timedelta(seconds=ago),
    )


def at(ago: float) -> datetime:
    return NOW - timedelta(seconds=ago)


# --- which node has failed --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "failed"),
    [
        (node("n", "True"), False),
        (node("n", "False"), True),
        (node("n", "Unknown"), True),
        # Ready with a lingering lifecycle taint: coming back, not failing.
        (node("n", "True", taints=(UNREACHABLE,)), False),
        (node("n", "True", taints=(NOT_READY,)), False),
        (node("n", "True", taints=(Taint("node.kubernetes.io/not-ready", "NoSchedule"),)), False),
        (
            node("n", "True", taints=(Taint("node.kubernetes.io/unschedulable", "NoSchedule"),)),
            False,
        ),
        (
            node("n", "True", taints=(Taint("node.kubernetes.io/memory-pressure", "NoSchedule"),)),
            False,
        ),
        (node("n", "True", taints=(Taint("dedicated", "NoExecute"),)), False),
        (node("n", "True", unschedulable=True), False),
        (NodeInfo(name="no-condition"), True),
    ],
)
def test_node_failed(info: NodeInfo, failed: bool) -> None:
    assert node_failed(info) is failed


def test_node_info_from_body() -> None:
    body = {
        "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "a"}},
        "spec": {
            "unschedulable": True,
            "taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}],
        },
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {
                    "type": "Ready",
                    "status": "Unknown",
                    "lastTransitionTime": "2025-03-01T11:59:00Z",
                    "lastHeartbeatTime": "2025-03-01T11:59:30Z",
                },
            ]
        },
    }
    info = NodeInfo.from_body(body)
    assert info.ready == "Unknown"
    assert info.ready_since == at(60)
    assert info.unschedulable
    assert info.taints == (UNREACHABLE,)
    assert node_failed(info)
    # Without any Ready condition a node is Unknown since an unknown time.
    bare = NodeInfo.from_body({"metadata": {"name": "n2"}})
    assert (bare.ready, bare.ready_since) == ("Unknown", None)


# --- thresholds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nodes", "percent", "needed"),
    [
        (3, 50, 2),
        (4, 50, 2),
        (5, 50, 3),
        (1, 50, 1),
        (1, 100, 1),
        (3, 100, 3),
        (3, 0, 1),
        (10, 1, 1),
        (10, 34, 4),
        (0, 50, 1),
    ],
)
def test_failed_nodes_to_fail(nodes: int, percent: int, needed: int) -> None:
    assert failed_nodes_to_fail(nodes, percent) == needed


def test_half_of_three_nodes_two_failed_make_it_fail() -> None:
    one_down = [node("a", "Unknown", 60), node("b"), node("c")]
    health = zone_health("z", one_down, 50)
    assert not health.failing
    assert (health.nodes, health.ready, health.failed) == (3, 2, 1)
    assert health.failing_since is None

    two_down = [node("a", "Unknown", 60), node("b", "False", 30), node("c")]
    health = zone_health("z", two_down, 50)
    assert health.failing
    assert (health.nodes, health.ready, health.failed, health.schedulable) == (3, 1, 2, 1)
    assert health.healthy_since is None
    assert health.describe() == "1/3 nodes Ready, 2 not Ready"


def test_single_node_zone_fails_with_its_node() -> None:
    health = zone_health("z", [node("a", "False", 5)], 50)
    assert health.failing
    assert health.failing_since == at(5)
    assert zone_health("z", [node("a")], 100).failing is False
    assert zone_health("z", [node("a", "Unknown")], 100).failing is True


def test_hundred_percent_needs_every_node() -> None:
    two_of_three = [node("a", "Unknown"), node("b", "Unknown"), node("c")]
    assert not zone_health("z", two_of_three, 100).failing
    all_three = [node("a", "Unknown"), node("b", "Unknown"), node("c", "False")]
    assert zone_health("z", all_three, 100).failing


def test_ready_nodes_still_tainted_are_recovering_not_failing() -> None:
    nodes = [
        node("a", "True", taints=(UNREACHABLE,)),
        node("b", "True", taints=(NOT_READY,)),
        node("c"),
    ]
    health = zone_health("z", nodes, 50)
    assert not health.failing
    assert health.failed == 0
    assert health.ready == 3
    assert health.schedulable == 1  # the scheduler avoids the tainted ones meanwhile


def test_cordoned_ready_node_is_no_failure_but_takes_nothing() -> None:
    nodes = [node("a", unschedulable=True), node("b", unschedulable=True), node("c")]
    health = zone_health("z", nodes, 50)
    assert not health.failing
    assert (health.failed, health.cordoned, health.schedulable, health.ready) == (0, 2, 1, 3)
    assert health.describe() == "3/3 nodes Ready, 2 cordoned"


def test_a_cordoned_failed_node_counts_as_failed_not_cordoned() -> None:
    health = zone_health("z", [node("a", "Unknown", unschedulable=True), node("b")], 50)
    assert health.failing
    assert (health.failed, health.cordoned, health.schedulable) == (1, 0, 1)


def test_empty_zone_is_not_failing() -> None:
    health = zone_health("z", [], 50)
    assert not health.failing
    assert health.failing_since is None and health.healthy_since is None
    assert (health.nodes, health.schedulable) == (0, 0)


# --- since when -------------------------------------------------------------------------------


def test_failing_since_is_the_kth_earliest_failure() -> None:
    # 5 nodes, 50 %: 3 failed nodes make the zone fail. Four have failed, at -100, -40, -70, -10.
    nodes = [
        node("a", "Unknown", 100),
        node("b", "False", 40),
        node("c", "Unknown", 70),
        node("d", "Unknown", 10),
        node("e", "True", 5000),
    ]
    health = zone_health("z", nodes, 50)
    assert health.failing
    # Sorted: -100, -70, -40, -10; the zone failed when the third one went: -40.
    assert health.failing_since == at(40)


def test_healthy_since_is_the_mth_earliest_recovery() -> None:
    # 5 nodes, 50 %: k = 3, so 5 - 3 + 1 = 3 fine nodes keep the zone healthy.
    nodes = [
        node("a", "True", 300),
        node("b", "True", 20),
        node("c", "True", 60),
        node("d", "True", 200),
        node("e", "Unknown", 10),
    ]
    health = zone_health("z", nodes, 50)
    assert not health.failing
    # Fine nodes since -300, -200, -60, -20: the third made the zone healthy at -60.
    assert health.healthy_since == at(60)


def test_healthy_since_when_every_node_must_be_fine() -> None:
    # threshold 1 %: one failed node fails the zone, so all 3 must be fine.
    nodes = [node("a", "True", 300), node("b", "True", 20), node("c", "True", 60)]
    assert zone_health("z", nodes, 1).healthy_since == at(20)
    # threshold 100 %: one fine node is enough.
    assert zone_health("z", nodes, 100).healthy_since == at(300)


def test_unknown_transition_times_count_as_long_ago() -> None:
    failed = [node("a", "Unknown", None), node("b", "Unknown", 30), node("c")]
    health = zone_health("z", failed, 50)
    assert health.failing
    # k = 2: sorted (long ago, -30) -> -30
    assert health.failing_since == at(30)
    both_unknown = [node("a", "Unknown", None), node("b", "Unknown", None), node("c")]
    since = zone_health("z", both_unknown, 50).failing_since
    assert since is not None and since < NOW - timedelta(days=365 * 50)
    assert since.tzinfo is not None  # comparable with aware times

    fine = [node("a", "True", None), node("b", "True", 30), node("c", "Unknown", 5)]
    health = zone_health("z", fine, 50)
    assert not health.failing
    # m = 3 - 2 + 1 = 2: sorted (long ago, -30) -> -30
    assert health.healthy_since == at(30)


# --- property ---------------------------------------------------------------------------------

_node_states = st.tuples(
    st.sampled_from(["True", "False", "Unknown"]),
    st.booleans(),  # failure taint
    st.booleans(),  # cordoned
    st.one_of(st.none(), st.integers(0, 10_000)),  # seconds since the Ready transition
)


@settings(max_examples=300, deadline=None)
@given(states=st.lists(_node_states, min_size=0, max_size=12), percent=st.integers(0, 100))
def test_failing_iff_enough_nodes_failed(
    states: list[tuple[str, bool, bool, int | None]], percent: int
) -> None:
    nodes = [
        node(
            f"n{i}",
            ready,
            ago,
            taints=(UNREACHABLE,) if tainted else (),
            unschedulable=cordoned,
        )
        for i, (ready, tainted, cordoned, ago) in enumerate(states)
    ]
    health = zone_health("z", nodes, percent)
    failed = [n for n in nodes if n.ready != "True"]
    fine = [n for n in nodes if n not in failed]
    k = max(1, -(-len(nodes) * percent // 100))  # ceil in integers
    assert health.failed == len(failed)
    assert health.ready == sum(1 for n in nodes if n.ready == "True")
    assert health.cordoned == sum(1 for n in fine if n.unschedulable)
    assert health.schedulable == sum(1 for n in fine if not n.unschedulable and not n.taints)
    assert health.failing == (bool(nodes) and len(failed) >= k)

    long_ago = datetime(1970, 1, 1, tzinfo=UTC)

    def when(n: NodeInfo) -> datetime:
        return n.ready_since or long_ago

    if health.failing:
        assert health.healthy_since is None
        assert health.failing_since is not None
        # The zone has failed since the moment k nodes had failed.
        assert sum(1 for n in failed if when(n) <= health.failing_since) >= k
        assert sum(1 for n in failed if when(n) < health.failing_since) < k
    elif nodes:
        assert health.failing_since is None
        assert health.healthy_since is not None
        needed = len(nodes) - k + 1
        assert sum(1 for n in fine if when(n) <= health.healthy_since) >= needed
        assert sum(1 for n in fine if when(n) < health.healthy_since) < needed


# --- zone_healths: every zone of a workload, reused across plans over one node snapshot ---------
ZONE = "topology.kubernetes.io/zone"
GPU = Taint("gpu", "NoSchedule")
TOLERATE_GPU = {"tolerations": [{"key": "gpu", "operator": "Exists"}]}


def in_zone(name: str, zone: str, **kwargs: object) -> NodeInfo:
    base = node(name, **kwargs)  # type: ignore[arg-type]
    return NodeInfo(
        name=base.name,
        labels={ZONE: zone},
        taints=base.taints,
        ready=base.ready,
        ready_since=base.ready_since,
    )


def test_zone_healths_follow_the_pod_spec_and_the_nodes_on_one_snapshot() -> None:
    snapshot = (
        in_zone("a-1", "a"),
        in_zone("a-2", "a", ready="Unknown", ago=20),
        in_zone("b-1", "b"),
        in_zone("c-1", "c", taints=(GPU,)),
    )
    plain = zone_healths(snapshot, {}, ZONE, (), 50)
    assert sorted(plain) == ["a", "b"]
    assert plain["a"] == zone_health("a", list(snapshot[:2]), 50)
    # Another workload on the same snapshot, with other constraints: its own answer.
    assert sorted(zone_healths(snapshot, TOLERATE_GPU, ZONE, (), 50)) == ["a", "b", "c"]
    assert sorted(zone_healths(snapshot, {}, ZONE, ("b",), 50)) == ["b"]
    assert zone_healths(snapshot, {}, ZONE, (), 100)["a"].failing is False
    assert zone_healths(snapshot, {}, ZONE, (), 50) == plain
    # A node changes: a new snapshot, and the answer follows it.
    changed = (*snapshot[:1], in_zone("a-2", "a"), *snapshot[2:])
    assert zone_healths(changed, {}, ZONE, (), 50)["a"].failing is False
    # Nodes that never reported Ready belong to no zone yet.
    joining = (*snapshot, NodeInfo(name="d-1", labels={ZONE: "d"}, joined=False))
    assert "d" not in zone_healths(joining, {}, ZONE, (), 50)
