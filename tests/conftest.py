"""What every suite shares: measured figures, noted by the tests that measure them and printed
together at the end of the run, and each module's wall time.

Both work the same with one process or with pytest-xdist's workers: a figure travels in the
test's `user_properties` (which xdist sends to the controller with every report) and the
summary is made from the reports, so a worker's figures are never lost with its process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

FIGURE = "figure"


@dataclass
class _ModuleTime:
    start: float = float("inf")
    stop: float = 0.0
    busy: float = 0.0  # setup + call + teardown of its tests, added up
    tests: set[str] = field(default_factory=set)
    workers: set[str] = field(default_factory=set)


FIGURES: list[str] = []
MODULES: dict[str, _ModuleTime] = {}


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Notes a measured figure; they are printed together at the end of the run."""

    def note(line: str) -> None:
        request.node.user_properties.append((FIGURE, line))

    return note


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests first, in their order: they mostly wait, and the unit tests, which
    only compute, fill the workers' time at the end rather than compete with a timed check
    for the CPU at the start."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = report.nodeid.split("::", 1)[0]
    entry = MODULES.setdefault(module, _ModuleTime())
    entry.start = min(entry.start, report.start)
    entry.stop = max(entry.stop, report.stop)
    entry.busy += report.duration
    entry.tests.add(report.nodeid)
    # Under xdist the controller's reports name the worker that ran the test.
    node = getattr(report, "node", None)
    entry.workers.add(node.gateway.id if node is not None else "main")
    # The teardown report carries every property the test noted, in order.
    if report.when == "teardown":
        FIGURES.extend(str(value) for key, value in report.user_properties if key == FIGURE)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("figures measured")
        for line in FIGURES:
            terminalreporter.write_line(line)
    if MODULES:
        terminalreporter.section("wall time per module")
        terminalreporter.write_line(
            f"{'from start':>10} {'span':>7} {'busy':>7} {'tests':>5}  workers  module"
        )
        first = min(m.start for m in MODULES.values())
        for module, m in sorted(MODULES.items(), key=lambda item: -(item[1].stop - item[1].start)):
            terminalreporter.write_line(
                f"{m.start - first:>9.0f}s {m.stop - m.start:>6.0f}s {m.busy:>6.0f}s "
                f"{len(m.tests):>5}  {','.join(sorted(m.workers)):<7}  {module}"
            )
