"""What the controller keeps of a PerZone workload's pods: where each runs, per zone."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.kit.fake_kube import FakeKube

from zonal_operator.runtime.controller import Controller

KEY = ("team-a", "web")


def _node(name: str, ready: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": "zone-a"}},
        "status": {"conditions": [{"type": "Ready", "status": ready}]},
    }


def _pod(name: str, node: str, **meta: Any) -> dict[str, Any]:
    labels = {"zonal.dev/workload": "web", "zonal.dev/zone": "zone-a"}
    return {
        "metadata": {"name": name, "namespace": "team-a", "labels": labels, **meta},
        "spec": {"nodeName": node},
        "status": {"phase": "Running"},
    }


def _controller() -> Controller:
    controller = Controller(FakeKube())  # no API call in these tests
    controller.intake.on_node(None, _node("up", "True"))
    controller.intake.on_node(None, _node("lost", "Unknown"))
    return controller


def test_pods_are_kept_per_zone_with_their_node() -> None:
    controller = _controller()
    controller.intake.on_pod(None, _pod("p1", "up"))
    controller.intake.on_pod(None, _pod("p2", ""))  # not scheduled yet
    assert _nodes(controller) == {"zone-a": {"p1": "up", "p2": ""}}
    controller.intake.on_pod("MODIFIED", _pod("p2", "up"))
    assert _nodes(controller) == {"zone-a": {"p1": "up", "p2": "up"}}


def _nodes(controller: Controller) -> dict[str, dict[str, str]]:
    placed = controller.store.placed[KEY]
    return {zone: {name: pod.node for name, pod in pods.items()} for zone, pods in placed.items()}


def test_a_pod_being_deleted_or_gone_is_forgotten() -> None:
    controller = _controller()
    controller.intake.on_pod(None, _pod("p1", "up"))
    controller.intake.on_pod(None, _pod("p2", "up"))
    controller.intake.on_pod("MODIFIED", _pod("p1", "up", deletionTimestamp="2026-01-01T00:00:00Z"))
    controller.intake.on_pod("DELETED", _pod("p2", "up"))
    assert KEY not in controller.store.placed


def test_only_a_pod_on_a_failed_node_wakes_its_workload() -> None:
    controller = _controller()
    controller.intake.on_pod(None, _pod("p1", "up"))
    assert len(controller.queue) == 0  # its Deployment's status tells the rest
    controller.intake.on_pod(None, _pod("p2", "lost"))
    assert len(controller.queue) == 1


def test_a_container_restart_wakes_its_workload() -> None:
    """A restart may halt a zone-by-zone rollout (core/waves.py); nothing else reports it."""
    controller = _controller()
    controller.intake.on_pod(None, _pod("p1", "up"))
    restarted = _pod("p1", "up")
    restarted["status"]["containerStatuses"] = [
        {"name": "web", "lastState": {"terminated": {"finishedAt": "2026-12-04T10:00:00Z"}}}
    ]
    controller.intake.on_pod("MODIFIED", restarted)
    assert len(controller.queue) == 1
    assert controller.store.placed[KEY]["zone-a"]["p1"].restarted is not None


def _pod_of(workload: str, name: str, node: str, zone: str | None = "zone-a") -> dict[str, Any]:
    pod = _pod(name, node)
    pod["metadata"]["labels"] = {"zonal.dev/workload": workload}
    if zone is not None:  # Spread placement's pods carry no zone label
        pod["metadata"]["labels"]["zonal.dev/zone"] = zone
    return pod


def test_the_workloads_on_a_node_are_known_and_forgotten_with_their_pods() -> None:
    controller = _controller()
    controller.intake.on_pod(None, _pod_of("web", "w1", "up"))
    controller.intake.on_pod(None, _pod_of("web", "w2", "up"))
    controller.intake.on_pod(None, _pod_of("spread", "s1", "up", zone=None))
    controller.intake.on_pod(None, _pod_of("api", "a1", ""))
    assert sorted(controller.store.workloads_on("up")) == [("team-a", "spread"), KEY]
    controller.intake.on_pod("MODIFIED", _pod_of("web", "w1", "lost"))
    controller.intake.on_pod("DELETED", _pod_of("spread", "s1", "up", zone=None))
    assert controller.store.workloads_on("up") == [KEY]  # w2 is still there
    assert controller.store.workloads_on("lost") == [KEY]
    controller.intake.on_pod("MODIFIED", _pod_of("api", "a1", "lost"))
    workload = {"metadata": {"name": "web", "namespace": "team-a", "uid": "u"}}
    controller.intake.on_workload("DELETED", workload)
    assert controller.store.workloads_on("up") == []
    assert controller.store.workloads_on("lost") == [("team-a", "api")]


def test_a_node_turning_not_ready_puts_the_workloads_on_it_first() -> None:
    controller = _controller()
    controller.intake.on_node(None, _node("other", "True"))
    controller.intake.on_pod(None, _pod_of("web", "w1", "up"))
    controller.intake.on_pod(None, _pod_of("api", "a1", "other"))
    controller.queue.add(("team-a", "earlier"))
    controller.intake.on_node("MODIFIED", _node("up", "True"))  # no change of Ready: nobody queued
    assert len(controller.queue) == 1
    controller.intake.on_node("MODIFIED", _node("up", "False"))
    controller.intake.on_node("MODIFIED", _node("up", "Unknown"))  # still failed: not again

    async def order() -> list[Any]:
        return [await controller.queue.get() for _ in range(len(controller.queue))]

    assert asyncio.run(order()) == [KEY, ("team-a", "earlier")]
