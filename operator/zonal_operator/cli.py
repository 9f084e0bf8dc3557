"""`zonal-operator`: the command line of the operator."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import timedelta
from importlib.metadata import version

import kopf

from zonal_operator import handlers  # registers the kopf handlers on import
from zonal_operator.api.zoneshift import MAX_DURATION_HOURS, parse_duration
from zonal_operator.core.election import check_timing
from zonal_operator.core.headroom_render import DEFAULT_PAUSE_IMAGE


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
        "--auto-shift",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="shift a gray-failed zone away for the workloads with spec.autoShift.enabled: "
        "their pods fail in one zone only while its nodes still heartbeat (README, Automatic "
        "zone shifts); --no-auto-shift: never (default: on)",
    )
    run.add_argument(
        "--auto-shift-duration",
        type=_shift_duration,
        default="1h",
        help="spec.duration of the automatic ZoneShifts (default 1h)",
    )
    run.add_argument(
        "--zone-loss-forecast",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="forecast, for every workload and zone, whether the replicas that would move if "
        "that zone were lost now fit on the other zones' nodes (the ZoneLossCovered condition, "
        "status.zones[].lossShortfall); watches every bound pod in the cluster for the nodes' "
        "free room (default: on)",
    )
    run.add_argument(
        "--zone-loss-forecast-seconds",
        type=float,
        default=15,
        help="how often the forecast takes the nodes' room again, when it changed; never while "
        "a backlog of workloads waits (default 15)",
    )
    run.add_argument(
        "--headroom-image",
        default=DEFAULT_PAUSE_IMAGE,
        help="the image of the headroom placeholder pods (spec.failover.headroom.mode "
        "Placeholders): a pause image the nodes can pull or hold already, such as their "
        f"sandbox image (default {DEFAULT_PAUSE_IMAGE})",
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
    election = run.add_argument_group(
        "leader election",
        "Replicas elect a leader on a coordination.k8s.io/v1 Lease; the others keep their "
        "caches warm and write nothing until they lead (docs/install.md, High availability).",
    )
    election.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="elect a leader among replicas (default); --no-leader-elect: this process writes "
        "at once and alone (never run two such processes against one cluster)",
    )
    election.add_argument(
        "--leader-election-namespace",
        help="namespace of the Lease (default: $POD_NAMESPACE, the service account's, or default)",
    )
    election.add_argument(
        "--leader-election-name", default="zonal-operator", help="name of the Lease"
    )
    election.add_argument(
        "--identity",
        help="this replica's name in the Lease and in its requests' User-Agent (default: "
        "$POD_NAME, else host name and pid); replicas must have distinct identities",
    )
    election.add_argument(
        "--lease-duration",
        type=float,
        default=15,
        help="seconds a standby waits, from the last renewal it saw, before taking the lease "
        "(default 15)",
    )
    election.add_argument(
        "--renew-deadline",
        type=float,
        default=10,
        help="seconds after sending its last successful renewal that the leader stops writing "
        "(default 10; less than --lease-duration)",
    )
    election.add_argument(
        "--retry-period",
        type=float,
        default=2,
        help="seconds between tries to acquire or renew the lease (default 2)",
    )
    sub.add_parser("version", help="print the version")
    return parser


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _shift_duration(value: str) -> str:
    try:
        length = parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not timedelta(0) < length <= timedelta(hours=MAX_DURATION_HOURS):
        raise argparse.ArgumentTypeError(f"must be more than 0s, at most {MAX_DURATION_HOURS}h")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "version":
        print(version("zonal-operator"))
        return 0
    try:
        check_timing(args.lease_duration, args.renew_deadline, args.retry_period)
    except ValueError as exc:
        parser.error(str(exc))
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
        # kopf peering pauses kopf's own handlers, not the controller's writes; the leader
        # lease fences those, and the one kopf handler (on.event) writes nothing.
        standalone=True,
        liveness_endpoint=args.liveness or None,
        memo=kopf.Memo(options=args),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
