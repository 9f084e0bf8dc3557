"""`make run`'s last step: run the operator in the foreground until Ctrl-C, and say when the
sample ZonalWorkload is Ready and how to watch it.

The operator's own output goes straight to the terminal. If it exits before the sample is
Ready, or the sample is not Ready in time, this says so and exits non-zero, so that `make run`
stops with the reason instead of leaving an operator running with nothing to show.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localcluster.cluster import ClusterError, LocalCluster

POLL_SECONDS = 2.0
TOOL = Path(__file__).resolve().parents[2] / "hack" / "tool"


def ready_summary(body: dict[str, Any]) -> str | None:
    """'9/9 Ready: zone-a 3, zone-b 3, zone-c 3' once the workload is Ready for its current
    spec, else None."""
    spec, status = body.get("spec") or {}, body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"].get("generation"):
        return None
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    wanted = spec.get("replicas", 1)
    if not ready or status.get("readyReplicas", 0) < wanted:
        return None
    zones = ", ".join(
        f"{zone['name']} {zone.get('readyReplicas', 0)}"
        for zone in status.get("zones") or []
        if zone.get("readyReplicas")
    )
    return f"{status['readyReplicas']}/{wanted} Ready: {zones}"


def _workload(cluster: LocalCluster, name: str, namespace: str) -> dict[str, Any] | None:
    result = cluster.kubectl(
        "get", "zonalworkload", name, "-n", namespace, "-o", "json", check=False, timeout=30
    )
    if result.returncode != 0:
        return None
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def _how_to_watch(cluster: LocalCluster, summary: str, name: str) -> str:
    return "\n".join(
        [
            "",
            f"== ZonalWorkload {name} is {summary}",
            "   Watch it from another shell:",
            f"     export KUBECONFIG={cluster.kubeconfig}",
            f'     alias kubectl="{TOOL} kubectl"',
            "     kubectl get zw,deploy -o wide -w",
            "   Take a zone down, and bring it back:",
            "     make zone-down ZONE=zone-a",
            "     make zone-up ZONE=zone-a",
            "   Ctrl-C stops the operator; make cluster-down stops the cluster.",
            "",
        ]
    )


def run_operator(
    cluster: LocalCluster,
    command: Sequence[str],
    workload: str,
    namespace: str = "default",
    ready_timeout: float = 180,
) -> int:
    """Start `command` (the operator), wait for `workload` to be Ready, then wait for the
    operator to stop; returns the exit code for make."""
    if not cluster.is_running():
        raise ClusterError(f"no cluster is running in {cluster.state_dir}: run make cluster-up")
    operator = subprocess.Popen(list(command))
    # Ctrl-C reaches the operator too (same process group): it stops, and so do we, quietly.
    # SIGTERM (from a supervisor) is passed on.
    stopped: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _: stopped.append(signum))
    signal.signal(signal.SIGTERM, lambda *_: operator.send_signal(signal.SIGTERM))
    deadline = time.monotonic() + ready_timeout
    body: dict[str, Any] | None = None
    while operator.poll() is None:
        body = _workload(cluster, workload, namespace)
        summary = ready_summary(body) if body else None
        if summary:
            print(_how_to_watch(cluster, summary, workload), flush=True)
            return _exit_code(operator.wait())
        if time.monotonic() > deadline:
            operator.send_signal(signal.SIGTERM)
            operator.wait()
            status = json.dumps((body or {}).get("status"), indent=2)
            print(
                f"error: ZonalWorkload {namespace}/{workload} was not Ready within "
                f"{ready_timeout:.0f} s. Its status:\n{status}\nThe operator's log is above; "
                "make cluster-status shows the nodes.",
                file=sys.stderr,
            )
            return 1
        time.sleep(POLL_SECONDS)
    code = _exit_code(operator.returncode)
    if stopped:
        return code
    print(
        f"error: the operator exited (code {code}) before ZonalWorkload {namespace}/{workload} "
        "was Ready; its log is above",
        file=sys.stderr,
    )
    return code or 1


def _exit_code(returncode: int) -> int:
    """A stop by Ctrl-C or SIGTERM is a normal end of `make run`."""
    return 0 if returncode in (0, -signal.SIGINT, -signal.SIGTERM) else returncode
