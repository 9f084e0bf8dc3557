"""The scale benchmark's workloads, and what it reads of them and of the nodes: every poll is
one list call, Deployments and pods as server-side Tables (a few hundred bytes a row),
ZonalWorkloads and Nodes as JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from testkit.api import Api
from testkit.workloads import WORKLOAD_LABEL, ZONE_KEY, ZONE_LABEL, condition, is_ready

MANAGED = "app.kubernetes.io/managed-by=zonal-operator"


@dataclass(frozen=True)
class Fleet:
    """The benchmark's workloads: globally unique names, spread round-robin over namespaces."""

    names: tuple[str, ...]
    namespace_of: Mapping[str, str]
    zones: tuple[str, ...]
    replicas: int
    # Deployment name -> (workload, zone); names are unique cluster-wide (Tables carry none).
    deployments: Mapping[str, tuple[str, str]]

    @classmethod
    def build(
        cls,
        count: int,
        namespaces: int,
        zones: Sequence[str],
        replicas: int,
        deployment_name: Callable[[str, str], str],
    ) -> Fleet:
        """`deployment_name(workload, zone)` is the operator's naming rule."""
        width = len(str(max(count - 1, 0)))
        names = tuple(f"w{i:0{width}d}" for i in range(count))
        namespace_of = {name: f"bench-{i % namespaces}" for i, name in enumerate(names)}
        deployments = {deployment_name(n, z): (n, z) for n in names for z in zones}
        return cls(names, namespace_of, tuple(zones), replicas, deployments)

    @property
    def namespaces(self) -> list[str]:
        return sorted(set(self.namespace_of.values()))

    def even(self) -> dict[str, int]:
        base, extra = divmod(self.replicas, len(self.zones))
        return {z: base + (1 if i < extra else 0) for i, z in enumerate(self.zones)}


@dataclass
class Zoned:
    """One workload's Deployments in one poll: zone -> desired (spec) and Ready replicas."""

    desired: dict[str, int] = field(default_factory=dict)
    ready: dict[str, int] = field(default_factory=dict)


def poll_deployments(api: Api, fleet: Fleet) -> dict[str, Zoned]:
    """Every workload's Deployments, from one Table list (READY is `ready/spec.replicas`)."""
    found: dict[str, Zoned] = {name: Zoned() for name in fleet.names}
    for row in api.table("/apis/apps/v1/deployments", {"labelSelector": MANAGED}):
        owner = fleet.deployments.get(row["Name"])
        if owner is None:
            continue
        ready, _, desired = str(row["Ready"]).partition("/")
        zoned = found[owner[0]]
        zoned.desired[owner[1]], zoned.ready[owner[1]] = int(desired), int(ready)
    return found


def running_pods(api: Api) -> int:
    """Pods of ZonalWorkloads that are Running and not being deleted."""
    rows = api.table(
        "/api/v1/pods",
        {"labelSelector": WORKLOAD_LABEL, "fieldSelector": "status.phase=Running"},
    )
    return sum(1 for row in rows if row.get("Status") == "Running")


def pod_nodes(api: Api, zone: str) -> dict[str, set[str]]:
    """Per workload, the nodes its pods in the zone run on."""
    found: dict[str, set[str]] = {}
    pods = api.request("GET", "/api/v1/pods", {"labelSelector": f"{ZONE_LABEL}={zone}"})
    for pod in pods["items"]:
        workload = (pod["metadata"].get("labels") or {}).get(WORKLOAD_LABEL)
        node = pod["spec"].get("nodeName")
        if workload and node:
            found.setdefault(workload, set()).add(node)
    return found


def list_workloads(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.request("GET", "/apis/zonal.dev/v1alpha1/zonalworkloads")[
        "items"
    ]
    return items


def workload_table(api: Api) -> list[dict[str, Any]]:
    """Every ZonalWorkload as a Table row (the CRD's printer columns: Status is Ready's)."""
    return api.table("/apis/zonal.dev/v1alpha1/zonalworkloads", {})


def ready_and_current(obj: Mapping[str, Any]) -> bool:
    status = obj.get("status") or {}
    return (
        status.get("observedGeneration") == obj["metadata"].get("generation")
        and condition(status, "Ready").get("status") == "True"
    )


def zone_entry(obj: Mapping[str, Any], zone: str) -> Mapping[str, Any]:
    zones = (obj.get("status") or {}).get("zones") or []
    found: Mapping[str, Any] = next((z for z in zones if z.get("name") == zone), {})
    return found


@dataclass(frozen=True)
class NodeReadiness:
    name: str
    ready: bool
    since: float | None  # lastTransitionTime of the Ready condition (epoch seconds)


def zone_nodes(api: Api, zone: str) -> list[NodeReadiness]:
    items = api.request("GET", "/api/v1/nodes", {"labelSelector": f"{ZONE_KEY}={zone}"})
    return [
        NodeReadiness(
            node["metadata"]["name"],
            is_ready(node),
            epoch(condition(node["status"], "Ready").get("lastTransitionTime")),
        )
        for node in items["items"]
    ]


def epoch(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def kth(values: Iterable[float | None], k: int) -> float | None:
    known = sorted(v for v in values if v is not None)
    return known[k - 1] if len(known) >= k else None
