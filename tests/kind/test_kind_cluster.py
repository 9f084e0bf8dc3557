"""The kind cluster of `make kind-up kind-load kind-deploy` (`make kind-test`): real kubelets run
the operator from the image built from the Dockerfile, and the example ZonalWorkload's pods.

KIND_CLUSTER names the cluster (default zonal), WEB_IMAGE the web server image that replaces the
example's (default zonal-operator/web:dev, loaded by make kind-load).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.kind

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = os.environ.get("KIND_CLUSTER", "zonal")
WEB_IMAGE = os.environ.get("WEB_IMAGE", "zonal-operator/web:dev")
ZONE = "topology.kubernetes.io/zone"
NAMESPACE = "zonal-kind-test"


def kubectl(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        [str(ROOT / "hack" / "tool"), "kubectl", "--context", f"kind-{CLUSTER}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=360,
    ).stdout


def get(*args: str) -> Any:
    return json.loads(kubectl("get", "-o", "json", *args))


def condition(obj: dict[str, Any], kind: str) -> str | None:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond["type"] == kind:
            return str(cond["status"])
    return None


def test_nodes_are_ready_with_their_zones() -> None:
    nodes = get("nodes")["items"]
    assert nodes
    for node in nodes:
        assert condition(node, "Ready") == "True", node["metadata"]["name"]
    workers = [
        n for n in nodes if "node-role.kubernetes.io/control-plane" not in n["metadata"]["labels"]
    ]
    zones = {n["metadata"]["labels"].get(ZONE) for n in workers}
    assert zones == {"zone-a", "zone-b", "zone-c"}


def test_the_operator_runs_from_the_local_image() -> None:
    pods = get("pods", "-n", "zonal-system", "-l", "app.kubernetes.io/name=zonal-operator")["items"]
    assert pods
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert condition(pod, "Ready") == "True"
        (status,) = pod["status"]["containerStatuses"]
        assert "running" in status["state"]
        assert status["image"].endswith("zonal-operator:dev")
        # The kubelet ran the image loaded into containerd, not one from a registry.
        assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"


@pytest.fixture
def web_workload() -> Iterator[dict[str, Any]]:
    workload = yaml.safe_load((ROOT / "examples" / "zonalworkload.yaml").read_text())
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    container["image"] = WEB_IMAGE
    container["imagePullPolicy"] = "Never"
    kubectl("create", "namespace", NAMESPACE)
    try:
        kubectl("apply", "--server-side", "-n", NAMESPACE, "-f", "-", stdin=json.dumps(workload))
        yield workload
    finally:
        kubectl("delete", "namespace", NAMESPACE, "--wait=false")


def test_the_example_workload_becomes_ready_with_real_containers(
    web_workload: dict[str, Any],
) -> None:
    name = web_workload["metadata"]["name"]
    kubectl(
        "wait", "-n", NAMESPACE, f"zonalworkload/{name}", "--for=condition=Ready", "--timeout=300s"
    )
    workload = get("-n", NAMESPACE, f"zonalworkload/{name}")
    assert workload["status"]["observedGeneration"] == workload["metadata"]["generation"]
    pods = get("pods", "-n", NAMESPACE, "-l", "app=web")["items"]
    ready = [p for p in pods if condition(p, "Ready") == "True"]
    assert len(ready) == web_workload["spec"]["replicas"]
    assert {p["spec"]["nodeName"] for p in ready}
    nodes = {
        n["metadata"]["name"]: n["metadata"]["labels"].get(ZONE) for n in get("nodes")["items"]
    }
    assert {nodes[p["spec"]["nodeName"]] for p in ready} == {"zone-a", "zone-b", "zone-c"}
    for pod in ready:
        (status,) = pod["status"]["containerStatuses"]
        assert status["ready"] and "running" in status["state"]
        assert status["containerID"].startswith("containerd://")
    # The readiness probe (an httpGet of /) really ran: the web server logged its requests, which
    # nothing but the kubelet sends.
    deadline = time.monotonic() + 30
    pod_name = ready[0]["metadata"]["name"]
    while True:
        log = kubectl("logs", "-n", NAMESPACE, pod_name)
        if '"GET / HTTP/1.1" 200' in log:
            break
        assert time.monotonic() < deadline, log
        time.sleep(2)
