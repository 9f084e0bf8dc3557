"""The README's run command as a newcomer meets it: a clean clone of the committed tree, no
virtualenv, an empty tools cache, nothing from this test run's environment that the Makefile
could lean on. The sample ZonalWorkload must come up Ready over three zones while the operator
keeps running, and a step that fails must stop `make run` with a message that says what to do.

This builds the cluster tools into an empty cache (warm Go caches make that a few minutes) and
starts a cluster of its own, beside the session's.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcluster.ports import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
# Whatever points the Makefile at tools, a cluster or a virtualenv other than the clone's own.
LEAKY = ("ZONAL_", "KUBEBUILDER_ASSETS", "KUBECONFIG", "CLUSTER_DIR", "VIRTUAL_ENV", "MAKE")


def readme_run_command() -> list[str]:
    """The README's first command: the `make run ...` line of its first shell block."""
    match = re.search(r"^```sh\n(make run\b[^#\n]*)", (REPO / "README.md").read_text(), re.M)
    assert match, "the README's first shell block starts with make run"
    return match.group(1).split()


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    clone = tmp_path / "zonal-operator"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY)}
    env["ZONAL_CACHE_DIR"] = str(tmp_path / "empty-tools-cache")
    # A `make run` of the developer's own may hold the default ports.
    env["RUN_METRICS_PORT"], env["RUN_HEALTH_PORT"] = str(free_port()), str(free_port())
    yield clone, env
    subprocess.run(["make", "cluster-down"], cwd=clone, env=env, check=False, timeout=120)


def _log_tail(log: Path, lines: int = 60) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def test_make_run_from_a_clean_clone(fresh_clone: tuple[Path, dict[str, str]]) -> None:
    clone, env = fresh_clone
    log = clone.parent / "make-run.log"
    with log.open("w") as out:
        run = subprocess.Popen(
            readme_run_command(),
            cwd=clone,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 1500
        while "== ZonalWorkload web is" not in log.read_text(errors="replace"):
            assert run.poll() is None, f"make run exited ({run.returncode}):\n{_log_tail(log)}"
            assert time.monotonic() < deadline, f"web never Ready:\n{_log_tail(log)}"
            time.sleep(2)
        time.sleep(3)  # the operator keeps running after saying so
        assert run.poll() is None, f"make run stopped:\n{_log_tail(log)}"

        kubectl = [
            str(clone / "hack" / "tool"),
            "kubectl",
            "--kubeconfig",
            str(clone / ".cluster" / "kubeconfig"),
        ]
        got = subprocess.run(
            [*kubectl, "get", "zw", "web", "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        status = json.loads(got.stdout)["status"]
        assert status["readyReplicas"] == 9
        assert {z["name"]: z.get("readyReplicas") for z in status["zones"]} == {
            "zone-a": 3,
            "zone-b": 3,
            "zone-c": 3,
        }
        output = log.read_text(errors="replace")
        assert "9/9 Ready: zone-a 3, zone-b 3, zone-c 3" in output
        assert "kubectl get zw,deploy" in output
        assert "make zone-down ZONE=zone-a" in output
        for noise in ("(ignored)", "Error ", "Traceback", "Activity '", "Initial authentication"):
            assert noise not in output, f"{noise!r} in make run's output:\n{_log_tail(log)}"
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGINT)  # Ctrl-C
            run.wait(timeout=60)

    # A step that fails stops make run at once, saying what to do; no operator starts.
    broken = {**env, "ZONAL_KUBECTL": str(clone / "no-such-kubectl")}
    failed = subprocess.run(
        readme_run_command(),
        check=False,
        cwd=clone,
        env=broken,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert failed.returncode != 0
    assert "ZONAL_KUBECTL" in failed.stderr, failed.stderr
    assert "zonal-operator run" not in failed.stdout
