"""Failover benchmark: the same zone outage, ZonalWorkloads against stock Deployments.

One local cluster with stock timing (50 s node-monitor grace, 40 s leases renewed every 10 s,
300 s default tolerations), three zones of three KWOK nodes, and in it, 9 replicas each of:
  - a ZonalWorkload with its default failover policy (30 s grace period, 20 s heartbeat
    timeout, 30 s tolerations), and the same with a 10 s grace period;
  - the same as the first with the heartbeat verdict off (heartbeatTimeoutSeconds: 0), which
    waits for the node lifecycle controller to mark the nodes NotReady;
  - a ZonalWorkload with Spread placement (one Deployment, zone spread DoNotSchedule);
  - a ZonalWorkload with its defaults, in a namespace of its own, managed by two operator
    replicas electing a leader: the leader is frozen (SIGSTOP) with the zone, as if its pod
    ran there, and the standby has to take over (the other subjects' operator runs outside
    the zone, as the local process every other row uses);
  - a Deployment with a zone topology spread constraint, whenUnsatisfiable: DoNotSchedule;
  - the same with whenUnsatisfiable: ScheduleAnyway;
  - and on a tight cluster, node pools of their own with no room for a surge
    (hack/bench/failover_tight.py): a stock Deployment, a ZonalWorkload without headroom,
    with placeholders, with static stability.
Then zone-a's heartbeats stop: that moment, the outage users feel, is when every time below
starts. For each subject: the time until 9 pods are Ready again outside zone-a (not
terminating; a dead zone's pods serve nothing, whatever the API still says of them), and how
that compares with the moment zone-a's nodes turned NotReady.

    make bench-failover            # or: .venv/bin/python hack/bench/failover.py
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

import failover_tight as tight  # noqa: E402
import plot  # noqa: E402
from benchlib import DOC, machine, revision, write_doc  # noqa: E402

from localcluster import ClusterConfig, LocalCluster  # noqa: E402
from testkit.operator_process import OperatorProcess, Replicas  # noqa: E402
from testkit.workloads import (  # noqa: E402
    PAUSE_IMAGE,
    ZONE_KEY,
    container,
    deployment,
    is_ready,
    workload,
)

NAMESPACE = "bench"
HA_NAMESPACE = "bench-ha"  # the workload whose operator's leader is lost with the zone
LEASE_DURATION = 15  # the operator's default --lease-duration
REPLICAS = 9
ZONE = "zone-a"
MARKERS = ("<!-- bench-failover:start -->", "<!-- bench-failover:end -->")
PNG = REPO / "docs" / "bench-failover.png"
CONTAINER = container(PAUSE_IMAGE)  # 100m CPU, 64Mi


@dataclass
class Subject:
    name: str  # the app label of its pods
    label: str  # how it is printed
    # Ours: capacity back within this many seconds of the outage.
    target: float | None = None
    restored_after: float | None = None
    samples: list[tuple[float, int]] = field(default_factory=list)


def zonal_workload(
    name: str, placement: str = "PerZone", namespace: str = NAMESPACE, **failover: int
) -> dict[str, Any]:
    return workload(name, namespace, REPLICAS, PAUSE_IMAGE, placement=placement, failover=failover)


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


def zone_nodes(cluster: LocalCluster) -> set[str]:
    """Every node of the zone lost, the tight pools' included."""
    nodes = cluster.kubectl("get", "nodes", "-l", f"{ZONE_KEY}={ZONE}", "-o", "name").stdout
    return {line.removeprefix("node/") for line in nodes.split()}


def ready_pods(cluster: LocalCluster, lost: set[str]) -> dict[str, int]:
    """Ready, not terminating pods per app label in the benchmark's namespaces, outside the
    lost zone (`lost`: its nodes, once it is down): from the outage on, its pods serve
    nothing, whatever the API still says."""
    pods = json.loads(cluster.kubectl("get", "pods", "-A", "-l", "app", "-o", "json").stdout)
    counts: dict[str, int] = {}
    for pod in pods["items"]:
        if pod["metadata"]["namespace"] not in (NAMESPACE, HA_NAMESPACE):
            continue
        if pod["metadata"].get("deletionTimestamp") or pod["spec"].get("nodeName") in lost:
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


