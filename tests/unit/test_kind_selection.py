"""tests/kind runs only when `-m` selects it."""

from __future__ import annotations

import pytest
from tests.kit.kind import kind_selected


@pytest.mark.parametrize(
    ("markexpr", "expected"),
    [
        ("kind", True),
        ("kind and not slow", True),
        ("", False),
        ("not e2e", False),
        ("not kind", False),
        ("e2e", False),
    ],
)
def test_kind_selected(markexpr: str, expected: bool) -> None:
    assert kind_selected(markexpr) is expected
