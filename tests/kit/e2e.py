"""The end-to-end kit: what the local-cluster scenarios (tests/e2e/) and the kind suite share.

- clusters and operators for a fixture's lifetime, and healing a cluster after an outage;
- reading objects and waiting for conditions (`get_json`, `wait_for`, `metric`);
- ZonalWorkloads: applying them, their status, their Deployments' split, convergence;
- the fast failover settings the scenarios use, and the outage helpers;
- samplers of Ready replicas (by workload and zone, PerZone or Spread), once a second;
- ZoneShifts: creating them and reading their status;
- the quiet-watch check: a steady state makes no writes.

Building bodies and driving processes is `testkit`'s (hack/testkit/, shared with the
benchmarks, no pytest); this module turns that into test steps that fail the test.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest

from localcluster import ClusterConfig, LocalCluster
from testkit.operator_process import OperatorProcess
from testkit.workloads import WORKLOAD_LABEL, ZONE_KEY, ZONE_LABEL, condition, is_ready, workload
from zonal_operator.api.group import HEADROOM_LABEL

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds"  # every CRD: ZonalWorkload and ZoneShift

# The shared cluster of every worker: node-monitor grace and the lease duration shortened
# (16 s, 8 s) so that outages are noticed in seconds; everything else, including the API
# server's 300 s default tolerations, is stock.
E2E_CLUSTER = ClusterConfig(
    zones=3,
    nodes_per_zone=3,
    node_monitor_grace_seconds=16,
    node_monitor_period_seconds=2,
    node_lease_seconds=8,
)

ZONES = ("zone-a", "zone-b", "zone-c")
EVEN = {"zone-a": 3, "zone-b": 3, "zone-c": 3}
# The scenarios' failover settings: a 5 s grace, a 20 s failback delay and a 10 s toleration
# of the node lifecycle taints, so that an outage and its recovery fit in about a minute.
FAST = {"gracePeriodSeconds": 5, "failbackDelaySeconds": 20, "tolerationSeconds": 10}
# Spread pods tolerate the taints for 120 s, so that every replacement seen well within that
# time is the operator's doing, not taint-based eviction's.
SPREAD_FAST = {**FAST, "tolerationSeconds": 120}


# -- clusters and operators -------------------------------------------------------------------


def cluster_up(
    directory: Path, config: ClusterConfig, crd: Path | None = None
) -> Iterator[LocalCluster]:
    """A local cluster for as long as the fixture that yields from this lives (a test module
    with a cluster of its own uses it too), with the CRD installed if given."""
    local = LocalCluster(directory, config)
    local.up()
    try:
        if crd is not None:
            local.install_crds(crd)
        yield local
    finally:
        local.down()


def operator_running(kubeconfig: Path, log: Path, *args: str) -> Iterator[OperatorProcess]:
    """The operator (with its extra command-line `args`), for as long as the fixture that
    yields from this lives."""
    process = OperatorProcess(kubeconfig, log, args)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def heal(cluster: LocalCluster) -> None:
    """Every zone and node up, Ready and untainted again."""
    for zone in cluster.down_zones():
        cluster.zone_up(zone)
    for zone in cluster.zones():
        for node in cluster.nodes_in_zone(zone):
            cluster.node_up(node)
    cluster.wait_nodes_ready(timeout=120)

    def untainted() -> bool:
        nodes = get_json(cluster, "nodes")["items"]
        return not any(
            t["key"] in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")
            for n in nodes
            for t in n["spec"].get("taints") or []
        )

    wait_for(untainted, timeout=60, what="node lifecycle taints removed")


# -- reading and waiting ----------------------------------------------------------------------


def get_json(cluster: LocalCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def metric(operator: OperatorProcess, name: str, **labels: str) -> float:
    """Sum of the operator's samples of a metric whose labels include `labels`."""
    total = 0.0
    for line in operator.scrape().splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{")[0] == name and all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += float(value)
    return total


def wait_for(
    predicate: Callable[[], Any], timeout: float, interval: float = 1.0, what: str = ""
) -> Any:
    """Poll until predicate() is truthy and return its value; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what or predicate}; last: {last!r}")


class Poller:
    """Calls `sample()` about once a second in a background thread while inside `with`."""

    interval = 1.0

    def sample(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)


def events(cluster: LocalCluster, namespace: str, name: str) -> list[dict[str, Any]]:
    """The events about the object `name` in `namespace`."""
    items: list[dict[str, Any]] = get_json(
        cluster, "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )["items"]
    return items


def reasons(cluster: LocalCluster, namespace: str, name: str) -> list[str]:
    return [e["reason"] for e in events(cluster, namespace, name)]


def event_count(cluster: LocalCluster, namespace: str, reason: str, name: str = "web") -> int:
    """How many times an event with `reason` was recorded about `name` (counting repeats)."""
    return sum(int(e.get("count") or 1) for e in events(cluster, namespace, name)
               if e["reason"] == reason)  # fmt: skip


def parse_time(text: str) -> datetime:
    """A status timestamp (RFC 3339, "Z") as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- ZonalWorkloads ---------------------------------------------------------------------------


def failover_workload(namespace: str, **failover: Any) -> dict[str, Any]:
    """`web`, 9 replicas, PerZone, with the fast failover settings (`failover` overrides)."""
    return workload("web", namespace, replicas=9, failover={**FAST, **failover})


def spread_workload(namespace: str, **failover: Any) -> dict[str, Any]:
    """`web`, 9 replicas, Spread, with the fast failover settings (`failover` overrides)."""
    return workload(
        "web", namespace, replicas=9, placement="Spread", failover={**SPREAD_FAST, **failover}
    )


def placeholders(cluster: LocalCluster, namespace: str) -> dict[str, tuple[int, int]]:
    """The headroom placeholders of `web` per zone: (spec.replicas, readyReplicas)."""
    items = get_json(cluster, "deployments", "-n", namespace, "-l", f"{HEADROOM_LABEL}=web")
    return {
        d["metadata"]["labels"]["zonal.dev/headroom-zone"]: (
            d["spec"]["replicas"],
            int(d.get("status", {}).get("readyReplicas") or 0),
        )
        for d in items["items"]
    }


def apply(cluster: LocalCluster, body: dict[str, Any]) -> None:
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(body))


