"""The kind suite runs only when asked for (`pytest -m kind`, `make kind-test`): it needs the kind
cluster of `make kind-up kind-load kind-deploy`, which `make test` and `make unit` do not make."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.kit.e2e import wait_for
from tests.kit.kind import kind_selected, kubectl, kubectl_result, unpause_all


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if kind_selected(config.option.markexpr or ""):
        return
    kind_items = [item for item in items if item.get_closest_marker("kind")]
    if kind_items:
        config.hook.pytest_deselected(items=kind_items)
        items[:] = [item for item in items if not item.get_closest_marker("kind")]


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of the test's own, deleted after it (without waiting)."""
    name = "kind-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    # A run just before left it being deleted: its pods take a while to go.
    wait_for(
        lambda: kubectl_result("get", "namespace", name)[0] != 0,
        timeout=180,
        what=f"namespace {name} of an earlier run gone",
    )
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def zones_restored() -> Iterator[None]:
    """Whatever the test paused is unpaused after it, and every node Ready again."""
    yield
    unpause_all()
