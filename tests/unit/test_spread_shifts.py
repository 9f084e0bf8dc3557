"""Zone shifts with Spread placement (core/spread_shifts.py, spread.py): the zone is kept out of
the one Deployment's pod template, the rollout that moves the pods is surge first whatever
spec.strategy says, and the user's strategy comes back once the pods are back.

`RolloutSim` (tests/kit/spread_sim.py) adds to the SpreadSim what a template change sets off:
the Deployment controller's rolling update and a scheduler that honours the `NotIn` zone term.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.kit.perzone_sim import NOW, ZONES, down, zone_nodes
from tests.kit.spread_sim import RolloutSim, check_back_in_every_zone, spread_body
from tests.kit.zoneshifts import shift

from zonal_operator.api.group import DEFAULT_TOPOLOGY_KEY
from zonal_operator.api.workload import Workload
from zonal_operator.core import shifts as shifting
from zonal_operator.core import spread, spread_shifts
from zonal_operator.core.plan import Replace
from zonal_operator.core.spread_shifts import SHIFTED_ZONES, Exclusion

SURGE_FIRST = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 0}}


def steady(replicas: int = 9, zones: tuple[str, ...] = ZONES, **spec: Any) -> RolloutSim:
    sim = RolloutSim(spread_body(replicas, **spec), [n for z in zones for n in zone_nodes(z)])
    sim.run()
    sim.lowest = None
    return sim


def zone_entry(sim: RolloutSim, zone: str) -> dict[str, Any]:
    return next(z for z in sim.workload["status"]["zones"] if z["name"] == zone)


# --- rendering ----------------------------------------------------------------------------------


def test_render_keeps_the_shifted_zones_out_of_every_node_selector_term_surge_first() -> None:
    body = spread_body(9, strategy={"type": "Recreate"})
    body["spec"]["template"]["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]},
                    {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
                ]
            }
        }
    }
    wl = Workload.from_body(body)
    shifted = spread_shifts.render(wl, 9, Exclusion(("zone-b", "zone-c"), True))
    pod = shifted["spec"]["template"]["spec"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    not_in = {"key": DEFAULT_TOPOLOGY_KEY, "operator": "NotIn", "values": ["zone-b", "zone-c"]}
    assert all(not_in in t["matchExpressions"] for t in terms["nodeSelectorTerms"])
    assert shifted["spec"]["strategy"] == SURGE_FIRST
    assert shifted["metadata"]["annotations"][SHIFTED_ZONES] == "zone-b,zone-c"
    # The zone spread constraint honours node affinity: it spreads over what is left.
    [zone] = [
        c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == DEFAULT_TOPOLOGY_KEY
    ]
    assert zone["nodeAffinityPolicy"] == "Honor"
    # Back: the user's strategy, no NotIn, no annotation (and a new digest each time).
    returning = spread_shifts.render(wl, 9, Exclusion((), True))
    plain = spread_shifts.render(wl, 9)
    assert returning["spec"]["strategy"] == SURGE_FIRST
    assert returning["metadata"]["annotations"][SHIFTED_ZONES] == ""
    assert plain["spec"]["strategy"] == {"type": "Recreate"}
    assert SHIFTED_ZONES not in plain["metadata"]["annotations"]
    assert "NotIn" not in json.dumps(plain) and "NotIn" not in json.dumps(returning)
    digests = {
        b["metadata"]["annotations"]["zonal.dev/spec-hash"] for b in (shifted, returning, plain)
    }
    assert len(digests) == 3


# --- out and back -------------------------------------------------------------------------------


def test_a_shift_moves_the_pods_out_surge_first_and_back_after_it_ends() -> None:
    sim = steady(9, strategy={"type": "Recreate"})
    assert sim.counts() == {"zone-a": 3, "zone-b": 3, "zone-c": 3}
    sim.shifts = (shift(),)
    sim.run()
    assert sim.lowest is not None and sim.lowest >= 9
    assert sim.counts() == {"zone-a": 5, "zone-c": 4} or sim.counts() == {"zone-a": 4, "zone-c": 5}
    assert len(sim.pods) == 9 and sim.kept_out() == {"zone-b"}
    assert sim.strategy() == SURGE_FIRST and sim.annotation() == "zone-b"  # while it applies
    entry = zone_entry(sim, "zone-b")
    assert (entry["health"], entry["shiftedBy"], entry["replicas"]) == ("Shifted", ["maint-b"], 0)
    cond = sim.condition("ZoneShifted")
    assert (cond["status"], cond["reason"]) == ("True", "ZonesShifted")
    assert "ZoneShift maint-b (kernel upgrade)" in cond["message"]
    assert sim.condition("Balanced")["status"] == "True"
    assert sim.events.count("ZoneShifted") == 1 and "DeploymentUpdated" not in sim.events
    assert sim.condition("FailedOver")["status"] == "False"

    sim.shifts, sim.lowest = (), None
    sim.run()
    assert sim.lowest is not None and sim.lowest >= 9
    assert sim.counts() == {"zone-a": 3, "zone-b": 3, "zone-c": 3}
    assert sim.strategy() == {"type": "Recreate"}  # the user's, once the pods are back
    assert sim.annotation() is None and sim.kept_out() == set()
    assert "ZoneShifted" not in {c["type"] for c in sim.workload["status"]["conditions"]}
    assert sim.events.count("ReplicasReturned") == 1 and "DeploymentUpdated" not in sim.events


def test_the_strategy_stays_surge_first_until_the_return_rollout_is_done() -> None:
    sim = steady(9, strategy={"type": "Recreate"})
    sim.shifts = (shift(),)
    sim.run()
    sim.shifts = ()
    rounds = []
    for _ in range(60):
        result = sim.reconcile()
        current = sim.template_hash()
        rolling = any(sim.revision[p] != current for p in sim.pods) or len(sim.pods) > 9
        rounds.append((sim.strategy(), rolling))
        sim.settle()
        if not result.actions and result.status is None:
            break
    # Surge first while a pod of the shifted template is left; the user's strategy after.
    assert sum(rolling for _, rolling in rounds) >= 3, rounds
    assert all(s == SURGE_FIRST for s, rolling in rounds if rolling), rounds
    assert rounds[-1] == ({"type": "Recreate"}, False)
    # A restart mid-way reads the same from the Deployment: "" = on the way back.
    live = {"metadata": {"annotations": {SHIFTED_ZONES: ""}}, "spec": {"replicas": 9},
            "status": {"replicas": 12, "updatedReplicas": 6, "availableReplicas": 12}}  # fmt: skip
    assert spread_shifts.exclusion({}, live, all_failing=False) == Exclusion((), True)
    live["status"] = {"replicas": 9, "updatedReplicas": 9, "availableReplicas": 9}
    assert spread_shifts.exclusion({}, live, all_failing=False) == spread_shifts.NONE


def test_planning_twice_on_the_same_observation_writes_nothing_new() -> None:
    sim = steady(9)
    sim.shifts = (shift(),)
    sim.run()
    first = spread.plan(sim.observe())
    second = spread.plan(sim.observe())
    assert (first.actions, first.status, first.events) == ([], None, [])
    assert (second.actions, second.status, second.events) == ([], None, [])


def test_a_shift_that_would_leave_no_zone_is_refused_and_moves_nothing() -> None:
    sim = steady(4, zones=("zone-b",))
    sim.shifts = (shift(),)
    sim.run()
    assert sim.counts() == {"zone-b": 4} and sim.kept_out() == set()
    assert sim.annotation() is None and sim.strategy() is None
    cond = sim.condition("ZoneShifted")
    assert (cond["status"], cond["reason"]) == ("False", "ShiftRefused")
    assert shifting.NO_ZONE_LEFT in cond["message"]
    assert sim.events.count("ZoneShiftRefused") == 1
    outcome = shifting.outcomes(
        sim.shifts,
        [shifting.Selected(sim.wl, {}, {}, ["zone-b"], ["zone-b"])],
        NOW,
    )
    assert outcome["maint-b"].applied == 0 and len(outcome["maint-b"].refused) == 1


def test_the_shift_gives_way_while_the_other_zones_fail() -> None:
    sim = steady(4, zones=("zone-a", "zone-b"))
    sim.nodes = [n for n in sim.nodes if not n.name.startswith("zone-a")] + down(
        "zone-a", NOW - timedelta(seconds=5)
    )
    sim.shifts = (shift(),)
    sim.run()
    assert sim.kept_out() == set() and sim.counts() == {"zone-a": 2, "zone-b": 2}
    cond = sim.condition("ZoneShifted")
    assert cond["reason"] == "ShiftRefused"


def test_a_shifted_zone_that_fails_waits_out_the_failback_delay_after_the_shift() -> None:
    sim = steady(9, failover={"failbackDelaySeconds": 300})
    sim.shifts = (shift(),)
    sim.run()
    # Zone b fails while shifted, then its nodes come back; the shift then ends.
    others = [n for n in sim.nodes if not n.name.startswith("zone-b")]
    sim.nodes = others + down("zone-b", NOW)
    sim.now = NOW + timedelta(seconds=60)
    sim.run()
    assert zone_entry(sim, "zone-b")["health"] == "Unhealthy"
    sim.nodes = others + zone_nodes("zone-b", since=NOW + timedelta(seconds=90))
    sim.now = NOW + timedelta(seconds=100)
    sim.shifts = ()
    sim.run()
    assert zone_entry(sim, "zone-b")["health"] == "Recovering"
    assert sim.kept_out() == {"zone-b"} and "zone-b" not in sim.counts()
    sim.now = NOW + timedelta(seconds=400)
    sim.lowest = None
    sim.run()
    assert sim.kept_out() == set() and sim.counts() == {"zone-a": 3, "zone-b": 3, "zone-c": 3}
    assert sim.lowest is not None and sim.lowest >= 9
    assert sim.annotation() is None and sim.strategy() is None


def test_every_zone_down_moves_nothing_the_template_stays() -> None:
    sim = steady(9)
    sim.shifts = (shift(zone="zone-c", name="maint-c"),)
    sim.run()
    assert sim.kept_out() == {"zone-c"}
    assert sim.deployment is not None
    live = copy.deepcopy(sim.deployment)
    zones = {}  # no zone at all judged: every zone looks down
    assert spread_shifts.exclusion(zones, live, all_failing=True) == Exclusion(("zone-c",), True)


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    replicas=st.integers(1, 14),
    max_skew=st.integers(1, 3),
    step=st.sampled_from([10, 25, 50, 100]),
    zone=st.sampled_from(ZONES),
    strategy=st.sampled_from(
        [
            None,
            {"type": "Recreate"},
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "100%"}},
        ]
    ),
)
def test_out_and_back_never_costs_ready_capacity_and_ends_where_it_should(
    replicas: int, max_skew: int, step: int, zone: str, strategy: dict[str, Any] | None
) -> None:
    spec: dict[str, Any] = {"maxSkew": max_skew, "failover": {"failbackStepPercent": step}}
    if strategy is not None:
        spec["strategy"] = strategy
    sim = steady(replicas, **spec)
    sim.shifts = (shift(zone=zone),)
    sim.run()
    assert sim.lowest is not None and sim.lowest >= replicas
    assert zone not in sim.counts() and sum(sim.counts().values()) == replicas
    counts = [sim.counts().get(z, 0) for z in ZONES if z != zone]
    assert max(counts) - min(counts) <= max_skew
    assert sim.strategy()["rollingUpdate"]["maxUnavailable"] == 0
    assert [a for a in spread.plan(sim.observe()).actions if isinstance(a, Replace)] == []

    sim.shifts, sim.lowest = (), None
    sim.run()
    check_back_in_every_zone(sim, replicas, max_skew, strategy)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shifted=st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True),
    failing=st.sampled_from([None, *ZONES]),
)
def test_the_template_always_leaves_a_zone_that_is_up_and_says_what_was_refused(
    shifted: list[str], failing: str | None
) -> None:
    sim = steady(6)
    if failing is not None:  # within its grace period: still serving, but not up
        others = [n for n in sim.nodes if not n.name.startswith(failing)]
        sim.nodes = others + down(failing, NOW - timedelta(seconds=5))
    sim.shifts = tuple(
        shift(f"s-{i}-{zone}", zone, started=NOW - timedelta(seconds=10 - i))
        for i, zone in enumerate(shifted)
    )
    sim.run()
    up = set(ZONES) - {failing}
    assert up - sim.kept_out(), (sim.kept_out(), failing)
    assignment = shifting.assign(ZONES, sim.shifts, sorted(up))
    assert sim.kept_out() == set(assignment.applied)
    cond = sim.condition("ZoneShifted")
    for refused, why in assignment.refused:
        assert why == shifting.NO_ZONE_LEFT and refused.name in cond["message"]
    assert sim.events.count("ZoneShiftRefused") == len(assignment.refused)
    if failing is None:
        assert sim.lowest is not None and sim.lowest >= 6
        assert set(sim.counts()) == up - sim.kept_out()
