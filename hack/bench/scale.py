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

Run it with the project's virtualenv (it starts `python -m zonal_operator run` with the same
interpreter); --help lists the knobs. --write-doc puts the figures into docs/benchmarks.md,
between the bench-scale markers.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

from localcluster import ClusterConfig, LocalCluster  # noqa: E402
from zonal_operator.core.naming import deployment_name  # noqa: E402

CRD = REPO / "crds" / "zonal.dev_zonalworkloads.yaml"
DOC = REPO / "docs" / "benchmarks.md"
DOC_START, DOC_END = "<!-- bench-scale:start -->", "<!-- bench-scale:end -->"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
MANAGED = "app.kubernetes.io/managed-by=zonal-operator"
WORKLOAD_LABEL = "zonal.dev/workload"
ZONE_LABEL = "zonal.dev/zone"  # a PerZone pod's zone
NODE_ZONE_LABEL = "topology.kubernetes.io/zone"
READ_VERBS = frozenset({"get", "list", "watch"})
USER_AGENT = "zonal-bench-scale"


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


class BenchError(RuntimeError):
    """The benchmark could not go on; the message says why."""


# -- the API, as plain HTTP -----------------------------------------------------------------------
class ApiError(BenchError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


class Api:
    """A minimal client for the local cluster's kubeconfig (a bearer token and a CA): one
    keep-alive connection per thread, JSON in and out."""

    def __init__(self, kubeconfig: Path) -> None:
        cfg = json.loads(kubeconfig.read_text())
        cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
        server = urllib.parse.urlsplit(cluster["server"])
        self.host, self.port = server.hostname or "127.0.0.1", server.port or 443
        self.context = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
        self.headers = {"Authorization": f"Bearer {user['token']}", "User-Agent": USER_AGENT}
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPSConnection:
        conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                self.host, self.port, context=self.context, timeout=120
            )
            self._local.conn = conn
        return conn

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        *,
        body: Any = None,
        accept: str = "application/json",
        content_type: str = "application/json",
    ) -> Any:
        url = path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {**self.headers, "Accept": accept}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, url, body=payload, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
                continue
            if response.status >= 400:
                raise ApiError(response.status, data.decode(errors="replace"))
            return json.loads(data) if data else {}
        raise AssertionError("unreachable")

    def table(self, path: str, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """A list as the server-side Table kubectl prints: column name -> cell, per row."""
        data = self.request("GET", path, {**query, "includeObject": "None"}, accept=TABLE)
        columns = [c["name"] for c in data.get("columnDefinitions") or []]
        return [dict(zip(columns, row["cells"], strict=False)) for row in data.get("rows") or []]


# -- the operator process -----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


class Operator:
    """`python -m zonal_operator run` against the cluster, metrics on a free local port."""

    def __init__(self, kubeconfig: Path, log_path: Path, args: Sequence[str]) -> None:
        self.kubeconfig, self.log_path, self.args = kubeconfig, log_path, list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = 0
        self.command: list[str] = []

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> None:
        self.metrics_port = free_port()
        self.command = [
            sys.executable, "-m", "zonal_operator", "run",
            "--kubeconfig", str(self.kubeconfig),
            "--metrics-port", str(self.metrics_port),
            "--metrics-address", "127.0.0.1",
            "--liveness", f"http://127.0.0.1:{free_port()}/healthz",
            *self.args,
        ]  # fmt: skip
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            with contextlib.suppress(OSError):
                self.scrape("zonal_operator_workloads")
                return
            time.sleep(0.2)
        raise BenchError(f"the operator served no metrics within {timeout:.0f}s: {self.log_path}")

    def check(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise BenchError(f"the operator is not running; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def scrape(self, *names: str) -> str:
        """The metrics text; only the named series when names are given (with 1000 workloads
        the per-zone gauges are tens of thousands of lines, which cost the operator CPU)."""
        query = urllib.parse.urlencode([("name[]", n) for n in names])
        url = f"http://127.0.0.1:{self.metrics_port}/metrics" + (f"?{query}" if query else "")
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    def requests(self) -> Counter[tuple[str, str]]:
        """(verb, resource) -> requests sent so far, from zonal_operator_api_requests_total."""
        counts: Counter[tuple[str, str]] = Counter()
        text = self.scrape("zonal_operator_api_requests_total")
        for family in text_string_to_metric_families(text):
            if family.name != "zonal_operator_api_requests":
                continue
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[(sample.labels["verb"], sample.labels["resource"])] += int(sample.value)
        return counts

    def api_seconds(self) -> dict[tuple[str, str], tuple[int, float]]:
        """(verb, resource) -> (requests timed, seconds they took) so far, from
        zonal_operator_api_request_duration_seconds."""
        name = "zonal_operator_api_request_duration_seconds"
        found: dict[tuple[str, str], tuple[int, float]] = {}
        for family in text_string_to_metric_families(self.scrape(f"{name}_count", f"{name}_sum")):
            for sample in family.samples:
                key = (sample.labels["verb"], sample.labels["resource"])
                count, total = found.get(key, (0, 0.0))
                if sample.name == f"{name}_count":
                    count = int(sample.value)
                elif sample.name == f"{name}_sum":
                    total = float(sample.value)
                found[key] = (count, total)
        return found

    def status_writes(self) -> Counter[str]:
        """Kind of change -> status writes so far, from zonal_operator_status_writes_total."""
        counts: Counter[str] = Counter()
        text = self.scrape("zonal_operator_status_writes_total")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "zonal_operator_status_writes_total":
                    counts[sample.labels["change"]] += int(sample.value)
        return counts

    def reconciles(self) -> tuple[int, float]:
        """(reconciles done, seconds spent in them) so far, from the reconcile histogram."""
        name = "zonal_operator_reconcile_duration_seconds"
        count, total = 0, 0.0
        for family in text_string_to_metric_families(self.scrape(f"{name}_count", f"{name}_sum")):
            for sample in family.samples:
                if sample.name == f"{name}_count":
                    count = int(sample.value)
                elif sample.name == f"{name}_sum":
                    total = float(sample.value)
        return count, total

    def gauge(self, name: str) -> float:
        for family in text_string_to_metric_families(self.scrape(name)):
            for sample in family.samples:
                if sample.name == name:
                    return float(sample.value)
        return 0.0

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def memory_mib(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MiB: resident memory now, and its peak."""
        values: dict[str, float] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def writes(counts: Mapping[tuple[str, str], int]) -> int:
    return sum(n for (verb, _), n in counts.items() if verb not in READ_VERBS)


def by_verb(counts: Mapping[tuple[str, str], int]) -> str:
    """'patch zonalworkloads/status 12, create events 3' (empty: 'none')."""
    parts = [f"{verb} {resource} {n}" for (verb, resource), n in sorted(counts.items()) if n]
    return ", ".join(parts) or "none"


# -- optional profiling with py-spy --------------------------------------------------------------
class Profiler:
    """py-spy record of the operator during a phase, as collapsed stacks plus a summary."""

    def __init__(self, py_spy: str, pid: int, out_dir: Path, rate: int) -> None:
        self.py_spy, self.pid, self.out_dir, self.rate = py_spy, pid, out_dir, rate
        self.proc: subprocess.Popen[bytes] | None = None
        self.phase = ""

    def start(self, phase: str) -> None:
        self.phase = phase.split(maxsplit=1)[0]
        raw = self.out_dir / f"profile-{self.phase}.txt"
        command = [self.py_spy, "record", "--pid", str(self.pid), "--rate", str(self.rate)]
        # --gil: only the thread holding the GIL, i.e. where the operator spends CPU (threads
        # blocked on a socket would otherwise show up as busy).
        command += ["--nonblocking", "--gil", "--function", "--format", "raw", "--output", str(raw)]
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=(self.out_dir / f"profile-{self.phase}.log").open("wb"),
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        raw = self.out_dir / f"profile-{self.phase}.txt"
        if raw.exists():
            summary = summarize_profile(raw.read_text())
            (self.out_dir / f"profile-{self.phase}-top.txt").write_text(summary)
            log(f"profile of {self.phase}: {raw}\n{summary}")


# Frames every sample passes through (interpreter start, event loop, thread pool): not news.
_SCAFFOLDING = re.compile(
    r"\((<frozen runpy>|asyncio/|threading\.py|concurrent/futures/|zonal_operator/(cli|__main__)"
    r"\.py|kopf/_core/reactor/running\.py)"
)


def summarize_profile(raw: str, top: int = 25) -> str:
    """The functions with the most samples, inclusive and self, from py-spy's raw format."""
    total, inclusive, own = 0, Counter[str](), Counter[str]()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        total += n
        for frame in set(frames):
            if not _SCAFFOLDING.search(frame):
                inclusive[frame] += n
        own[frames[-1]] += n
    if not total:
        return "no samples\n"
    lines = [f"{total} samples", "", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines) + "\n"


# -- the workloads ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fleet:
    """The benchmark's workloads: globally unique names, spread round-robin over namespaces."""

    names: tuple[str, ...]
    namespace_of: Mapping[str, str]
    zones: tuple[str, ...]
    replicas: int
    # Deployment name -> (workload, zone); names are unique cluster-wide (Tables carry none).
    deployments: Mapping[str, tuple[str, str]]

    @classmethod
    def build(cls, count: int, namespaces: int, zones: Sequence[str], replicas: int) -> Fleet:
        width = len(str(max(count - 1, 0)))
        names = tuple(f"w{i:0{width}d}" for i in range(count))
        namespace_of = {name: f"bench-{i % namespaces}" for i, name in enumerate(names)}
        deployments = {deployment_name(n, z): (n, z) for n in names for z in zones}
        return cls(names, namespace_of, tuple(zones), replicas, deployments)

    @property
    def namespaces(self) -> list[str]:
        return sorted(set(self.namespace_of.values()))

    def even(self) -> dict[str, int]:
        base, extra = divmod(self.replicas, len(self.zones))
        return {z: base + (1 if i < extra else 0) for i, z in enumerate(self.zones)}


def workload_body(name: str, namespace: str, replicas: int, failover: Mapping[str, int]) -> Any:
    return {
        "apiVersion": "zonal.dev/v1alpha1",
        "kind": "ZonalWorkload",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "failover": dict(failover),
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                        }
                    ]
                },
            },
        },
    }


