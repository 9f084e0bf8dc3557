"""Zone-loss headroom, sized per zone (spec.failover.headroom).

Placeholders: when zone y is lost, the failover spreads spec.replicas over the other zones by
the distribution rule (core/distribution.py, fewest moves from what they run), so zone z takes
`after_loss(y)[z] - r[z]` more replicas. Zone z keeps room for the worst of those: the most
extra it would take over every other zone's loss. Those placeholders are the room the surge
preempts.

Static stability: real replicas, enough per zone that any N-1 zones hold spec.replicas with no
move: ceil(replicas / (N - 1)) per zone. spec.replicas and /scale stay what was asked (an HPA
scales spec.replicas and reads status.replicas, the Ready pods counted against spec.replicas);
the extra over spec.replicas is reported apart.

A zone that is shifted away or lost keeps no placeholders and is not sized for: its replicas
have moved already, and the others' share of the next loss is sized over the zones that serve.
Level-triggered: the sizes are recomputed from the current shares each time, so they follow a
failback without any state of their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from zonal_operator.api.workload import Workload
from zonal_operator.core.distribution import distribute


def after_loss(shares: Mapping[str, int], lost: str, *, max_skew: int = 1) -> dict[str, int]:
    """What the failover runs in the other zones once ``lost`` is gone."""
    rest = [z for z in shares if z != lost]
    total = sum(shares.values())
    return distribute(total, rest, max_skew=max_skew, current=shares) if rest else {}


def placeholders(shares: Mapping[str, int], *, max_skew: int = 1) -> dict[str, int]:
    """Placeholder pods per serving zone so that the loss of any one zone fits in the others.

    ``shares``: the replicas each serving zone runs (or is about to). With one zone there is
    nowhere to fail over to, so no placeholder helps."""
    need = dict.fromkeys(shares, 0)
    if len(shares) < 2:
        return need
    for lost in shares:
        for zone, count in after_loss(shares, lost, max_skew=max_skew).items():
            need[zone] = max(need[zone], count - shares[zone])
    return need


def static_per_zone(replicas: int, zones: Sequence[str]) -> int:
    """The replicas each zone runs so that any len(zones) - 1 of them hold ``replicas``."""
    n = len(set(zones))
    if n == 0:
        return 0
    if n == 1:
        return replicas
    return -(-replicas // (n - 1))


def static_shares(replicas: int, zones: Sequence[str]) -> dict[str, int]:
    """Static stability's replicas per zone (every zone the same)."""
    per_zone = static_per_zone(replicas, zones)
    return dict.fromkeys(sorted(set(zones)), per_zone)


def static_extra(replicas: int, zones: Sequence[str]) -> int:
    """The replicas run beyond spec.replicas, reported apart (status.headroomReplicas)."""
    return sum(static_shares(replicas, zones).values()) - replicas if zones else 0


def zone_total(wl: Workload, serving: Sequence[str]) -> Workload:
    """The workload as its zones' shares are computed: StaticStability runs the larger total
    over the zones that serve (so after a loss the next one is covered too); otherwise as it
    is. Ready and /scale keep reading spec.replicas from the workload itself."""
    if not wl.failover.headroom.static_stability or len(serving) < 2:
        return wl
    return dataclasses.replace(wl, replicas=sum(static_shares(wl.replicas, serving).values()))


def headroom_replicas(wl: Workload, shares: Mapping[str, int], serving: Sequence[str]) -> int:
    """status.headroomReplicas: placeholders kept, or static stability's extra replicas."""
    if wl.failover.headroom.static_stability:
        return static_extra(wl.replicas, serving) if len(serving) > 1 else 0
    if wl.failover.headroom.placeholders:
        return sum(
            placeholders({z: shares.get(z, 0) for z in serving}, max_skew=wl.max_skew).values()
        )
    return 0
