"""The kind cluster of `make kind-up kind-load kind-deploy` (`make kind-test`): real kubelets run
the operator from the image built from the Dockerfile, and the example ZonalWorkload's pods.

KIND_CLUSTER names the cluster (default zonal), WEB_IMAGE the web server image that replaces the
example's (default zonal-operator/web:dev, loaded by make kind-load).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.kit.e2e import wait_for
from tests.kit.kind import (
    OPERATOR_NAMESPACE,
    RELEASE,
    ROOT,
    WEB_IMAGE,
    ZONE,
    condition,
    get,
    kubectl,
    kubectl_result,
    operator_pods,
)

pytestmark = pytest.mark.kind

NAMESPACE = "zonal-kind-test"
NAMESPACE_METRICS = "zonal-kind-scrape"


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
    pods = operator_pods()
    assert len(pods) == 2  # the chart's default: a leader and a standby
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert condition(pod, "Ready") == "True"
        (status,) = pod["status"]["containerStatuses"]
        assert "running" in status["state"]
        assert status["image"].endswith("zonal-operator:dev")
        # The kubelet ran the image loaded into containerd, not one from a registry.
        assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"
    # One per zone (the chart's topology spread), so that a zone's loss takes at most one.
    nodes = {
        n["metadata"]["name"]: n["metadata"]["labels"].get(ZONE) for n in get("nodes")["items"]
    }
    assert len({nodes[p["spec"]["nodeName"]] for p in pods}) == 2


def test_pod_security_restricted_admits_the_operator() -> None:
    labels = get("namespace", OPERATOR_NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    # Enforced: a privileged pod is refused in the operator's namespace...
    code, refused = kubectl_result(
        "run",
        "privileged",
        "-n",
        OPERATOR_NAMESPACE,
        f"--image={WEB_IMAGE}",
        "--dry-run=server",
        "--overrides",
        json.dumps(
            {
                "spec": {
                    "containers": [
                        {
                            "name": "privileged",
                            "image": WEB_IMAGE,
                            "securityContext": {"privileged": True},
                        }
                    ]
                }
            }
        ),
    )
    assert code != 0 and 'violates PodSecurity "restricted' in refused, refused
    # ...and the operator's pods run there as a non-root user, on a read-only root filesystem.
    for pod in operator_pods():
        name = pod["metadata"]["name"]
        probe = (
            "import os\n"
            "try:\n    open('/probe', 'w')\nexcept OSError as e:\n    print(e.strerror)\n"
            "print(os.getuid(), os.getgid())"
        )
        out = kubectl("exec", "-n", OPERATOR_NAMESPACE, name, "--", "python3", "-c", probe)
        assert out.split("\n")[:2] == ["Read-only file system", "65532 65532"], out


def test_the_operators_probes_pass_and_keep_passing() -> None:
    for pod in operator_pods():
        (container,) = pod["spec"]["containers"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["path"] == "/healthz"
        (status,) = pod["status"]["containerStatuses"]
        # Ready (the readiness probe passes) and never restarted (the liveness probe passes).
        assert status["ready"] and status["restartCount"] == 0, status


def test_metrics_answer_through_the_service_from_another_pod() -> None:
    url = f"http://{RELEASE}-metrics.{OPERATOR_NAMESPACE}.svc:8080/metrics"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "scrape", "namespace": NAMESPACE_METRICS},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "scrape",
                    "image": WEB_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c"],
                    "args": [
                        f"import urllib.request; print(urllib.request.urlopen({url!r}, "
                        "timeout=10).read().decode())"
                    ],
                }
            ],
        },
    }
    kubectl("create", "namespace", NAMESPACE_METRICS)
    try:
        kubectl("apply", "-f", "-", stdin=json.dumps(pod))
        wait_for(
            lambda: (
                get("pod", "-n", NAMESPACE_METRICS, "scrape")["status"].get("phase")
                in ("Succeeded", "Failed")
            ),
            timeout=120,
            what="the scrape pod to finish",
        )
        text = kubectl("logs", "-n", NAMESPACE_METRICS, "scrape")
        assert get("pod", "-n", NAMESPACE_METRICS, "scrape")["status"]["phase"] == "Succeeded", text
        assert "zonal_operator_leader " in text, text[:2000]
    finally:
        kubectl("delete", "namespace", NAMESPACE_METRICS, "--wait=false")


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
