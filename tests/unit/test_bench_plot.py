"""hack/bench/plot.py draws the failover benchmark's own samples (Subject.samples) into a PNG.
Skipped where matplotlib, the bench extra, is not installed (CI installs .[dev] only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import plot

pytest.importorskip("matplotlib")


def test_draws_the_bench_samples_into_a_png(tmp_path: Path) -> None:
    ours = [(0.0, 9), (1.0, 9), (20.0, 6), (31.0, 9), (40.0, 9)]
    stock = [(0.0, 9), (20.0, 6), (300.0, 6), (340.0, 9)]
    out = tmp_path / "docs" / "bench.png"
    plot.draw(
        out,
        [("ZonalWorkload PerZone", ours), ("Deployment ScheduleAnyway", stock), ("empty", [])],
        replicas=9,
        marks={"nodes NotReady": 16.0},
        title="zone-a lost",
    )
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
