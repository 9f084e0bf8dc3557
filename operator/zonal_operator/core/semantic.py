"""Does a live object already hold what we want? (pure)

The API server adds defaults to what the operator writes (imagePullPolicy, probes' periods,
terminationGracePeriodSeconds, ...) and writes resource quantities in canonical form ("1000m"
becomes "1"). Comparing the rendered object with the live one for equality would see a change
every time and write forever. Instead, every field the operator sets must be present in the live
object with an equal value; fields only the live object has are the server's business. This is
what Go controllers call semantic DeepDerivative.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

# Kubernetes quantity: a number with an optional binary (Ki..Ei) or decimal (n..E) suffix.
_QUANTITY = re.compile(
    r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
)
_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
# Maps whose values are quantities, wherever they appear in a pod template.
_QUANTITY_MAPS = frozenset({"limits", "requests", "overhead"})


def parse_quantity(value: str | int | float) -> Decimal | None:
    """The numeric value of a Kubernetes quantity, or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(value.strip())
    if not match:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2) or ""]
    except InvalidOperation:
        return None


def _empty(value: Any) -> bool:
    # Go's omitempty drops these, so their absence in the live object is no difference.
    return value is None or value is False or value in (0, "", [], {})


def contains(desired: Any, live: Any, path: tuple[str, ...] = ()) -> bool:
    """True when every field set in `desired` has the same value in `live`."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return _empty(desired) and live is None
        for key, want in desired.items():
            if live.get(key) is None:
                if not _empty(want):
                    return False
            elif not contains(want, live[key], (*path, key)):
                return False
        return True
    if isinstance(desired, list):
        if live is None:
            return not desired
        if not isinstance(live, list) or len(desired) != len(live):
            return False
        return all(contains(d, v, path) for d, v in zip(desired, live, strict=True))
    if desired == live and type(desired) is type(live):
        return True
    if _is_quantity_field(path):
        a, b = _as_quantity(desired), _as_quantity(live)
        return a is not None and a == b
    return False


def _is_quantity_field(path: tuple[str, ...]) -> bool:
    return (len(path) >= 2 and path[-2] in _QUANTITY_MAPS) or (
        bool(path) and path[-1] == "sizeLimit"
    )


def _as_quantity(value: Any) -> Decimal | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return parse_quantity(value)
    return None
