"""Zone shifts in the pure core: the ZoneShift API's parsing, which shifts select and apply to
a workload (core/shifts.py), what the PerZone planner does with a shifted zone (surge first,
back by the failback rules), the ZoneShift's own status, and the safety property with any
combination of failed, shifted and recovering zones."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.kit.perzone_sim import (
    NOW,
    ZONES,
    Sim,
    action_name,
    check_moves_keep_ready_capacity,
    cluster_nodes,
    condition,
    dep,
    fail_zone,
    random_state,
    reasons,
    replicas_after,
    workload_body,
    zone_nodes,
)
from tests.kit.zoneshifts import shift

from zonal_operator.api.workload import Workload
from zonal_operator.api.zoneshift import ZoneShift, parse_duration
from zonal_operator.core import shifts as shifting
from zonal_operator.core.plan import Plan


def walk(sim: Sim, replicas: int, rounds: int = 40) -> list[Plan]:
    """Plan and apply until nothing is left to do, one more pod of each Deployment getting
    Ready per round; at every plan, the Ready capacity its moves leave is at least `replicas`
    (or all there was). Every pod is Ready at the end."""
    plans = []
    for _ in range(rounds):
        before, ready = sim.replicas(), sim.ready()
        result = sim.plan()
        after = {**before, **{action_name(a): replicas_after(a) or 0 for a in result.actions}}
        kept = sum(min(ready.get(n, 0), after[n]) for n in after)
        assert kept >= min(replicas, sum(ready.values())), result.actions
        sim.apply(result, ready={n: ready.get(n, 0) for n in after})
        plans.append(result)
        if not result.actions and result.status is None and sim.ready() == sim.replicas():
            return plans
        sim.settle({n: ready.get(n, 0) + 1 for n in sim.deployments})
    raise AssertionError(f"no steady state after {rounds} rounds: {plans[-1]}")


def steady_sim(replicas: int = 9, **spec: Any) -> Sim:
    sim = Sim(workload_body(replicas, **spec), cluster_nodes())
    sim.converge()
    return sim


# --- the API -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("1h30m", 5400), ("72h", 259200), ("1.5h", 5400), ("250ms", 0.25)],
)
def test_durations_parse_as_go_writes_them(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1d", "h", "-5m", "5", "5 m"])
def test_what_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_a_shift_is_in_force_from_its_recorded_start_until_its_recorded_end() -> None:
    assert not shift(started=None).active(NOW)  # the operator has not started it yet
    started = shift(duration="10m")
    assert started.active(NOW) and started.active(NOW + timedelta(seconds=599))
    assert not started.active(NOW + timedelta(minutes=10))
    assert started.topology_key == "topology.kubernetes.io/zone"


# --- selection ---------------------------------------------------------------------------------


def expr(operator: str, *values: str) -> dict[str, Any]:
    requirement: dict[str, Any] = {"key": "t", "operator": operator}
    if values:
        requirement["values"] = list(values)
    return {"matchExpressions": [requirement]}


@pytest.mark.parametrize(
    ("selector", "labels", "selected"),
    [
        (None, {}, True),
        ({}, {"a": "1"}, True),
        ({"matchLabels": {"tier": "web"}}, {"tier": "web"}, True),
        ({"matchLabels": {"tier": "web"}}, {"tier": "db"}, False),
        (expr("In", "x"), {"t": "x"}, True),
        (expr("NotIn", "x"), {}, True),
        (expr("NotIn", "x"), {"t": "x"}, False),
        (expr("Exists"), {}, False),
        (expr("DoesNotExist"), {}, True),
        (expr("Gt", "1"), {"t": "2"}, False),
    ],
)  # fmt: skip
def test_label_selectors(
    selector: Mapping[str, Any] | None, labels: dict[str, str], selected: bool
) -> None:
    assert shifting.selector_matches(selector, labels) is selected


TEAM_A = {"matchLabels": {"team": "a"}}


def test_selecting_takes_shifts_in_force_with_the_workloads_key_and_labels() -> None:
    wl = Workload.from_body(workload_body())
    shifts = [
        shift("late", started=NOW - timedelta(minutes=1)),
        shift("early", zone="zone-a", started=NOW - timedelta(minutes=5)),
        shift("expired", started=NOW - timedelta(hours=2)),
        shift("pending", started=None),
        shift("other-key", topologyKey="example.com/rack"),
        shift("other-team", workloadSelector={"matchLabels": {"team": "b"}}),
        shift("other-ns", namespaceSelector={"matchLabels": {"env": "prod"}}),
        shift("ours", started=NOW - timedelta(minutes=1), workloadSelector=TEAM_A),
    ]
    chosen = shifting.selecting(shifts, wl, {"team": "a"}, {"env": "dev"}, NOW)
    assert [s.name for s in chosen] == ["early", "late", "ours"]  # by start, then name


def test_a_shift_that_would_leave_no_zone_is_refused_and_the_others_apply() -> None:
    a, b, c = (shift(f"s-{z}", zone=f"zone-{z}") for z in "abc")
    assignment = shifting.assign(["zone-a", "zone-b", "zone-c"], [a, b, c])
    assert sorted(assignment.applied) == ["zone-a", "zone-b"]
    assert [(s.name, why) for s, why in assignment.refused] == [("s-c", shifting.NO_ZONE_LEFT)]
    # A zone the workload does not run in: applied, nothing to move.
    elsewhere = shifting.assign(["zone-a"], [shift("s-x", zone="zone-x")])
    assert assignment.applies("s-a") and elsewhere.applies("s-x") and not elsewhere.refused
    cond = shifting.condition(elsewhere, ["zone-a"])
    assert cond is not None and (cond.status, cond.reason) == (False, "NothingToShift")


# --- PerZone: out and back ---------------------------------------------------------------------


def test_a_shift_moves_the_zones_replicas_out_surge_first_and_names_the_shift() -> None:
    sim = steady_sim(9)
    sim.shifts = (shift(duration="10m"),)
    first = sim.plan()
    assert reasons(first) == ["ZoneShifted"]
    assert "maint-b (kernel upgrade)" in first.events[0].message
    # Surge first: only increases now (one failback step each, capacity is whole).
    assert all(replicas_after(a) >= 3 for a in first.actions)  # type: ignore[operator]
    entry = next(z for z in first.status["zones"] if z["name"] == "zone-b")  # type: ignore[index]
    assert (entry["health"], entry["reason"], entry["shiftedBy"]) == (
        "Shifted",
        "ZoneShifted",
        ["maint-b"],
    )
    assert entry["desiredReplicas"] == 0
    assert first.requeue_after == pytest.approx(600, abs=1)  # looks again when it expires
    walk(sim, 9)
    assert sim.replicas() == {dep("zone-a"): 5, dep("zone-b"): 0, dep("zone-c"): 4}
    shifted = condition(sim.status, "ZoneShifted")
    assert (shifted["status"], shifted["reason"]) == ("True", "ZonesShifted")
    assert shifted["message"].startswith("Zone zone-b shifted away by ZoneShift maint-b")
    assert "2025-03-01T12:10:00Z" in shifted["message"]
    assert condition(sim.status, "FailedOver")["status"] == "False"  # no zone failed
    assert sim.status["zoneCount"] == 2


def test_when_the_shift_ends_replicas_return_in_steps_without_the_failback_delay() -> None:
    sim = steady_sim(12, failover={"failbackStepPercent": 25, "failbackDelaySeconds": 300})
    sim.shifts = (shift(duration="10m"),)
    walk(sim, 12)
    assert sim.replicas()[dep("zone-b")] == 0
    sim.now += timedelta(minutes=10)  # expired: the plan no longer sees it selecting
    first = sim.plan()
    assert reasons(first) == ["ReplicasReturned"]
    assert "Zone zone-b is no longer shifted away" in first.events[0].message
    assert {action_name(a): replicas_after(a) for a in first.actions} == {dep("zone-b"): 3}
    walk(sim, 12)
    assert sim.replicas() == {dep(z): 4 for z in ZONES}
    assert "ZoneShifted" not in {c["type"] for c in sim.status["conditions"]}
    assert sim.zone_status("zone-b")["health"] == "Healthy"
    assert "shiftedBy" not in sim.zone_status("zone-b")


def test_cancelling_early_is_the_same_as_expiring() -> None:
    sim = steady_sim(9)
    sim.shifts = (shift(duration="72h"),)
    walk(sim, 9)
    sim.shifts = ()  # deleted
    walk(sim, 9)
    assert sim.replicas() == {dep(z): 3 for z in ZONES}


def test_a_shifted_zone_that_fails_is_failed_over_and_its_return_waits_for_both() -> None:
    sim = steady_sim(9, failover={"failbackDelaySeconds": 120})
    sim.shifts = (shift(duration="30m"),)
    walk(sim, 9)
    # zone-b's nodes die: no grace period, its replicas are elsewhere already.
    fail_zone(sim, "zone-b", sim.now)
    result = sim.step()
    assert reasons(result) == ["ZoneUnhealthy"]
    entry = sim.zone_status("zone-b")
    assert (entry["health"], entry["reason"]) == ("Unhealthy", "FailedOver")
    assert "also shifted away by ZoneShift maint-b" in entry["message"]
    # The nodes come back while the shift holds: the failback delay is waited out first...
    sim.now += timedelta(minutes=1)
    sim.nodes = [n for n in sim.nodes if not n.name.startswith("zone-b")] + zone_nodes(
        "zone-b", since=sim.now
    )
    assert reasons(sim.step()) == ["ZoneRecovered"]
    assert sim.zone_status("zone-b")["health"] == "Recovering"
    # ... then the shift keeps the zone empty ...
    sim.now += timedelta(seconds=120)
    kept = sim.step()
    assert reasons(kept) == ["ZoneRecovered"] and "stay away" in kept.events[0].message
    assert sim.zone_status("zone-b")["health"] == "Shifted"
    assert sim.replicas()[dep("zone-b")] == 0
    # ... until it ends: then at once, the delay being served.
    sim.now += timedelta(minutes=30)
    assert reasons(sim.plan()) == ["ReplicasReturned"]
    walk(sim, 9)
    assert sim.replicas() == {dep(z): 3 for z in ZONES}


def test_a_shift_ending_while_the_zone_recovers_leaves_the_failback_delay_to_run() -> None:
    sim = steady_sim(9, failover={"failbackDelaySeconds": 300})
    sim.shifts = (shift(duration="5m"),)
    walk(sim, 9)
    fail_zone(sim, "zone-b", sim.now)
    sim.step()
    sim.now += timedelta(minutes=1)
    sim.nodes = [n for n in sim.nodes if not n.name.startswith("zone-b")] + zone_nodes(
        "zone-b", since=sim.now
    )
    sim.step()
    sim.now += timedelta(minutes=4)  # the shift ended; 240 s of the 300 s delay have run
    result = sim.step()
    assert result.actions == []
    assert sim.zone_status("zone-b")["health"] == "Recovering"
    assert result.requeue_after == pytest.approx(60, abs=1)


def test_a_shift_that_would_leave_no_zone_is_refused_for_the_workload_and_reported() -> None:
    sim = steady_sim(4, zones=["zone-b"])
    sim.shifts = (shift(),)
    result = sim.step()
    assert result.actions == []
    assert reasons(result) == ["ZoneShiftRefused"]
    assert result.events[0].type == "Warning"
    cond = condition(sim.status, "ZoneShifted")
    assert (cond["status"], cond["reason"]) == ("False", "ShiftRefused")
    assert shifting.NO_ZONE_LEFT in cond["message"]
    assert sim.zone_status("zone-b")["health"] == "Healthy"
    assert sim.plan().events == []  # told once


def test_of_two_shifts_the_later_one_that_would_empty_the_workload_is_refused() -> None:
    sim = steady_sim(6, zones=["zone-a", "zone-b"])
    sim.shifts = (
        shift("first", zone="zone-a", started=NOW - timedelta(minutes=2)),
        shift("second", zone="zone-b", started=NOW - timedelta(minutes=1)),
    )
    walk(sim, 6)
    assert sim.replicas() == {dep("zone-a"): 0, dep("zone-b"): 6}
    cond = condition(sim.status, "ZoneShifted")
    assert cond["reason"] == "ZonesShifted"
    assert "ZoneShift second (kernel upgrade) of zone zone-b not applied" in cond["message"]


def test_several_shifts_at_once_leave_one_zone() -> None:
    sim = steady_sim(9)
    sim.shifts = (shift("s-a", zone="zone-a"), shift("s-b", zone="zone-b"))
    walk(sim, 9)
    assert sim.replicas() == {dep("zone-a"): 0, dep("zone-b"): 0, dep("zone-c"): 9}
    assert sim.status["zoneCount"] == 1


def test_a_shift_yields_while_the_other_zones_fail_and_applies_again_once_they_are_back() -> None:
    sim = steady_sim(6, zones=["zone-a", "zone-b"])
    sim.shifts = (shift(duration="72h"),)
    walk(sim, 6)
    assert sim.replicas() == {dep("zone-a"): 6, dep("zone-b"): 0}
    fail_zone(sim, "zone-a", sim.now)
    refused = sim.step()
    assert "ZoneShiftRefused" in reasons(refused)
    assert sim.zone_status("zone-b")["health"] == "Healthy"
    sim.now += timedelta(seconds=30)  # zone-a is failed over: its share goes back to zone-b
    sim.converge()  # (the failover's own capacity claims are test_perzone.py's)
    assert sim.replicas() == {dep("zone-a"): 0, dep("zone-b"): 6}
    assert condition(sim.status, "ZoneShifted")["reason"] == "ShiftRefused"
    sim.nodes = cluster_nodes()  # zone-a is back for good
    sim.step()
    # Recovering, zone-a takes nothing yet: zone-b keeps the replicas (no Healthy zone).
    assert sim.zone_status("zone-a")["health"] == "Recovering"
    assert sim.zone_status("zone-b")["health"] == "Degraded"
    assert sim.replicas() == {dep("zone-a"): 0, dep("zone-b"): 6}
    sim.now += timedelta(seconds=300)  # the failback delay
    walk(sim, 6)
    assert sim.replicas() == {dep("zone-a"): 6, dep("zone-b"): 0}
    assert condition(sim.status, "ZoneShifted")["reason"] == "ZonesShifted"


def test_while_every_zone_looks_down_a_shift_moves_nothing() -> None:
    sim = steady_sim(9)
    for zone in ZONES:
        fail_zone(sim, zone, sim.now)
    sim.shifts = (shift(),)
    sim.now += timedelta(minutes=5)
    result = sim.step()
    assert result.actions == []
    assert condition(sim.status, "Degraded")["reason"] == "AllZonesUnhealthy"
    assert condition(sim.status, "ZoneShifted")["reason"] == "ShiftRefused"


def test_a_shift_is_steady_once_done() -> None:
    sim = steady_sim(9)
    sim.shifts = (shift(),)
    walk(sim, 9)
    sim.now += timedelta(minutes=5)
    quiet = sim.plan()
    assert (quiet.actions, quiet.status, quiet.events) == ([], None, [])


# --- the ZoneShift's status ----------------------------------------------------------------------


def test_the_shift_starts_when_first_seen_and_ends_after_its_duration() -> None:
    new = shift(duration="30m", started=None)
    status, events = shifting.shift_status(new, shifting.Outcome(), NOW)
    assert (status["startedAt"], status["countedFrom"]) == ("2025-03-01T12:00:00Z",) * 2
    assert status["expiresAt"] == "2025-03-01T12:30:00Z" and status["active"] is True
    assert [e.reason for e in events] == ["ZoneShiftStarted"]
    assert "kernel upgrade" in events[0].message
    started = ZoneShift.from_body({**body_of(new), "status": status})
    later = NOW + timedelta(minutes=10)
    outcome = shifting.Outcome(3, (("shop", "db", shifting.NO_ZONE_LEFT),))
    counted, events = shifting.shift_status(started, outcome, later)
    assert (counted["appliedWorkloads"], counted["refusedWorkloads"]) == (3, 1)
    assert counted["refused"] == [
        {"namespace": "shop", "name": "db", "message": shifting.NO_ZONE_LEFT}
    ]
    assert [e.reason for e in events] == ["ZoneShiftRefused"]
    steady = ZoneShift.from_body({**body_of(new), "status": counted})
    assert shifting.shift_status(steady, outcome, later) == (counted, [])  # nothing to write
    ended, events = shifting.shift_status(steady, outcome, NOW + timedelta(minutes=30))
    assert ended["active"] is False and ended["appliedWorkloads"] == 0
    assert ended["conditions"][0]["reason"] == "Expired"
    assert [e.reason for e in events] == ["ZoneShiftExpired"]


def test_editing_the_duration_counts_it_again_from_the_edit() -> None:
    status, _ = shifting.shift_status(shift(duration="1h", started=None), None, NOW)
    edited = ZoneShift.from_body(
        {**body_of(shift(duration="4h")), "status": status}  # spec.duration edited to 4h
    )
    later = NOW + timedelta(minutes=50)
    extended, events = shifting.shift_status(edited, None, later)
    assert extended["startedAt"] == "2025-03-01T12:00:00Z"
    assert extended["countedFrom"] == "2025-03-01T12:50:00Z"
    assert extended["expiresAt"] == "2025-03-01T16:50:00Z"
    assert [e.reason for e in events] == ["ZoneShiftExtended"]


def body_of(s: ZoneShift) -> dict[str, Any]:
    return {
        "metadata": {"name": s.name, "uid": s.uid, "generation": s.generation},
        "spec": {"zone": s.zone, "duration": s.duration, "reason": s.reason},
    }


def test_outcomes_count_what_each_plan_decides() -> None:
    web = Workload.from_body(workload_body())
    db_body = workload_body(zones=["zone-b"])
    db_body["metadata"]["name"] = "db"
    db = Workload.from_body(db_body)
    shifts = [shift(), shift("idle", zone="zone-a", workloadSelector={"matchLabels": {"x": "y"}})]
    entries = [
        shifting.Selected(web, {}, {}, ZONES, ZONES),
        shifting.Selected(db, {}, {}, ("zone-b",), ("zone-b",)),
    ]
    found = shifting.outcomes(shifts, entries, NOW)
    assert found["maint-b"] == shifting.Outcome(1, (("shop", "db", shifting.NO_ZONE_LEFT),))
    assert found["idle"] == shifting.Outcome(0, ())


# --- the safety property, with shifts -------------------------------------------------------------


@st.composite
def shifted_state(draw: st.DrawFn) -> tuple[Sim, dict[str, int], dict[str, int], set[str]]:
    """random_state (tests/kit/perzone_sim.py: any mix of healthy, failing, recovering,
    vanished zones and Deployments), plus any set of its zones shifted, in any order, and zones
    whose status says they were shifted before."""
    sim, current, ready, stranded = draw(random_state())
    names = [z["name"] for z in sim.body["status"]["zones"]]
    shifted = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    sim.shifts = tuple(
        shift(f"s-{z}", zone=z, duration="72h", started=NOW - timedelta(minutes=i + 1))
        for i, z in enumerate(shifted)
    )
    for entry in sim.body["status"]["zones"]:
        if draw(st.booleans()) and entry["health"] == "Healthy":
            entry["health"] = "Shifted"
    return sim, current, ready, stranded


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=shifted_state())
def test_with_shifts_the_operators_moves_never_take_ready_capacity_below_what_was_asked(
    state: tuple[Sim, dict[str, int], dict[str, int], set[str]],
) -> None:
    check_moves_keep_ready_capacity(state)  # the same claim as without shifts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=shifted_state())
def test_with_shifts_any_state_settles_with_the_replicas_where_they_should_be(
    state: tuple[Sim, dict[str, int], dict[str, int], set[str]],
) -> None:
    sim = state[0]
    sim.pod_nodes = None
    for _ in range(30):
        result = sim.step()
        sim.settle()
        sim.now += timedelta(minutes=6)  # past every grace period and failback delay
        if not result.actions and result.status is None:
            break
    else:
        raise AssertionError(f"no steady state: {result}")
    zones = {z["name"]: z for z in sim.status["zones"]}
    uid = sim.workload.uid
    owned = {
        name
        for name, live in sim.deployments.items()
        if any(r.get("uid") == uid for r in live["metadata"].get("ownerReferences", []))
    }
    held = {z: sim.replicas()[dep(z)] if dep(z) in owned else 0 for z in zones}
    serving = [z for z, e in zones.items() if e["health"] in ("Healthy", "Degraded")]
    healthy = [z for z, e in zones.items() if e["health"] == "Healthy"]
    # A Shifted zone holds nothing, and never the last zone up; a shift refused for the
    # workload shifts nothing.
    for name, entry in zones.items():
        if entry["health"] == "Shifted":
            assert held[name] == 0 and healthy, entry
    assert all(z["health"] != "Shifted" for z in zones.values() if "shiftedBy" not in z)
    if (
        healthy
        and all(
            any(n.ready == "True" for n in sim.nodes if n.labels.get(_KEY) == z) for z in serving
        )
        and not any(e.get("reason") == "DeploymentConflict" for e in zones.values())
    ):
        assert sum(held[z] for z in serving) == sim.workload.replicas


_KEY = "topology.kubernetes.io/zone"
