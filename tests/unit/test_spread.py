"""Spread placement, one reconcile at a time, against a small simulation of what it drives.

The simulation, `SpreadSim` (tests/kit/spread_sim.py), plays the API server, the ReplicaSet
controller, the scheduler and the kubelets.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.kit.perzone_sim import NOW, UID, ZONES, down
from tests.kit.spread_sim import SpreadSim, converged, healthy_nodes, spread_body

from zonal_operator.api.group import DEFAULT_TOPOLOGY_KEY
from zonal_operator.api.workload import Workload
from zonal_operator.core import spread
from zonal_operator.core.model import PodInfo
from zonal_operator.core.plan import DeletePod, Evict, Scale
from zonal_operator.core.render import render_spread_deployment

# --- rendering --------------------------------------------------------------------------------


def test_one_deployment_named_like_the_workload_with_a_zone_constraint_that_honours_taints() -> (
    None
):
    body = render_spread_deployment(Workload.from_body(spread_body(maxSkew=2)), 9)
    assert body["metadata"]["name"] == "web"
    assert body["metadata"]["ownerReferences"][0]["uid"] == UID
    pod = body["spec"]["template"]["spec"]
    [zone] = [
        c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == DEFAULT_TOPOLOGY_KEY
    ]
    assert zone["whenUnsatisfiable"] == "DoNotSchedule"
    assert zone["maxSkew"] == 2
    assert zone["nodeTaintsPolicy"] == "Honor"
    assert zone["labelSelector"]["matchLabels"] == {"app": "web", "zonal.dev/workload": "web"}
    hostname = [
        c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == "kubernetes.io/hostname"
    ]
    assert hostname and hostname[0]["whenUnsatisfiable"] == "ScheduleAnyway"
    [term] = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert {"key": DEFAULT_TOPOLOGY_KEY, "operator": "Exists"} in term["matchExpressions"]
    assert "zonal.dev/zone" not in body["spec"]["template"]["metadata"]["labels"]


def test_spec_zones_become_the_only_zones_the_pods_may_use() -> None:
    body = render_spread_deployment(Workload.from_body(spread_body(zones=["zone-b", "zone-a"])), 3)
    affinity = body["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    [term] = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": DEFAULT_TOPOLOGY_KEY, "operator": "In", "values": ["zone-a", "zone-b"]} in term[
        "matchExpressions"
    ]


def test_the_users_own_zone_constraint_wins() -> None:
    body = spread_body()
    own = {
        "maxSkew": 3,
        "topologyKey": DEFAULT_TOPOLOGY_KEY,
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app": "web"}},
    }
    body["spec"]["template"]["spec"]["topologySpreadConstraints"] = [own]
    rendered = render_spread_deployment(Workload.from_body(body), 3)
    zone = [
        c
        for c in rendered["spec"]["template"]["spec"]["topologySpreadConstraints"]
        if c["topologyKey"] == DEFAULT_TOPOLOGY_KEY
    ]
    assert zone == [own]


# --- steady state -----------------------------------------------------------------------------


def test_converges_to_an_even_spread_and_then_writes_nothing() -> None:
    sim = converged(SpreadSim(spread_body(), healthy_nodes()))
    assert sim.counts() == {"zone-a": 3, "zone-b": 3, "zone-c": 3}
    status = sim.workload["status"]
    assert status["skew"] == 0
    assert [z["replicas"] for z in status["zones"]] == [3, 3, 3]
    assert sim.condition("Balanced")["status"] == "True"
    assert sim.condition("Ready")["status"] == "True"
    assert sim.condition("Progressing")["reason"] == "Stable"
    again = spread.plan(sim.observe())
    assert again.actions == [] and again.status is None and again.events == []


def test_a_namesake_deployment_is_left_alone_and_reported() -> None:
    sim = SpreadSim(spread_body(), healthy_nodes())
    sim.deployment = {
        "metadata": {"name": "web", "namespace": "shop", "uid": "other"},
        "spec": {"replicas": 2},
    }
    result = sim.reconcile()
    assert result.actions == []
    assert sim.condition("Degraded")["reason"] == "DeploymentConflict"


# --- failover ---------------------------------------------------------------------------------


def failed_zone_a(grace_over: bool) -> SpreadSim:
    sim = converged(SpreadSim(spread_body(), healthy_nodes()))
    outage = NOW + timedelta(minutes=1)
    sim.nodes = down("zone-a", outage) + [n for n in sim.nodes if not n.name.startswith("zone-a")]
    sim.now = outage + timedelta(seconds=31 if grace_over else 10)
    sim.settle()  # the node lifecycle controller marks the zone's pods not Ready
    sim.ready_before = sim.ready()
    return sim


def test_within_the_grace_period_nothing_is_deleted() -> None:
    sim = failed_zone_a(grace_over=False)
    result = sim.reconcile()
    assert not [a for a in result.actions if isinstance(a, DeletePod)]
    assert sim.workload["status"]["zones"][0]["health"] == "Degraded"
    assert result.requeue_after is not None and result.requeue_after <= 21


def test_once_judged_unhealthy_the_zones_pods_are_deleted_and_replaced_elsewhere() -> None:
    sim = failed_zone_a(grace_over=True)
    stranded = {p.name for p in sim.pods.values() if sim.zone_of(p.node) == "zone-a"}
    result = sim.reconcile()
    assert {a.name for a in result.actions if isinstance(a, DeletePod)} == stranded
    [event] = result.events
    assert event.reason == "ZoneUnhealthy" and "deleting its 3 pods" in event.message
    sim.settle()
    sim.run()
    assert sim.counts() == {"zone-b": 5, "zone-c": 4} or sim.counts() == {"zone-b": 4, "zone-c": 5}
    assert sim.deployment is not None and sim.deployment["spec"]["replicas"] == 9
    assert sim.condition("FailedOver")["status"] == "True"
    assert sim.condition("Balanced")["status"] == "True"  # b and c are within maxSkew


def test_all_zones_down_moves_nothing() -> None:
    sim = converged(SpreadSim(spread_body(), healthy_nodes()))
    outage = NOW + timedelta(minutes=1)
    sim.nodes = [n for z in ZONES for n in down(z, outage)]
    sim.now = outage + timedelta(minutes=5)
    result = sim.reconcile()
    assert not [a for a in result.actions if isinstance(a, DeletePod)]
    assert sim.condition("Degraded")["reason"] == "AllZonesUnhealthy"


# --- failback ---------------------------------------------------------------------------------


def recovered(delay_over: bool, **kwargs: Any) -> SpreadSim:
    sim = failed_zone_a(grace_over=True)
    sim.run()
    back = sim.now + timedelta(minutes=5)
    sim.nodes = healthy_nodes()
    sim.nodes = [replace(n, ready_since=back) for n in sim.nodes]
    sim.now = back + timedelta(seconds=10)
    sim.run()  # Recovering: no rebalance yet
    if delay_over:
        sim.now = back + timedelta(seconds=10 + 301)  # first seen back at +10 s
    for key, value in kwargs.items():
        setattr(sim, key, value)
    return sim


def test_while_recovering_the_skew_is_reported_and_left() -> None:
    sim = recovered(delay_over=False)
    assert sim.counts()["zone-a"] == 0
    assert sim.deployment is not None and sim.deployment["spec"]["replicas"] == 9
    balanced = sim.condition("Balanced")
    assert (balanced["status"], balanced["reason"]) == ("False", "WaitingForFailback")
    assert sim.workload["status"]["skew"] == 5


def test_failback_surges_first_then_evicts_from_the_fullest_zones_until_balanced() -> None:
    sim = recovered(delay_over=True)
    first = sim.reconcile()
    assert [type(a) for a in first.actions] == [Scale]
    assert first.actions[0] == Scale("web", 9 + 3)  # one failback step: 25 % of 9, rounded up
    assert [e.reason for e in first.events] == ["ReplicasReturned"]
    assert sim.workload["status"]["surgeReplicas"] == 3
    sim.settle()
    assert sim.counts()["zone-a"] == 3  # the constraint put every new pod in the empty zone
    second = sim.reconcile()
    [evict] = second.actions
    assert isinstance(evict, Evict) and evict.replicas == 12 and len(evict.pods) == 3
    sim.settle()
    sim.run()
    assert sim.counts() == {"zone-a": 3, "zone-b": 3, "zone-c": 3}
    assert sim.deployment is not None and sim.deployment["spec"]["replicas"] == 9
    assert sim.workload["status"]["surgeReplicas"] == 0
    assert sim.condition("Balanced")["status"] == "True"
    assert sim.evictions == 3


def test_a_restart_mid_rebalance_finishes_the_recorded_surge_without_a_second_one() -> None:
    sim = recovered(delay_over=True)
    sim.reconcile()
    sim.settle()
    # A new operator process: nothing but the cluster and the workload's status.
    replayed = spread.plan(sim.observe())
    assert [type(a) for a in replayed.actions] == [Evict]


def test_a_user_scale_down_during_a_surge_is_followed_at_once() -> None:
    sim = recovered(delay_over=True)
    sim.reconcile()
    sim.workload["spec"]["replicas"] = 6
    result = sim.reconcile()
    assert result.actions == [Scale("web", 6 + 3)]


def test_a_budget_that_allows_one_disruption_sees_one_eviction_at_a_time() -> None:
    sim = recovered(delay_over=True, pdb=True)
    sim.run()
    assert sim.counts() == {"zone-a": 3, "zone-b": 3, "zone-c": 3}
    assert sim.deployment is not None and sim.deployment["spec"]["replicas"] == 9


def test_failback_waits_while_pods_are_not_ready() -> None:
    sim = recovered(delay_over=True)
    sim.reconcile()  # surge
    result = sim.reconcile()  # the new pods are not Ready yet
    assert result.actions == []


# --- properties -------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    placed=st.lists(st.sampled_from(ZONES), min_size=0, max_size=15),
    max_skew=st.integers(1, 3),
    step=st.integers(1, 100),
)
def test_any_spread_converges_within_max_skew_without_losing_ready_capacity(
    placed: list[str], max_skew: int, step: int
) -> None:
    """Start from any pods-per-zone split (say, what a stock Deployment left after an outage):
    the operator brings it within maxSkew, the Deployment back to spec.replicas, and Ready pods
    never fall below spec.replicas on the way."""
    replicas = len(placed)
    sim = SpreadSim(
        spread_body(replicas, maxSkew=max_skew, failover={"failbackStepPercent": step}),
        healthy_nodes(),
    )
    sim.deployment = render_spread_deployment(sim.wl, replicas)
    sim.deployment["metadata"]["generation"] = 1
    for i, zone in enumerate(placed):
        sim.pods[f"web-old-{i}"] = PodInfo(
            name=f"web-old-{i}", uid=str(i), node=f"{zone}-0", ready=True
        )
    sim.settle()
    sim.ready_before = replicas
    sim.run(rounds=200)
    counts = [sim.counts()[z] for z in ZONES]
    assert max(counts) - min(counts) <= max_skew
    assert sim.deployment["spec"]["replicas"] == replicas
    assert sim.ready() == replicas
    assert sim.condition("Balanced")["status"] == "True"


def test_the_ready_floor_holds_through_a_whole_outage_and_return() -> None:
    sim = recovered(delay_over=True)
    sim.run()  # checks after every reconcile that Ready pods never fell below spec.replicas
    assert sim.ready() == 9
    assert sim.counts() == {"zone-a": 3, "zone-b": 3, "zone-c": 3}