def run(
    limit: float, keep: bool
) -> tuple[list[Subject], dict[str, float], dict[str, dict[str, Any]]]:
    state = Path(tempfile.mkdtemp(prefix="zonal-bench-failover-"))
    cluster = LocalCluster(state, ClusterConfig(zones=3, nodes_per_zone=3))  # stock timing
    # Each operator watches its own namespace, with its Lease there.
    operator = OperatorProcess(
        cluster.kubeconfig,
        state / "operator.log",
        ["--namespace", NAMESPACE, "--leader-election-namespace", NAMESPACE],
    )
    replicas = Replicas(
        cluster.kubeconfig,
        state,
        2,
        ["--namespace", HA_NAMESPACE, "--leader-election-namespace", HA_NAMESPACE],
        prefix="ha",
    )
    # Targets: the larger of the grace period and the heartbeat timeout (20 s), + 10 s.
    subjects = [
        Subject("zonal", "ZonalWorkload, PerZone placement (failover defaults)", target=40),
        Subject("zfast", "ZonalWorkload, PerZone, gracePeriodSeconds: 10", target=30),
        Subject("znohb", "ZonalWorkload, PerZone, heartbeat verdict off (waits for NotReady)"),
        # The silent zone leaves its pod template at the verdict, as the first row's shares do.
        Subject("zspread", "ZonalWorkload, Spread placement (failover defaults)", target=40),
        Subject("dns", "Deployment, zone spread DoNotSchedule"),
        Subject("sa", "Deployment, zone spread ScheduleAnyway"),
        # Target: the first row's time + the lease duration (report()).
        Subject(
            "zleader", "ZonalWorkload, failover defaults, the operator's leader in the lost zone"
        ),
        # The target for placeholders on a tight cluster: as fast as a roomy one.
        *(Subject(p.subject, p.label, target=30 if p.subject == "tph" else None)
          for p in tight.POOLS),
    ]  # fmt: skip
    covered: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    try:
        cluster.up()
        cluster.install_crds(REPO / "crds")
        cluster.kubectl("create", "namespace", NAMESPACE)
        cluster.kubectl("create", "namespace", HA_NAMESPACE)
        pool_nodes = tight.add_pools(cluster)
        operator.start()
        replicas.start()
        objects = [
            zonal_workload("zonal"),
            zonal_workload("zfast", gracePeriodSeconds=10),
            zonal_workload("znohb", heartbeatTimeoutSeconds=0),
            zonal_workload("zspread", "Spread"),
            spread_deployment("dns", "DoNotSchedule"),
            spread_deployment("sa", "ScheduleAnyway"),
            zonal_workload("zleader", namespace=HA_NAMESPACE),
            *tight.objects(NAMESPACE, REPLICAS),
        ]
        for obj in objects:
            cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(obj))
        wait(
            lambda: all(ready_pods(cluster, set()).get(s.name, 0) >= REPLICAS for s in subjects),
            180,
            "all replicas Ready",
        )
        wait(lambda: tight.placeholders_ready(cluster, NAMESPACE) == 5, 120, "5 placeholders")
        # The forecast's first pass after the last pod is placed (every 15 s).
        wait(lambda: all(tight.forecasts(cluster, NAMESPACE).values()), 60, "the forecasts")
        time.sleep(20)
        covered = tight.forecasts(cluster, NAMESPACE)
        lost = zone_nodes(cluster)
        print(f"all {len(subjects)} subjects Ready ({pool_nodes} tight-pool nodes); stopping "
              "zone-a's heartbeats", flush=True)  # fmt: skip

        leader, _ = replicas.wait_leader(30)
        [standby] = [m for m in replicas if m is not leader]
        t0 = time.monotonic()
        cluster.zone_down(ZONE)
        leader.signal(signal.SIGSTOP)  # its pod's node is in the lost zone
        while time.monotonic() - t0 < limit:
            now = time.monotonic() - t0
            counts = ready_pods(cluster, lost)
            if "standby leads" not in timings and standby.leading():
                timings["standby leads"] = now
                print(f"the standby leads {now:.1f} s after the outage", flush=True)
            if "nodes NotReady" not in timings and zone_not_ready(cluster):
                timings["nodes NotReady"] = now
                print(f"zone-a's nodes NotReady {now:.0f} s after the outage", flush=True)
            for s in subjects:
                ready = counts.get(s.name, 0)
                s.samples.append((now, ready))
                if s.restored_after is None and ready >= REPLICAS:
                    s.restored_after = now
                    print(f"  {s.label}: {REPLICAS} Ready again after {now:.1f} s", flush=True)
            if all(s.restored_after is not None for s in subjects):
                break
            time.sleep(1.0)
        return subjects, timings, covered
    finally:
        operator.stop()
        replicas.stop()
        if keep:
            print(f"cluster kept in {state} (kubeconfig {cluster.kubeconfig})")
        else:
            cluster.down()


