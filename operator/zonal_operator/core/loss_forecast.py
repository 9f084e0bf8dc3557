"""The zone-loss forecast (pure): for each zone a workload serves in, would the replicas that
move if that zone were lost now fit on the other zones' nodes?

Room. The replicas that move are identical pods, one pod's requests each (core/requests.py).
A node takes k of them, k = min over the requested resources of free // request, and its free
pod slots, where free is allocatable minus the requests of the pods bound to it (as the
scheduler's NodeResourcesFit counts). Identical pods fit on a node whatever the other nodes
take, so a zone takes the sum of its nodes' k: no placement does better, and the scheduler's
reaches it (tests/unit/test_loss_forecast.py checks that against a brute-force placement).
A node counts when it is Ready, not cordoned, and the pod template may run on it (nodeSelector,
required node affinity, taints it does not tolerate: core/eligibility.py). The workload's own
headroom placeholders count as room: the surge preempts them (core/headroom.py).

Moves. PerZone: the lost zone's share goes to the other zones as the failover would put it
(core/headroom.after_loss), and each zone must take its own extra, for its Deployment's pods
are pinned to it. Static stability moves nothing to keep spec.replicas: only what the zones
left lack of it must fit. Spread: the lost zone's pods may go anywhere else, so the other
zones' room is pooled.

Not modelled, and said so in the README (The zone-loss forecast): inter-pod affinity and
anti-affinity, topology spread within a zone, volumes bound to nodes, and other workloads
losing the same zone at the same time (each workload's forecast is its own; the room they
would share is counted for each of them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zonal_operator.api.status import ConditionType, Reason, WorkloadStatus
from zonal_operator.api.workload import Workload
from zonal_operator.core import headroom
from zonal_operator.core.eligibility import node_is_eligible, zone_of
from zonal_operator.core.model import NodeInfo
from zonal_operator.core.plan import Event, Plan
from zonal_operator.core.status import Condition, render_conditions

PODS = "pods"  # a node's pod slots: allocatable "pods", counted in whole pods


@dataclass(frozen=True)
class NodeRoom:
    """A node and what is free on it: allocatable minus the requests of its bound pods, by
    resource in thousandths (core/requests.py), and its free pod slots."""

    node: NodeInfo
    free: Mapping[str, int] = field(default_factory=dict)
    free_pods: int = 0


def node_takes(free: Mapping[str, int], free_pods: int, need: Mapping[str, int]) -> int:
    """How many pods asking ``need`` each fit in ``free``."""
    k = free_pods
    for resource, amount in need.items():
        if amount > 0:
            k = min(k, free.get(resource, 0) // amount)
    return max(k, 0)


def usable(node: NodeInfo) -> bool:
    """Whether the scheduler would place a new pod on the node at all. A silent node still
    counts, as it does for the scheduler: a blip shorter than the heartbeat timeout changes
    no forecast (and writes nothing), and a zone judged lost is no longer one its workloads
    serve, so no loss is sized into it."""
    return node.ready == "True" and not node.unschedulable


def zone_rooms(
    rooms: Sequence[NodeRoom],
    pod_spec: Mapping[str, Any],
    topology_key: str,
    need: Mapping[str, int],
    *,
    cap: int,
    placeholders: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Zone -> how many more of the workload's pods its nodes take, at most ``cap`` (more
    never changes a forecast, and a capped figure changes less often). ``placeholders``: node
    -> the workload's own placeholder pods there, each the room of one pod."""
    total: dict[str, int] = {}
    for room in rooms:
        node = room.node
        zone = zone_of(node, topology_key)
        if zone is None:
            continue
        total.setdefault(zone, 0)
        if not usable(node) or not node_is_eligible(node, pod_spec):
            continue
        held = (placeholders or {}).get(node.name, 0)
        free = {r: room.free.get(r, 0) + held * need.get(r, 0) for r in need} if held else room.free
        total[zone] += node_takes(free, room.free_pods + held, need)
    return {zone: min(cap, count) for zone, count in sorted(total.items())}


@dataclass(frozen=True)
class Loss:
    """What losing ``zone`` now would leave: ``moving`` replicas to place elsewhere, of which
    ``shortfall`` would find no room; ``short_in``: the zones short, and by how many (PerZone)."""

    zone: str
    moving: int
    shortfall: int
    short_in: tuple[tuple[str, int], ...] = ()


