"""Command line of the local cluster: `python -m localcluster <command>` (see `--help`).

The Makefile targets cluster-up, cluster-down, zone-down, zone-up, zone-degrade, zone-restore
and run call this.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from localcluster.cluster import ClusterConfig, ClusterError, LocalCluster
from localcluster.degrade import zone_degrade, zone_restore
from localcluster.run_operator import run_operator

REPO = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = REPO / ".cluster"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="localcluster", description=__doc__)
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("CLUSTER_DIR", DEFAULT_STATE_DIR)),
        help="where the cluster keeps its state; the kubeconfig is <state-dir>/kubeconfig "
        "(default: .cluster in the repository, or $CLUSTER_DIR)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the cluster (does nothing if it is running)")
    up.add_argument("--zones", type=int, default=3)
    up.add_argument("--nodes-per-zone", type=int, default=3)
    up.add_argument("--node-monitor-grace-seconds", type=int, default=50)
    up.add_argument("--node-lease-seconds", type=int, default=40)
    up.add_argument("--default-toleration-seconds", type=int, default=300)
    up.add_argument("--controller-qps", type=int, default=20)
    up.add_argument("--controller-burst", type=int, default=30)
    up.add_argument(
        "--controller-syncs",
        type=int,
        default=5,
        help="workers of the deployment and ReplicaSet controllers",
    )
    up.add_argument("--audit-log", action="store_true", help="write an API audit log")
    sub.add_parser("down", help="stop the cluster and remove its state")
    crds = sub.add_parser("install-crds", help="apply CRDs and wait until they are served")
    crds.add_argument("path", type=Path)
    sub.add_parser("status", help="say whether the cluster runs, and its zones and nodes")
    for verb in ("zone-down", "zone-up"):
        cmd = sub.add_parser(verb, help=f"{verb.replace('-', ' ')}: stop/resume its heartbeats")
        cmd.add_argument("zone")
    for verb in ("zone-degrade", "zone-restore"):
        cmd = sub.add_parser(verb, help=f"{verb}: fail/restore its pods' readiness (degrade.py)")
        cmd.add_argument("zone")
    for verb in ("node-down", "node-up"):
        cmd = sub.add_parser(verb, help=f"{verb.replace('-', ' ')}: stop/resume its heartbeats")
        cmd.add_argument("node")
    run = sub.add_parser(
        "run-operator",
        help="run the operator command given after --; say when WORKLOAD is Ready and how to "
        "watch it; fail if it is not Ready in time",
    )
    run.add_argument("--workload", required=True, help="the ZonalWorkload to wait for")
    run.add_argument("--namespace", default="default")
    run.add_argument("--ready-timeout", type=float, default=180, help="seconds (default 180)")
    run.add_argument("operator", nargs=argparse.REMAINDER, help="-- then the operator command")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cluster = LocalCluster(args.state_dir)
    try:
        return _run(cluster, args)
    except (ClusterError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(cluster: LocalCluster, args: argparse.Namespace) -> int:
    command = args.command
    if command == "up":
        cluster.config = ClusterConfig(
            zones=args.zones,
            nodes_per_zone=args.nodes_per_zone,
            node_monitor_grace_seconds=args.node_monitor_grace_seconds,
            node_lease_seconds=args.node_lease_seconds,
            default_toleration_seconds=args.default_toleration_seconds,
            controller_qps=args.controller_qps,
            controller_burst=args.controller_burst,
            controller_syncs=args.controller_syncs,
            audit_log=args.audit_log,
        )
        if cluster.up():
            zones = ", ".join(cluster.zones())
            print(f"cluster is up: zones {zones}, {args.nodes_per_zone} nodes each")
        else:
            print(f"a cluster is already running in {cluster.state_dir}; left as it is")
        print(f"export KUBECONFIG={cluster.kubeconfig}")
    elif command == "down":
        if cluster.down():
            print(f"cluster in {cluster.state_dir} stopped")
        else:
            print(f"no cluster in {cluster.state_dir}; nothing to stop")
    elif command == "install-crds":
        for name in cluster.install_crds(args.path):
            print(f"customresourcedefinition {name} established")
    elif command == "status":
        if not cluster.is_running():
            print(f"no cluster is running in {cluster.state_dir}")
            return 3
        down = cluster.down_zones()
        print(f"running; kubeconfig {cluster.kubeconfig}")
        for zone in cluster.zones():
            print(f"  {zone}: {'DOWN (heartbeats stopped)' if zone in down else 'up'}")
        for node, ready in cluster.node_readiness():
            print(f"  {node}: Ready={ready}")
    elif command in ("zone-down", "zone-up"):
        changed = (cluster.zone_down if command == "zone-down" else cluster.zone_up)(args.zone)
        state = "down" if command == "zone-down" else "up"
        print(f"zone {args.zone} {'is now' if changed else 'was already'} {state}")
    elif command in ("zone-degrade", "zone-restore"):
        changed = (zone_degrade if command == "zone-degrade" else zone_restore)(cluster, args.zone)
        state = "degraded" if command == "zone-degrade" else "restored"
        print(f"zone {args.zone} {'is now' if changed else 'was already'} {state}")
    elif command in ("node-down", "node-up"):
        changed = (cluster.node_down if command == "node-down" else cluster.node_up)(args.node)
        state = "down" if command == "node-down" else "up"
        print(f"node {args.node} {'is now' if changed else 'was already'} {state}")
    elif command == "run-operator":
        operator = args.operator[1:] if args.operator[:1] == ["--"] else args.operator
        if not operator:
            raise ClusterError("run-operator needs the operator command after --")
        return run_operator(
            cluster, operator, args.workload, args.namespace, ready_timeout=args.ready_timeout
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