def report(
    subjects: list[Subject],
    timings: dict[str, float],
    limit: float,
    covered: dict[str, dict[str, Any]],
) -> str:
    tights = {p.subject for p in tight.POOLS}
    roomy = [s for s in subjects if s.name not in tights]
    ours = [s for s in roomy if s.label.startswith("ZonalWorkload")]
    stock = [s for s in roomy if s.label.startswith("Deployment")]
    not_ready = timings.get("nodes NotReady")
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC at {revision()}, {machine()}. Kubernetes "
        "v1.36.3 local control plane, 3 zones x 3 KWOK nodes, stock timing (50 s node-monitor "
        "grace, 40 s leases renewed every 10 s, 300 s default tolerations), 9 replicas each, "
        "zone-a's heartbeats stopped.",
        "",
        "Every time counts from the outage (the moment zone-a's heartbeats stopped). zone-a's "
        + (
            f"nodes turned NotReady {not_ready:.0f} s after it."
            if not_ready is not None
            else "nodes did not turn NotReady within the run."
        ),
        "",
        "| workload | 9 Ready outside zone-a, after the outage | relative to NotReady |",
        "|---|---|---|",
    ]
    for s in roomy:
        when, relative = f"not within {limit / 60:.0f} min", ""
        if s.restored_after is not None:
            when = f"{s.restored_after:.0f} s"
            if not_ready is not None:
                lead = s.restored_after - not_ready
                relative = f"{-lead:.0f} s before" if lead < 0 else f"{lead:.0f} s after"
        lines.append(f"| {s.label} | {when} | {relative} |")
    lines.append("")
    first, leader = subjects[0], next(s for s in subjects if s.name == "zleader")
    if first.restored_after is not None:
        leader.target = first.restored_after + LEASE_DURATION
    standby = timings.get("standby leads")
    if standby is not None:
        lines.append(
            f"With the operator's leader frozen with the zone, the standby led {standby:.1f} s "
            f"after the outage (lease duration {LEASE_DURATION} s)."
        )
    if not_ready is not None:
        # One replica whose pod is in the lost zone: its replacement starts once the pod is
        # evicted, 30 s (the chart's toleration) after the nodes turn NotReady; the zone has
        # failed since then, so the grace period (30 s) has run out by the time it starts.
        lines.append(
            f"Without a standby (one replica, its pod in the lost zone), the operator would start "
            f"again only after NotReady ({not_ready:.0f} s) + the chart's 30 s toleration + a "
            f"pod start: computed, at least {not_ready + 30:.0f} s + the pod start, before it "
            "moves anything."
        )
    lines.append("")
    for mine in ours:
        if mine.restored_after is None:
            lines.append(f"{mine.label}: capacity not restored.")
            continue
        if mine.target is None:
            lines.append(f"{mine.label}: {mine.restored_after:.0f} s (no target of its own).")
        else:
            verdict = "meets" if mine.restored_after <= mine.target else "misses"
            lines.append(
                f"{mine.label}. Target: capacity back within {mine.target:.0f} s of the "
                f"outage: {mine.restored_after:.0f} s, {verdict} it."
            )
        for s in stock:
            other = s.restored_after if s.restored_after is not None else limit
            bound = "" if s.restored_after is not None else "at least "
            goal = " (target: at least 8)" if s.name == "sa" else ""
            lines.append(
                f"- against {s.label}: {bound}{other / mine.restored_after:.1f} times faster{goal}."
            )
        lines.append("")
    lines.extend(tight_report([s for s in subjects if s.name in tights], limit, covered))
    return "\n".join(lines).rstrip()