def per_zone_losses(
    wl: Workload, shares: Mapping[str, int], rooms: Mapping[str, int]
) -> list[Loss]:
    """PerZone: each serving zone's loss (``shares``: the serving zones' replicas). With static
    stability the question is whether the zones left hold spec.replicas; they do by design, and
    what they miss (shares not grown yet) must fit in their room."""
    losses = []
    for lost in sorted(shares):
        if len(shares) < 2:  # no zone to move to
            losses.append(Loss(lost, shares[lost], shares[lost]))
            continue
        if wl.failover.headroom.static_stability:
            left = sum(count for zone, count in shares.items() if zone != lost)
            room = sum(rooms.get(zone, 0) for zone in shares if zone != lost)
            missing = max(0, wl.replicas - left)
            losses.append(Loss(lost, missing, max(0, missing - room)))
            continue
        after = headroom.after_loss(shares, lost, max_skew=wl.max_skew)
        short = {
            zone: need - rooms.get(zone, 0)
            for zone, count in sorted(after.items())
            if (need := count - shares.get(zone, 0)) > rooms.get(zone, 0)
        }
        losses.append(Loss(lost, shares[lost], sum(short.values()), tuple(short.items())))
    return losses


def pooled_losses(pods: Mapping[str, int], rooms: Mapping[str, int]) -> list[Loss]:
    """Spread: each zone's loss, its pods placed anywhere in the others (``pods``: the
    workload's pods per serving zone)."""
    losses = []
    for lost in sorted(pods):
        room = sum(count for zone, count in rooms.items() if zone != lost and zone in pods)
        others = len(pods) > 1
        shortfall = max(0, pods[lost] - room) if others else pods[lost]
        losses.append(Loss(lost, pods[lost], shortfall))
    return losses


def worst(losses: Sequence[Loss]) -> Loss | None:
    """The loss with the largest shortfall (the first zone by name on a tie); None if all fit."""
    short = [loss for loss in losses if loss.shortfall > 0]
    return min(short, key=lambda loss: (-loss.shortfall, loss.zone), default=None)


def _message(losses: Sequence[Loss]) -> str:
    bad = worst(losses)
    if bad is None:
        return f"the loss of any one of its {len(losses)} zones now would fit on the others' nodes"
    if len(losses) == 1:
        return f"{bad.zone} is the only zone serving: losing it leaves no zone to move to"
    where = ", ".join(f"{zone} short {n}" for zone, n in bad.short_in)
    text = (
        f"if {bad.zone} were lost now, {bad.shortfall} of the {bad.moving} replicas that would "
        f"move would find no room" + (f" ({where})" if where else "")
    )
    others = [f"{loss.zone} {loss.shortfall}" for loss in losses if loss.shortfall and loss != bad]
    return text + (f"; short too if lost: {', '.join(others)}" if others else "")


def report(
    status: WorkloadStatus,
    wl: Workload,
    losses: Sequence[Loss] | None,
    *,
    now: datetime,
    result: Plan,
) -> None:
    """status.zones[].lossShortfall of the serving zones and the ZoneLossCovered condition; a
    Warning event when it turns False. None: no forecast (off, or the room not known yet)."""
    by_zone = {loss.zone: loss.shortfall for loss in losses or ()}
    for entry in status.get("zones") or []:
        if losses is not None and entry.get("name") in by_zone:
            entry["lossShortfall"] = by_zone[entry["name"]]
        else:
            entry.pop("lossShortfall", None)
    covered_type = ConditionType.ZONE_LOSS_COVERED
    kept = [c for c in status.get("conditions") or [] if c.get("type") != covered_type]
    if losses is None or not losses:
        status["conditions"] = kept
        return
    covered = worst(losses) is None
    reason = Reason.ZONE_LOSS_FITS if covered else Reason.ZONE_LOSS_SHORTFALL
    condition = Condition(covered_type, covered, reason, _message(losses))
    before = [c for c in wl.status.get("conditions") or [] if c.get("type") == condition.type]
    status["conditions"] = [*kept, *render_conditions([condition], before, wl.generation, now)]
    if not covered and (not before or before[0].get("status") != "False"):
        result.events.append(Event("Warning", reason, condition.message))
