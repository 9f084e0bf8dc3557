"""The scale benchmark's plumbing: the cluster, the operator and the API client it runs with,
what it samples at each phase boundary and reports of each phase, and its waits."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import REPO, BenchError, log
from profiling import Profiler
from scale_reads import Fleet
from scale_report import Report

from localcluster import ClusterConfig, LocalCluster
from testkit.api import Api
from testkit.metrics import READ_VERBS, by_verb, writes
from testkit.operator_process import OperatorProcess
from testkit.procfs import process_cpu_seconds

CRD = REPO / "crds" / "zonal.dev_zonalworkloads.yaml"
USER_AGENT = "zonal-bench-scale"


@dataclass
class Phase:
    """What is sampled at the start of a phase, to report the phase's own share."""

    name: str
    cpu: float
    requests: Counter[tuple[str, str]]
    started: float
    audit_offset: int = 0
    control_plane_cpu: dict[str, float] = field(default_factory=dict)
    reconciles: tuple[int, float] = (0, 0.0)
    bench_cpu: float = 0.0
    status_writes: Counter[str] = field(default_factory=Counter)
    api_seconds: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)


class Harness:
    """One run's cluster, operator, API client and report; the phases (scale_phases) use it."""

    def __init__(
        self, args: argparse.Namespace, cluster_config: ClusterConfig, fleet: Fleet
    ) -> None:
        self.args = args
        self.out: Path = args.out
        self.cluster_config = cluster_config
        self.cluster = LocalCluster(self.out / "cluster", cluster_config)
        self.failover = {
            "gracePeriodSeconds": args.grace_seconds,
            "failbackDelaySeconds": args.failback_delay_seconds,
            "tolerationSeconds": args.toleration_seconds,
        }
        self.fleet = fleet
        self.zone: str = args.zone or fleet.zones[0]
        self.report = Report()
        self.operator: OperatorProcess | None = None
        self.profiler: Profiler | None = None
        self.api: Api | None = None
        self.phases: list[tuple[Phase, Phase]] = []

    @property
    def op(self) -> OperatorProcess:
        assert self.operator is not None
        return self.operator

    @property
    def kube(self) -> Api:
        assert self.api is not None
        return self.api

    # -- setting up and tearing down ------------------------------------------------------------
    def start_cluster(self) -> None:
        args = self.args
        self.out.mkdir(parents=True, exist_ok=True)
        log(
            f"cluster: {args.zones} zones x {args.nodes_per_zone} KWOK nodes "
            f"in {self.cluster.state_dir}"
        )
        started = time.monotonic()
        self.cluster.up(timeout=600)
        self.report.figures["cluster_up_seconds"] = round(time.monotonic() - started, 1)

    def start_operator(self) -> None:
        """The CRD, the namespaces and the operator (and py-spy with --profile)."""
        args = self.args
        self.api = Api(self.cluster.kubeconfig, user_agent=USER_AGENT)
        self.install_crd()
        for namespace in self.fleet.namespaces:
            self.kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
        operator_args = ["--workers", str(args.workers), "--log-format", "full"]
        operator_args += args.operator_arg
        self.operator = OperatorProcess(
            self.cluster.kubeconfig, self.out / "operator.log", operator_args
        )
        self.op.start(timeout=60)
        log(f"operator pid {self.op.pid}: {' '.join(self.op.command)}")
        if args.profile:
            py_spy = args.py_spy or shutil.which("py-spy")
            if not py_spy:
                raise BenchError("--profile needs py-spy (pip install py-spy) or --py-spy")
            self.profiler = Profiler(py_spy, self.op.pid, self.out, args.profile_rate)

    def down(self) -> None:
        """Stop py-spy and the operator; stop the cluster unless --keep-cluster."""
        if self.profiler is not None:
            self.profiler.stop()
        if self.operator is not None:
            self.operator.stop(timeout=20)
        if self.args.keep_cluster:
            log(f"cluster left running: export KUBECONFIG={self.cluster.kubeconfig}")
        else:
            self.cluster.down()

    def install_crd(self) -> None:
        self.cluster.kubectl("apply", "--server-side", "-f", str(CRD))

        def established(_: float) -> bool:
            crd = self.kube.request(
                "GET",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/zonalworkloads.zonal.dev",
            )
            return any(
                c["type"] == "Established" and c["status"] == "True"
                for c in crd.get("status", {}).get("conditions") or []
            )

        self.poll_until("the CRD to be Established", established, timeout=60, interval=0.5)

    # -- phases --------------------------------------------------------------------------------
    def control_plane_cpu(self) -> dict[str, float]:
        """Component -> CPU seconds it used so far (API server, etcd, controllers, scheduler,
        each zone's kwok), from their /proc entries."""
        try:
            pids = json.loads((self.cluster.state_dir / "state.json").read_text())["pids"]
        except (OSError, ValueError, KeyError):
            return {}
        used: dict[str, float] = {}
        for component, pid in pids.items():
            with contextlib.suppress(OSError, IndexError, ValueError):
                used[component] = process_cpu_seconds(int(pid))
        return used

    def mark(self, name: str) -> Phase:
        self.op.check()
        audit = self.cluster.audit_log
        return Phase(
            name=name,
            cpu=self.op.cpu_seconds(),
            requests=self.op.api_requests(),
            started=time.monotonic(),
            audit_offset=audit.stat().st_size if self.args.audit and audit.exists() else 0,
            control_plane_cpu=self.control_plane_cpu(),
            reconciles=self.op.reconciles(),
            bench_cpu=sum(os.times()[:2]),
            status_writes=self.op.status_writes(),
            api_seconds=self.op.api_seconds(),
        )

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[Phase]:
        start = self.mark(name)
        if self.profiler is not None:
            self.profiler.start(name)
        try:
            yield start
        finally:
            if self.profiler is not None:
                self.profiler.stop()
        end = self.mark(name)
        self.phases.append((start, end))
        self.report_phase(start, end)

    def report_phase(self, start: Phase, end: Phase) -> None:
        """The rows and figures of one phase: what the operator and the control plane spent."""
        name = start.name
        delta = end.requests - start.requests
        cpu = end.cpu - start.cpu
        wall = end.started - start.started
        rss, _ = self.op.memory_mib()
        self.report.add(
            name,
            "operator CPU time",
            f"{cpu:.1f} s in {wall:.0f} s ({100 * cpu / max(wall, 1e-9):.0f}% of a core)",
        )
        self.report.add(name, "operator API requests", by_verb(delta))
        latency: dict[str, float] = {}
        for key, (count, total) in sorted(end.api_seconds.items()):
            count0, total0 = start.api_seconds.get(key, (0, 0.0))
            if key[0] not in READ_VERBS and count > count0:
                latency[f"{key[0]} {key[1]}"] = (total - total0) / (count - count0)
        if latency:
            self.report.add(
                name,
                "operator API writes: mean time each",
                ", ".join(f"{k} {1000 * t:.0f} ms" for k, t in latency.items()),
            )
        changes = end.status_writes - start.status_writes
        if changes:
            self.report.add(
                name,
                "status writes by kind of change",
                ", ".join(f"{kind} {n}" for kind, n in changes.most_common()),
            )
        count = end.reconciles[0] - start.reconciles[0]
        busy = end.reconciles[1] - start.reconciles[1]
        self.report.add(
            name,
            "reconciles (mean wall time each)",
            f"{count} ({1000 * busy / max(count, 1):.0f} ms)",
        )
        self.report.add(name, "operator RSS at end", f"{rss:.0f} MiB")
        control_plane = {
            c: t - start.control_plane_cpu.get(c, 0.0) for c, t in end.control_plane_cpu.items()
        }
        self.report.add(
            name,
            "control plane / this benchmark's CPU time",
            f"{sum(control_plane.values()):.0f} s / {end.bench_cpu - start.bench_cpu:.0f} s",
        )
        self.report.add(
            name,
            "control plane CPU time by component",
            ", ".join(
                f"{c} {t:.0f} s" for c, t in sorted(control_plane.items(), key=lambda i: -i[1])
            ),
        )
        self.report.figures.setdefault("phases", {})[name] = {
            "wall_seconds": round(wall, 1),
            "operator_cpu_seconds": round(cpu, 2),
            "operator_requests": {f"{v} {r}": n for (v, r), n in sorted(delta.items()) if n},
            "operator_writes": writes(delta),
            "status_writes": dict(changes),
            "write_seconds_mean": {k: round(t, 3) for k, t in latency.items()},
            "reconciles": count,
            "reconcile_seconds": round(busy, 1),
            "operator_rss_mib": round(rss, 1),
            "control_plane_cpu_seconds": {c: round(t, 1) for c, t in control_plane.items()},
        }

    # -- waiting -------------------------------------------------------------------------------
    def poll_until(
        self, what: str, done: Callable[[float], bool], timeout: float, interval: float
    ) -> None:
        """Call done(seconds since start) every `interval` until it is true."""
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            if done(elapsed):
                return
            if self.operator is not None:
                self.operator.check()
            if elapsed > timeout:
                raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(max(0.0, interval - (time.monotonic() - started - elapsed)))

    def settle(self, what: str) -> float:
        """Wait until the operator has written nothing for --settle-seconds; returns when it
        last wrote (time.monotonic()). Its queue need not be empty: a node change re-queues
        every workload, and such reconciles that find nothing to do are not waited for."""
        started = time.monotonic()
        last_writes, quiet_since = self.op.writes(), time.monotonic()
        while True:
            time.sleep(1)
            now_writes = self.op.writes()
            if now_writes != last_writes:
                last_writes, quiet_since = now_writes, time.monotonic()
            elif time.monotonic() - quiet_since >= self.args.settle_seconds:
                return quiet_since
            if time.monotonic() - started > self.args.timeout:
                raise BenchError(f"the operator kept writing after {what}")

    # -- audit log cross-check -----------------------------------------------------------------
    def audit_cross_check(self) -> None:
        """Requests per phase as the API server recorded them, by user agent: the operator's
        writes come from the kubernetes client (OpenAPI-Generator/...), its lists and watches of
        nodes, Deployments and pods from its reflectors (zonal-operator), those of the
        ZonalWorkloads from kopf."""
        path = self.cluster.audit_log
        for start, end in self.phases:
            counts: Counter[str] = Counter()
            with path.open("rb") as audit:
                audit.seek(start.audit_offset)
                chunk = audit.read(max(0, end.audit_offset - start.audit_offset))
            for line in chunk.splitlines():
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    agent = str(event.get("userAgent", ""))
                    who = next(
                        (
                            name
                            for prefix, name in (
                                ("OpenAPI-Generator", "client"),
                                ("zonal-operator", "reflectors"),
                                ("kopf", "kopf"),
                            )
                            if agent.startswith(prefix)
                        ),
                        None,
                    )
                    if who is None:
                        continue
                    verb, stage = event.get("verb"), event.get("stage")
                    if (verb == "watch") == (stage == "ResponseStarted") and stage in (
                        "ResponseStarted",
                        "ResponseComplete",
                    ):
                        resource = event.get("objectRef", {}).get("resource", "?")
                        sub = event.get("objectRef", {}).get("subresource")
                        counts[f"{who} {verb} {resource}{'/' + sub if sub else ''}"] += 1
            summary = ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "none"
            self.report.add(start.name, "audit log: operator requests", summary)