def tight_report(
    subjects: list[Subject], limit: float, covered: dict[str, dict[str, Any]]
) -> list[str]:
    lines = [
        "Tight cluster, in the same run and outage: each subject on node pools of its own "
        "(8-CPU KWOK nodes, pods asking 8 CPUs), with no room for a surge "
        "(hack/bench/failover_tight.py).",
        "",
        "| workload | 9 Ready outside zone-a, after the outage | lowest Ready outside zone-a "
        "| ZoneLossCovered before the outage |",
        "|---|---|---|---|",
    ]
    for s in subjects:
        when = f"{s.restored_after:.0f} s" if s.restored_after is not None else (
            f"not within {limit / 60:.0f} min")  # fmt: skip
        lowest = min((ready for _, ready in s.samples), default=0)
        forecast = covered.get(s.name) or {}
        said = f"{forecast.get('status')}: {forecast.get('message')}" if forecast else "—"
        lines.append(f"| {s.label} | {when} | {lowest} of {REPLICAS} | {said} |")
    lines.append("")
    for s in subjects:
        lowest = min((ready for _, ready in s.samples), default=0)
        if s.target is not None and s.restored_after is not None:
            verdict = "meets" if s.restored_after <= s.target else "misses"
            lines.append(f"{s.label}. Target: capacity back within {s.target:.0f} s of the "
                         f"outage: {s.restored_after:.0f} s, {verdict} it.")  # fmt: skip
        elif s.name == "tss":
            verdict = "meets" if lowest >= REPLICAS else "misses"
            lines.append(f"{s.label}. Target: Ready never below {REPLICAS} at any sample: "
                         f"lowest {lowest}, {verdict} it.")  # fmt: skip
        elif s.restored_after is None:
            last = s.samples[-1][1] if s.samples else 0
            lines.append(f"{s.label}: {last} of {REPLICAS} Ready outside zone-a at the end of "
                         "the run; the rest Pending, no node has room.")  # fmt: skip
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--limit-seconds", type=float, default=600, help="give up after this long")
    parser.add_argument(
        "--write-doc", action="store_true", help="record the result in docs/benchmarks.md"
    )
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    parser.add_argument("--png", type=Path, help=f"draw Ready over time (--write-doc: {PNG})")
    args = parser.parse_args()
    subjects, timings, covered = run(args.limit_seconds, args.keep)
    text = report(subjects, timings, args.limit_seconds, covered)
    print()
    print(text)
    if args.write_doc:
        write_doc(DOC, text, markers=MARKERS, heading="## Failover: `make bench-failover`")
        print(f"\nwritten to {DOC.relative_to(REPO)}")
    if args.png or args.write_doc:
        png = args.png or PNG
        if not plot.available():
            print(f"not drawing {png}: matplotlib missing (pip install -e '.[bench]')")
            return 0 if not args.png else 1
        tights = {p.subject for p in tight.POOLS}
        series = [(s.label, s.samples) for s in subjects if s.name not in tights]
        title = f"{ZONE} lost: Ready replicas of {REPLICAS}"
        plot.draw(png, series, replicas=REPLICAS, marks=timings, title=title)
        print(f"drawn to {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
