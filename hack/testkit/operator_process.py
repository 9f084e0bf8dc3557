"""The operator under test or measurement: the real `zonal-operator run` process against a
cluster, its metrics on a free local port, and its own counters read back from them; and N
replicas of it electing a leader (`Replicas`)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from localcluster.ports import free_port
from testkit import HarnessError, metrics, procfs


class OperatorProcess:
    """`zonal-operator run` of this interpreter's environment, logging to `log_path`.

    It stands for leader election (the default) under `identity`, which stays the same across
    restarts of this object, as a pod's name does across restarts of its container: a process
    started again after a kill takes its own lease back at once. Replicas need distinct
    identities (`Replicas` gives them)."""

    def __init__(
        self,
        kubeconfig: Path,
        log_path: Path,
        extra_args: Sequence[str] = (),
        identity: str = "",
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.extra_args = list(extra_args)
        self.identity = identity or f"testkit-{log_path.parent.name}-{log_path.stem}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = 0
        self.liveness_port = 0
        self.command: list[str] = []

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30) -> None:
        """Start it and wait until it serves metrics."""
        self.launch()
        self.wait_started(timeout)

    def launch(self) -> None:
        """Start it, without waiting (`wait_started` waits): replicas start at once."""
        assert not self.running, "already running"
        self.metrics_port = free_port()
        self.liveness_port = free_port({self.metrics_port})
        exe = Path(sys.executable).parent / "zonal-operator"
        self.command = [
            str(exe), "run",
            "--kubeconfig", str(self.kubeconfig),
            "--metrics-port", str(self.metrics_port),
            "--metrics-address", "127.0.0.1",
            "--liveness", f"http://127.0.0.1:{self.liveness_port}/healthz",
            "--identity", self.identity,
            *self.extra_args,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {' '.join(self.command)}\n".encode())
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)

    def wait_started(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            with contextlib.suppress(OSError):
                self.scrape("zonal_operator_workloads")
                return
            time.sleep(0.2)
        raise HarnessError(f"the operator served no metrics within {timeout:.0f}s: {self.log_path}")

    def check(self) -> None:
        """Raise HarnessError unless it is running."""
        if not self.running:
            raise HarnessError(f"the operator is not running; see {self.log_path}")

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM, and SIGKILL if it has not exited within `timeout` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """Die at once, as a crashed or evicted pod does: no cleanup of any kind."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def signal(self, signum: int) -> None:
        """SIGSTOP, SIGCONT, SIGTERM...: freeze, resume or stop it without waiting."""
        assert self.proc is not None
        self.proc.send_signal(signum)

    def user_agent_fragment(self) -> str:
        """What its requests' User-Agent carries (`zonal-operator/<version> (<identity>)`)."""
        return f"({self.identity})"

    def leading(self) -> bool:
        """Whether it says it leads (the zonal_operator_leader gauge); False if it does not
        answer (stopped, frozen, dead)."""
        try:
            text = self.scrape(metrics.LEADER)
        except OSError:
            return False
        return metrics.gauge(text, metrics.LEADER) == 1

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    # -- its metrics ---------------------------------------------------------------------------
    def scrape(self, *names: str) -> str:
        """The metrics text; only the named series when names are given (with 1000 workloads
        the per-zone gauges are tens of thousands of lines, which cost the operator CPU)."""
        query = urllib.parse.urlencode([("name[]", n) for n in names])
        url = f"http://127.0.0.1:{self.metrics_port}/metrics" + (f"?{query}" if query else "")
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels` (0 if none)."""
        return metrics.sample_total(self.scrape(name), name, **labels)

    def api_requests(self) -> Counter[tuple[str, str]]:
        """(verb, resource) -> requests sent so far, from the operator's own counter."""
        return metrics.api_requests(self.scrape(metrics.API_REQUESTS))

    def writes(self) -> int:
        """Requests other than get, list and watch sent so far, its leader Lease's renewals
        aside (metrics.writes)."""
        return metrics.writes(self.api_requests())

    def api_seconds(self) -> dict[tuple[str, str], tuple[int, float]]:
        """(verb, resource) -> (requests timed, seconds they took) so far."""
        name = metrics.API_SECONDS
        return metrics.api_seconds(self.scrape(f"{name}_count", f"{name}_sum"))

    def status_writes(self) -> Counter[str]:
        """Kind of change -> status writes so far."""
        return metrics.status_writes(self.scrape(metrics.STATUS_WRITES))

    def reconciles(self) -> tuple[int, float]:
        """(reconciles done, seconds spent in them) so far, from the reconcile histogram."""
        name = metrics.RECONCILE_SECONDS
        return metrics.histogram_totals(self.scrape(f"{name}_count", f"{name}_sum"), name)

    # -- its process ---------------------------------------------------------------------------
    def cpu_seconds(self) -> float:
        return procfs.process_cpu_seconds(self.pid)

    def memory_mib(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MiB: resident memory now, and its peak."""
        return procfs.memory_mib(self.pid)


class Replicas:
    """N operator processes electing a leader on one Lease, with distinct identities
    (`<prefix>-0`, `<prefix>-1`...) and one log each in `log_dir`."""

    def __init__(
        self,
        kubeconfig: Path,
        log_dir: Path,
        count: int = 2,
        extra_args: Sequence[str] = (),
        prefix: str = "replica",
    ) -> None:
        self.members = [
            OperatorProcess(
                kubeconfig, log_dir / f"{prefix}-{i}.log", extra_args, identity=f"{prefix}-{i}"
            )
            for i in range(count)
        ]

    def __iter__(self) -> Iterator[OperatorProcess]:
        return iter(self.members)

    def __getitem__(self, index: int) -> OperatorProcess:
        return self.members[index]

    def start(self, timeout: float = 30) -> None:
        """Start every replica at once, and wait until each serves metrics."""
        for member in self.members:
            member.launch()
        for member in self.members:
            member.wait_started(timeout)

    def stop(self) -> None:
        for member in self.members:
            if member.proc is not None and member.proc.poll() is None:
                member.signal(signal.SIGCONT)  # a frozen one could not handle SIGTERM
            member.stop()

    def leaders(self) -> list[OperatorProcess]:
        return [m for m in self.members if m.running and m.leading()]

    def wait_leader(
        self, timeout: float = 30, among: Sequence[OperatorProcess] | None = None
    ) -> tuple[OperatorProcess, float]:
        """The one replica (of `among`, default all) that leads, and the monotonic time it was
        first seen leading (polled every 50 ms)."""
        candidates = list(among) if among is not None else self.members
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leading = [m for m in candidates if m.running and m.leading()]
            if len(leading) == 1:
                return leading[0], time.monotonic()
            time.sleep(0.05)
        raise HarnessError(f"no single leader among {[m.identity for m in candidates]}")
