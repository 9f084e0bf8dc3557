"""Scenarios for the pure PerZone planner: one reconcile in, actions and status out.

`Sim` (tests/kit/perzone_sim.py) plays the parts around the planner: the API server (it
applies the actions, bumps generations and adds its defaults), the Deployment controller
(`settle` writes a status with the Ready pods a test chooses) and the controller's bookkeeping
(it writes the planned status, with the generations of the operator's own writes recorded,
back into the workload).
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.kit.perzone_sim import (
    NOW,
    RFC3339,
    TEMPLATE,
    ZONES,
    Sim,
    State,
    action_name,
    check_moves_keep_ready_capacity,
    cluster_nodes,
    condition,
    dep,
    deployment_status,
    down,
    fail_zone,
    foreign,
    next_live,
    random_state,
    reasons,
    replicas_after,
    scales,
    steady,
    workload_body,
    zone_entry,
    zone_nodes,
)

from zonal_operator.api.group import DEFAULT_TOPOLOGY_KEY, MANAGED_BY, MANAGED_BY_LABEL, ZONE_LABEL
from zonal_operator.api.workload import Workload
from zonal_operator.core.coalesce import (
    NODE_CHANGES_COALESCE_SECONDS,
    NODE_COUNTS_PROGRESS_COALESCE_SECONDS,
    NODE_COUNTS_SETTLE_SECONDS,
    PROGRESS_COALESCE_SECONDS,
)
from zonal_operator.core.model import NodeInfo, Silence
from zonal_operator.core.perzone import plan
from zonal_operator.core.plan import Create, Delete, PerZoneObserved, Replace, Scale
from zonal_operator.core.render import SPEC_HASH_ANNOTATION, render_deployment

# --- a fresh workload -------------------------------------------------------------------------


def test_fresh_workload_creates_one_deployment_per_zone() -> None:
    sim = Sim(workload_body(9), cluster_nodes())
    first = sim.plan()
    assert all(isinstance(a, Create) for a in first.actions)
    assert {action_name(a): replicas_after(a) for a in first.actions} == {
        dep("zone-a"): 3,
        dep("zone-b"): 3,
        dep("zone-c"): 3,
    }
    for action in first.actions:
        assert isinstance(action, Create)
        zone = action.body["metadata"]["labels"][ZONE_LABEL]
        assert action.body == render_deployment(sim.workload, zone, 3)
    # One event names all three.
    assert reasons(first) == ["DeploymentCreated"]
    assert first.events[0].message == (
        "Created Deployments web-zone-a (zone-a, 3 replicas), web-zone-b (zone-b, 3 replicas), "
        "web-zone-c (zone-c, 3 replicas)"
    )
    status = first.status
    assert status is not None
    assert status["observedGeneration"] == 1
    assert [z["name"] for z in status["zones"]] == list(ZONES)
    assert {z["desiredReplicas"] for z in status["zones"]} == {3}
    assert {z["health"] for z in status["zones"]} == {"Healthy"}
    assert status["zoneCount"] == status["healthyZoneCount"] == 3
    assert status["selector"] == "app=web,zonal.dev/workload=web"
    assert {c["type"] for c in status["conditions"]} == {
        "Ready",
        "Progressing",
        "Degraded",
        "FailedOver",
    }
    assert condition(status, "Ready")["status"] == "False"
    assert condition(status, "Progressing")["status"] == "True"
    assert condition(status, "Degraded")["status"] == "False"
    assert condition(status, "FailedOver")["status"] == "False"
    assert first.requeue_after is None

    sim.apply(first)  # every pod Ready at once
    second = sim.plan()
    assert second.actions == []
    assert second.events == []
    status = second.status
    assert status is not None  # the Ready pods are news
    assert status["readyReplicas"] == status["availableReplicas"] == 9
    assert condition(status, "Ready")["status"] == "True"
    assert condition(status, "Progressing")["status"] == "False"
    assert [z["deploymentGeneration"] for z in status["zones"]] == [1, 1, 1]
    sim.apply(second)

    # Steady state: nothing to do, nothing to write, however much later.
    sim.now += timedelta(hours=3)
    third = sim.plan()
    assert (third.actions, third.status, third.events, third.requeue_after) == ([], None, [], None)


def test_fresh_workload_with_zones_listed_and_a_zone_without_nodes() -> None:
    sim = Sim(
        workload_body(4, zones=["zone-c", "zone-a", "zone-x"]),
        cluster_nodes(),
    )
    first = sim.plan()
    assert {action_name(a): replicas_after(a) for a in first.actions} == {
        dep("zone-a"): 2,
        dep("zone-c"): 2,
    }
    assert [z["name"] for z in first.status["zones"]] == ["zone-a", "zone-c"]  # type: ignore[index]


def test_no_eligible_zone() -> None:
    sim = Sim(workload_body(3, zones=["zone-x"]), cluster_nodes())
    result = sim.plan()
    assert result.actions == []
    assert condition(result.status, "Degraded")["reason"] == "NoEligibleZones"
    assert condition(result.status, "Ready")["status"] == "False"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    replicas=st.integers(0, 30),
    zone_count=st.integers(1, 5),
    max_skew=st.integers(1, 3),
    step_percent=st.integers(1, 100),
)
def test_fresh_workload_reaches_a_silent_steady_state(
    replicas: int, zone_count: int, max_skew: int, step_percent: int
) -> None:
    zones = [f"zone-{chr(ord('a') + i)}" for i in range(zone_count)]
    sim = Sim(
        workload_body(replicas, maxSkew=max_skew, failover={"failbackStepPercent": step_percent}),
        cluster_nodes(zones),
    )
    first = sim.plan()
    assert all(isinstance(a, Create) for a in first.actions)
    counts = [replicas_after(a) or 0 for a in first.actions]
    assert len(counts) == zone_count
    assert sum(counts) == replicas
    assert max(counts) - min(counts) <= 1  # nothing to preserve: the even split
    sim.apply(first)
    second = sim.plan()
    assert second.actions == []
    sim.apply(second)
    sim.now += timedelta(minutes=10)
    third = sim.plan()
    assert (third.actions, third.status, third.events) == ([], None, [])
    assert sim.status["readyReplicas"] == replicas
    assert condition(sim.status, "Ready")["status"] == "True"


# --- scaling and spec changes -----------------------------------------------------------------


@pytest.mark.parametrize("max_skew", [1, 2])
def test_scale_up_and_down(max_skew: int) -> None:
    sim = steady(9, maxSkew=max_skew)
    for total in (12, 4, 5, 0, 7):
        before = sim.replicas()
        sim.set_spec(replicas=total)
        result = sim.plan()
        assert all(isinstance(a, Scale) for a in result.actions), result.actions
        after = {**before, **scales(result)}
        assert sum(after.values()) == total
        assert max(after.values()) - min(after.values()) <= max_skew
        # Fewest moves: every zone moves the same way as the total.
        assert all((v - before[k]) * (total - sum(before.values())) >= 0 for k, v in after.items())
        assert (
            result.status is not None
            and result.status["observedGeneration"] == (sim.body["metadata"]["generation"])
        )
        sim.apply(result)
        sim.converge()
        assert sim.replicas() == after


def test_scale_9_12_4_exact() -> None:
    sim = steady(9)
    sim.set_spec(replicas=12)
    assert scales(sim.plan()) == {dep(z): 4 for z in ZONES}
    sim.converge()
    sim.set_spec(replicas=4)
    assert scales(sim.plan()) == {dep("zone-a"): 2, dep("zone-b"): 1, dep("zone-c"): 1}


def test_template_change_replaces_every_zone() -> None:
    sim = steady(9)
    for name in sim.deployments:  # things others put on our Deployments survive a Replace
        meta = sim.deployments[name]["metadata"]
        meta["labels"]["team"] = "payments"
        meta["annotations"] = {"deployment.kubernetes.io/revision": "1"}
    template = copy.deepcopy(TEMPLATE)
    template["spec"]["containers"][0]["image"] = "nginx:1.28"
    sim.set_spec(template=template)
    result = sim.plan()
    assert [type(a) for a in result.actions] == [Replace] * 3
    for action in result.actions:
        assert isinstance(action, Replace)
        body, live = action.body, sim.deployments[action_name(action)]
        assert body["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
        assert body["spec"]["replicas"] == 3
        assert body["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
        assert body["metadata"]["labels"]["team"] == "payments"
        assert body["metadata"]["labels"][ZONE_LABEL] == live["metadata"]["labels"][ZONE_LABEL]
        annotations = body["metadata"]["annotations"]
        assert annotations["deployment.kubernetes.io/revision"] == "1"  # the live one, kept
        assert annotations[SPEC_HASH_ANNOTATION] != live["metadata"]["annotations"].get(
            SPEC_HASH_ANNOTATION
        )
    assert reasons(result) == ["DeploymentUpdated"] * 3
    sim.apply(result)
    sim.settle()
    assert [e["deploymentGeneration"] for e in sim.status["zones"]] == [2, 2, 2]
    sim.converge()


@pytest.mark.parametrize(
    "change",
    [
        {"paused": True},
        {"minReadySeconds": 30},
        {"strategy": {"type": "Recreate"}},
        {"selector": {"matchLabels": {"app": "web"}}, "maxSkew": 1},
    ],
)
def test_rollout_changes_replace_only_when_they_change_the_deployment(
    change: dict[str, Any],
) -> None:
    sim = steady(9)
    sim.set_spec(**change)
    result = sim.plan()
    if set(change) <= {"selector", "maxSkew"}:  # same values as before
        assert result.actions == []
    else:
        assert [type(a) for a in result.actions] == [Replace] * 3
        for action in result.actions:
            assert isinstance(action, Replace)
            for key, value in change.items():
                assert action.body["spec"][key] == value
    sim.apply(result)
    sim.settle()
    sim.converge()


def test_unpausing_is_a_change() -> None:
    sim = steady(9, paused=True)
    assert all(d["spec"]["paused"] is True for d in sim.deployments.values())
    sim.set_spec(paused=False)
    result = sim.plan()
    assert [type(a) for a in result.actions] == [Replace] * 3
    assert all("paused" not in a.body["spec"] for a in result.actions if isinstance(a, Replace))


def test_hand_edit_is_undone() -> None:
    sim = steady(9)

    def edit(live: dict[str, Any]) -> None:
        # A field the operator does not set itself: only the generation tells.
        live["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 5

    sim.hand_edit(dep("zone-b"), edit)
    result = sim.plan()
    assert len(result.actions) == 1
    action = result.actions[0]
    assert isinstance(action, Replace)
    assert action_name(action) == dep("zone-b")
    assert "terminationGracePeriodSeconds" not in action.body["spec"]["template"]["spec"]
    assert action.body["spec"]["replicas"] == 3
    assert reasons(result) == ["DeploymentRestored"]
    sim.apply(result)
    sim.settle()
    sim.converge()
    assert (
        sim.deployments[dep("zone-b")]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        == 30
    )


def test_hand_edit_stays_detected_when_the_restoring_write_fails() -> None:
    """A Replace can lose a race (409 Conflict). The status written meanwhile must not adopt
    the edited generation, or the edit would pass for the operator's own and stay."""
    sim = steady(9)
    recorded = zone_entry(sim.status, "zone-b")["deploymentGeneration"]
    sim.hand_edit(
        dep("zone-b"),
        lambda live: live["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=5),
    )
    result = sim.plan()
    assert [type(a) for a in result.actions] == [Replace]
    # The controller writes this status when the Replace fails.
    assert result.status is None or (
        zone_entry(result.status, "zone-b")["deploymentGeneration"] == recorded
    )


def test_hand_edit_of_a_field_the_operator_sets_is_undone() -> None:
    sim = steady(9)

    def edit(live: dict[str, Any]) -> None:
        live["spec"]["template"]["spec"]["containers"][0]["image"] = "evil:latest"

    sim.hand_edit(dep("zone-c"), edit)
    result = sim.plan()
    assert [action_name(a) for a in result.actions] == [dep("zone-c")]
    action = result.actions[0]
    assert isinstance(action, Replace)
    assert action.body["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_hand_scale_is_undone_without_losing_capacity() -> None:
    sim = steady(9)

    def edit(live: dict[str, Any]) -> None:
        live["spec"]["replicas"] = 1

    sim.hand_edit(dep("zone-a"), edit)
    sim.settle()  # zone-a now has 1 Ready pod
    result = sim.plan()
    assert [action_name(a) for a in result.actions] == [dep("zone-a")]
    assert replicas_after(result.actions[0]) == 3
    sim.apply(result)
    sim.settle()
    sim.converge()
    assert sim.replicas() == {dep(z): 3 for z in ZONES}


def test_deleted_deployment_is_created_again() -> None:
    sim = steady(9)
    del sim.deployments[dep("zone-b")]
    result = sim.plan()
    assert [(type(a), action_name(a), replicas_after(a)) for a in result.actions] == [
        (Create, dep("zone-b"), 3)
    ]
    assert reasons(result) == ["DeploymentCreated"]
    sim.apply(result)
    sim.converge()
    assert sim.zone_status("zone-b")["deploymentGeneration"] == 1


def test_server_side_changes_to_labels_are_restored() -> None:
    sim = steady(9)
    meta = sim.deployments[dep("zone-a")]["metadata"]
    del meta["labels"][MANAGED_BY_LABEL]
    meta["resourceVersion"] = "9999"  # any change on the server is a new version
    result = sim.plan()
    assert [action_name(a) for a in result.actions] == [dep("zone-a")]
    action = result.actions[0]
    assert isinstance(action, Replace)
    assert action.body["metadata"]["labels"][MANAGED_BY_LABEL] == MANAGED_BY


@pytest.mark.parametrize("owner_uid", [None, "uid-of-an-older-web"])
def test_foreign_deployment_with_our_name_is_left_alone(owner_uid: str | None) -> None:
    sim = Sim(workload_body(9), cluster_nodes(), {dep("zone-a"): foreign("zone-a", owner_uid)})
    original = copy.deepcopy(sim.deployments[dep("zone-a")])
    first = sim.plan()
    assert dep("zone-a") not in [action_name(a) for a in first.actions]
    assert {action_name(a): replicas_after(a) for a in first.actions} == {
        dep("zone-b"): 5,
        dep("zone-c"): 4,
    }
    degraded = condition(first.status, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "DeploymentConflict")
    assert dep("zone-a") in degraded["message"]
    assert condition(first.status, "Ready")["status"] == "False"
    entry = zone_entry(first.status, "zone-a")
    assert entry["reason"] == "DeploymentConflict"
    assert entry["desiredReplicas"] == 0
    assert "deploymentGeneration" not in entry
    assert first.status is not None and first.status["zoneCount"] == 2
    # Foreign replicas are not ours to count.
    sim.apply(first)
    sim.settle()
    plans = sim.converge()
    for result in plans:
        assert dep("zone-a") not in [action_name(a) for a in result.actions]
    assert sim.deployments[dep("zone-a")] == original
    assert sim.status["readyReplicas"] == 9
    # Once the namesake is gone, the zone gets its share back.
    del sim.deployments[dep("zone-a")]
    sim.converge()
    assert sim.replicas() == {dep(z): 3 for z in ZONES}


# --- a zone that vanishes ---------------------------------------------------------------------


def test_vanished_zone_is_drained_as_surplus_allows_then_deleted() -> None:
    sim = steady(9)
    sim.nodes = cluster_nodes(["zone-a", "zone-b"])
    first = sim.plan()
    # Its share goes to the others first; its own Ready pods stay for now.
    assert scales(first) == {dep("zone-a"): 5, dep("zone-b"): 4}
    entry = zone_entry(first.status, "zone-c")
    assert (entry["health"], entry["reason"], entry["eligibleNodes"]) == (
        "Unhealthy",
        "NoEligibleNodes",
        0,
    )
    sim.apply(first, ready={dep("zone-a"): 3, dep("zone-b"): 3})
    assert sim.plan().actions == []  # nothing new is Ready: nothing may go

    sim.settle({dep("zone-a"): 5, dep("zone-b"): 3})  # 2 surplus Ready pods
    assert scales(sim.step()) == {dep("zone-c"): 1}
    sim.settle({dep("zone-a"): 5, dep("zone-b"): 4})
    assert scales(sim.step()) == {dep("zone-c"): 0}
    sim.settle()
    result = sim.step()
    assert result.actions == [Delete(dep("zone-c"), f"uid-{dep('zone-c')}")]
    assert reasons(result) == ["DeploymentDeleted"]
    sim.converge()
    assert sim.replicas() == {dep("zone-a"): 5, dep("zone-b"): 4}
    assert [z["name"] for z in sim.status["zones"]] == ["zone-a", "zone-b"]


def test_vanished_zone_with_pods_not_ready_is_drained_at_once() -> None:
    sim = steady(9)
    sim.settle({dep("zone-c"): 0})
    sim.nodes = cluster_nodes(["zone-a", "zone-b"])
    result = sim.plan()
    assert scales(result) == {dep("zone-a"): 5, dep("zone-b"): 4, dep("zone-c"): 0}
    assert [action_name(a) for a in result.actions][-1] == dep("zone-c")


def test_no_decrease_while_a_deployment_status_lags_behind_its_spec() -> None:
    sim = steady(9)
    sim.nodes = cluster_nodes(["zone-a", "zone-b"])
    first = sim.plan()
    assert scales(first) == {dep("zone-a"): 5, dep("zone-b"): 4}
    # The counts claim every pod is Ready, but zone-b's status is from before the scale.
    sim.apply(first)
    live = sim.deployments[dep("zone-b")]
    live["status"]["observedGeneration"] = live["metadata"]["generation"] - 1
    assert sim.plan().actions == []
    sim.settle()
    assert scales(sim.plan()) == {dep("zone-c"): 0}


def test_new_zone_takes_its_share_as_its_pods_get_ready() -> None:
    sim = steady(9)
    sim.nodes = cluster_nodes([*ZONES, "zone-d"])
    first = sim.plan()
    assert [(type(a), action_name(a), replicas_after(a)) for a in first.actions] == [
        (Create, dep("zone-d"), 2)
    ]
    sim.apply(first, ready={dep("zone-d"): 0})
    assert sim.plan().actions == []  # nothing else goes before the new pods are Ready
    sim.settle({dep("zone-d"): 1})
    assert scales(sim.step()) == {dep("zone-b"): 2}
    sim.settle()
    assert scales(sim.step()) == {dep("zone-c"): 2}
    sim.settle()
    sim.converge()
    assert sim.replicas() == {
        dep("zone-a"): 3,
        dep("zone-b"): 2,
        dep("zone-c"): 2,
        dep("zone-d"): 2,
    }


def test_lost_generation_record_is_no_hand_edit() -> None:
    sim = steady(9)
    for entry in sim.body["status"]["zones"]:
        del entry["deploymentGeneration"]
    result = sim.plan()
    assert result.actions == []
    assert [z["deploymentGeneration"] for z in result.status["zones"]] == [1, 1, 1]  # type: ignore[index]


# --- failover ---------------------------------------------------------------------------------


def test_failover_within_grace_period_waits() -> None:
    sim = steady(9)
    fail_zone(sim, "zone-a", NOW - timedelta(seconds=10))
    result = sim.plan()
    assert result.actions == []
    assert result.requeue_after == pytest.approx(20, abs=1)
    entry = zone_entry(result.status, "zone-a")
    assert (entry["health"], entry["reason"]) == ("Degraded", "NodesNotReady")
    assert entry["unhealthySince"] == "2025-03-01T11:59:50Z"
    assert entry["readyNodes"] == 0
    degraded = condition(result.status, "Degraded")
    assert degraded["status"] == "True"
    assert "zone-a" in degraded["message"]
    assert condition(result.status, "FailedOver")["status"] == "False"
    # Nothing is said to have moved.
    assert "ZoneUnhealthy" not in reasons(result)
    sim.apply(result)
    # Still within the grace period a bit later: the same, nothing new to write.
    sim.now += timedelta(seconds=15)
    later = sim.plan()
    assert (later.actions, later.status) == ([], None)
    assert later.requeue_after == pytest.approx(5, abs=1)
    # The grace period is over.
    sim.now += timedelta(seconds=5)
    assert zone_entry(sim.plan().status, "zone-a")["health"] == "Unhealthy"


def test_failover_moves_replicas_without_losing_ready_capacity() -> None:
    sim = steady(9)
    # Two of zone-a's three nodes are lost (the zone fails at 50 %); the third still runs.
    fail_zone(sim, "zone-a", NOW - timedelta(seconds=60))
    sim.nodes[-1] = zone_nodes("zone-a", 3)[-1]
    # The pods in zone-a are still reported Ready.
    result = sim.plan()
    entry = zone_entry(result.status, "zone-a")
    assert (entry["health"], entry["reason"], entry["desiredReplicas"]) == (
        "Unhealthy",
        "FailedOver",
        0,
    )
    assert entry["unhealthySince"] == "2025-03-01T11:59:00Z"
    assert scales(result) == {dep("zone-b"): 5, dep("zone-c"): 4}  # no decrease yet
    # One event says both that the zone failed and where its replicas go.
    assert reasons(result) == ["ZoneUnhealthy"]
    assert result.events[0].type == "Warning"
    assert "is unhealthy" in result.events[0].message
    assert "moving its 3 replicas to zone-b, zone-c" in result.events[0].message
    failed_over = condition(result.status, "FailedOver")
    assert (failed_over["status"], failed_over["reason"]) == ("True", "ZonesFailedOver")
    sim.apply(result, ready={dep("zone-b"): 3, dep("zone-c"): 3})

    # New pods get Ready one zone at a time: zone-a shrinks by exactly that surplus.
    sim.settle({dep("zone-b"): 5, dep("zone-c"): 3})
    assert scales(sim.step()) == {dep("zone-a"): 1}
    sim.settle({dep("zone-b"): 5, dep("zone-c"): 4, dep("zone-a"): 1})
    assert scales(sim.step()) == {dep("zone-a"): 0}
    sim.settle()
    sim.converge()
    assert sim.replicas() == {dep("zone-a"): 0, dep("zone-b"): 5, dep("zone-c"): 4}
    assert sim.zone_status("zone-a")["health"] == "Unhealthy"
    # The emptied Deployment stays: its zone still has nodes.
    sim.now += timedelta(hours=1)
    assert sim.plan().actions == []


def test_zone_lost_whole_gives_up_its_replicas_in_the_same_step() -> None:
    """With no Ready node left in the zone none of its pods serve, even while its Deployment
    still counts them Ready: the zone is emptied together with the scale-up, and the status
    reports them not Ready at once."""
    sim = steady(9)
    fail_zone(sim, "zone-a", NOW - timedelta(seconds=10))
    degraded = sim.plan()
    assert degraded.actions == []
    assert zone_entry(degraded.status, "zone-a")["readyReplicas"] == 0
    assert degraded.status is not None and degraded.status["readyReplicas"] == 6
    assert condition(degraded.status, "Ready")["status"] == "False"
    sim.apply(degraded)
    sim.now += timedelta(seconds=30)  # the grace period is over
    result = sim.plan()
    # Sent at once: the cut takes away nothing that serves.
    assert [(action_name(a), replicas_after(a)) for a in result.actions] == [
        (dep("zone-a"), 0),
        (dep("zone-b"), 5),
        (dep("zone-c"), 4),
    ]
    assert result.together == 3


def test_zone_going_dark_is_emptied_while_scaled_up_deployments_catch_up() -> None:
    sim = steady(9)
    fail_zone(sim, "zone-a", NOW - timedelta(seconds=60))
    sim.nodes[-1] = zone_nodes("zone-a", 3)[-1]  # one node left: its pods may still serve
    result = sim.plan()
    assert scales(result) == {dep("zone-b"): 5, dep("zone-c"): 4}
    sim.apply(result, observed=False)  # the deployment controller has not caught up yet
    assert scales(sim.plan()) == {}  # their counts cannot be trusted: no cut on surplus
    sim.nodes[-1] = down("zone-a", NOW, count=3)[-1]  # the last node is lost too
    assert scales(sim.plan()) == {dep("zone-a"): 0}


def partly_failed(sim: Sim, zone: str, pods_on: tuple[str, ...]) -> None:
    """Two of the zone's three nodes lost a minute ago (the zone fails, its grace period is
    over); its pods run on the given nodes, the other zones' pods are seen where they are."""
    fail_zone(sim, zone, NOW - timedelta(seconds=60))
    sim.nodes[-1] = zone_nodes(zone, 3)[-1]
    sim.pod_nodes = {z: (f"{z}-0", f"{z}-1", f"{z}-2") for z in ZONES}
    sim.pod_nodes[zone] = tuple(f"{zone}-{i}" for i in pods_on)


def test_a_zone_whose_pods_all_sit_on_failed_nodes_is_emptied_with_the_surge() -> None:
    sim = steady(9)
    partly_failed(sim, "zone-a", ("0", "0", "1"))  # its Deployment still reports 3 Ready
    result = sim.plan()
    assert scales(result) == {dep("zone-b"): 5, dep("zone-c"): 4, dep("zone-a"): 0}
    assert zone_entry(result.status, "zone-a")["readyReplicas"] == 0
    assert result.status["readyReplicas"] == 6


def test_a_zone_with_a_pod_on_a_ready_node_keeps_it_until_replacements_are_ready() -> None:
    sim = steady(9)
    partly_failed(sim, "zone-a", ("0", "1", "2"))
    result = sim.plan()
    assert scales(result) == {dep("zone-b"): 5, dep("zone-c"): 4}
    # Once they are, the cut comes on its own, after nothing else.
    sim.apply(result)
    sim.settle()
    cut = sim.plan()
    assert (scales(cut), cut.together) == ({dep("zone-a"): 0}, 0)


def test_pods_not_yet_seen_may_serve_so_the_zone_is_not_emptied() -> None:
    sim = steady(9)
    partly_failed(sim, "zone-a", ("0", "1"))  # the cache has two of its three pods
    assert scales(sim.plan()) == {dep("zone-b"): 5, dep("zone-c"): 4}
    sim.pod_nodes = None  # nothing known of the pods: the Deployment's counts decide
    assert scales(sim.plan()) == {dep("zone-b"): 5, dep("zone-c"): 4}


def test_failover_with_pods_already_not_ready_shifts_at_once() -> None:
    sim = steady(9)
    fail_zone(sim, "zone-a", NOW - timedelta(seconds=60))
    sim.settle({dep("zone-a"): 0})
    result = sim.plan()
    # Sent at once: the cut takes away nothing that serves.
    assert [(action_name(a), replicas_after(a)) for a in result.actions] == [
        (dep("zone-a"), 0),
        (dep("zone-b"), 5),
        (dep("zone-c"), 4),
    ]
    assert result.together == 3


def test_node_counts_alone_are_written_once_the_nodes_settle() -> None:
    def one_node_down(sim: Sim) -> None:
        # One node of zone-b stops reporting: the zone stays healthy, only its counts change.
        sim.nodes = [n for n in sim.nodes if n.name != "zone-b-0"] + [
            replace(down("zone-b", NOW - timedelta(seconds=3), count=1)[0], name="zone-b-0")
        ]

    sim = steady(9)
    one_node_down(sim)
    coalesced = sim.plan()
    assert (coalesced.actions, coalesced.status, coalesced.events) == ([], None, [])
    assert coalesced.requeue_after == pytest.approx(7, abs=1)
    # Once no node has changed for the settle time, the counts alone are written too.
    sim.now += timedelta(seconds=7)
    written = sim.step()
    assert zone_entry(written.status, "zone-b")["readyNodes"] == 2
    assert "2/3 nodes Ready" in zone_entry(written.status, "zone-b")["message"]
    assert sim.plan().status is None

    # A decision made meanwhile takes the counts along at once.
    sim = steady(9)
    one_node_down(sim)
    sim.set_spec(replicas=12)
    carried = sim.plan()
    assert carried.status is not None and carried.actions
    assert zone_entry(carried.status, "zone-b")["readyNodes"] == 2


def _moving_with_a_node_down() -> Sim:
    """A scale-up whose new pods are not Ready yet, and then a node of zone-b down: only the
    node counts of the status change."""
    sim = steady(9)
    sim.set_spec(replicas=12)
    sim.apply(sim.plan(), ready={dep(z): 3 for z in ZONES})  # each zone gets a 4th pod
    sim.plan()  # the replica counts are coalesced...
    sim.now += timedelta(seconds=PROGRESS_COALESCE_SECONDS)
    sim.step()  # ...and then written
    assert sim.workload.status["replicas"] == 12
    assert condition(sim.workload.status, "Progressing")["status"] == "True"
    sim.nodes = [n for n in sim.nodes if n.name != "zone-b-0"] + [
        replace(down("zone-b", sim.now, count=1)[0], name="zone-b-0")
    ]
    sim.now += timedelta(seconds=NODE_COUNTS_SETTLE_SECONDS + 1)  # the nodes have settled
    return sim


def test_node_counts_during_a_move_wait_for_the_write_that_ends_it() -> None:
    sim = _moving_with_a_node_down()
    coalesced = sim.plan()
    assert (coalesced.status, coalesced.status_coalesced) == (None, True)
    sim.now += timedelta(seconds=NODE_COUNTS_PROGRESS_COALESCE_SECONDS // 2)
    assert sim.plan().status_coalesced
    sim.settle()  # the new pods are Ready: the move ends, and the counts go with it
    done = sim.plan()
    assert done.status is not None and not done.status_coalesced
    assert condition(done.status, "Progressing")["status"] == "False"
    assert zone_entry(done.status, "zone-b")["readyNodes"] == 2

    # A move that does not end lets them through in the end.
    sim = _moving_with_a_node_down()
    assert sim.plan().status_coalesced
    sim.now += timedelta(seconds=NODE_COUNTS_PROGRESS_COALESCE_SECONDS)
    late = sim.plan()
    assert late.status is not None and zone_entry(late.status, "zone-b")["readyNodes"] == 2


def test_what_follows_from_changing_nodes_is_written_once_they_settle() -> None:
    """A zone failing within its grace period, and the pods that stop counting as Ready, are
    observations: while the nodes still change they wait for them, as node counts do."""
    sim = steady(9)
    fail_zone(sim, "zone-a", NOW - timedelta(seconds=3))
    sim.settle({dep("zone-a"): 0})
    coalesced = sim.plan()
    assert (coalesced.actions, coalesced.status, coalesced.events, coalesced.status_coalesced) == (
        [],
        None,
        [],
        True,
    )
    assert coalesced.requeue_after == pytest.approx(NODE_COUNTS_SETTLE_SECONDS - 3, abs=1)
    sim.now += timedelta(seconds=NODE_COUNTS_SETTLE_SECONDS - 3)
    written = sim.step()
    assert zone_entry(written.status, "zone-a")["health"] == "Degraded"
    assert condition(written.status, "Degraded")["reason"] == "ZonesFailing"
    assert condition(written.status, "Ready")["status"] == "False"
    assert sim.plan().status is None


def test_nodes_that_keep_changing_coalesce_the_status_only_so_long() -> None:
    sim = steady(9, failover={"gracePeriodSeconds": 120})
    fail_zone(sim, "zone-a", NOW)
    others = [n for n in sim.nodes if n.name != "zone-c-0"]
    for second in range(0, NODE_CHANGES_COALESCE_SECONDS, 5):
        # One node of zone-c turns NotReady or back every 5 s: the nodes never settle.
        flip = zone_nodes("zone-c", 1, since=sim.now)[0]
        if second % 10:
            flip = down("zone-c", sim.now, count=1)[0]
        sim.nodes = [*others, flip]
        result = sim.plan()
        assert (result.status, result.status_coalesced) == (None, True), second
        sim.now += timedelta(seconds=5)
    written = sim.plan()
    assert written.status is not None
    assert zone_entry(written.status, "zone-a")["health"] == "Degraded"


def test_counts_while_replicas_move_are_written_together() -> None:
    """Pods created, Ready and available one by one do not each cost a status write: counts
    alone wait (at most PROGRESS_COALESCE_SECONDS) for the change that ends the move."""
    sim = steady(9)
    sim.set_spec(replicas=12)
    sim.apply(sim.plan(), ready={dep(z): 3 for z in ZONES})  # each zone gets a 4th pod
    coalesced = sim.plan()
    assert (coalesced.actions, coalesced.status, coalesced.status_coalesced) == ([], None, True)
    assert coalesced.requeue_after == pytest.approx(PROGRESS_COALESCE_SECONDS, abs=1)
    sim.now += timedelta(seconds=4)
    sim.settle({dep("zone-c"): 3})  # two of the new pods are Ready
    assert sim.plan().status is None
    assert sim.plan().requeue_after == pytest.approx(PROGRESS_COALESCE_SECONDS - 4, abs=1)
    # The coalescing is over: the counts so far are written, though the move is not done.
    sim.now += timedelta(seconds=PROGRESS_COALESCE_SECONDS - 4)
    written = sim.step()
    assert written.status is not None and written.status["readyReplicas"] == 11
    assert condition(written.status, "Ready")["status"] == "False"
    # The last pod gets Ready: Ready and Progressing change, and that is written at once.
    sim.settle()
    done = sim.plan()
    assert done.status is not None and not done.status_coalesced
    assert condition(done.status, "Ready")["status"] == "True"
    assert condition(done.status, "Progressing")["status"] == "False"


def test_a_failover_is_two_status_writes_however_long_the_replacements_take() -> None:
    """A zone lost: the verdict with the move, then the move's end. Replacements Ready one by
    one over 90 s (a loaded control plane), the lost zone's pods no longer Ready and its
    Deployment cut meanwhile: none of that is a write of its own (FAILOVER_COALESCE_SECONDS)."""
    sim = steady(9)
    fail_zone(sim, "zone-a", NOW - timedelta(seconds=60))
    verdict = sim.plan()
    # Its nodes NotReady: its pods serve no more, and are cut with the surge.
    assert verdict.status is not None
    assert scales(verdict) == {dep("zone-a"): 0, dep("zone-b"): 5, dep("zone-c"): 4}
    sim.apply(verdict, ready={dep("zone-b"): 3, dep("zone-c"): 3})
    writes = []
    ready = {dep("zone-b"): 3, dep("zone-c"): 3, dep("zone-a"): 0}
    for step in range(17):  # 85 s; the last replacement Ready at 90 s
        sim.now += timedelta(seconds=5)
        if step % 6 == 5:  # a replacement Ready every 30 s
            ready[dep("zone-b") if ready[dep("zone-b")] < 5 else dep("zone-c")] += 1
        sim.settle(ready)
        result = sim.step(ready)
        if result.status is not None:
            writes.append(step)
    assert writes == []
    sim.now += timedelta(seconds=5)
    sim.settle({dep("zone-b"): 5, dep("zone-c"): 4, dep("zone-a"): 0})
    end = sim.step({dep("zone-b"): 5, dep("zone-c"): 4, dep("zone-a"): 0})
    assert end.status is not None
    assert condition(end.status, "Progressing")["status"] == "False"
    assert condition(end.status, "Ready")["status"] == "True"
    assert sim.replicas()[dep("zone-a")] == 0
    assert sim.plan().status is None


def test_a_zone_whose_nodes_turn_not_ready_one_by_one_is_still_two_status_writes() -> None:
    """The node lifecycle controller marks a lost zone's nodes NotReady batch by batch, for
    a minute on a large zone; the nodes never settle meanwhile, and the move's own changes
    wait with them for as long as the move's counts do (FAILOVER_COALESCE_SECONDS)."""
    sim = Sim(workload_body(3, failover={"gracePeriodSeconds": 10}), cluster_nodes(per_zone=10))
    sim.converge()
    others = [n for n in sim.nodes if not n.name.startswith("zone-a")]
    start, last = sim.now, sim.now - timedelta(seconds=5)
    before, written = sim.writes, []
    for second in range(0, 120, 2):
        sim.now = start + timedelta(seconds=second)
        zone_a = []
        for i, healthy in enumerate(zone_nodes("zone-a", 10)):
            gone = 25 + 5 * i  # one NotReady every 5 s, from 25 s to 70 s
            node = (
                down("zone-a", start + timedelta(seconds=gone), 10)[i]
                if second >= gone
                else healthy
            )
            silence = Silence(last, sim.now, renew_time=f"r-{node.name}")
            zone_a.append(replace(node, silence=silence))  # the cache keeps a node's silence
        sim.nodes = others + zone_a
        writes = sim.writes
        result = sim.plan()
        ready = {n: d["spec"]["replicas"] for n, d in sim.deployments.items()}
        if second < 70:  # the replacements Ready at 70 s
            ready.update({dep("zone-b"): 1, dep("zone-c"): 1})
        if second >= 25:
            ready[dep("zone-a")] = 0
        sim.apply(result, ready=ready)
        sim.settle(ready)
        if sim.writes != writes:
            written.append(second)
    assert len(written) == 2 and written[0] == 16, written  # the verdict, the move's end
    assert sim.writes - before == 2
    assert condition(sim.status, "Progressing")["status"] == "False"
    assert sim.replicas()[dep("zone-a")] == 0


def test_zone_recovering_within_the_grace_period_says_so_once() -> None:
    sim = steady(9)
    fail_zone(sim, "zone-a", NOW - timedelta(seconds=15))
    assert reasons(sim.step()) == []  # the status says Degraded; one event per incident
    sim.now += timedelta(seconds=10)
    sim.nodes = [n for n in sim.nodes if not n.name.startswith("zone-a")] + zone_nodes(
        "zone-a", since=sim.now
    )
    result = sim.step()
    assert reasons(result) == ["ZoneRecovered"]
    assert result.events[0].message == (
        "Zone zone-a is healthy again (3/3 nodes Ready), failing since 2025-03-01T11:59:45Z; "
        "nothing was moved"
    )


def test_failover_disabled_only_reports() -> None:
    sim = steady(9, failover={"enabled": False})
    fail_zone(sim, "zone-a", NOW - timedelta(hours=1))
    result = sim.plan()
    assert result.actions == []
    assert result.requeue_after is None
    assert zone_entry(result.status, "zone-a")["health"] == "Degraded"
    assert condition(result.status, "Degraded")["status"] == "True"
    assert "ZoneUnhealthy" not in reasons(result)
    # With nothing to be done about it, the event comes when the zone starts failing.
    assert reasons(result) == ["ZoneDegraded"]
    assert result.events[0].message.endswith("failover is off")


def test_a_minority_of_failed_nodes_is_no_failover() -> None:
    sim = steady(9)
    sim.nodes = [n for n in sim.nodes if n.name != "zone-a-0"] + [
        down("zone-a", NOW - timedelta(hours=1), count=1)[0]
    ]
    result = sim.plan()
    assert result.actions == []
    assert zone_entry(result.status, "zone-a")["health"] == "Healthy"
    assert zone_entry(result.status, "zone-a")["readyNodes"] == 2


def test_all_zones_failing_moves_nothing() -> None:
    sim = steady(9)
    sim.nodes = [n for z in ZONES for n in down(z, NOW - timedelta(minutes=5))]
    sim.settle({dep(z): 0 for z in ZONES})
    result = sim.plan()
    assert result.actions == []
    degraded = condition(result.status, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "AllZonesUnhealthy")
    assert {z["health"] for z in result.status["zones"]} == {"Degraded"}  # type: ignore[index]
    assert {z["desiredReplicas"] for z in result.status["zones"]} == {3}  # type: ignore[index]
    assert "ZoneUnhealthy" not in reasons(result)
    sim.apply(result)
    sim.now += timedelta(minutes=10)
    assert sim.plan().actions == []


def test_all_zones_failing_after_one_failed_over_moves_nothing_either() -> None:
    sim = steady(9)
    fail_zone(sim, "zone-a", NOW - timedelta(minutes=5))
    sim.converge()
    assert sim.replicas()[dep("zone-a")] == 0
    sim.nodes = [n for z in ZONES for n in down(z, NOW - timedelta(minutes=1))]
    sim.settle({dep(z): 0 for z in ZONES})
    result = sim.plan()
    assert [a for a in result.actions if isinstance(a, Scale | Create | Delete)] == []
    assert condition(result.status, "Degraded")["reason"] == "AllZonesUnhealthy"
    assert zone_entry(result.status, "zone-a")["health"] == "Unhealthy"


# --- failback ---------------------------------------------------------------------------------


def failed_over(replicas: int = 12, **failover: Any) -> Sim:
    """zone-a failed over long ago: its Deployment is at 0, the others carry its share."""
    sim = Sim(workload_body(replicas, failover=failover), cluster_nodes())
    sim.converge()
    fail_zone(sim, "zone-a", NOW - timedelta(minutes=10))
    sim.converge()
    assert sim.replicas()[dep("zone-a")] == 0
    assert sim.zone_status("zone-a")["health"] == "Unhealthy"
    return sim


def test_failback_waits_then_returns_in_steps() -> None:
    sim = failed_over(12, failbackStepPercent=10, failbackDelaySeconds=120)
    step = math.ceil(12 * 10 / 100)
    assert step == 2
    # The nodes came back 5 s ago.
    sim.nodes = [n for n in sim.nodes if not n.name.startswith("zone-a")] + zone_nodes(
        "zone-a", since=sim.now - timedelta(seconds=5)
    )
    result = sim.step()
    assert result.actions == []
    assert reasons(result) == ["ZoneRecovered"]
    entry = sim.zone_status("zone-a")
    assert (entry["health"], entry["reason"]) == ("Recovering", "WaitingForFailback")
    assert entry["healthySince"] == "2025-03-01T12:00:00Z"  # first seen healthy: now
    assert result.requeue_after == pytest.approx(120, abs=1)
    assert condition(sim.status, "FailedOver")["status"] == "True"

    sim.now += timedelta(seconds=60)
    waiting = sim.step()
    assert (waiting.actions, waiting.status, waiting.events) == ([], None, [])
    assert waiting.requeue_after == pytest.approx(60, abs=1)

    sim.now += timedelta(seconds=60)
    others = [dep("zone-b"), dep("zone-c")]
    rounds = 0
    returned = False
    while True:
        rounds += 1
        assert rounds < 20, "failback does not finish"
        before, ready = sim.replicas(), sim.ready()
        result = sim.plan()
        after = {**before, **{action_name(a): replicas_after(a) or 0 for a in result.actions}}
        if "ReplicasReturned" in reasons(result):
            returned = True
            assert sim.zone_status("zone-a")["health"] == "Recovering"
        # At most one step of not-yet-Ready pods in the returning zone.
        assert after[dep("zone-a")] - ready[dep("zone-a")] <= step
        # The others shrink only by as many pods as the returning zone has Ready above 4...
        surplus = sum(ready.values()) - 12
        shrunk = sum(before[n] - after[n] for n in others if after[n] < before[n])
        assert shrunk <= max(0, surplus)
        # ... so the Ready capacity never drops below 12.
        assert sum(min(ready[n], after[n]) for n in after) >= 12
        sim.apply(result, ready={n: ready.get(n, 0) for n in after})
        if not result.actions and result.status is None:
            break
        # One more pod of zone-a gets Ready per round.
        new_ready = {dep("zone-a"): ready[dep("zone-a")] + 1}
        sim.settle(new_ready)
    assert returned
    assert sim.replicas() == {dep(z): 4 for z in ZONES}
    assert sim.zone_status("zone-a")["health"] == "Healthy"
    assert condition(sim.status, "FailedOver")["status"] == "False"
    assert "healthySince" not in sim.zone_status("zone-a")


def test_failback_first_step_and_events() -> None:
    sim = failed_over(9)  # defaults: 300 s delay, 25 % steps
    sim.nodes = cluster_nodes()
    first = sim.step()
    assert reasons(first) == ["ZoneRecovered"]
    assert first.requeue_after == pytest.approx(300, abs=1)
    sim.now += timedelta(seconds=299)
    assert sim.step().actions == []
    sim.now += timedelta(seconds=1)
    result = sim.plan()
    assert reasons(result) == ["ReplicasReturned"]
    assert scales(result) == {dep("zone-a"): 3}  # ceil(9 * 25 %) = 3 pods at once
    assert zone_entry(result.status, "zone-a")["health"] == "Healthy"
    assert zone_entry(result.status, "zone-a")["desiredReplicas"] == 3


def test_recovering_zone_that_fails_again_is_unhealthy_at_once() -> None:
    sim = failed_over(9)
    sim.nodes = cluster_nodes()
    sim.step()
    assert sim.zone_status("zone-a")["health"] == "Recovering"
    sim.now += timedelta(seconds=10)
    fail_zone(sim, "zone-a", sim.now - timedelta(seconds=1))
    result = sim.step()
    assert sim.zone_status("zone-a")["health"] == "Unhealthy"  # no new grace period
    assert result.actions == []
    assert "ZoneUnhealthy" not in reasons(result)  # it never stopped being failed over
    # Back again: the failback delay starts afresh.
    sim.now += timedelta(seconds=10)
    sim.nodes = cluster_nodes()
    result = sim.step()
    assert sim.zone_status("zone-a")["healthySince"] == "2025-03-01T12:00:20Z"
    assert result.requeue_after == pytest.approx(300, abs=1)


def test_failback_delay_counts_from_the_nodes_when_they_came_back_later() -> None:
    sim = failed_over(9)
    sim.nodes = cluster_nodes()
    sim.step()
    # The nodes flap while the zone is Recovering: the later transition moves the wait.
    sim.now += timedelta(seconds=200)
    sim.nodes = [n for n in sim.nodes if not n.name.startswith("zone-a")] + zone_nodes(
        "zone-a", since=sim.now - timedelta(seconds=1)
    )
    coalesced = sim.step()  # the new healthySince waits for the nodes to settle
    assert coalesced.requeue_after == pytest.approx(NODE_COUNTS_SETTLE_SECONDS - 1, abs=1)
    sim.now += timedelta(seconds=NODE_COUNTS_SETTLE_SECONDS - 1)
    result = sim.step()
    assert sim.zone_status("zone-a")["health"] == "Recovering"
    assert result.requeue_after == pytest.approx(300 - NODE_COUNTS_SETTLE_SECONDS, abs=1)


# --- flapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("down_for", "up_for"), [(20, 20), (29, 1), (10, 40), (25, 5)])
def test_zone_flapping_faster_than_the_grace_period_never_fails_over(
    down_for: int, up_for: int
) -> None:
    sim = steady(9)  # grace period 30 s
    period = down_for + up_for
    start = sim.now
    for tick in range(0, 6 * period, 3):
        sim.now = start + timedelta(seconds=tick)
        cycle_start = start + timedelta(seconds=tick - tick % period)
        if tick % period < down_for:
            fail_zone(sim, "zone-a", cycle_start)
        else:
            sim.nodes = [n for n in sim.nodes if not n.name.startswith("zone-a")] + zone_nodes(
                "zone-a", since=cycle_start + timedelta(seconds=down_for)
            )
        result = sim.step()
        assert sim.zone_status("zone-a")["health"] in ("Healthy", "Degraded"), tick
        assert result.actions == [], tick
        assert "ZoneUnhealthy" not in reasons(result)


def test_zone_down_longer_than_the_grace_period_fails_over() -> None:
    """The counterpart of the flapping test: the same loop does see a real outage."""
    sim = steady(9)
    start = sim.now
    states = []
    for tick in range(0, 45, 3):
        sim.now = start + timedelta(seconds=tick)
        fail_zone(sim, "zone-a", start)
        sim.step()
        states.append(sim.zone_status("zone-a")["health"])
    # Written once the nodes have settled (10 s), failed over once the grace period (30 s) ends.
    assert states == ["Healthy"] * 4 + ["Degraded"] * 6 + ["Unhealthy"] * 5
    assert sim.events.count("ZoneUnhealthy") == 1


# --- the safety property ----------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=random_state())
def test_the_operators_moves_never_take_ready_capacity_below_what_was_asked(
    state: State,
) -> None:
    check_moves_keep_ready_capacity(state)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=random_state())
def test_any_state_settles_into_a_silent_steady_state(state: State) -> None:
    """Node health held still and every pod getting Ready: the plans stop, and the serving
    zones hold spec.replicas."""
    sim = state[0]
    sim.pod_nodes = None  # the pods stay where they were drawn while replicas move
    for _ in range(30):
        result = sim.step()
        sim.settle()
        sim.now += timedelta(minutes=6)  # past every grace period and failback delay
        if not result.actions and result.status is None:
            break
    else:
        raise AssertionError(f"no steady state: {result}")
    serving = [
        z
        for z in sim.status["zones"]
        if z["health"] in ("Healthy", "Degraded") and z["reason"] != "DeploymentConflict"
    ]
    on_serving = sum(sim.replicas().get(z["deployment"], 0) for z in serving)
    # Pods of a zone with no Ready node never count as Ready, so a rebalance into such a zone
    # (possible only while every zone looks failed) stops at one failback step: the claim is
    # for serving zones that have a Ready node.
    dark = {
        z["name"]
        for z in serving
        if (states := [n.ready for n in sim.nodes if n.labels[DEFAULT_TOPOLOGY_KEY] == z["name"]])
        and "True" not in states
    }
    if serving and not dark:
        assert on_serving == sim.workload.replicas
        # maxSkew binds the zones that take new replicas; a failing zone in its grace period
        # keeps what it has rather than receive replicas that would have to move again.
        counts = [z["desiredReplicas"] for z in serving if z["health"] == "Healthy"]
        if counts:
            assert max(counts) - min(counts) <= sim.workload.max_skew


# --- bugs -------------------------------------------------------------------------------------


def test_unhealthy_since_is_a_valid_date_time_when_node_times_are_unknown() -> None:
    sim = steady(9)
    fail_zone(sim, "zone-a", NOW - timedelta(seconds=60))
    # A Ready condition without lastTransitionTime (or no Ready condition at all).
    sim.nodes = [
        NodeInfo(n.name, n.labels, n.taints, n.unschedulable, n.ready, None)
        if n.name.startswith("zone-a")
        else n
        for n in sim.nodes
    ]
    result = plan(PerZoneObserved(sim.workload, sim.nodes, sim.deployments, sim.now))
    since = zone_entry(result.status, "zone-a").get("unhealthySince")
    assert since is None or RFC3339.match(since), since


def test_removing_a_field_from_the_template_replaces_the_deployments() -> None:
    sim = steady(9)
    template = copy.deepcopy(TEMPLATE)
    del template["spec"]["containers"][0]["resources"]["limits"]
    sim.set_spec(template=template)
    result = sim.plan()
    assert [type(a) for a in result.actions] == [Replace] * 3


@pytest.mark.parametrize("what", ["label", "nodeSelector"])
def test_removing_a_map_entry_from_the_template_replaces_the_deployments(what: str) -> None:
    template = copy.deepcopy(TEMPLATE)
    if what == "label":
        template["metadata"]["labels"]["canary"] = "yes"
    else:
        template["spec"]["nodeSelector"] = {"disk": "ssd"}
    nodes = [
        NodeInfo(n.name, {**n.labels, "disk": "ssd"}, ready=n.ready, ready_since=n.ready_since)
        for n in cluster_nodes()
    ]
    sim = Sim(workload_body(9, template=template), nodes)
    sim.converge()
    sim.set_spec(template=TEMPLATE)
    result = sim.plan()
    assert [type(a) for a in result.actions] == [Replace] * 3


def test_replace_keeps_the_live_finalizers() -> None:
    sim = steady(9)
    live = sim.deployments[dep("zone-a")]
    live["metadata"]["finalizers"] = ["example.com/protect"]
    template = copy.deepcopy(TEMPLATE)
    template["spec"]["containers"][0]["image"] = "nginx:1.28"
    sim.set_spec(template=template)
    result = sim.plan()
    replace = next(a for a in result.actions if action_name(a) == dep("zone-a"))
    assert isinstance(replace, Replace)
    assert replace.body["metadata"].get("finalizers") == ["example.com/protect"]


def test_helpers_turn_actions_into_live_objects() -> None:
    """The simulation's API server: generations move only with the spec."""
    wl = Workload.from_body(workload_body(9))
    created = next_live(Create(render_deployment(wl, "zone-a", 3)), None, rv=1, ready=1)
    assert created is not None
    assert created["metadata"]["generation"] == 1
    assert created["status"] == deployment_status(1, 3, 1)
    assert created["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] == {
        "cpu": "500m"
    }
    scaled = next_live(Scale(dep("zone-a"), 5), created, rv=2)
    assert scaled is not None and scaled["metadata"]["generation"] == 2
    same = next_live(Scale(dep("zone-a"), 5), scaled, rv=3)
    assert same is not None and same["metadata"]["generation"] == 2
    body = render_deployment(wl, "zone-a", 5)
    body["metadata"]["resourceVersion"] = "3"
    unchanged = next_live(Replace(body), same, rv=4)
    assert unchanged is not None and unchanged["metadata"]["generation"] == 2
    assert next_live(Delete(dep("zone-a"), "uid-web-zone-a"), unchanged, rv=5) is None


def test_nodes_still_joining_belong_to_no_zone() -> None:
    """A node that has not reported a Ready condition yet is neither a zone nor a failure of
    one: its zone appears (Healthy) once the node has joined."""
    sim = steady(9)
    joining = [replace(n, ready="Unknown", ready_since=None, joined=False)
               for n in zone_nodes("zone-d", 2)]  # fmt: skip
    sim.nodes = [*sim.nodes, *joining]
    assert sim.plan().actions == []
    sim.nodes = [*cluster_nodes(), *zone_nodes("zone-d", 2, since=NOW)]
    result = sim.plan()
    assert [action_name(a) for a in result.actions if isinstance(a, Create)] == [dep("zone-d")]
    assert zone_entry(result.status, "zone-d")["health"] == "Healthy"
