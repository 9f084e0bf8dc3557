"""Optional profiling of the operator with py-spy, one recording per benchmark phase."""

from __future__ import annotations

import re
import signal
import subprocess
from collections import Counter
from pathlib import Path

from benchlib import log


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
