"""Which workloads a batch of node changes concerns now (core/node_changes.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from zonal_operator.api.group import DEFAULT_TOPOLOGY_KEY
from zonal_operator.api.status import WorkloadStatus, ZoneState
from zonal_operator.core.model import NodeInfo, Silence, Taint
from zonal_operator.core.node_changes import NodeChange, can_wait, change
from zonal_operator.runtime.cache import Store
from zonal_operator.runtime.intake import Intake
from zonal_operator.runtime.workqueue import WorkQueue

T = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
ZONES = ("zone-a", "zone-b", "zone-c")


def node(zone: str, ready: str = "True", **fields: object) -> NodeInfo:
    return replace(
        NodeInfo(f"{zone}-0", labels={DEFAULT_TOPOLOGY_KEY: zone}, ready=ready), **fields
    )


def status(**health: ZoneState) -> WorkloadStatus:
    return {"zones": [{"name": zone, "health": state} for zone, state in health.items()]}


def test_a_node_failing_in_a_zone_failed_over_already_can_wait() -> None:
    failing = change(node("zone-a"), node("zone-a", "Unknown"))
    assert failing.failing
    assert can_wait(status(**{"zone-a": ZoneState.UNHEALTHY}), DEFAULT_TOPOLOGY_KEY, [failing])
    # Not in a zone it still serves from, or is recovering or is judging.
    for state in (ZoneState.HEALTHY, ZoneState.DEGRADED, ZoneState.RECOVERING):
        assert not can_wait(status(**{"zone-a": state}), DEFAULT_TOPOLOGY_KEY, [failing])
    # Nor under another topology key than the workload's.
    assert not can_wait(status(**{"zone-a": ZoneState.UNHEALTHY}), "example.com/rack", [failing])


def test_silence_starting_is_failing_and_ending_is_not() -> None:
    quiet = node("zone-a", silence=Silence(since=T, confirmed=T))
    assert change(node("zone-a"), quiet).failing
    assert not change(quiet, node("zone-a")).failing


def test_what_eligibility_reads_concerns_every_workload() -> None:
    before = node("zone-a", "Unknown")
    assert not change(before, replace(before, unschedulable=True)).failing
    assert not change(before, replace(before, labels={**before.labels, "pool": "b"})).failing
    tainted = replace(before, taints=(Taint("dedicated", "NoSchedule", "db"),))
    assert not change(before, tainted).failing
    # The node lifecycle controller's own taints on a failed node are health, not eligibility.
    marked = replace(before, taints=(Taint("node.kubernetes.io/unreachable", "NoExecute"),))
    assert change(before, marked).failing
    # Nodes that come or go.
    assert not change(None, before).failing
    assert not change(before, None).failing


changes = st.lists(
    st.builds(
        NodeChange,
        labels=st.sampled_from(ZONES).map(lambda z: {DEFAULT_TOPOLOGY_KEY: z}),
        failing=st.booleans(),
    ),
    min_size=1,
    max_size=6,
)
statuses = st.dictionaries(st.sampled_from(ZONES), st.sampled_from(list(ZoneState))).map(
    lambda health: status(**health)
)


@given(statuses, changes)
def test_only_failures_in_failed_over_zones_wait(wl_status: WorkloadStatus, batch: list) -> None:
    failed_over = {
        z["name"] for z in wl_status.get("zones") or [] if z["health"] == ZoneState.UNHEALTHY
    }
    waits = can_wait(wl_status, DEFAULT_TOPOLOGY_KEY, batch)
    assert waits == all(c.failing and c.labels[DEFAULT_TOPOLOGY_KEY] in failed_over for c in batch)
    # One change more that is not such a failure always concerns the workload now.
    assert not can_wait(wl_status, DEFAULT_TOPOLOGY_KEY, [*batch, replace(batch[0], failing=False)])


def _workload(name: str, **health: ZoneState) -> dict[str, object]:
    return {
        "metadata": {"namespace": "shop", "name": name, "resourceVersion": "1"},
        "spec": {},
        "status": status(**health),
    }


def test_the_intake_leaves_a_failed_over_zone_s_nodes_for_later() -> None:
    """A node of zone-a turning NotReady: "moved", which has failed zone-a over already, is
    reconciled node_changes.WAIT_SECONDS later; "serving" at once. A node recovering concerns
    both at once."""

    async def scenario() -> None:
        intake = Intake(Store(), WorkQueue(), node_batch_seconds=0.01, deployment_batch_seconds=0)
        intake.on_workload("ADDED", _workload("moved", **{"zone-a": ZoneState.UNHEALTHY}))
        intake.on_workload("ADDED", _workload("serving", **{"zone-a": ZoneState.HEALTHY}))
        while len(intake.queue):
            intake.queue.done(await intake.queue.get())
        labels = {DEFAULT_TOPOLOGY_KEY: "zone-a"}

        def node_event(ready: str) -> None:
            condition = {"type": "Ready", "status": ready}
            body = {
                "metadata": {"name": "a-0", "labels": labels},
                "status": {"conditions": [condition]},
            }
            intake.on_node("MODIFIED", body)

        node_event("True")
        await asyncio.sleep(0.05)
        assert len(intake.queue) == 2  # the node was new to the cache: both
        while len(intake.queue):
            intake.queue.done(await intake.queue.get())
        node_event("Unknown")
        await asyncio.sleep(0.05)
        assert [await intake.queue.get()] == [("shop", "serving")]
        assert len(intake.queue) == 0 and ("shop", "moved") in intake.queue._timers
        node_event("True")
        await asyncio.sleep(0.05)
        assert len(intake.queue) == 1  # "moved" ("serving" is still being reconciled)

    asyncio.run(scenario())
