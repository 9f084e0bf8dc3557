"""Small helpers for end-to-end tests: reading objects and waiting for conditions."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from localcluster import LocalCluster


def get_json(cluster: LocalCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def wait_for(
    predicate: Callable[[], Any], timeout: float, interval: float = 1.0, what: str = ""
) -> Any:
    """Poll until predicate() is truthy and return its value; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what or predicate}; last: {last!r}")
