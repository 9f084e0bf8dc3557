"""What every suite shares: measured figures, noted by the tests that measure them and printed
together at the end of the run (the local-cluster and kind end-to-end suites)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

FIGURES: list[str] = []


@pytest.fixture
def figure() -> Callable[[str], None]:
    """Notes a measured figure; they are printed together at the end of the run."""
    return FIGURES.append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("figures measured")
        for line in FIGURES:
            terminalreporter.write_line(line)
