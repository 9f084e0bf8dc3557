"""A zone put back after a halt goes back surge first (core/rollbacks.py): the step it holds,
and, through the PerZone planner, the write that puts it back with the surge, the writes held
while it rolls out, and the one write that drops it."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.kit.examples import example_workload
from tests.kit.perzone_sim import action_name, dep
from tests.kit.wave_sim import OLD, B, C, halted_at_b, quiet

from zonal_operator.core import rollbacks, waves
from zonal_operator.core.plan import Replace, Scale
from zonal_operator.core.render import (
    PREVIOUS_TEMPLATE_ANNOTATION,
    SURGE_ANNOTATION,
    render_deployment,
)

WORKLOAD = example_workload()


def rolling(max_surge: Any, max_unavailable: Any) -> dict[str, Any]:
    return {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable},
    }


@pytest.mark.parametrize(
    ("strategy", "replicas", "step"),
    [
        (None, 2, 1),  # the API server's 25 %/25 %: 1 up, 0 down
        (None, 10, 5),  # 3 up (rounded up), 2 down (rounded down)
        (rolling(1, 0), 3, 1),
        (rolling(0, 1), 3, 1),
        (rolling("50%", "50%"), 4, 4),
        (rolling("10%", 0), 5, 1),  # rounded up, as the controller does
        ({"type": "Recreate"}, 3, 0),  # every pod goes at once anyway
        (None, 0, 0),
    ],
)
def test_the_step_is_the_deployments_own(strategy: Any, replicas: int, step: int) -> None:
    assert rollbacks.step(strategy, replicas) == step


@given(
    replicas=st.integers(1, 500),
    surge=st.one_of(st.integers(0, 50), st.integers(0, 100).map(lambda p: f"{p}%")),
    unavailable=st.one_of(st.integers(0, 50), st.integers(0, 100).map(lambda p: f"{p}%")),
)
def test_property_the_surge_covers_what_one_step_of_the_rollout_removed(
    replicas: int, surge: Any, unavailable: Any
) -> None:
    """The controller removes at most maxSurge + maxUnavailable previous pods in a step, so its
    stale count is ahead by at most that much; the rollback holds at least that many more and
    takes none down before its replacement is Ready, so its floor stays at the zone's replicas."""
    strategy = rolling(surge, unavailable)
    held = rollbacks.step(strategy, replicas)
    wl = dataclasses.replace(WORKLOAD, rollout={"strategy": strategy})
    desired = render_deployment(wl, "zone-a", replicas, surge=held)
    spec = desired["spec"]
    removed_in_a_step = rollbacks.step(strategy, replicas)
    floor = spec["replicas"] - spec["strategy"]["rollingUpdate"]["maxUnavailable"]
    assert floor - removed_in_a_step >= replicas
    assert rollbacks.recorded(desired) == held >= 1


def test_the_rollback_holds_a_step_more_until_rolled_out_then_drops_it_in_one_write() -> None:
    sim, old = halted_at_b(rollbackOnHalt=True)
    live = sim.deployments[dep(B)]
    assert sim.events.count("ZoneRolledBack") == 1
    assert live["spec"]["template"] == old[dep(B)]
    assert live["spec"]["replicas"] == 3 + 1  # its share, and one step of the default strategy
    assert live["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert rollbacks.recorded(live) == 1
    share = {z["name"]: z["desiredReplicas"] for z in sim.status["zones"]}
    assert share[B] == 3  # the surge is no replica of the zone's share

    # Still rolling back (a pod short): planning again, as after a restart, writes nothing to it.
    sim.settle({dep(B): 3})
    sim.now += timedelta(seconds=10)
    result = sim.step()
    assert dep(B) not in [action_name(a) for a in result.actions], result.actions

    # Rolled out at the surge: one write takes the surplus pod away and the strategy back.
    sim.stalled.clear()
    sim.settle()
    sim.now += timedelta(seconds=10)
    ran_before = sim.deployments[dep(B)]["metadata"]["annotations"][PREVIOUS_TEMPLATE_ANNOTATION]
    result = sim.step()
    [write] = [a for a in result.actions if action_name(a) == dep(B)]
    assert isinstance(write, Replace), write
    assert write.body["spec"]["replicas"] == 3
    # The same revision: the template it ran before stays recorded, for the next rollback.
    assert write.body["metadata"]["annotations"][PREVIOUS_TEMPLATE_ANNOTATION] == ran_before
    assert "strategy" not in write.body["spec"]
    assert SURGE_ANNOTATION not in write.body["metadata"]["annotations"]
    assert sim.deployments[dep(B)]["spec"]["template"] == old[dep(B)]  # no pod rolls again
    sim.settle()
    quiet(sim)
    assert sim.revision(B) == sim.revision(C) == OLD
    assert sim.events.count("ZoneRolledBack") == 1


def test_a_scale_during_the_rollback_keeps_the_surge_on_top() -> None:
    sim, _ = halted_at_b(rollbackOnHalt=True)
    sim.settle({dep(B): 3})
    sim.set_spec(replicas=12)
    sim.now += timedelta(seconds=10)
    result = sim.step()
    [write] = [a for a in result.actions if action_name(a) == dep(B)]
    assert isinstance(write, Scale) and write.replicas == 4 + 1, write
    assert rollbacks.recorded(sim.deployments[dep(B)]) == 1
    assert sim.rollout["halted"]["zone"] == B
    assert {z["name"]: z["desiredReplicas"] for z in sim.status["zones"]}[B] == 4
    assert waves.HALTED in [c["reason"] for c in sim.status["conditions"]]