def status(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    obj = get_json(cluster, "zonalworkload", name, "-n", namespace)
    result: dict[str, Any] = obj.get("status") or {}
    return result


def zone_entry(cluster: LocalCluster, namespace: str, name: str, zone: str) -> dict[str, Any]:
    """The workload's status entry of `zone`; {} when there is none."""
    zones = status(cluster, namespace, name).get("zones") or []
    return next((z for z in zones if z["name"] == zone), {})


def zone_health(cluster: LocalCluster, namespace: str, name: str = "web") -> dict[str, str]:
    return {z["name"]: z["health"] for z in status(cluster, namespace, name).get("zones") or []}


def deployments(cluster: LocalCluster, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    items = get_json(cluster, "deployments", "-n", namespace, "-l", f"{WORKLOAD_LABEL}={name}")
    return {d["metadata"]["name"]: d for d in items["items"]}


def _split(deps: Iterator[dict[str, Any]] | Any) -> dict[str, int]:
    return {d["metadata"]["labels"][ZONE_LABEL]: d["spec"]["replicas"] for d in deps}


def split(cluster: LocalCluster, namespace: str, name: str) -> dict[str, int]:
    """zone -> spec.replicas of the workload's (PerZone) Deployments."""
    return _split(deployments(cluster, namespace, name).values())


def running_pods_per_zone(cluster: LocalCluster, namespace: str, name: str) -> Counter[str]:
    """Running, Ready pods per zone of the node they run on; fails if any runs outside the
    zone its Deployment is pinned to."""
    zone_of = node_zones(cluster)
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


class Unmet(str):
    """A condition not met yet, falsy, saying what is missing (wait_for reports the last)."""

    def __bool__(self) -> bool:
        return False


def wait_converged(
    cluster: LocalCluster,
    namespace: str,
    name: str,
    expected: dict[str, int],
    timeout: float = 90,
) -> dict[str, Any]:
    """Wait until the Deployments hold `expected` replicas per zone, that many pods run Ready
    in each zone, and the workload's status says Ready for its current generation."""

    def done() -> dict[str, Any] | Unmet:
        # What is not there yet goes into the timeout's message.
        if (replicas := split(cluster, namespace, name)) != expected:
            return Unmet(f"Deployments' replicas {replicas}")
        running = dict(running_pods_per_zone(cluster, namespace, name))
        if running != {z: n for z, n in expected.items() if n}:
            return Unmet(f"pods running Ready {running}")
        st = settled_status(cluster, namespace, name)
        if st is None:
            found = get_json(cluster, "zonalworkload", name, "-n", namespace).get("status")
            return Unmet(f"status not settled: {found}")
        return st

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


# -- Spread placement: one Deployment, its pods counted by the zone of their node -------------


def node_zones(cluster: LocalCluster) -> dict[str, str | None]:
    return {
        n["metadata"]["name"]: n["metadata"]["labels"].get(ZONE_KEY)
        for n in get_json(cluster, "nodes")["items"]
    }


def spread_replicas(cluster: LocalCluster, namespace: str, name: str = "web") -> int | None:
    """The single Deployment's spec.replicas, or None before the operator has made it."""
    items = get_json(cluster, "deployments", "-n", namespace, "-l", f"{WORKLOAD_LABEL}={name}")
    return int(items["items"][0]["spec"]["replicas"]) if items["items"] else None


def pods(cluster: LocalCluster, namespace: str, name: str = "web") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get_json(
        cluster, "pods", "-n", namespace, "-l", f"{WORKLOAD_LABEL}={name}"
    )["items"]
    return items


def pod_ready(pod: dict[str, Any]) -> bool:
    return pod["status"].get("phase") == "Running" and is_ready(pod)


def ready_per_zone(cluster: LocalCluster, namespace: str) -> Counter[str]:
    """Ready pods that are not being deleted, per zone of their node."""
    zone_of = node_zones(cluster)
    return Counter(
        zone_of.get(p["spec"].get("nodeName")) or "?"
        for p in pods(cluster, namespace)
        if not p["metadata"].get("deletionTimestamp") and pod_ready(p)
    )


def spread_settled(cluster: LocalCluster, namespace: str, zones: set[str]) -> dict[str, Any] | None:
    """The status, once the Deployment asks for 9, exactly 9 pods exist, all Ready, spread
    within maxSkew 1 over `zones` and nowhere else, and the workload is settled; else None."""
    if spread_replicas(cluster, namespace) != 9:
        return None
    live = [p for p in pods(cluster, namespace) if not p["metadata"].get("deletionTimestamp")]
    counts = ready_per_zone(cluster, namespace)
    if len(live) != 9 or sum(counts.values()) != 9 or set(counts) != zones:
        return None
    if max(counts.values()) - min(counts.values()) > 1:
        return None
    return settled_status(cluster, namespace, "web")


# -- outages ----------------------------------------------------------------------------------


def nodes_not_ready(cluster: LocalCluster, zone: str) -> Callable[[], bool]:
    """A predicate: every node of `zone` is not Ready."""
    members = set(cluster.nodes_in_zone(zone))
    return lambda: all(
        ready != "True" for name, ready in cluster.node_readiness() if name in members
    )


def nodes_ready(cluster: LocalCluster, zone: str) -> Callable[[], bool]:
    """A predicate: every node of `zone` is Ready."""
    members = set(cluster.nodes_in_zone(zone))
    return lambda: all(
        ready == "True" for name, ready in cluster.node_readiness() if name in members
    )


# -- samplers ---------------------------------------------------------------------------------


@dataclass
class Sampler(Poller):
    """Once a second, for each PerZone workload named: its Ready replicas (its Deployments'
    readyReplicas) and its split (their spec.replicas by zone)."""

    cluster: LocalCluster
    namespace: str
    names: tuple[str, ...] = ("web",)
    ready: dict[str, list[int]] = field(default_factory=dict)
    splits: dict[str, list[dict[str, int]]] = field(default_factory=dict)

    def sample(self) -> None:
        for name in self.names:
            deps = list(deployments(self.cluster, self.namespace, name).values())
            ready = sum(int(d.get("status", {}).get("readyReplicas") or 0) for d in deps)
            self.ready.setdefault(name, []).append(ready)
            self.splits.setdefault(name, []).append(_split(deps))


@dataclass
class SpreadSampler(Poller):
    """Once a second, for the Spread workload `web`: its Ready pods, its Deployment's
    replicas, and (with `pdb`) its PodDisruptionBudget's (currentHealthy, desiredHealthy)."""

    cluster: LocalCluster
    namespace: str
    pdb: bool = False
    ready: list[int] = field(default_factory=list)
    replicas: list[int] = field(default_factory=list)
    budget: list[tuple[int, int]] = field(default_factory=list)

    def sample(self) -> None:
        live = pods(self.cluster, self.namespace)
        self.ready.append(
            sum(1 for p in live if not p["metadata"].get("deletionTimestamp") and pod_ready(p))
        )
        replicas = spread_replicas(self.cluster, self.namespace)
        assert replicas is not None, "the Deployment vanished while being sampled"
        self.replicas.append(replicas)
        if self.pdb:
            st = get_json(self.cluster, "pdb", "web", "-n", self.namespace).get("status") or {}
            self.budget.append((st.get("currentHealthy", 0), st.get("desiredHealthy", 0)))


# -- ZoneShifts -------------------------------------------------------------------------------


def create_shift(
    cluster: LocalCluster, created: list[str], namespace: str, duration: str, **spec: Any
) -> str:
    """A ZoneShift of zone-b (unless `spec` says otherwise) selecting only `namespace`, so
    that it touches no other test's workloads; its name is added to `created`."""
    name = f"zs-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": "zonal.dev/v1alpha1",
        "kind": "ZoneShift",
        "metadata": {"name": name},
        "spec": {
            "zone": "zone-b",
            "duration": duration,
            "reason": "e2e: zone-b maintenance",
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            **spec,
        },
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(body))
    created.append(name)
    return name


def shift_status(cluster: LocalCluster, name: str) -> dict[str, Any]:
    result: dict[str, Any] = get_json(cluster, "zoneshift", name).get("status") or {}
    return result


# -- the quiet-watch check --------------------------------------------------------------------

# How long a steady state is watched for writes: several of the operator's status delays and
# node batches, so that a write a timer makes again and again shows.
QUIET_SECONDS = 20


def assert_quiet(cluster: LocalCluster, operator: OperatorProcess) -> None:
    """Once no namespace is terminating and the last status write has landed, the operator
    writes nothing for QUIET_SECONDS but its leader Lease's renewals (testkit.metrics)."""
    wait_for(
        lambda: all(
            ns["status"].get("phase") != "Terminating"
            for ns in get_json(cluster, "namespaces")["items"]
        ),
        timeout=120,
        what="no namespace terminating",
    )
    time.sleep(3)  # let the last status write land
    before = operator.writes()
    time.sleep(QUIET_SECONDS)
    assert operator.writes() == before, operator.api_requests()
