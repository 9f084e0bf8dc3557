"""Spread placement at the heartbeat verdict (core/spread_shifts.py, spread.py): a zone judged
Unhealthy from its kubelets' silence, its nodes still Ready to the scheduler, leaves the pod
template surge first, every replica at once; it comes back once Healthy again, after the
failback delay, in failback steps.

`RolloutSim.lost` marks the silent zones: their pods serve nothing though the API says Ready, and
the simulated ReplicaSet controller removes the serving zones' old pods first (the real one
ranks the pods on the nodes the surge crowded first), the worst case for capacity.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.kit.perzone_sim import NOW, ZONES, down, zone_nodes
from tests.kit.spread_sim import RolloutSim, check_back_in_every_zone, spread_body

from zonal_operator.core import spread
from zonal_operator.core.model import NodeInfo, Silence
from zonal_operator.core.plan import DeletePod, Replace

GRACE = 30  # the default gracePeriodSeconds, counted from the last heartbeat


def quiet(zone: str, last: datetime, nodes: list[NodeInfo] | None = None) -> list[NodeInfo]:
    """The zone's nodes, their Lease renewals stopped at `last`, proven by a read at NOW."""
    members = nodes if nodes is not None else zone_nodes(zone)
    return [replace(n, silence=Silence(since=last, confirmed=NOW)) for n in members]


def with_zone(sim: RolloutSim, zone: str, replacement: list[NodeInfo]) -> None:
    sim.nodes = [n for n in sim.nodes if not n.name.startswith(zone)] + replacement


def steady(replicas: int = 9, **spec: Any) -> RolloutSim:
    sim = RolloutSim(spread_body(replicas, **spec), [n for z in ZONES for n in zone_nodes(z)])
    sim.run()
    sim.lowest = None
    return sim


def silence(sim: RolloutSim, zones: list[str], seconds: int) -> None:
    for zone in zones:
        with_zone(sim, zone, quiet(zone, NOW - timedelta(seconds=seconds)))
    sim.lost = set(zones)
    sim.serving = []
    sim.ready_before = sim.ready()


def entry(sim: RolloutSim, zone: str) -> dict[str, Any]:
    return next(z for z in sim.workload["status"]["zones"] if z["name"] == zone)


def back_once_and_kept(serving: list[int], replicas: int) -> bool:
    """Serving capacity reached `replicas` and never fell below it afterwards."""
    first = next((i for i, n in enumerate(serving) if n >= replicas), None)
    return first is not None and min(serving[first:]) >= replicas


def test_a_silent_zone_leaves_the_template_at_the_verdict_every_replica_surged_first() -> None:
    sim = steady(9)
    silence(sim, ["zone-a"], GRACE + 1)
    result = sim.reconcile()
    assert result.verdicts == [("zone-a", "Heartbeat")]
    assert not [a for a in result.actions if isinstance(a, DeletePod)]
    [replace_action] = [a for a in result.actions if isinstance(a, Replace)]
    assert replace_action.body["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 9, "maxUnavailable": 0},
    }
    assert sim.kept_out() == {"zone-a"} and sim.annotation() == "zone-a"
    [event] = result.events
    assert event.reason == "ZoneUnhealthy" and "pod template keeps it out" in event.message
    assert "its 3 on silent nodes" in event.message
    assert entry(sim, "zone-a")["health"] == "Unhealthy"
    sim.settle()
    sim.run()
    # Never fewer Ready than spec.replicas, in the API's eyes or in the zones that serve.
    assert sim.lowest is not None and sim.lowest >= 9
    assert back_once_and_kept(sim.serving, 9), sim.serving
    assert sim.serving[1] >= 9, sim.serving  # back in one step: every replica surged at once
    assert "zone-a" not in sim.counts() and len(sim.pods) == 9
    assert abs(sim.counts()["zone-b"] - sim.counts()["zone-c"]) <= 1
    again = spread.plan(sim.observe())
    assert (again.actions, again.status, again.events) == ([], None, [])

    # The node lifecycle controller marks the nodes NotReady: nothing left to delete or move.
    last = NOW - timedelta(seconds=GRACE + 1)
    with_zone(sim, "zone-a", quiet("zone-a", last, down("zone-a", NOW + timedelta(seconds=20))))
    sim.now = NOW + timedelta(seconds=25)
    sim.run()
    assert sim.kept_out() == {"zone-a"} and entry(sim, "zone-a")["health"] == "Unhealthy"

    # Back: Recovering for the failback delay (the template keeps the zone out), then in steps.
    with_zone(sim, "zone-a", zone_nodes("zone-a", since=NOW + timedelta(seconds=60)))
    sim.lost, sim.lowest = set(), None
    sim.now = NOW + timedelta(seconds=70)
    sim.run()
    assert entry(sim, "zone-a")["health"] == "Recovering" and sim.kept_out() == {"zone-a"}
    sim.now = NOW + timedelta(seconds=70 + 300)
    sim.run()
    assert sim.counts() == {"zone-a": 3, "zone-b": 3, "zone-c": 3}
    assert sim.lowest is not None and sim.lowest >= 9
    assert sim.strategy() is None and sim.annotation() is None and sim.kept_out() == set()
    assert sim.events.count("ReplicasReturned") == 1
    assert sim.events.count("ZoneUnhealthy") == 1 and "DeploymentUpdated" not in sim.events


