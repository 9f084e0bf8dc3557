"""The kind suite runs only when asked for (`pytest -m kind`, `make kind-test`): it needs the kind
cluster of `make kind-up kind-load kind-deploy`, which `make test` and `make unit` do not make."""

from __future__ import annotations

import re

import pytest


def kind_selected(markexpr: str) -> bool:
    """True when the -m expression names `kind` other than as `not kind`."""
    return re.search(r"(?<!not )\bkind\b", markexpr) is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if kind_selected(config.option.markexpr or ""):
        return
    kind_items = [item for item in items if item.get_closest_marker("kind")]
    if kind_items:
        config.hook.pytest_deselected(items=kind_items)
        items[:] = [item for item in items if not item.get_closest_marker("kind")]
