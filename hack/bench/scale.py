#!/usr/bin/env python3
"""Scale and efficiency benchmark of zonal-operator (`make bench-scale`).

On a fresh local cluster (hack/localcluster: the real control plane, KWOK nodes; by default 3
zones of 100 nodes) the real operator process runs with its metrics on a free port, and:

1. converge: N ZonalWorkloads (default 1000 x 3 replicas, over a few namespaces) are created as
   fast as the API server takes them; measured: until every workload has its Deployments with
   the right replicas and reports Ready for its current generation, and until every pod runs;
2. idle: nothing changes for --idle-seconds (default 300); measured: the operator's API requests
   by verb (its own counter, zonal_operator_api_requests_total), its CPU time, its memory;
3. zone loss: one zone's kwok is frozen; measured from the moment each workload judged the zone
   unhealthy (status.zones[].unhealthySince + gracePeriodSeconds) until its Deployments are
   rescaled (the zone at 0, the others summing to spec.replicas) and their Ready replicas are
   back; and the writes this took;
4. recovery: the zone comes back; measured: the time to rebalance every workload after the
   failback delay, and the lowest Ready replica count each workload had meanwhile (sampled
   with one list of Deployments every --poll-seconds).

The operator's CPU time (utime+stime of /proc/<pid>/stat) is sampled at each phase boundary and
its peak resident memory (VmHWM) read at the end. Every poll is a list call: Deployments and
pods as server-side Tables (a few hundred bytes a row), ZonalWorkloads and Nodes as JSON.

Run it with the project's virtualenv (it starts that virtualenv's `zonal-operator run`);
--help lists the knobs. --write-doc puts the figures into docs/benchmarks.md, between the
bench-scale markers.

The modules beside it: scale_harness (the cluster, operator and per-phase figures),
scale_phases (the four phases), scale_reads (the workloads and what is polled of them),
scale_report (the table and the doc section), profiling (py-spy); hack/testkit holds what the
end-to-end tests share (the operator process, its metrics, the API client, workload bodies).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

from benchlib import DOC, BenchError, log, machine, revision, write_doc  # noqa: E402
from scale_harness import Harness  # noqa: E402
from scale_phases import run  # noqa: E402
from scale_reads import Fleet  # noqa: E402
from scale_report import DOC_HEADING, DOC_MARKERS, doc_section  # noqa: E402

from localcluster import ClusterConfig  # noqa: E402
from testkit import HarnessError  # noqa: E402
from zonal_operator.core.naming import deployment_name  # noqa: E402


# -- command line ---------------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scale.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    size = parser.add_argument_group("size")
    size.add_argument("--workloads", type=int, default=1000)
    size.add_argument("--replicas", type=int, default=3, help="replicas per workload")
    size.add_argument("--namespaces", type=int, default=4)
    size.add_argument("--zones", type=int, default=3)
    size.add_argument("--nodes-per-zone", type=int, default=100)
    cluster = parser.add_argument_group("cluster")
    # Stock (40 s): KWOK renews a lease every quarter of it, so 300 nodes renew 30 times a
    # second. At 20 s (60 a second) the idle API server used 63 s of CPU in 300 s, not 38 s.
    cluster.add_argument("--node-lease-seconds", type=int, default=40)
    cluster.add_argument("--node-monitor-grace-seconds", type=int, default=30)
    cluster.add_argument("--node-monitor-period-seconds", type=int, default=2)
    cluster.add_argument("--controller-qps", type=int, default=1000)
    cluster.add_argument("--controller-burst", type=int, default=2000)
    cluster.add_argument(
        "--controller-syncs",
        type=int,
        default=25,
        help="--concurrent-deployment-syncs and --concurrent-replicaset-syncs",
    )
    cluster.add_argument(
        "--audit",
        action="store_true",
        help="turn the API server's audit log on and count the operator's requests in it too",
    )
    bench = parser.add_argument_group("benchmark")
    bench.add_argument("--idle-seconds", type=float, default=300)
    bench.add_argument("--grace-seconds", type=int, default=10, help="failover grace period")
    bench.add_argument("--failback-delay-seconds", type=int, default=30)
    bench.add_argument("--toleration-seconds", type=int, default=30)
    bench.add_argument("--zone", help="the zone to lose (default: the first)")
    bench.add_argument("--workers", type=int, default=32, help="operator --workers")
    bench.add_argument(
        "--operator-arg",
        action="append",
        default=[],
        help="extra argument for `zonal-operator run` (repeatable)",
    )
    bench.add_argument("--poll-seconds", type=float, default=2.0)
    bench.add_argument(
        "--settle-seconds",
        type=float,
        default=15,
        help="a phase ends once the operator has written nothing for this long",
    )
    bench.add_argument("--timeout", type=float, default=900, help="limit of each wait")
    bench.add_argument("--create-threads", type=int, default=8)
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out",
        type=Path,
        default=Path(os.environ.get("TMPDIR", "/tmp"))
        / f"zonal-bench-scale-{datetime.now().strftime('%Y%m%d-%H%M%S')}",
        help="directory for the cluster state and logs, the operator log, results.json and "
        "profiles",
    )
    output.add_argument("--keep-cluster", action="store_true", help="leave the cluster running")
    output.add_argument(
        "--write-doc", action="store_true", help=f"write the results into {DOC.relative_to(REPO)}"
    )
    output.add_argument("--doc", type=Path, default=DOC, help=argparse.SUPPRESS)
    output.add_argument(
        "--profile", action="store_true", help="record each phase with py-spy (raw stacks + top)"
    )
    output.add_argument("--py-spy", help="the py-spy binary (default: on PATH)")
    output.add_argument("--profile-rate", type=int, default=25, help="py-spy samples per second")
    args = parser.parse_args(argv)
    args.argv = list(argv)
    if args.workloads < 1 or args.replicas < 1 or args.namespaces < 1:
        parser.error("--workloads, --replicas and --namespaces must be at least 1")
    return args


def cluster_config(args: argparse.Namespace) -> ClusterConfig:
    return ClusterConfig(
        zones=args.zones,
        nodes_per_zone=args.nodes_per_zone,
        node_monitor_grace_seconds=args.node_monitor_grace_seconds,
        node_monitor_period_seconds=args.node_monitor_period_seconds,
        node_lease_seconds=args.node_lease_seconds,
        controller_qps=args.controller_qps,
        controller_burst=args.controller_burst,
        controller_syncs=args.controller_syncs,
        audit_log=args.audit,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = cluster_config(args)
    fleet = Fleet.build(
        args.workloads, args.namespaces, config.zone_names(), args.replicas, deployment_name
    )
    bench = Harness(args, config, fleet)
    try:
        report = run(bench)
    except (BenchError, HarnessError) as exc:
        log(f"FAILED: {exc}")
        print(bench.report.text())
        return 1
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "revision": revision(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "cluster": asdict(bench.cluster_config),
        "figures": report.figures,
        "rows": [asdict(r) for r in report.rows],
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    title = (
        f"zonal-operator scale benchmark: {args.workloads} workloads x {args.replicas} replicas, "
        f"{args.zones} zones x {args.nodes_per_zone} nodes, {machine()}"
    )
    print(f"\n{title}\n\n{report.text()}\n")
    print(f"results: {args.out / 'results.json'}; operator log: {args.out / 'operator.log'}")
    if args.write_doc:
        section = doc_section(args, config, bench.zone, report)
        write_doc(args.doc, section, markers=DOC_MARKERS, heading=DOC_HEADING)
        print(f"written into {args.doc}")
    missed = [r for r in report.rows if r.ok is False]
    if missed:
        print("targets missed: " + "; ".join(f"{r.phase}: {r.measure}" for r in missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
