"""ZoneShifts for the simulators: `shift`, one the operator has started, as the tests of zone
shifts with PerZone (test_shifts.py) and with Spread (test_spread_shifts.py) set them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.kit.perzone_sim import NOW
from zonal_operator.api.zoneshift import ZoneShift, parse_duration

FMT = "%Y-%m-%dT%H:%M:%SZ"


def shift(
    name: str = "maint-b",
    zone: str = "zone-b",
    *,
    duration: str = "1h",
    started: datetime | None = NOW,
    reason: str = "kernel upgrade",
    **spec: Any,
) -> ZoneShift:
    """A ZoneShift the operator has started (status.startedAt and expiresAt written)."""
    status: dict[str, Any] = {}
    if started is not None:
        status = {
            "startedAt": started.strftime(FMT),
            "countedFrom": started.strftime(FMT),
            "duration": duration,
            "expiresAt": (started + parse_duration(duration)).strftime(FMT),
        }
    return ZoneShift.from_body(
        {
            "metadata": {"name": name, "uid": f"uid-{name}", "generation": 1},
            "spec": {"zone": zone, "duration": duration, "reason": reason, **spec},
            "status": status,
        }
    )
