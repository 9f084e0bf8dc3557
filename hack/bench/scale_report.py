"""The scale benchmark's results: rows of figures against targets, printed as a table and
written as the bench-scale section of docs/benchmarks.md."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from benchlib import machine, revision

from localcluster import ClusterConfig

DOC_MARKERS = ("<!-- bench-scale:start -->", "<!-- bench-scale:end -->")
DOC_HEADING = "## Scale: `make bench-scale`"


@dataclass
class Row:
    phase: str
    measure: str
    value: str
    target: str = ""
    ok: bool | None = None

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "MISS", None: ""}[self.ok]


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(
        self, phase: str, measure: str, value: str, target: str = "", ok: bool | None = None
    ) -> None:
        self.rows.append(Row(phase, measure, value, target, ok))

    def text(self) -> str:
        headers = ("phase", "measure", "result", "target", "")
        cells = [headers, *((r.phase, r.measure, r.value, r.target, r.verdict) for r in self.rows)]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        rule = "  ".join("-" * w for w in widths)
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
        return "\n".join([lines[0], rule, *lines[1:]]).rstrip()

    def markdown(self) -> str:
        lines = ["| Phase | Measure | Result | Target | |", "|---|---|---|---|---|"]
        for r in self.rows:
            value = r.value.replace("|", "\\|")
            lines.append(f"| {r.phase} | {r.measure} | {value} | {r.target} | {r.verdict} |")
        return "\n".join(lines)


def seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def spread(values: Sequence[float]) -> str:
    """'p50 1.2 s, p95 3.4 s, max 5.6 s' of a list of durations."""
    if not values:
        return "n/a"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.1f} s, p95 {p95:.1f} s, max {ordered[-1]:.1f} s"


def settings_text(args: argparse.Namespace, cfg: ClusterConfig, zone: str) -> list[str]:
    return [
        f"- Cluster: hack/localcluster, {cfg.zones} zones x {cfg.nodes_per_zone} KWOK nodes "
        f"({cfg.node_cpu} CPU, {cfg.node_memory}, {cfg.node_pods} pods each); node lease "
        f"{cfg.node_lease_seconds} s (renewed every {cfg.node_lease_seconds / 4:g} s; "
        "stock: 40 s), node-monitor-grace-period "
        f"{cfg.node_monitor_grace_seconds} s, "
        f"node-monitor-period {cfg.node_monitor_period_seconds} s; kube-controller-manager and "
        f"kube-scheduler --kube-api-qps {cfg.controller_qps} --kube-api-burst "
        f"{cfg.controller_burst} (stock: 20/30); kube-controller-manager "
        f"--concurrent-deployment-syncs {cfg.controller_syncs} --concurrent-replicaset-syncs "
        f"{cfg.controller_syncs} (stock: 5); kube-apiserver --max-requests-inflight 1000 "
        "--max-mutating-requests-inflight 500 (as localcluster always sets); audit log "
        + ("on" if cfg.audit_log else "off")
        + ".",
        f"- Operator: `zonal-operator run --workers {args.workers}"
        + (" " + " ".join(args.operator_arg) if args.operator_arg else "")
        + "` (resync 600 s, watch timeout 300 s unless overridden), as a local process.",
        f"- Workloads: {args.workloads} ZonalWorkloads x {args.replicas} replicas (pause "
        f"image, 10m CPU / 16Mi), round-robin over {args.namespaces} namespaces; failover "
        f"gracePeriodSeconds {args.grace_seconds}, failbackDelaySeconds "
        f"{args.failback_delay_seconds}, tolerationSeconds {args.toleration_seconds}, the other "
        "failover fields at their defaults (unhealthyNodePercent 50, failbackStepPercent 25).",
        f"- Phases: idle {args.idle_seconds:.0f} s; {zone} is the zone lost (its kwok "
        f"frozen with SIGSTOP, then resumed); polls every {args.poll_seconds:.0f} s (1 s during "
        f"the zone loss); a phase ends once the operator has written nothing for "
        f"{args.settle_seconds:.0f} s.",
    ]


def doc_section(args: argparse.Namespace, cfg: ClusterConfig, zone: str, report: Report) -> str:
    command = "python hack/bench/scale.py " + " ".join(args.argv)
    lines = [
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, commit {revision()}, "
        f"machine: {machine()}. Written by `{command.strip()}`; rerun it rather than editing "
        "this section.",
        "",
        *settings_text(args, cfg, zone),
        "",
        report.markdown(),
        "",
        "How it is measured: API requests come from the operator's own counter "
        "`zonal_operator_api_requests_total` (every request of its API client and of its "
        "reflectors of nodes, Deployments and pods; kopf's list and watch of the "
        "ZonalWorkloads are not in it), reconciles from its histogram "
        "`zonal_operator_reconcile_duration_seconds` (wall time, API calls included), status "
        "writes by kind of change from `zonal_operator_status_writes_total`; CPU time "
        "is utime+stime of `/proc/<pid>/stat` sampled at each phase boundary (for the control "
        "plane, summed over its processes; the benchmark's own polling is shown next to it); "
        "peak memory is `VmHWM` of `/proc/<pid>/status` at the end. The "
        "zone is judged unhealthy at each workload's `status.zones[].unhealthySince` (its "
        "nodes' last heartbeat, or the moment enough of them had turned NotReady) plus the "
        "longer of its gracePeriodSeconds and, for a zone failed from its heartbeats before "
        "any node turned NotReady, its heartbeatTimeoutSeconds (20 s); the outage is the "
        "moment the zone's kwok was frozen; "
        "the failback is due at the `healthySince` the workload reported while Recovering plus "
        "failbackDelaySeconds. Times are from polls, so they carry up to one poll interval "
        "(and the timestamps' 1 s resolution) of error. The control plane runs on the same "
        "cores, so the operator competes with it for CPU.",
    ]
    return "\n".join(lines)
