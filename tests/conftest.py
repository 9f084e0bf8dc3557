"""What every suite shares: measured figures, noted by the tests that measure them and printed
together at the end of the run, and each module's wall time.

Both work the same with one process or with pytest-xdist's workers: a figure travels in the
test's `user_properties` (which xdist sends to the controller with every report) and the
summary is made from the reports, so a worker's figures are never lost with its process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

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


# The end-to-end modules whose tests wait longest, longest first (measured, docs/testing.md);
# handed out first, they do not leave one worker waiting alone at the end.
# A module not listed comes after these; a wrong order costs minutes, never a result.
LONGEST_FIRST = (
    "test_make_run.py",
    "test_scale.py",
    "test_rollout.py",
    "test_spread.py",
    "test_failover.py",
    "test_zonedrill.py",
    "test_leader_election.py",
    "test_heartbeat.py",
    "test_zoneshift.py",
    "test_workload.py",
)


# Modules whose tests share state and run in order: under xdist, all on one worker.
IN_ORDER = ("tests/e2e/test_chart.py",)


class _Scheduling(LoadScopeScheduling):
    """xdist's scheduling for `pytest -n N` (`make test-local`): every test a unit of its own,
    but the tests of an IN_ORDER module one unit, handed out before the others (xdist puts
    the units with the most tests first). A worker holds one test beside the one it runs, so
    that a long end-to-end test never waits behind another while a worker is free.

    (xdist's own `--dist loadgroup` does this by renaming the tests' node ids, which pytest 9.2
    no longer lets it do.)"""

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return module if module in IN_ORDER else nodeid

    def _reschedule(self, node: Any) -> None:
        # The pending count includes the test the worker runs, which it starts only once it
        # holds the next one.
        if (
            not node.shutting_down
            and self.workqueue
            and self._pending_of(self.assigned_work[node]) > 1
        ):
            return
        super()._reschedule(node)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    return _Scheduling(config, log) if config.getvalue("dist") == "load" else None


def _rank(item: pytest.Item) -> tuple[bool, int]:
    if item.get_closest_marker("e2e") is None:
        return (True, 0)
    name = item.path.name
    return (False, LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests first, the longest-waiting modules first: they mostly wait, and the
    unit tests, which only compute, fill the workers' time at the end rather than compete
    with a timed check for the CPU at the start. The sort is stable: within a module, the
    tests keep their order."""
    items.sort(key=_rank)


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
