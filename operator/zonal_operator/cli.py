"""`zonal-operator`: the command line of the operator."""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import version

import kopf

from zonal_operator import handlers  # registers the kopf handlers on import


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zonal-operator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator against the current cluster")
    run.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, $KUBECONFIG, ~/.kube/config)"
    )
    run.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        dest="namespaces",
        help="watch only this namespace (repeatable; default: all). Glob patterns (team-*, "
        "!kube-*) are allowed; with them, Deployments and pods are watched cluster-wide and "
        "filtered, so the operator needs to list and watch those in every namespace",
    )
    run.add_argument(
        "--workers",
        type=_positive,
        default=32,
        help="reconciles in parallel, each with its own API connection (default 32)",
    )
    run.add_argument(
        "--resync-seconds",
        type=float,
        default=600,
        help="reconcile every workload at least this often, changes or not (default 600)",
    )
    run.add_argument(
        "--status-delay-seconds",
        type=float,
        default=30,
        help="while a backlog of workloads (one per worker or more) waits to be reconciled, defer "
        "a workload's status write and events at most this long, so that their Deployment "
        "writes go first; 0 writes at once (default 30)",
    )
    run.add_argument(
        "--watch-timeout",
        # Whole seconds: the API server refuses a watch whose timeoutSeconds is "300.0".
        type=_positive,
        default=300,
        help="server-side timeout in whole seconds of each watch request, after which it is "
        "renewed (default 300)",
    )
    run.add_argument(
        "--node-heartbeats",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="watch the node Leases in kube-node-lease, so that a zone whose kubelets stop "
        "renewing them is judged failed before its nodes turn NotReady (the workloads' "
        "spec.failover.heartbeatTimeoutSeconds); --no-node-heartbeats judges zones by the "
        "nodes' Ready conditions alone (default: on)",
    )
    run.add_argument(
        "--metrics-port", type=int, default=8080, help="Prometheus /metrics port; 0 disables"
    )
    run.add_argument("--metrics-address", default="0.0.0.0", help="address for /metrics")
    run.add_argument(
        "--liveness",
        default="http://0.0.0.0:8081/healthz",
        help="kopf liveness endpoint URL; empty disables (default http://0.0.0.0:8081/healthz)",
    )
    run.add_argument("--log-format", choices=["plain", "full", "json"], default="plain")
    run.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    peering = run.add_mutually_exclusive_group()
    peering.add_argument(
        "--peering",
        metavar="NAME",
        help="coordinate with other replicas through this KopfPeering (high availability)",
    )
    peering.add_argument(
        "--standalone", action="store_true", default=True, help="no peering (default)"
    )
    sub.add_parser("version", help="print the version")
    return parser


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(version("zonal-operator"))
        return 0
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    kopf.configure(
        verbose=args.verbose,
        log_format={
            "plain": kopf.LogFormat.PLAIN,
            "full": kopf.LogFormat.FULL,
            "json": kopf.LogFormat.JSON,
        }[args.log_format],
    )
    logging.getLogger("zonal_operator").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not args.verbose:
        # kopf logs every handled watch event, and its own start-up activities, at INFO; the
        # controller logs what it does.
        for name in ("kopf.objects", "kopf.activities", "kopf._core.engines.activities"):
            logging.getLogger(name).setLevel(logging.WARNING)
    assert handlers.__name__  # imported for its registrations
    kopf.run(
        clusterwide=not args.namespaces,
        namespaces=args.namespaces,
        standalone=args.peering is None,
        peering_name=args.peering,
        liveness_endpoint=args.liveness or None,
        memo=kopf.Memo(options=args),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