@dataclass
class Zoned:
    """One workload's Deployments in one poll: zone -> desired (spec) and Ready replicas."""

    desired: dict[str, int] = field(default_factory=dict)
    ready: dict[str, int] = field(default_factory=dict)


def poll_deployments(api: Api, fleet: Fleet) -> dict[str, Zoned]:
    """Every workload's Deployments, from one Table list (READY is `ready/spec.replicas`)."""
    found: dict[str, Zoned] = {name: Zoned() for name in fleet.names}
    for row in api.table("/apis/apps/v1/deployments", {"labelSelector": MANAGED}):
        owner = fleet.deployments.get(row["Name"])
        if owner is None:
            continue
        ready, _, desired = str(row["Ready"]).partition("/")
        zoned = found[owner[0]]
        zoned.desired[owner[1]], zoned.ready[owner[1]] = int(desired), int(ready)
    return found


def running_pods(api: Api) -> int:
    """Pods of ZonalWorkloads that are Running and not being deleted."""
    rows = api.table(
        "/api/v1/pods",
        {"labelSelector": WORKLOAD_LABEL, "fieldSelector": "status.phase=Running"},
    )
    return sum(1 for row in rows if row.get("Status") == "Running")


def pod_nodes(api: Api, zone: str) -> dict[str, set[str]]:
    """Per workload, the nodes its pods in the zone run on."""
    found: dict[str, set[str]] = {}
    pods = api.request("GET", "/api/v1/pods", {"labelSelector": f"{ZONE_LABEL}={zone}"})
    for pod in pods["items"]:
        workload = (pod["metadata"].get("labels") or {}).get(WORKLOAD_LABEL)
        node = pod["spec"].get("nodeName")
        if workload and node:
            found.setdefault(workload, set()).add(node)
    return found


