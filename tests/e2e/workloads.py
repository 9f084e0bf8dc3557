"""Building, applying and inspecting ZonalWorkloads in end-to-end tests."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from localcluster import LocalCluster
from tests.e2e.helpers import get_json, wait_for

ZONE_KEY = "topology.kubernetes.io/zone"


def workload(
    name: str, namespace: str, replicas: int = 9, image: str = "nginx:1.27", **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "zonal.dev/v1alpha1",
        "kind": "ZonalWorkload",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        }
                    ]
                },
            },
            **spec,
        },
    }
    return body


def apply(cluster: LocalCluster, body: dict[str, Any]) -> None:
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(body))


def status(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    obj = get_json(cluster, "zonalworkload", name, "-n", namespace)
    result: dict[str, Any] = obj.get("status") or {}
    return result


def condition(st: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in st.get("conditions") or [] if c["type"] == type_), {})


def deployments(cluster: LocalCluster, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    items = get_json(cluster, "deployments", "-n", namespace, "-l", f"zonal.dev/workload={name}")
    return {d["metadata"]["name"]: d for d in items["items"]}


def split(cluster: LocalCluster, namespace: str, name: str) -> dict[str, int]:
    """zone -> spec.replicas of the workload's Deployments."""
    return {
        d["metadata"]["labels"]["zonal.dev/zone"]: d["spec"]["replicas"]
        for d in deployments(cluster, namespace, name).values()
    }


def running_pods_per_zone(cluster: LocalCluster, namespace: str, name: str) -> Counter[str]:
    """Running, Ready pods per zone of the node they run on; fails if any runs outside the
    zone its Deployment is pinned to."""
    zone_of = {
        n["metadata"]["name"]: n["metadata"]["labels"].get(ZONE_KEY)
        for n in get_json(cluster, "nodes")["items"]
    }
    pods = get_json(cluster, "pods", "-n", namespace, "-l", f"zonal.dev/workload={name}")
    counts: Counter[str] = Counter()
    for pod in pods["items"]:
        if pod["metadata"].get("deletionTimestamp") or pod["status"].get("phase") != "Running":
            continue
        ready = any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in pod["status"].get("conditions") or []
        )
        if not ready:
            continue
        zone = zone_of.get(pod["spec"]["nodeName"])
        assert zone == pod["metadata"]["labels"]["zonal.dev/zone"], pod["metadata"]["name"]
        counts[zone or "?"] += 1
    return counts


def wait_converged(
    cluster: LocalCluster,
    namespace: str,
    name: str,
    expected: dict[str, int],
    timeout: float = 90,
) -> dict[str, Any]:
    """Wait until the Deployments hold `expected` replicas per zone, that many pods run Ready
    in each zone, and the workload's status says Ready for its current generation."""

    def done() -> dict[str, Any] | None:
        if split(cluster, namespace, name) != expected:
            return None
        if dict(running_pods_per_zone(cluster, namespace, name)) != {
            z: n for z, n in expected.items() if n
        }:
            return None
        return settled_status(cluster, namespace, name)

    result: dict[str, Any] = wait_for(
        done, timeout=timeout, what=f"{namespace}/{name} converged to {expected}"
    )
    return result


def settled_status(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any] | None:
    """The workload's status once it is current for its generation, Ready, and no longer
    Progressing; None before."""
    obj = get_json(cluster, "zonalworkload", name, "-n", namespace)
    st: dict[str, Any] = obj.get("status") or {}
    if st.get("observedGeneration") != obj["metadata"]["generation"]:
        return None
    if condition(st, "Ready").get("status") != "True":
        return None
    if condition(st, "Progressing").get("status") != "False":
        return None
    return st
