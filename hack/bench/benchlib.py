"""What the benchmarks share besides hack/testkit: their log line, their error, and how each
writes its section of docs/benchmarks.md with the machine and commit it ran on."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "benchmarks.md"


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


class BenchError(RuntimeError):
    """The benchmark could not go on; the message says why."""


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


def write_doc(path: Path, section: str, *, markers: tuple[str, str], heading: str) -> None:
    """Replace the text between the markers, leaving the rest of the file alone; a file
    without them gets them at its end, under the heading."""
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
