"""The zone-loss forecast's room (runtime/loss_forecast.py): what is used on each node, kept
from the pod and node watches; a workload queued again only when its room changed."""

from __future__ import annotations

import dataclasses
from typing import Any

from tests.kit.perzone_sim import cluster_nodes, workload_body

from zonal_operator.api.group import HEADROOM_LABEL
from zonal_operator.api.workload import Workload
from zonal_operator.runtime.cache import Store
from zonal_operator.runtime.loss_forecast import Forecasts, Room
from zonal_operator.runtime.workqueue import WorkQueue

KEY = ("shop", "web")


def node_body(name: str, cpu: str = "8", pods: str = "110") -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"allocatable": {"cpu": cpu, "pods": pods}}}


def pod_body(
    name: str, node: str, cpu: str = "1", phase: str = "Running", **labels: str
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "shop", "labels": labels},
        "spec": {
            "nodeName": node,
            "containers": [{"resources": {"requests": {"cpu": cpu}}}],
        },
        "status": {"phase": phase},
    }


def free_cpu(room: Room, store: Store) -> dict[str, tuple[int, int]]:
    return {r.node.name: (r.free.get("cpu", 0), r.free_pods) for r in room.rooms(store.nodes)}


def test_used_room_follows_the_pods() -> None:
    store, room = Store(), Room()
    for info in cluster_nodes(("zone-a",), per_zone=1):
        store.put_node(info)
    room.on_node(None, node_body("zone-a-0"))
    room.on_pod(None, pod_body("p1", "zone-a-0", cpu="1500m"))
    room.on_pod(None, pod_body("p2", "zone-a-0"))
    assert free_cpu(room, store) == {"zone-a-0": (5500, 108)}
    version = room.version
    room.on_pod("MODIFIED", pod_body("p2", "zone-a-0"))  # nothing the room counts changed
    assert room.version == version
    room.on_pod("MODIFIED", pod_body("p2", "zone-a-0", phase="Succeeded"))
    room.on_pod("DELETED", pod_body("p1", "zone-a-0", cpu="1500m"))
    assert free_cpu(room, store) == {"zone-a-0": (8000, 110)}
    room.on_pod(None, pod_body("h", "zone-a-0", **{HEADROOM_LABEL: "web"}))
    assert room.held == {KEY: {"zone-a-0": 1}}
    room.on_pod("DELETED", pod_body("h", "zone-a-0", **{HEADROOM_LABEL: "web"}))
    assert room.held == {}


