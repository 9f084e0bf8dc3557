"""Headroom in a PerZone reconcile (core/headroom_plan.py through core/perzone.plan): the
placeholder Deployments, their sizes through a zone loss, the HeadroomReady condition, and
static stability's larger zones."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from tests.kit.perzone_sim import (
    Sim,
    cluster_nodes,
    condition,
    dep,
    fail_zone,
    workload_body,
)

from zonal_operator.api.group import HEADROOM_LABEL
from zonal_operator.core.headroom_render import DEFAULT_PAUSE_IMAGE, placeholder_name
from zonal_operator.core.plan import PerZoneObserved

CLASSES = {"zonal-headroom": -10, "high": 100}


@dataclasses.dataclass
class HeadroomSim(Sim):
    priority_classes: dict[str, int] | None = dataclasses.field(
        default_factory=lambda: dict(CLASSES)
    )
    headroom_image: str = DEFAULT_PAUSE_IMAGE

    def observed(self) -> PerZoneObserved:
        return dataclasses.replace(
            super().observed(),
            priority_classes=self.priority_classes,
            headroom_image=self.headroom_image,
        )


def _sim(mode: str, replicas: int = 9, **headroom: Any) -> HeadroomSim:
    body = workload_body(replicas, failover={"headroom": {"mode": mode, **headroom}})
    return HeadroomSim(body, cluster_nodes())


def _placeholders(sim: Sim) -> dict[str, int]:
    return {
        name: d["spec"]["replicas"]
        for name, d in sim.deployments.items()
        if HEADROOM_LABEL in d["metadata"]["labels"]
    }


def _zones(sim: Sim) -> dict[str, int]:
    return {
        name: d["spec"]["replicas"]
        for name, d in sim.deployments.items()
        if HEADROOM_LABEL not in d["metadata"]["labels"]
    }


def test_placeholders_are_kept_sized_and_silent_in_steady_state() -> None:
    sim = _sim("Placeholders")
    sim.converge()
    assert _zones(sim) == {dep("zone-a"): 3, dep("zone-b"): 3, dep("zone-c"): 3}
    assert _placeholders(sim) == {
        placeholder_name("web", "zone-a"): 2,
        placeholder_name("web", "zone-b"): 2,
        placeholder_name("web", "zone-c"): 1,
    }
    assert sim.status["headroomReplicas"] == 5
    assert sim.status["readyReplicas"] == 9  # placeholders are no Ready capacity
    assert condition(sim.status, "HeadroomReady")["status"] == "True"
    again = sim.plan()
    assert (again.actions, again.status) == ([], None)


def _images(sim: Sim) -> set[str]:
    return {
        c["image"]
        for d in sim.deployments.values()
        if HEADROOM_LABEL in d["metadata"]["labels"]
        for c in d["spec"]["template"]["spec"]["containers"]
    }


def test_the_placeholders_image_is_the_operators_setting() -> None:
    sim = _sim("Placeholders")
    sim.converge()
    assert _images(sim) == {DEFAULT_PAUSE_IMAGE}
    # Changed (--headroom-image), the placeholder Deployments follow; the zones' do not move.
    zones = _zones(sim)
    sim.headroom_image = "local/pause:3.10.2"
    sim.converge()
    assert _images(sim) == {"local/pause:3.10.2"}
    assert _zones(sim) == zones
    again = sim.plan()
    assert (again.actions, again.status) == ([], None)


def test_a_lost_zone_keeps_no_placeholders_and_the_others_are_resized() -> None:
    sim = _sim("Placeholders")
    sim.converge()
    fail_zone(sim, "zone-a", sim.now - timedelta(minutes=5))
    sim.converge()
    placeholders = _placeholders(sim)
    assert placeholders.get(placeholder_name("web", "zone-a"), 0) == 0
    # zone-b and zone-c now run 5 and 4; the next loss would put all 9 on the survivor.
    assert placeholders[placeholder_name("web", "zone-b")] == 9 - 5
    assert placeholders[placeholder_name("web", "zone-c")] == 9 - 4


def test_a_missing_priority_class_changes_nothing_but_says_so() -> None:
    sim = _sim("Placeholders", priorityClassName="nope")
    plans = sim.converge()
    assert _placeholders(sim) == {}
    ready = condition(sim.status, "HeadroomReady")
    assert (ready["status"], ready["reason"]) == ("False", "PriorityClassMissing")
    assert sum(e.reason == "PriorityClassMissing" for p in plans for e in p.events) == 1
    assert sim.status["readyReplicas"] == 9


def test_a_placeholder_class_not_below_the_workload_is_refused() -> None:
    sim = _sim("Placeholders", priorityClassName="high")
    sim.converge()
    assert _placeholders(sim) == {}
    assert condition(sim.status, "HeadroomReady")["reason"] == "PriorityNotBelowWorkload"


def test_turning_placeholders_off_removes_them() -> None:
    sim = _sim("Placeholders")
    sim.converge()
    sim.body["spec"]["failover"]["headroom"]["mode"] = "None"
    sim.body["metadata"]["generation"] += 1
    sim.converge()
    assert _placeholders(sim) == {}


def test_static_stability_runs_enough_for_any_loss() -> None:
    sim = _sim("StaticStability")
    sim.converge()
    assert _zones(sim) == {dep("zone-a"): 5, dep("zone-b"): 5, dep("zone-c"): 5}
    assert _placeholders(sim) == {}
    assert sim.status["headroomReplicas"] == 6
    assert condition(sim.status, "Ready")["status"] == "True"
    assert sim.workload.replicas == 9  # spec.replicas, what /scale serves, is untouched


def test_placeholders_come_back_after_failback() -> None:
    sim = _sim("Placeholders", replicas=9)
    sim.body["spec"]["failover"]["failbackDelaySeconds"] = 0
    sim.converge()
    before = _placeholders(sim)
    fail_zone(sim, "zone-a", sim.now - timedelta(minutes=5))
    sim.converge()
    sim.nodes = cluster_nodes()
    for _ in range(6):
        sim.now += timedelta(minutes=10)
        sim.converge()
    assert _zones(sim) == {dep("zone-a"): 3, dep("zone-b"): 3, dep("zone-c"): 3}
    assert _placeholders(sim) == before
