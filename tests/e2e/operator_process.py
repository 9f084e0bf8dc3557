"""The operator under test, run as the real `zonal-operator run` process against the cluster."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

READ_VERBS = frozenset({"get", "list", "watch"})
_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\}\s+([0-9.e+-]+)$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OperatorProcess:
    def __init__(self, kubeconfig: Path, log_path: Path, extra_args: Sequence[str] = ()) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = 0
        self.liveness_port = 0

    def start(self, timeout: float = 30) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.metrics_port, self.liveness_port = free_port(), free_port()
        exe = Path(sys.executable).parent / "zonal-operator"
        cmd = [
            str(exe), "run",
            "--kubeconfig", str(self.kubeconfig),
            "--metrics-port", str(self.metrics_port),
            "--metrics-address", "127.0.0.1",
            "--liveness", f"http://127.0.0.1:{self.liveness_port}/healthz",
            *self.extra_args,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {' '.join(cmd)}\n".encode())
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited: see {self.log_path}")
            try:
                self.scrape()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"operator did not serve metrics within {timeout}s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """Die at once, as a crashed or evicted pod does: no cleanup of any kind."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def scrape(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def api_requests(self) -> dict[tuple[str, str], float]:
        """Requests sent so far, by (verb, resource), from the operator's own counter."""
        counts: dict[tuple[str, str], float] = {}
        for line in self.scrape().splitlines():
            match = _SAMPLE.match(line)
            if not match or match.group(1) != "zonal_operator_api_requests_total":
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
            counts[(labels["verb"], labels["resource"])] = float(match.group(3))
        return counts

    def writes(self) -> float:
        return sum(n for (verb, _), n in self.api_requests().items() if verb not in READ_VERBS)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")
