"""What pods ask the scheduler for, in numbers (pure): a resource quantity in thousandths of
its unit, and one pod's effective requests as the scheduler counts them.

The core imports no Kubernetes client, so the quantity grammar (resource.Quantity's) is parsed
in the core, exactly, with Decimal (core/semantic.parse_quantity); the runtime parses the
nodes' allocatable and other pods' requests with the same functions, so both sides of a
comparison are read one way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from zonal_operator.core.semantic import parse_quantity


def quantity_milli(value: Any) -> int:
    """A quantity ("250m", "1.5Gi", "2", "1e3") in thousandths of its unit, rounded up as the
    scheduler's MilliValue rounds. Malformed: ValueError."""
    quantity = parse_quantity(value) if isinstance(value, str | int | float) else None
    if quantity is None:
        raise ValueError(f"not a quantity: {value!r}")
    return math.ceil(quantity * 1000)


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