def test_a_workload_is_queued_only_when_its_room_changes() -> None:
    store, queue = Store(), WorkQueue()
    for info in cluster_nodes(per_zone=1):
        store.put_node(info)
    body = workload_body(3)
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "2"}}
    store.workloads[KEY] = body
    forecasts = Forecasts(store, queue, enabled=True, interval=15, busy=lambda: False)
    for name in store.nodes:
        forecasts.room.on_node(None, node_body(name))
    assert forecasts.zone_room(KEY, _wl(body)) is None  # the pods not listed yet
    forecasts.room.listed = True
    assert forecasts.zone_room(KEY, _wl(body)) == {"zone-a": 3, "zone-b": 3, "zone-c": 3}

    # A pod of 2 CPUs leaves 6: still room for 3, the cap (spec.replicas): nobody is queued.
    forecasts.room.on_pod(None, pod_body("other", "zone-a-0", cpu="2"))
    assert forecasts.refresh() == 0 and len(queue) == 0
    forecasts.room.on_pod(None, pod_body("big", "zone-a-0", cpu="4"))
    assert forecasts.refresh() == 1 and len(queue) == 1
    assert forecasts.zone_room(KEY, _wl(body)) == {"zone-a": 1, "zone-b": 3, "zone-c": 3}
    assert forecasts.refresh() == 0  # nothing changed since
    # A cordon takes a node's room away, however much is free on it, and gives it back.
    node = store.nodes["zone-b-0"]
    store.put_node(dataclasses.replace(node, unschedulable=True))
    assert forecasts.refresh() == 1
    assert forecasts.zone_room(KEY, _wl(body)) == {"zone-a": 1, "zone-b": 0, "zone-c": 3}
    store.put_node(node)
    assert forecasts.refresh() == 1

    # A zone that does not serve (failed over) has no say: its room going queues nobody.
    body["status"] = {
        "zones": [
            {"name": "zone-a", "health": "Unhealthy"},
            {"name": "zone-b", "health": "Healthy"},
            {"name": "zone-c", "health": "Healthy"},
        ]
    }
    forecasts.room.on_pod(None, pod_body("more", "zone-a-0", cpu="2"))
    assert forecasts.refresh() == 0
    assert forecasts.zone_room(KEY, _wl(body)) == {"zone-a": 0, "zone-b": 3, "zone-c": 3}
    forecasts.room.on_pod("DELETED", pod_body("more", "zone-a-0", cpu="2"))
    assert forecasts.refresh() == 0

    # A spec change is answered at once, with no change of the room.
    bigger = {**body, "metadata": {**body["metadata"], "generation": 2}}
    bigger["spec"] = {**body["spec"], "replicas": 9}
    assert forecasts.zone_room(KEY, _wl(bigger)) == {"zone-a": 1, "zone-b": 4, "zone-c": 4}

    del store.workloads[KEY]  # deleted: forgotten at the next pass
    forecasts.room.on_pod("DELETED", pod_body("big", "zone-a-0", cpu="4"))
    assert forecasts.refresh() == 0


def _wl(body: dict[str, Any]) -> Workload:
    return Workload.from_body(body)


def test_preempted_placeholders_are_counted_once_each() -> None:
    store = Store()
    room = Room(store.preempted)
    placeholder = pod_body("h", "zone-a-0", **{HEADROOM_LABEL: "web"})
    placeholder["metadata"]["uid"] = "u1"
    room.on_pod(None, placeholder)
    assert store.preempted == {}
    victim = {
        **placeholder,
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}
            ],
        },
    }
    room.on_pod("MODIFIED", victim)
    room.on_pod("MODIFIED", victim)
    room.on_pod("DELETED", victim)
    assert store.preempted == {KEY: 1}
    # Seen first with its deletion, and a workload's own pod is no placeholder.
    other = {**victim, "metadata": {**victim["metadata"], "name": "h2", "uid": "u2"}}
    room.on_pod("DELETED", other)
    own = {**victim, "metadata": {"name": "p", "namespace": "shop", "uid": "u3", "labels": {}}}
    room.on_pod("DELETED", own)
    assert store.preempted == {KEY: 2}


def test_a_pods_requests_are_read_again_only_when_its_spec_changes() -> None:
    """The generation grows with every spec change, an in-place resize too."""
    store, room = Store(), Room()
    for info in cluster_nodes(("zone-a",), per_zone=1):
        store.put_node(info)
    room.on_node(None, node_body("zone-a-0"))
    body = pod_body("p", "zone-a-0", cpu="1")
    body["metadata"].update(uid="u1", generation=1)
    room.on_pod(None, body)
    resized = pod_body("p", "zone-a-0", cpu="3")
    resized["metadata"].update(uid="u1", generation=1)  # not possible: shows what is read
    room.on_pod("MODIFIED", resized)
    assert free_cpu(room, store) == {"zone-a-0": (7000, 109)}
    resized["metadata"]["generation"] = 2
    room.on_pod("MODIFIED", resized)
    assert free_cpu(room, store) == {"zone-a-0": (5000, 109)}
    del resized["metadata"]["generation"]  # an API server without pod generations
    resized["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "2"
    room.on_pod("MODIFIED", resized)
    assert free_cpu(room, store) == {"zone-a-0": (6000, 109)}
    room.on_pod("DELETED", resized)
    assert free_cpu(room, store) == {"zone-a-0": (8000, 110)}
