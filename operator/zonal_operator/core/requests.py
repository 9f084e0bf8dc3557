"""What pods ask the scheduler for, in numbers (pure): a resource quantity in thousandths of
its unit, and one pod's effective requests as the scheduler counts them.

The core imports no Kubernetes client, so the quantity grammar (resource.Quantity's: a decimal
number with a decimal SI, binary SI or exponent suffix) is parsed here, exactly, with Decimal;
the runtime parses the nodes' allocatable and other pods' requests with the same functions, so
both sides of a comparison are read one way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

_SUFFIX = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
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
_QUANTITY = re.compile(
    r"\s*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))((?:[KMGTPE]i)|[numkMGTPE]|[eE][+-]?[0-9]+)?\s*"
)


def quantity_milli(value: Any) -> int:
    """A quantity ("250m", "1.5Gi", "2", "1e3") in thousandths of its unit, rounded up as the
    scheduler's MilliValue rounds. Malformed: ValueError."""
    match = _QUANTITY.fullmatch(str(value))
    if match is None:
        raise ValueError(f"not a quantity: {value!r}")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        scale = Decimal(f"1{suffix}") if suffix[:1] in ("e", "E") else _SUFFIX[suffix]
        milli = Decimal(number) * scale * 1000
    except (InvalidOperation, KeyError) as exc:
        raise ValueError(f"not a quantity: {value!r}") from exc
    return math.ceil(milli)


def format_milli(milli: int) -> str:
    """The shortest exact quantity for thousandths: whole units when it can."""
    return f"{milli // 1000}" if milli % 1000 == 0 else f"{milli}m"


def _requests(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return (container.get("resources") or {}).get("requests") or {}


def pod_requests_milli(pod_spec: Mapping[str, Any]) -> dict[str, int]:
    """One pod's effective requests, in thousandths, by resource: the containers' requests
    summed, raised to any init container's (they run one at a time, before the others), plus
    the pod's overhead, as the scheduler's NodeResourcesFit counts them."""
    total: dict[str, int] = {}
    for c in pod_spec.get("containers") or []:
        for key, value in _requests(c).items():
            total[key] = total.get(key, 0) + quantity_milli(value)
    for c in pod_spec.get("initContainers") or []:
        for key, value in _requests(c).items():
            total[key] = max(total.get(key, 0), quantity_milli(value))
    for key, value in (pod_spec.get("overhead") or {}).items():
        total[key] = total.get(key, 0) + quantity_milli(value)
    return total
