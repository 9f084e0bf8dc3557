"""Failover benchmark: the same zone outage, a ZonalWorkload against stock Deployments.

One local cluster with stock timing (50 s node-monitor grace, 40 s leases, 300 s default
tolerations), three zones of three KWOK nodes, and in it, 9 replicas each of:
  - a ZonalWorkload with its default failover policy (30 s grace period, 30 s tolerations);
  - the same with Spread placement (one Deployment, zone spread DoNotSchedule);
  - a Deployment with a zone topology spread constraint, whenUnsatisfiable: DoNotSchedule;
  - the same with whenUnsatisfiable: ScheduleAnyway.
Then zone-a's heartbeats stop. For each, from the moment the zone's nodes are all NotReady: the
time until 9 pods are Ready again (not terminating), and the lowest Ready count seen.

    make bench-failover            # or: .venv/bin/python hack/bench/failover.py
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

from benchlib import DOC, write_doc  # noqa: E402

from localcluster import ClusterConfig, LocalCluster  # noqa: E402
from testkit.operator_process import OperatorProcess  # noqa: E402
from testkit.workloads import (  # noqa: E402
    PAUSE_IMAGE,
    ZONE_KEY,
    container,
    deployment,
    is_ready,
    workload,
)

NAMESPACE = "bench"
REPLICAS = 9
ZONE = "zone-a"
MARKERS = ("<!-- bench-failover:start -->", "<!-- bench-failover:end -->")
CONTAINER = container(PAUSE_IMAGE)  # 100m CPU, 64Mi


@dataclass
class Subject:
    name: str  # the app label of its pods
    label: str  # how it is printed
    lowest: int = REPLICAS
    restored_after: float | None = None
    samples: list[tuple[float, int]] = field(default_factory=list)


def zonal_workload(name: str, placement: str) -> dict[str, Any]:
    return workload(name, NAMESPACE, REPLICAS, PAUSE_IMAGE, placement=placement)


def spread_deployment(name: str, when: str) -> dict[str, Any]:
    """A Deployment whose pods spread over the zones with maxSkew 1, `when` unsatisfiable."""
    constraint = {
        "maxSkew": 1,
        "topologyKey": ZONE_KEY,
        "whenUnsatisfiable": when,
        "labelSelector": {"matchLabels": {"app": name}},
    }
    return deployment(
        name, NAMESPACE, REPLICAS, [CONTAINER], topologySpreadConstraints=[constraint]
    )


def ready_pods(cluster: LocalCluster) -> dict[str, int]:
    """Ready, not terminating pods per app label in the namespace."""
    pods = json.loads(cluster.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json").stdout)
    counts: dict[str, int] = {}
    for pod in pods["items"]:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        if is_ready(pod):
            app = pod["metadata"]["labels"].get("app", "")
            counts[app] = counts.get(app, 0) + 1
    return counts


def zone_not_ready(cluster: LocalCluster) -> bool:
    members = set(cluster.nodes_in_zone(ZONE))
    return all(status != "True" for name, status in cluster.node_readiness() if name in members)


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise SystemExit(f"benchmark setup failed: timed out waiting for {what}")


def run(limit: float, keep: bool) -> tuple[list[Subject], dict[str, float]]:
    state = Path(tempfile.mkdtemp(prefix="zonal-bench-failover-"))
    cluster = LocalCluster(state, ClusterConfig(zones=3, nodes_per_zone=3))  # stock timing
    operator = OperatorProcess(cluster.kubeconfig, state / "operator.log")
    subjects = [
        Subject("zonal", "ZonalWorkload, PerZone placement (failover defaults)"),
        Subject("zspread", "ZonalWorkload, Spread placement (failover defaults)"),
        Subject("dns", "Deployment, zone spread DoNotSchedule"),
        Subject("sa", "Deployment, zone spread ScheduleAnyway"),
    ]
    timings: dict[str, float] = {}
    try:
        cluster.up()
        cluster.install_crds(REPO / "crds")
        operator.start()
        cluster.kubectl("create", "namespace", NAMESPACE)
        objects = [zonal_workload("zonal", "PerZone"), zonal_workload("zspread", "Spread"),
                   spread_deployment("dns", "DoNotSchedule"),
                   spread_deployment("sa", "ScheduleAnyway")]  # fmt: skip
        for obj in objects:
            cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(obj))
        wait(
            lambda: all(ready_pods(cluster).get(s.name, 0) == REPLICAS for s in subjects),
            180,
            "all replicas Ready",
        )
        print(f"all {len(subjects)} x 9 replicas Ready; stopping zone-a's heartbeats", flush=True)

        killed = time.monotonic()
        cluster.zone_down(ZONE)
        wait(lambda: zone_not_ready(cluster), 180, "zone-a NotReady")
        t0 = time.monotonic()
        timings["zone dead to nodes NotReady"] = t0 - killed
        print(f"zone-a NotReady {t0 - killed:.0f} s after its heartbeats stopped", flush=True)

        while time.monotonic() - t0 < limit:
            now = time.monotonic() - t0
            counts = ready_pods(cluster)
            for s in subjects:
                ready = counts.get(s.name, 0)
                s.samples.append((now, ready))
                s.lowest = min(s.lowest, ready)
                if s.restored_after is None and ready >= REPLICAS:
                    s.restored_after = now
                    print(f"  {s.label}: {REPLICAS} Ready again after {now:.1f} s", flush=True)
            if all(s.restored_after is not None for s in subjects):
                break
            time.sleep(1.0)
        return subjects, timings
    finally:
        operator.stop()
        if keep:
            print(f"cluster kept in {state} (kubeconfig {cluster.kubeconfig})")
        else:
            cluster.down()


def report(subjects: list[Subject], timings: dict[str, float], limit: float) -> str:
    ours = [s for s in subjects if s.label.startswith("ZonalWorkload")]
    stock = [s for s in subjects if s not in ours]
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, 2 cores, Kubernetes v1.36.3 local control "
        "plane, 3 zones x 3 KWOK nodes, stock timing (50 s node-monitor grace, 40 s leases, "
        "300 s default tolerations), 9 replicas each, zone-a's heartbeats stopped.",
        "",
        f"zone-a's nodes went NotReady {timings['zone dead to nodes NotReady']:.0f} s after its "
        "heartbeats stopped; times below count from that moment.",
        "",
        "| workload | Ready replicas back to 9 after | lowest Ready |",
        "|---|---|---|",
    ]
    for s in subjects:
        when = (
            f"{s.restored_after:.0f} s"
            if s.restored_after is not None
            else (f"not restored within {limit / 60:.0f} min")
        )
        lines.append(f"| {s.label} | {when} | {s.lowest} |")
    lines.append("")
    target = 30 + 10
    for mine in ours:
        if mine.restored_after is None:
            lines.append(f"{mine.label}: capacity not restored. Target missed.")
            continue
        verdict = "meets" if mine.restored_after <= target else "misses"
        lines.append(
            f"{mine.label}. Target: capacity restored within the grace period + 10 s "
            f"({target} s): {mine.restored_after:.0f} s, {verdict} it."
        )
        for s in stock:
            other = s.restored_after if s.restored_after is not None else limit
            bound = "" if s.restored_after is not None else "at least "
            lines.append(
                f"- against {s.label}: {bound}{other / mine.restored_after:.1f} times faster "
                "(target: at least 5)."
            )
        lines.append("")
    return "\n".join(lines).rstrip()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--limit-seconds", type=float, default=600, help="give up after this long")
    parser.add_argument(
        "--write-doc", action="store_true", help="record the result in docs/benchmarks.md"
    )
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = parser.parse_args()
    subjects, timings = run(args.limit_seconds, args.keep)
    text = report(subjects, timings, args.limit_seconds)
    print()
    print(text)
    if args.write_doc:
        write_doc(DOC, text, markers=MARKERS, heading="## Failover: `make bench-failover`")
        print(f"\nwritten to {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