def list_workloads(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.request("GET", "/apis/zonal.dev/v1alpha1/zonalworkloads")[
        "items"
    ]
    return items


def workload_table(api: Api) -> list[dict[str, Any]]:
    """Every ZonalWorkload as a Table row (the CRD's printer columns: Status is Ready's)."""
    return api.table("/apis/zonal.dev/v1alpha1/zonalworkloads", {})


def condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    found: Mapping[str, Any] = next((c for c in conditions if c.get("type") == type_), {})
    return found


def ready_and_current(obj: Mapping[str, Any]) -> bool:
    status = obj.get("status") or {}
    return (
        status.get("observedGeneration") == obj["metadata"].get("generation")
        and condition(obj, "Ready").get("status") == "True"
    )


def zone_entry(obj: Mapping[str, Any], zone: str) -> Mapping[str, Any]:
    zones = (obj.get("status") or {}).get("zones") or []
    found: Mapping[str, Any] = next((z for z in zones if z.get("name") == zone), {})
    return found


@dataclass(frozen=True)
class NodeReadiness:
    name: str
    ready: bool
    since: float | None  # lastTransitionTime of the Ready condition (epoch seconds)


def zone_nodes(api: Api, zone: str) -> list[NodeReadiness]:
    items = api.request("GET", "/api/v1/nodes", {"labelSelector": f"{NODE_ZONE_LABEL}={zone}"})
    result = []
    for node in items["items"]:
        ready: Mapping[str, Any] = next(
            (c for c in node["status"].get("conditions") or [] if c["type"] == "Ready"), {}
        )
        result.append(
            NodeReadiness(
                node["metadata"]["name"],
                ready.get("status") == "True",
                epoch(ready.get("lastTransitionTime")),
            )
        )
    return result


def epoch(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def kth(values: Iterable[float | None], k: int) -> float | None:
    known = sorted(v for v in values if v is not None)
    return known[k - 1] if len(known) >= k else None


# -- results ------------------------------------------------------------------------------------
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


# -- the benchmark ------------------------------------------------------------------------------
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


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out: Path = args.out
        self.cluster_config = ClusterConfig(
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
        self.cluster = LocalCluster(self.out / "cluster", self.cluster_config)
        self.failover = {
            "gracePeriodSeconds": args.grace_seconds,
            "failbackDelaySeconds": args.failback_delay_seconds,
            "tolerationSeconds": args.toleration_seconds,
        }
        self.fleet = Fleet.build(
            args.workloads, args.namespaces, self.cluster_config.zone_names(), args.replicas
        )
        self.zone = args.zone or self.fleet.zones[0]
        self.report = Report()
        self.operator: Operator | None = None
        self.profiler: Profiler | None = None
        self.api: Api | None = None
        self.phases: list[tuple[Phase, Phase]] = []

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def op(self) -> Operator:
        assert self.operator is not None
        return self.operator

    @property
    def kube(self) -> Api:
        assert self.api is not None
        return self.api

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
            requests=self.op.requests(),
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
        last_writes, quiet_since = writes(self.op.requests()), time.monotonic()
        while True:
            time.sleep(1)
            now_writes = writes(self.op.requests())
            if now_writes != last_writes:
                last_writes, quiet_since = now_writes, time.monotonic()
            elif time.monotonic() - quiet_since >= self.args.settle_seconds:
                return quiet_since
            if time.monotonic() - started > self.args.timeout:
                raise BenchError(f"the operator kept writing after {what}")

    # -- run -----------------------------------------------------------------------------------
    def run(self) -> Report:
        args = self.args
        self.out.mkdir(parents=True, exist_ok=True)
        log(
            f"cluster: {args.zones} zones x {args.nodes_per_zone} KWOK nodes "
            f"in {self.cluster.state_dir}"
        )
        started = time.monotonic()
        self.cluster.up(timeout=600)
        self.report.figures["cluster_up_seconds"] = round(time.monotonic() - started, 1)
        try:
            self.api = Api(self.cluster.kubeconfig)
            self.install_crd()
            for namespace in self.fleet.namespaces:
                self.kube.request(
                    "POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}}
                )
            operator_args = ["--workers", str(args.workers), "--log-format", "full"]
            operator_args += args.operator_arg
            self.operator = Operator(
                self.cluster.kubeconfig, self.out / "operator.log", operator_args
            )
            self.op.start()
            log(f"operator pid {self.op.pid}: {' '.join(self.op.command)}")
            if args.profile:
                py_spy = args.py_spy or shutil.which("py-spy")
                if not py_spy:
                    raise BenchError("--profile needs py-spy (pip install py-spy) or --py-spy")
                self.profiler = Profiler(py_spy, self.op.pid, self.out, args.profile_rate)
            with self.phase("converge"):
                self.converge()
            with self.phase(f"idle {args.idle_seconds:.0f} s"):
                self.idle()
            with self.phase("zone loss"):
                self.zone_loss()
            with self.phase("recovery"):
                self.recovery()
            _, hwm = self.op.memory_mib()
            self.report.figures["operator_peak_rss_mib"] = round(hwm, 1)
            self.report.add(
                "whole run",
                "operator peak memory (VmHWM)",
                f"{hwm:.0f} MiB",
                "< 300 MiB",
                hwm < 300,
            )
            self.report.add("whole run", "operator CPU time", f"{self.op.cpu_seconds():.0f} s")
            if args.audit:
                self.audit_cross_check()
        finally:
            if self.profiler is not None:
                self.profiler.stop()
            if self.operator is not None:
                self.operator.stop()
            if args.keep_cluster:
                log(f"cluster left running: export KUBECONFIG={self.cluster.kubeconfig}")
            else:
                self.cluster.down()
        return self.report

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

    # -- 1. converge ---------------------------------------------------------------------------
    def converge(self) -> None:
        fleet, args = self.fleet, self.args
        total_pods = len(fleet.names) * fleet.replicas
        log(
            f"converge: creating {len(fleet.names)} ZonalWorkloads of {fleet.replicas} replicas "
            f"in {len(fleet.namespaces)} namespaces"
        )
        t0 = time.monotonic()

        def create(name: str) -> None:
            namespace = fleet.namespace_of[name]
            body = workload_body(name, namespace, fleet.replicas, self.failover)
            path = f"/apis/zonal.dev/v1alpha1/namespaces/{namespace}/zonalworkloads"
            self.kube.request("POST", path, body=body)

        with ThreadPoolExecutor(args.create_threads) as pool:
            list(pool.map(create, fleet.names))
        created = time.monotonic() - t0
        log(f"created in {created:.1f}s")

        even = fleet.even()
        t_deployments: float | None = None
        t_converged: float | None = None
        t_pods: float | None = None

        def done(_: float) -> bool:
            nonlocal t_deployments, t_converged, t_pods
            now = time.monotonic() - t0
            deps = poll_deployments(self.kube, fleet)
            right = sum(1 for z in deps.values() if z.desired == even)
            if t_deployments is None and right == len(fleet.names):
                t_deployments = now
            progress = f"  {now:5.0f}s  Deployments right {right}/{len(fleet.names)}"
            if t_converged is None:
                # The Table's Status column is the Ready condition; only once every row says
                # True is the full list read, to check observedGeneration too.
                ready = sum(1 for row in workload_table(self.kube) if row.get("Status") == "True")
                progress += f"  status Ready {ready}"
                if ready == right == len(fleet.names) and all(
                    ready_and_current(w) for w in list_workloads(self.kube)
                ):
                    t_converged = now
            if t_pods is None:
                running = running_pods(self.kube)
                progress += f"  pods Running {running}/{total_pods}"
                if running == total_pods:
                    t_pods = now
            log(progress)
            return t_converged is not None and t_pods is not None

        self.poll_until("convergence", done, args.timeout, args.poll_seconds)
        quiet = self.settle("converging") - t0
        self.report.add("converge", f"create {len(fleet.names)} ZonalWorkloads", seconds(created))
        self.report.add(
            "converge", "every workload's Deployments at the right replicas", seconds(t_deployments)
        )
        self.report.add(
            "converge",
            "... and status Ready (observedGeneration current)",
            seconds(t_converged),
            "<= 120 s",
            t_converged is not None and t_converged <= 120,
        )
        self.report.add("converge", f"all {total_pods} pods Running", seconds(t_pods))
        self.report.add("converge", "operator done writing", seconds(quiet))
        self.report.figures["converge"] = {
            "create_seconds": round(created, 1),
            "deployments_seconds": t_deployments,
            "status_ready_seconds": t_converged,
            "operator_done_seconds": round(quiet, 1),
            "pods_running_seconds": t_pods,
        }

    # -- 2. idle -------------------------------------------------------------------------------
    def idle(self) -> None:
        seconds_ = self.args.idle_seconds
        log(f"idle: {seconds_:.0f}s with nothing changing")
        before = self.op.requests()
        deadline = time.monotonic() + seconds_
        while time.monotonic() < deadline:
            self.op.check()
            time.sleep(min(10.0, max(0.0, deadline - time.monotonic())))
        delta = self.op.requests() - before
        self.report.add(
            f"idle {seconds_:.0f} s",
            "operator writes",
            str(writes(delta)),
            "0",
            writes(delta) == 0,
        )

    # -- 3. zone loss --------------------------------------------------------------------------
    def zone_loss(self) -> None:
        fleet, zone, args = self.fleet, self.zone, self.args
        replicas = fleet.replicas
        nodes = len(zone_nodes(self.kube, zone))
        log(f"zone loss: {zone} ({nodes} nodes) goes down")
        placed = pod_nodes(self.kube, zone)
        before = self.op.requests()
        t_down = time.time()
        self.cluster.zone_down(zone)
        t0 = time.monotonic()
        all_not_ready_seen: float | None = None
        reacted: dict[str, float] = {}
        moved: dict[str, float] = {}
        restored: dict[str, float] = {}
        cpu: list[tuple[float, float]] = []  # (time, operator CPU seconds so far)

        def done(_: float) -> bool:
            nonlocal all_not_ready_seen
            now = time.time()
            cpu.append((now, self.op.cpu_seconds()))
            if all_not_ready_seen is None and not any(n.ready for n in zone_nodes(self.kube, zone)):
                all_not_ready_seen = now
                log(f"  all {nodes} nodes of {zone} NotReady after {now - t_down:.0f}s")
            for name, zoned in poll_deployments(self.kube, fleet).items():
                if name in restored:
                    continue
                others = sum(n for z, n in zoned.desired.items() if z != zone)
                ready = sum(n for z, n in zoned.ready.items() if z != zone)
                gone = zoned.desired.get(zone, 0) == 0
                if others >= replicas:
                    reacted.setdefault(name, now)
                if gone and others == replicas:
                    moved.setdefault(name, now)
                    if ready >= replicas:
                        restored[name] = now
            log(
                f"  {now - t_down:5.0f}s  scaled up {len(reacted)}  moved {len(moved)}  "
                f"Ready again {len(restored)} of {len(fleet.names)}"
            )
            return len(restored) == len(fleet.names)

        self.poll_until(f"every workload to leave {zone}", done, args.timeout, 1.0)
        quiet = self.settle("the zone loss") - t0
        delta = self.op.requests() - before
        log(f"  the operator's last write: {quiet:.0f}s after the zone went down")

        # When did each workload judge the zone unhealthy? Its status says since when the zone
        # has been failing (derived from the nodes' Ready transitions); add the grace period.
        judged: dict[str, float] = {}
        unhealthy = 0
        for obj in list_workloads(self.kube):
            entry = zone_entry(obj, zone)
            since = epoch(entry.get("unhealthySince"))
            if since is not None:
                judged[obj["metadata"]["name"]] = since + args.grace_seconds
            unhealthy += entry.get("health") == "Unhealthy"
        readiness = zone_nodes(self.kube, zone)
        all_not_ready_at = max((n.since or 0.0) for n in readiness)
        missing = sorted(set(fleet.names) - set(judged))
        if missing:
            raise BenchError(f"{len(missing)} workloads report no unhealthySince: {missing[:5]}")
        judged_at = min(judged.values())
        react = [reacted[n] - judged[n] for n in fleet.names]
        move = [moved[n] - judged[n] for n in fleet.names]
        # Its zone's pods serve until the node lifecycle controller marks their nodes, and the
        # operator cuts them no sooner (or once the replacements are Ready).
        marked_at = {n.name: n.since or 0.0 for n in readiness if not n.ready}
        cuttable = {
            name: max([judged[name], *(marked_at.get(node, 0.0) for node in placed.get(name, ()))])
            for name in fleet.names
        }
        back = [restored[n] - judged[n] for n in fleet.names]
        phase = "zone loss"
        self.report.add(
            phase,
            f"{zone} nodes all NotReady (from Ready transitions)",
            f"{all_not_ready_at - t_down:.0f} s after the outage",
        )
        self.report.add(
            phase,
            "zone judged unhealthy (status unhealthySince + grace)",
            f"{judged_at - t_down:.0f} s after the outage (grace {args.grace_seconds} s)",
        )
        self.report.add(phase, "judged -> replacement replicas requested", spread(react))
        self.report.add(
            phase,
            f"judged -> Deployments rescaled ({zone} 0, others {replicas})",
            spread(move),
            "max <= 30 s",
            max(move) <= 30,
        )
        self.report.add(
            phase,
            f"judged -> the nodes of its {zone} pods NotReady (the cut may come then)",
            spread([cuttable[n] - judged[n] for n in fleet.names]),
        )
        self.report.add(
            phase,
            "... then -> Deployments rescaled",
            spread([moved[n] - cuttable[n] for n in fleet.names]),
        )
        self.report.add(phase, "judged -> Ready replicas back", spread(back))
        window = (judged_at, max(moved.values()))
        inside = [(t, c) for t, c in cpu if window[0] <= t <= window[1]]
        if len(inside) >= 2 and inside[-1][0] > inside[0][0]:
            busy = (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])
            self.report.add(
                phase,
                "operator CPU from judged to all rescaled",
                f"{100 * busy:.0f}% of a core over {window[1] - window[0]:.0f} s",
            )
        self.report.add(
            phase, f"workloads reporting {zone} Unhealthy", f"{unhealthy} of {len(fleet.names)}"
        )
        per_workload = writes(delta) / len(fleet.names)
        self.report.add(
            phase,
            "operator writes (until quiet)",
            f"{writes(delta)} ({per_workload:.1f} per workload)",
            "a few (<= 5) per workload",
            per_workload <= 5,
        )
        self.report.figures["zone_loss"] = {
            "zone": zone,
            "all_not_ready_after_seconds": round(all_not_ready_at - t_down, 1),
            "judged_after_seconds": round(judged_at - t_down, 1),
            "requested_after_judged_max": round(max(react), 1),
            "moved_after_judged_max": round(max(move), 1),
            "moved_after_judged_p50": round(statistics.median(move), 1),
            "moved_after_nodes_marked_max": round(
                max(moved[n] - cuttable[n] for n in fleet.names), 1
            ),
            "ready_after_judged_max": round(max(back), 1),
            "writes": writes(delta),
            "writes_by_verb": {f"{v} {r}": n for (v, r), n in sorted(delta.items()) if n},
        }

    # -- 4. recovery ---------------------------------------------------------------------------
    def recovery(self) -> None:
        fleet, zone, args = self.fleet, self.zone, self.args
        replicas, even = fleet.replicas, fleet.even()
        log(f"recovery: {zone} comes back (failback delay {args.failback_delay_seconds}s)")
        before = self.op.requests()
        t_up = time.time()
        self.cluster.zone_up(zone)
        lowest = dict.fromkeys(fleet.names, replicas)
        samples = 0
        rebalanced: dict[str, float] = {}
        recovering_since: dict[str, float] = {}
        last_status_poll = 0.0

        def done(_: float) -> bool:
            nonlocal samples, last_status_poll
            now = time.time()
            samples += 1
            for name, zoned in poll_deployments(self.kube, fleet).items():
                lowest[name] = min(lowest[name], sum(zoned.ready.values()))
                if name not in rebalanced and zoned.desired == even and zoned.ready == even:
                    rebalanced[name] = now
            # The per-workload failback clock starts when the workload saw the zone healthy
            # (status healthySince while Recovering): read it until every workload reported it.
            if len(recovering_since) < len(fleet.names) and now - last_status_poll >= 5:
                last_status_poll = now
                for obj in list_workloads(self.kube):
                    entry = zone_entry(obj, zone)
                    since = epoch(entry.get("healthySince"))
                    if entry.get("health") == "Recovering" and since is not None:
                        recovering_since.setdefault(obj["metadata"]["name"], since)
            log(
                f"  {now - t_up:5.0f}s  seen Recovering {len(recovering_since)}  "
                f"rebalanced {len(rebalanced)} of {len(fleet.names)}"
            )
            return len(rebalanced) == len(fleet.names)

        self.poll_until(f"every workload back in {zone}", done, args.timeout, args.poll_seconds)
        self.settle("the recovery")
        delta = self.op.requests() - before
        final = list_workloads(self.kube)
        healthy = sum(1 for obj in final if zone_entry(obj, zone).get("health") == "Healthy")
        ready = sum(1 for obj in final if ready_and_current(obj))
        readiness = zone_nodes(self.kube, zone)
        # The zone is healthy again once enough of its nodes are (the operator's rule with the
        # default unhealthyNodePercent 50): the m-th earliest Ready transition.
        needed = len(readiness) - max(1, -(-len(readiness) * 50 // 100)) + 1
        nodes_healthy_at = kth((n.since for n in readiness if n.ready), needed)
        delay = args.failback_delay_seconds
        phase = "recovery"
        if nodes_healthy_at is not None:
            self.report.add(
                phase,
                f"{zone} healthy again (enough nodes Ready)",
                f"{max(0.0, nodes_healthy_at - t_up):.0f} s after it came back",
            )
        if recovering_since:
            noticed = [recovering_since[n] - (nodes_healthy_at or t_up) for n in recovering_since]
            self.report.add(
                phase, "nodes healthy -> workload Recovering (healthySince)", spread(noticed)
            )
        due = {n: recovering_since.get(n, nodes_healthy_at or t_up) + delay for n in fleet.names}
        lag = [rebalanced[n] - due[n] for n in fleet.names]
        self.report.add(
            phase,
            f"failback due (healthySince + {delay} s) -> rebalanced (even, all Ready)",
            spread(lag),
        )
        self.report.add(
            phase,
            "zone back -> every workload rebalanced",
            f"{max(rebalanced.values()) - t_up:.0f} s",
        )
        dipped = sorted(n for n, low in lowest.items() if low < replicas)
        self.report.add(
            phase,
            f"lowest Ready replicas of any workload ({samples} samples)",
            f"{min(lowest.values())} (requested {replicas}); {len(dipped)} dipped below",
            f">= {replicas}",
            not dipped,
        )
        self.report.add(
            phase,
            f"workloads reporting {zone} Healthy and Ready",
            f"{healthy} / {ready} of {len(fleet.names)}",
        )
        self.report.add(
            phase,
            "operator writes (until quiet)",
            f"{writes(delta)} ({writes(delta) / len(fleet.names):.1f} per workload)",
        )
        self.report.figures["recovery"] = {
            "healthy_after_seconds": None
            if nodes_healthy_at is None
            else round(nodes_healthy_at - t_up, 1),
            "rebalanced_after_due_max": round(max(lag), 1),
            "rebalanced_after_up_max": round(max(rebalanced.values()) - t_up, 1),
            "lowest_ready": min(lowest.values()),
            "dipped": dipped[:20],
            "samples": samples,
            "writes": writes(delta),
            "writes_by_verb": {f"{v} {r}": n for (v, r), n in sorted(delta.items()) if n},
        }

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


# -- the doc section ------------------------------------------------------------------------------
def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return (
        f"{os.cpu_count()} cores ({model or platform.processor() or 'unknown CPU'}){memory}, "
        + (f"Linux {platform.release()}, Python {platform.python_version()}")
    )


def revision() -> str:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "operator")
    return commit + (" (operator/ with uncommitted changes)" if dirty else "")


def settings_text(bench: Bench) -> list[str]:
    args, cfg = bench.args, bench.cluster_config
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
        f"- Phases: idle {args.idle_seconds:.0f} s; {bench.zone} is the zone lost (its kwok "
        f"frozen with SIGSTOP, then resumed); polls every {args.poll_seconds:.0f} s (1 s during "
        f"the zone loss); a phase ends once the operator has written nothing for "
        f"{args.settle_seconds:.0f} s.",
    ]


def doc_section(bench: Bench, report: Report) -> str:
    command = "python hack/bench/scale.py " + " ".join(bench.args.argv)
    lines = [
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, commit {revision()}, "
        f"machine: {machine()}. Written by `{command.strip()}`; rerun it rather than editing "
        "this section.",
        "",
        *settings_text(bench),
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
        "zone is judged unhealthy at each workload's `status.zones[].unhealthySince` (the "
        "moment enough of the zone's nodes had turned NotReady) plus its gracePeriodSeconds; "
        "the failback is due at the `healthySince` the workload reported while Recovering plus "
        "failbackDelaySeconds. Times are from polls, so they carry up to one poll interval "
        "(and the timestamps' 1 s resolution) of error. The control plane runs on the same "
        "cores, so the operator competes with it for CPU.",
    ]
    return "\n".join(lines)


def write_doc(
    path: Path,
    section: str,
    *,
    markers: tuple[str, str] = (DOC_START, DOC_END),
    heading: str = "## Scale: `make bench-scale`",
) -> None:
    """Replace the text between the markers (by default bench-scale's), leaving the rest of the
    file alone; a file without them gets them at its end, under the heading."""
    start_marker, end_marker = markers
    block = f"{start_marker}\n{section}\n{end_marker}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Benchmarks\n\n{heading}\n\n{block}\n")
        return
    text = path.read_text()
    start, end = text.find(start_marker), text.find(end_marker)
    if start >= 0 and end > start:
        text = text[:start] + block + text[end + len(end_marker) :]
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{block}\n"
    path.write_text(text)


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


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    bench = Bench(args)
    try:
        report = bench.run()
    except BenchError as exc:
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
        write_doc(args.doc, doc_section(bench, report))
        print(f"written into {args.doc}")
    missed = [r for r in report.rows if r.ok is False]
    if missed:
        print("targets missed: " + "; ".join(f"{r.phase}: {r.measure}" for r in missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
