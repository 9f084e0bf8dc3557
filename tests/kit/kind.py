"""The kind cluster the `kind` suite runs on (`make kind-test`): kubectl, helm and docker against
it, its zones, a zone outage, and Ready counts by zone.

A zone outage is `docker pause` of the zone's worker containers: each is a kind node, so its
kubelet, containerd and pods freeze together, as when a zone loses power or its network. The
API server still shows the paused pods Ready until the node lifecycle controller marks their
nodes NotReady, so what users have is counted outside the lost zone.

Env: KIND_CLUSTER (default zonal), WEB_IMAGE (default zonal-operator/web:dev, loaded by
`make kind-load`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from tests.kit.e2e import Poller, wait_for
from zonal_operator.api.group import SILENCES_ANNOTATION
from zonal_operator.core.requests import pod_requests_milli, quantity_milli
from zonal_operator.core.resume import recorded

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = os.environ.get("KIND_CLUSTER", "zonal")
CONTEXT = f"kind-{CLUSTER}"


def kind_selected(markexpr: str) -> bool:
    """True when the -m expression names `kind` other than as `not kind` (tests/kind/conftest.py
    deselects the kind suite otherwise)."""
    return re.search(r"(?<!not )\bkind\b", markexpr) is not None


WEB_IMAGE = os.environ.get("WEB_IMAGE", "zonal-operator/web:dev")
ZONE = "topology.kubernetes.io/zone"
RELEASE = "zonal-operator"
OPERATOR_NAMESPACE = "zonal-system"
OPERATOR_SELECTOR = "app.kubernetes.io/name=zonal-operator"
TOOL = str(ROOT / "hack" / "tool")


def run(*cmd: str, stdin: str | None = None, timeout: float = 360) -> str:
    done = subprocess.run(
        cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode:
        raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def kubectl(*args: str, stdin: str | None = None, timeout: float = 360) -> str:
    return run(TOOL, "kubectl", "--context", CONTEXT, *args, stdin=stdin, timeout=timeout)


def kubectl_result(*args: str) -> tuple[int, str]:
    """kubectl's exit status, and its stderr and stdout, for a command that may be refused."""
    done = subprocess.run(
        [TOOL, "kubectl", "--context", CONTEXT, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stderr + done.stdout


def helm(*args: str, timeout: float = 360) -> str:
    return run(TOOL, "helm", "--kube-context", CONTEXT, *args, timeout=timeout)


def get(*args: str) -> Any:
    return json.loads(kubectl("get", "-o", "json", *args))


def condition(obj: Mapping[str, Any], type_: str) -> str | None:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond["type"] == type_:
            return str(cond["status"])
    return None


def api_client() -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(context=CONTEXT)  # type: ignore[no-untyped-call]
    return api


def worker_zones() -> dict[str, str]:
    """Worker node name -> zone."""
    return {
        node["metadata"]["name"]: node["metadata"]["labels"][ZONE]
        for node in get("nodes")["items"]
        if ZONE in node["metadata"]["labels"]
    }


def zone_nodes(zone: str) -> list[str]:
    return sorted(name for name, z in worker_zones().items() if z == zone)


def pause(zone: str) -> float:
    """Freezes every worker container of the zone; returns the monotonic time it started."""
    start = time.monotonic()
    run("docker", "pause", *zone_nodes(zone))
    return start


def unpause_all() -> None:
    """Unfreezes every paused node of the cluster and waits until all nodes are Ready."""
    paused = run(
        "docker",
        "ps",
        "--filter",
        "status=paused",
        "--filter",
        f"label=io.x-k8s.kind.cluster={CLUSTER}",
        "--format",
        "{{.Names}}",
    ).split()
    if paused:
        run("docker", "unpause", *paused)
    kubectl("wait", "--for=condition=Ready", "nodes", "--all", "--timeout=180s", timeout=200)


def operator_pods() -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = get("pods", "-n", OPERATOR_NAMESPACE, "-l", OPERATOR_SELECTOR)[
        "items"
    ]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def leader() -> str:
    """The operator pod holding the leader Lease."""
    lease = get("lease", "-n", OPERATOR_NAMESPACE, RELEASE)
    return str(lease["spec"].get("holderIdentity") or "")


def recorded_silent() -> dict[str, datetime]:
    """The nodes whose silence the leader records on its Lease, for a new leader to resume,
    and when each was last seen renewing."""
    lease = get("lease", "-n", OPERATOR_NAMESPACE, RELEASE)
    annotations = lease["metadata"].get("annotations") or {}
    return {n: r[0].since for n, r in recorded(annotations.get(SILENCES_ANNOTATION)).items()}


def zone_of_pod(pod_name: str) -> str:
    pod = get("pod", "-n", OPERATOR_NAMESPACE, pod_name)
    return worker_zones()[pod["spec"]["nodeName"]]


def wait_operator_settled(timeout: float = 300) -> None:
    """Every operator pod Ready, and one of them leading."""

    def settled() -> bool:
        pods = operator_pods()
        names = {p["metadata"]["name"] for p in pods}
        return (
            bool(pods) and all(condition(p, "Ready") == "True" for p in pods) and leader() in names
        )

    wait_for(settled, timeout=timeout, interval=2, what="operator pods Ready with a leader")


def web_workload(name: str, replicas: int = 9, **failover: Any) -> dict[str, Any]:
    """The example ZonalWorkload, running the local web server image, under `name`."""
    workload: dict[str, Any] = yaml.safe_load(
        (ROOT / "examples" / "zonalworkload.yaml").read_text()
    )
    workload["metadata"]["name"] = name
    workload["spec"]["replicas"] = replicas
    workload["spec"]["selector"]["matchLabels"]["app"] = name
    workload["spec"]["template"]["metadata"]["labels"]["app"] = name
    workload["spec"]["failover"].update(failover)
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    container["image"] = WEB_IMAGE
    container["imagePullPolicy"] = "Never"
    return workload


def apply(namespace: str, obj: Mapping[str, Any]) -> None:
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=json.dumps(obj))


def wait_workload_ready(namespace: str, name: str, timeout: int = 300) -> dict[str, Any]:
    kubectl(
        "wait",
        "-n",
        namespace,
        f"zonalworkload/{name}",
        "--for=condition=Ready",
        f"--timeout={timeout}s",
        timeout=timeout + 30,
    )
    workload: dict[str, Any] = get("-n", namespace, f"zonalworkload/{name}")
    return workload


def balanced(namespace: str, name: str) -> bool:
    """Ready, not failed over, every zone's Deployment at its even share and rolled out."""
    workload = get("-n", namespace, f"zonalworkload/{name}")
    if condition(workload, "Ready") != "True" or condition(workload, "FailedOver") == "True":
        return False
    deployments = get("deployments", "-n", namespace, "-l", f"zonal.dev/workload={name}")["items"]
    replicas = workload["spec"]["replicas"]
    shares = sorted(d["spec"]["replicas"] for d in deployments)
    ready = sum(d.get("status", {}).get("readyReplicas", 0) for d in deployments)
    return bool(sum(shares) == replicas and shares[-1] - shares[0] <= 1 and ready == replicas)


class ReadyByZone(Poller):
    """Samples, about once a second, the workload's Ready pods in each zone (pods being deleted
    left out) and the leader Lease's holder, each with the seconds since `start`."""

    def __init__(self, namespace: str, app: str, start: float | None = None) -> None:
        self.core = client.CoreV1Api(api_client())
        self.coordination = client.CoordinationV1Api(self.core.api_client)
        self.namespace = namespace
        self.app = app
        self.zones = worker_zones()
        self.start = time.monotonic() if start is None else start
        self.samples: list[tuple[float, dict[str, int], str]] = []

    def sample(self) -> None:
        try:
            # The responses as served (JSON), rather than the client's models.
            pods_response: Any = self.core.list_namespaced_pod(
                self.namespace, label_selector=f"app={self.app}", _preload_content=False
            )
            lease_response: Any = self.coordination.read_namespaced_lease(
                RELEASE, OPERATOR_NAMESPACE, _preload_content=False
            )
            pods, lease = json.loads(pods_response.data), json.loads(lease_response.data)
        except client.ApiException:
            return
        ready: dict[str, int] = {}
        for pod in pods["items"]:
            node = pod["spec"].get("nodeName")
            if pod["metadata"].get("deletionTimestamp") or not node:
                continue
            if condition(pod, "Ready") == "True":
                zone = self.zones.get(node, "")
                ready[zone] = ready.get(zone, 0) + 1
        holder = str(lease["spec"].get("holderIdentity") or "")
        self.samples.append((time.monotonic() - self.start, ready, holder))

    def ready_outside(self, zone: str, replicas: int) -> float | None:
        """Seconds from `start` until at least `replicas` were Ready outside `zone`."""
        for t, ready, _ in self.samples:
            if sum(n for z, n in ready.items() if z != zone) >= replicas:
                return t
        return None

    def lowest_ready(self) -> int:
        return min(sum(ready.values()) for _, ready, _ in self.samples)

    def holder_changed(self, old: str) -> float | None:
        """Seconds from `start` until someone other than `old` held the Lease."""
        return next((t for t, _, holder in self.samples if holder and holder != old), None)


def free_cpu(*, leaving: bool = True) -> dict[str, int]:
    """Worker node name -> the millicores the scheduler sees free there: allocatable less the
    requests of every pod placed on it that has not finished. Pods being deleted hold their
    room until they are gone: `leaving=False` counts it free already."""
    free = {
        node["metadata"]["name"]: quantity_milli(node["status"]["allocatable"]["cpu"])
        for node in get("nodes")["items"]
        if ZONE in node["metadata"]["labels"]
    }
    for pod in get("pods", "--all-namespaces")["items"]:
        node = pod["spec"].get("nodeName")
        if not leaving and pod["metadata"].get("deletionTimestamp"):
            continue
        if node in free and pod["status"].get("phase") not in ("Succeeded", "Failed"):
            free[node] -= pod_requests_milli(pod["spec"]).get("cpu", 0)
    return free


def _probe_rule(node: str, port: int) -> list[str]:
    """The iptables rule (OUTPUT of the node container's own network namespace, where its
    kubelet runs) that drops TCP to `port` of the pods on the node: its podCIDR."""
    cidr = get("node", node)["spec"]["podCIDR"]
    return ["OUTPUT", "-d", cidr, "-p", "tcp", "--dport", str(port), "-j", "DROP"]


def drop_probes(zone: str, port: int) -> float:
    """A gray failure of the zone: its kubelets' probes of the pods' `port` are dropped, their
    heartbeats go on. Returns the monotonic time it started."""
    rules = {node: _probe_rule(node, port) for node in zone_nodes(zone)}
    start = time.monotonic()
    for node, rule in rules.items():
        run("docker", "exec", node, "iptables", "-I", *rule)
    return start


def allow_probes(zone: str, port: int) -> None:
    """Removes what drop_probes added (every copy of the rule; none is no error)."""
    for node in zone_nodes(zone):
        rule = _probe_rule(node, port)
        while (
            subprocess.run(
                ["docker", "exec", node, "iptables", "-D", *rule], capture_output=True, check=False
            ).returncode
            == 0
        ):
            pass
