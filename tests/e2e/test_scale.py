"""Many workloads at once through a zone outage: the CI-sized version of `make bench-scale`.

50 ZonalWorkloads of 3 replicas in one namespace, with the fast failover settings of
test_failover.py (grace 5 s, failback delay 20 s). Every one of them must converge, leave the
zone that dies, and come back to one replica per zone once it recovers, without its Ready
replicas ever dropping below 3 on the way back. Correctness only: timings are the benchmark's.
Every poll is one list call per kind, whatever the number of workloads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from localcluster import LocalCluster
from testkit.workloads import workload
from tests.kit.e2e import Poller, get_json

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.usefixtures("running_operator", "restore_zones"),
]

WORKLOADS = 50
REPLICAS = 3
ZONES = ("zone-a", "zone-b", "zone-c")
LOST = "zone-a"
FAST = {"gracePeriodSeconds": 5, "failbackDelaySeconds": 20, "tolerationSeconds": 10}
NAMES = tuple(f"w{i:02d}" for i in range(WORKLOADS))
EVEN = dict.fromkeys(ZONES, REPLICAS // len(ZONES))


@dataclass
class Zoned:
    """One workload's Deployments: zone -> spec.replicas, and zone -> readyReplicas."""

    desired: dict[str, int] = field(default_factory=dict)
    ready: dict[str, int] = field(default_factory=dict)


def deployments(cluster: LocalCluster, namespace: str) -> dict[str, Zoned]:
    """Every workload's Deployments, from one list."""
    found = {name: Zoned() for name in NAMES}
    items = get_json(cluster, "deployments", "-n", namespace, "-l", "zonal.dev/workload")
    for dep in items["items"]:
        labels = dep["metadata"]["labels"]
        zoned = found.setdefault(labels["zonal.dev/workload"], Zoned())
        zone = labels["zonal.dev/zone"]
        zoned.desired[zone] = int(dep["spec"]["replicas"])
        zoned.ready[zone] = int(dep.get("status", {}).get("readyReplicas") or 0)
    return found


def workloads(cluster: LocalCluster, namespace: str) -> dict[str, dict[str, Any]]:
    """Every ZonalWorkload of the namespace, from one list."""
    items = get_json(cluster, "zonalworkloads", "-n", namespace)["items"]
    return {obj["metadata"]["name"]: obj for obj in items}


def ready_and_current(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    conditions = status.get("conditions") or []
    ready: dict[str, Any] = next((c for c in conditions if c["type"] == "Ready"), {})
    return bool(
        status.get("observedGeneration") == obj["metadata"]["generation"]
        and ready.get("status") == "True"
    )


def zone_health(obj: dict[str, Any], zone: str) -> str | None:
    zones = (obj.get("status") or {}).get("zones") or []
    return next((z.get("health") for z in zones if z["name"] == zone), None)


def wait_all(
    pending: Callable[[], dict[str, Any]], what: str, timeout: float, interval: float = 2.0
) -> None:
    """Poll until pending() (workload -> what is still wrong with it) is empty."""
    deadline = time.monotonic() + timeout
    left: dict[str, Any] = {}
    while time.monotonic() < deadline:
        left = pending()
        if not left:
            return
        time.sleep(interval)
    sample = dict(sorted(left.items())[:5])
    pytest.fail(f"timed out after {timeout:.0f}s: {len(left)} workloads not {what}, e.g. {sample}")


def converged(cluster: LocalCluster, namespace: str) -> Callable[[], dict[str, Any]]:
    """One replica per zone, all Ready, and the status Ready for the current generation."""

    def pending() -> dict[str, Any]:
        deps, objs = deployments(cluster, namespace), workloads(cluster, namespace)
        left: dict[str, Any] = {}
        for name in NAMES:
            zoned, obj = deps[name], objs.get(name, {})
            if zoned.desired != EVEN or zoned.ready != EVEN:
                left[name] = {"desired": zoned.desired, "ready": zoned.ready}
            elif not obj or not ready_and_current(obj):
                left[name] = {"status": (obj.get("status") or {}).get("conditions")}
            elif zone_health(obj, LOST) != "Healthy":
                left[name] = {LOST: zone_health(obj, LOST)}
        return left

    return pending


def moved_out(cluster: LocalCluster, namespace: str) -> Callable[[], dict[str, Any]]:
    """The lost zone at 0, the others holding all 3 replicas Ready, the zone Unhealthy."""

    def pending() -> dict[str, Any]:
        deps, objs = deployments(cluster, namespace), workloads(cluster, namespace)
        left: dict[str, Any] = {}
        for name in NAMES:
            zoned, obj = deps[name], objs.get(name, {})
            others = {z: n for z, n in zoned.desired.items() if z != LOST}
            ready = sum(n for z, n in zoned.ready.items() if z != LOST)
            if zoned.desired.get(LOST) != 0 or sum(others.values()) != REPLICAS:
                left[name] = {"desired": zoned.desired}
            elif ready != REPLICAS:
                left[name] = {"ready": zoned.ready}
            elif zone_health(obj, LOST) != "Unhealthy":
                left[name] = {LOST: zone_health(obj, LOST)}
        return left

    return pending


@dataclass
class LowestReady(Poller):
    """The fewest Ready replicas each workload had, sampled from one list every second."""

    cluster: LocalCluster
    namespace: str
    lowest: dict[str, int] = field(default_factory=lambda: dict.fromkeys(NAMES, REPLICAS))
    samples: int = 0

    def sample(self) -> None:
        for name, zoned in deployments(self.cluster, self.namespace).items():
            self.lowest[name] = min(self.lowest.get(name, REPLICAS), sum(zoned.ready.values()))
        self.samples += 1


def lowest_ready(cluster: LocalCluster, namespace: str) -> LowestReady:
    return LowestReady(cluster, namespace)


def test_fifty_workloads_fail_over_and_back(cluster: LocalCluster, namespace: str) -> None:
    items = [
        workload(name, namespace, replicas=REPLICAS, failover=FAST)
        for name in NAMES  # one apply for all of them
    ]
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    cluster.kubectl("apply", "--server-side", "-f", "-", input=manifest)
    wait_all(converged(cluster, namespace), "converged to one replica per zone", timeout=180)

    cluster.zone_down(LOST)
    # Node-monitor grace (16 s) + failover grace (5 s) + new pods starting.
    wait_all(moved_out(cluster, namespace), f"moved out of {LOST}", timeout=180)

    with lowest_ready(cluster, namespace) as recovery:
        cluster.zone_up(LOST)
        # Failback delay (20 s) + one step of one replica per workload.
        wait_all(converged(cluster, namespace), f"back in {LOST}", timeout=240)
    assert recovery.samples > 0
    dipped = {name: low for name, low in recovery.lowest.items() if low < REPLICAS}
    # Surge first on the way back: no workload ever had fewer Ready replicas than asked.
    assert not dipped, dipped
