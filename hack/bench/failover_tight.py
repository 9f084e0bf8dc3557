"""The tight-cluster rows of the failover benchmark (hack/bench/failover.py): the same outage,
on nodes with no room for a surge.

Each subject gets a node pool of its own in every zone (KWOK nodes of 8 CPUs, labelled and
tainted `pool=<subject>`, managed by the zone's kwok, so they go down with the zone), and its
pods ask 8 CPUs: one pod per node, and a zone holds what its pool has nodes for:
  - a stock Deployment spread ScheduleAnyway over 3 nodes per zone (full);
  - a ZonalWorkload without headroom over 3 nodes per zone (full);
  - a ZonalWorkload with Placeholders over 5, 5 and 4 nodes: its 3 + 3 + 3 replicas and the
    2 + 2 + 1 placeholders fill them;
  - a ZonalWorkload with StaticStability over 5 nodes per zone: its 5 + 5 + 5 fill them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from localcluster import LocalCluster
from testkit.workloads import (
    HEADROOM_PRIORITY_CLASS,
    PAUSE_IMAGE,
    ZONE_KEY,
    condition,
    container,
    deployment,
    is_ready,
    workload,
)

POOL_LABEL = "pool"
WHOLE_NODE = container(PAUSE_IMAGE, cpu="8", memory="64Mi")


@dataclass(frozen=True)
class Pool:
    subject: str  # the app label of its pods, and the pool's name
    label: str
    nodes: dict[str, int]  # zone -> nodes
    headroom: str | None  # spec.failover.headroom.mode; None: a stock Deployment


POOLS = (
    Pool("tsa", "Deployment, zone spread ScheduleAnyway (tight)", dict.fromkeys("abc", 3), None),
    Pool("tnone", "ZonalWorkload, no headroom (tight)", dict.fromkeys("abc", 3), "None"),
    Pool("tph", "ZonalWorkload, Placeholders (tight)", {"a": 5, "b": 5, "c": 4}, "Placeholders"),
    Pool(
        "tss", "ZonalWorkload, StaticStability (tight)", dict.fromkeys("abc", 5), "StaticStability"
    ),
)


def _placement(pool: str) -> dict[str, Any]:
    toleration = {"key": POOL_LABEL, "operator": "Equal", "value": pool, "effect": "NoSchedule"}
    return {"nodeSelector": {POOL_LABEL: pool}, "tolerations": [toleration]}


def add_pools(cluster: LocalCluster) -> int:
    """Create every pool's nodes; returns how many."""
    items = []
    for pool in POOLS:
        for letter, count in pool.nodes.items():
            zone = f"zone-{letter}"
            for i in range(count):
                name = f"kwok-{zone}-{pool.subject}-{i}"
                resources = {"cpu": "8", "memory": "32Gi", "pods": "110"}
                items.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Node",
                        "metadata": {
                            "name": name,
                            "annotations": {"kwok.x-k8s.io/node": "fake"},
                            "labels": {
                                "kubernetes.io/hostname": name,
                                ZONE_KEY: zone,
                                "type": "kwok",
                                POOL_LABEL: pool.subject,
                            },
                        },
                        "spec": {
                            "taints": [
                                {"key": POOL_LABEL, "value": pool.subject, "effect": "NoSchedule"}
                            ]
                        },
                        "status": {"allocatable": resources, "capacity": resources},
                    }
                )
    cluster.kubectl(
        "create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(HEADROOM_PRIORITY_CLASS))
    return len(items)


def objects(namespace: str, replicas: int) -> list[dict[str, Any]]:
    out = []
    for pool in POOLS:
        if pool.headroom is None:
            constraint = {
                "maxSkew": 1,
                "topologyKey": ZONE_KEY,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": pool.subject}},
            }
            out.append(
                deployment(pool.subject, namespace, replicas, [WHOLE_NODE],
                           topologySpreadConstraints=[constraint], **_placement(pool.subject))
            )  # fmt: skip
            continue
        body = workload(pool.subject, namespace, replicas, PAUSE_IMAGE,
                        failover={"headroom": {"mode": pool.headroom}})  # fmt: skip
        body["spec"]["template"] = {
            "metadata": {"labels": {"app": pool.subject}},
            "spec": {"containers": [WHOLE_NODE], **_placement(pool.subject)},
        }
        out.append(body)
    return out


def placeholders_ready(cluster: LocalCluster, namespace: str) -> int:
    pods = json.loads(
        cluster.kubectl(
            "get", "pods", "-n", namespace, "-l", "zonal.dev/headroom", "-o", "json"
        ).stdout
    )
    return sum(1 for p in pods["items"] if is_ready(p))


def forecasts(cluster: LocalCluster, namespace: str) -> dict[str, dict[str, Any]]:
    """ZoneLossCovered of each tight ZonalWorkload, as `kubectl get zw` shows it."""
    found = {}
    for pool in POOLS:
        if pool.headroom is None:
            continue
        obj = json.loads(
            cluster.kubectl("get", "zw", pool.subject, "-n", namespace, "-o", "json").stdout
        )
        found[pool.subject] = condition(obj.get("status") or {}, "ZoneLossCovered")
    return found
