"""Zone disruption budgets (spec.disruptionBudget): `kubectl drain` on a node of every zone at
once takes the workload's pods in one zone at a time, and a zone failing meanwhile still fails
over (a failover is no voluntary disruption)."""

from __future__ import annotations

import itertools
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from localcluster import LocalCluster, binaries
from testkit.operator_process import OperatorProcess
from testkit.workloads import WORKLOAD_LABEL, ZONE_LABEL, workload
from tests.kit.e2e import (
    FAST,
    ZONES,
    Poller,
    apply,
    deployments,
    get_json,
    reasons,
    running_pods_per_zone,
    split,
    wait_converged,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("running_operator")
BUDGET = {"maxUnavailable": 1}
READS = ("get", "list", "watch")


@dataclass
class Drains(Poller):
    """Once every half second: each zone's Ready replicas (its Deployment's readyReplicas,
    against spec.replicas), and when each of the workload's pods was first seen going (a
    deletionTimestamp, or gone) from the drained nodes, by zone."""

    cluster: LocalCluster
    namespace: str
    drained: dict[str, str]  # zone -> node
    interval = 0.5
    short: list[tuple[float, frozenset[str]]] = field(default_factory=list)
    evicted: dict[str, float] = field(default_factory=dict)  # pod -> when it was seen going
    zone_of: dict[str, str] = field(default_factory=dict)  # pod -> zone

    def sample(self) -> None:
        now = time.monotonic()
        deps = deployments(self.cluster, self.namespace, "web").values()
        self.short.append(
            (
                now,
                frozenset(
                    d["metadata"]["labels"][ZONE_LABEL]
                    for d in deps
                    if int(d.get("status", {}).get("readyReplicas") or 0) < d["spec"]["replicas"]
                ),
            )
        )
        items = get_json(self.cluster, "pods", "-n", self.namespace, "-l", f"{WORKLOAD_LABEL}=web")[
            "items"
        ]
        seen = set()
        for pod in items:
            name, zone = pod["metadata"]["name"], pod["metadata"]["labels"][ZONE_LABEL]
            seen.add(name)
            if pod["spec"].get("nodeName") == self.drained.get(zone):
                self.zone_of.setdefault(name, zone)
                if pod["metadata"].get("deletionTimestamp"):
                    self.evicted.setdefault(name, now)
        for name in set(self.zone_of) - seen:
            self.evicted.setdefault(name, now)

    def windows(self) -> dict[str, tuple[float, float]]:
        """zone -> (first, last) eviction seen from its drained node."""
        out: dict[str, tuple[float, float]] = {}
        for name, when in self.evicted.items():
            zone = self.zone_of[name]
            first, last = out.get(zone, (when, when))
            out[zone] = (min(first, when), max(last, when))
        return out


def _budget_workload(namespace: str, replicas: int, **spec: Any) -> dict[str, Any]:
    return workload("web", namespace, replicas=replicas, disruptionBudget=BUDGET, **spec)


def _busiest_nodes(cluster: LocalCluster, namespace: str) -> dict[str, str]:
    """zone -> the node there with the most of the workload's pods."""
    items = get_json(cluster, "pods", "-n", namespace, "-l", f"{WORKLOAD_LABEL}=web")["items"]
    counts = Counter((p["metadata"]["labels"][ZONE_LABEL], p["spec"]["nodeName"]) for p in items)
    busiest: dict[str, str] = {}
    for (zone, node), _ in counts.most_common():
        busiest.setdefault(zone, node)
    return busiest


def _drain(cluster: LocalCluster, node: str, timeout: int) -> subprocess.Popen[str]:
    cmd = [
        str(binaries.find("kubectl")),
        "--kubeconfig",
        str(cluster.kubeconfig),
        "drain",
        node,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        f"--pod-selector={WORKLOAD_LABEL}=web",  # the test's pods only
        f"--timeout={timeout}s",
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def uncordon(cluster: LocalCluster) -> Iterator[list[str]]:
    nodes: list[str] = []
    yield nodes
    for node in nodes:
        cluster.kubectl("uncordon", node, check=False)


def _serving(ready: Counter[str]) -> int:
    return ready["zone-b"] + ready["zone-c"]


def _budgets(cluster: LocalCluster, namespace: str) -> dict[str, object]:
    items = get_json(cluster, "pdb", "-n", namespace, "-l", f"{WORKLOAD_LABEL}=web")["items"]
    return {p["metadata"]["labels"][ZONE_LABEL]: p["spec"]["maxUnavailable"] for p in items}


def test_drains_in_every_zone_go_one_zone_at_a_time(
    cluster: LocalCluster, namespace: str, uncordon: list[str], operator: OperatorProcess
) -> None:
    apply(cluster, _budget_workload(namespace, 9))
    wait_converged(cluster, namespace, "web", dict.fromkeys(ZONES, 3))
    budgets = wait_for(
        lambda: (b := _budgets(cluster, namespace)) and len(b) == 3 and b,
        timeout=30,
        what="a budget per zone",
    )
    assert sorted(budgets.values(), key=str) == [0, 0, 1], budgets  # one zone open
    drained = _busiest_nodes(cluster, namespace)
    uncordon.extend(drained.values())
    started = time.monotonic()
    drains = Drains(cluster, namespace, drained)
    drains.sample()  # the pods on the drained nodes, before any goes
    with drains:
        procs = {zone: _drain(cluster, node, timeout=150) for zone, node in drained.items()}
        finished: dict[str, float] = {}
        while len(finished) < len(procs):
            for zone, proc in procs.items():
                if zone not in finished and proc.poll() is not None:
                    finished[zone] = time.monotonic() - started
            time.sleep(0.5)
        time.sleep(1)  # one more sample after the last drain
    outputs = {zone: proc.communicate()[0] for zone, proc in procs.items()}
    for zone, proc in procs.items():
        assert proc.returncode == 0, (zone, outputs[zone])
    print(f"drains finished after {sorted(finished.items(), key=lambda kv: kv[1])}")
    # Only one zone at a time is short of Ready replicas: the others never drop.
    assert all(len(zones) <= 1 for _, zones in drains.short), [
        z for _, z in drains.short if len(z) > 1
    ]
    # Evictions happen in one zone at a time: the zones' eviction windows do not overlap.
    windows = sorted(drains.windows().values())
    assert len(windows) == 3, drains.windows()
    for (_, last), (first, _) in itertools.pairwise(windows):
        assert last < first, drains.windows()
    # The closed zones' drains waited on the Eviction API's refusal.
    assert any("disruption budget" in out for out in outputs.values()), outputs
    assert reasons(cluster, namespace, "web").count("ZoneBudgetOpened") >= 2
    # The drains done and the zones whole again, the budgets stay as they are: no budget
    # writes. (The status still tells the cordoned nodes' return, coalesced up to 30 s.)
    for node in drained.values():
        cluster.kubectl("uncordon", node)
    wait_converged(cluster, namespace, "web", dict.fromkeys(ZONES, 3))
    before = operator.api_requests()
    time.sleep(20)
    moved = operator.api_requests() - before
    assert not [k for k in moved if k[1] == "poddisruptionbudgets" and k[0] not in READS], moved


def test_a_zone_failing_during_a_drain_still_fails_over(
    cluster: LocalCluster,
    namespace: str,
    uncordon: list[str],
    restore_zones: None,
) -> None:
    apply(cluster, _budget_workload(namespace, 6, failover=FAST))
    wait_converged(cluster, namespace, "web", dict.fromkeys(ZONES, 2))
    node = _busiest_nodes(cluster, namespace)["zone-b"]
    uncordon.append(node)
    drain = _drain(cluster, node, timeout=120)
    try:
        wait_for(
            lambda: _budgets(cluster, namespace).get("zone-b") == 1,
            timeout=30,
            what="zone-b open for its drain",
        )
        cluster.zone_down("zone-a")
        # The failover moves zone-a's share to the other zones, drain or not.
        wait_for(
            lambda: (
                split(cluster, namespace, "web").get("zone-a") == 0
                and _serving(running_pods_per_zone(cluster, namespace, "web")) >= 6
            ),
            timeout=90,
            what="zone-a failed over, 6 Ready replicas in zone-b and zone-c",
        )
        # The failed zone is the open one; zone-b's drain waits.
        assert _budgets(cluster, namespace) == {"zone-a": 1, "zone-b": 0, "zone-c": 0}
    finally:
        drain.kill()
        drain.communicate()
