"""The zones that are not Healthy, in a word each, for `kubectl get zw` (status.zonesNotHealthy).

It is read from the zones' entries (their health) and nothing else, so it changes only when a
zone's health changes, and that change is written anyway: it adds no write of its own
(core/status_diff.py classifies it)."""

from __future__ import annotations

from collections.abc import Sequence

from zonal_operator.api.status import ZoneState, ZoneStatus


def not_healthy(zones: Sequence[ZoneStatus]) -> str | None:
    """`zone-b=Unhealthy,zone-c=Recovering`, by zone name; None when every zone is Healthy."""
    listed = sorted(
        (str(z.get("name")), str(z.get("health")))
        for z in zones
        if z.get("health") not in (None, ZoneState.HEALTHY)
    )
    return ",".join(f"{name}={health}" for name, health in listed) or None
