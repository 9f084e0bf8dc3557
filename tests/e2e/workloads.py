"""Applying and inspecting ZonalWorkloads in end-to-end tests (testkit.workloads builds them)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from localcluster import LocalCluster
from testkit.workloads import WORKLOAD_LABEL, ZONE_KEY, ZONE_LABEL, condition, is_ready
from tests.e2e.helpers import get_json, wait_for


def apply(cluster: LocalCluster, body: dict[str, Any]) -> None:
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(body))


def status(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    obj = get_json(cluster, "zonalworkload", name, "-n", namespace)
    result: dict[str, Any] = obj.get("status") or {}
    return result


def deployments(cluster: LocalCluster, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    items = get_json(cluster, "deployments", "-n", namespace, "-l", f"{WORKLOAD_LABEL}={name}")
    return {d["metadata"]["name"]: d for d in items["items"]}


def split(cluster: LocalCluster, namespace: str, name: str) -> dict[str, int]:
    """zone -> spec.replicas of the workload's Deployments."""
    return {
        d["metadata"]["labels"][ZONE_LABEL]: d["spec"]["replicas"]
        for d in deployments(cluster, namespace, name).values()
    }


def running_pods_per_zone(cluster: LocalCluster, namespace: str, name: str) -> Counter[str]:
    """Running, Ready pods per zone of the node they run on; fails if any runs outside the
    zone its Deployment is pinned to."""
    zone_of = {
        n["metadata"]["name"]: n["metadata"]["labels"].get(ZONE_KEY)
        for n in get_json(cluster, "nodes")["items"]
    }
    pods = get_json(cluster, "pods", "-n", namespace, "-l", f"{WORKLOAD_LABEL}={name}")
    counts: Counter[str] = Counter()
    for pod in pods["items"]:
        if pod["metadata"].get("deletionTimestamp") or pod["status"].get("phase") != "Running":
            continue
        if not is_ready(pod):
            continue
        zone = zone_of.get(pod["spec"]["nodeName"])
        assert zone == pod["metadata"]["labels"][ZONE_LABEL], pod["metadata"]["name"]
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