def test_the_return_rollout_surges_in_failback_steps() -> None:
    sim = steady(9)
    silence(sim, ["zone-a"], GRACE + 1)
    sim.run()
    with_zone(sim, "zone-a", zone_nodes("zone-a"))  # renewing again, at once
    sim.lost = set()
    sim.run()
    assert entry(sim, "zone-a")["health"] == "Recovering"
    sim.now = NOW + timedelta(seconds=301)
    sim.reconcile()
    assert sim.strategy() == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 0},  # failbackStepPercent 25
    }
    assert sim.annotation() == "" and sim.kept_out() == set()


def test_renewals_resuming_within_the_grace_period_never_touch_the_template() -> None:
    sim = steady(9)
    assert sim.deployment is not None
    before = sim.deployment["metadata"]["generation"]
    silence(sim, ["zone-a"], GRACE - 8)  # proven silent (22 s > 20 s), within the grace period
    result = sim.reconcile()
    assert [a for a in result.actions if isinstance(a, Replace | DeletePod)] == []
    assert entry(sim, "zone-a")["health"] == "Degraded"
    with_zone(sim, "zone-a", zone_nodes("zone-a"))
    sim.now = NOW + timedelta(seconds=5)
    sim.run()
    assert entry(sim, "zone-a")["health"] == "Healthy"
    assert sim.deployment["metadata"]["generation"] == before
    assert sim.kept_out() == set() and sim.annotation() is None
    assert "ZoneUnhealthy" not in sim.events


def test_the_verdict_off_keeps_the_template() -> None:
    sim = steady(9, failover={"heartbeatTimeoutSeconds": 0})
    silence(sim, ["zone-a"], 300)
    sim.run()
    assert sim.kept_out() == set() and entry(sim, "zone-a")["health"] == "Healthy"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    replicas=st.integers(1, 14),
    max_skew=st.integers(1, 3),
    step=st.sampled_from([10, 25, 50, 100]),
    silent=st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True),
    strategy=st.sampled_from(
        [
            None,
            {"type": "Recreate"},
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "100%"}},
        ]
    ),
)
def test_a_heartbeat_failover_and_back_never_costs_capacity_nor_excludes_every_zone(
    replicas: int, max_skew: int, step: int, silent: list[str], strategy: dict[str, Any] | None
) -> None:
    spec: dict[str, Any] = {"maxSkew": max_skew, "failover": {"failbackStepPercent": step}}
    if strategy is not None:
        spec["strategy"] = strategy
    sim = steady(replicas, **spec)
    silence(sim, silent, GRACE + 1)
    templates = []
    for _ in range(60):
        result = sim.reconcile()
        templates.append(sim.kept_out())
        sim.settle()
        if not result.actions and result.status is None:
            break
    assert all(out != set(ZONES) for out in templates), templates
    assert sim.lowest is not None and sim.lowest >= replicas
    if len(silent) == len(ZONES):
        # Every zone silent: the signal is distrusted, nothing moves.
        assert sim.kept_out() == set() and sim.annotation() is None
        return
    assert sim.kept_out() == set(silent)
    assert back_once_and_kept(sim.serving, replicas), sim.serving
    assert not set(sim.counts()) & set(silent) and len(sim.pods) == replicas
    assert sim.strategy()["rollingUpdate"] == {"maxSurge": replicas, "maxUnavailable": 0}
    again = spread.plan(sim.observe())
    assert (again.actions, again.status) == ([], None)

    for zone in silent:
        with_zone(sim, zone, zone_nodes(zone))
    sim.lost, sim.lowest = set(), None
    sim.run()
    sim.now = NOW + timedelta(seconds=301)
    sim.run()
    check_back_in_every_zone(sim, replicas, max_skew, strategy)
