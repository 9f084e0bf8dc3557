"""The failover benchmark drawn: Ready replicas of each subject over time, from the samples
hack/bench/failover.py takes once a second, the ZonalWorkloads beside the stock Deployments.

Needs matplotlib, which only the benchmark uses: `pip install -e '.[bench]'`."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path


def available() -> bool:
    """Whether matplotlib is installed (the bench extra)."""
    return importlib.util.find_spec("matplotlib") is not None


def draw(
    out: Path,
    series: Sequence[tuple[str, Sequence[tuple[float, int]]]],
    *,
    replicas: int,
    marks: Mapping[str, float],
    title: str,
) -> None:
    """Write a PNG: one line per (label, samples of (seconds since the outage, Ready)); the
    stock Deployments dashed; spec.replicas and each mark (e.g. nodes NotReady) as guides."""
    # Imported here: the benchmark runs (and prints its table) without the bench extra too.
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot  # noqa: PLC0415

    fig, ax = pyplot.subplots(figsize=(10, 5.5), dpi=100)
    for label, samples in series:
        if not samples:
            continue
        times, ready = zip(*samples, strict=True)
        stock = label.startswith("Deployment")
        ax.step(times, ready, where="post", label=label, linestyle="--" if stock else "-")
    ax.axhline(replicas, color="grey", linewidth=0.8, linestyle=":")
    for i, (name, at) in enumerate(sorted(marks.items(), key=lambda mark: mark[1])):
        ax.axvline(at, color="grey", linewidth=0.8, linestyle="-.")
        # One above the other: marks a few seconds apart would print over each other.
        ax.annotate(name, (at, 0), xytext=(3, 3 + 12 * i), textcoords="offset points", fontsize=8)
    ax.set_xlabel("seconds since the zone's heartbeats stopped")
    ax.set_ylabel("Ready replicas")
    ax.set_ylim(bottom=0, top=replicas + 1)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    pyplot.close(fig)
