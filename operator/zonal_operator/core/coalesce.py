"""Coalescing status writes (pure): a status change that only moves what the operator observes
waits, so that one write carries many changes.

What moves on its own while nodes or replicas move is coalesced for a while; what the operator
decides (status_diff.decisions: observedGeneration, a zone's share or failover, the generations
of its own writes) is written at once and carries the rest along. At a thousand workloads each
write saved is a thousand, and a ZonalWorkload's status write costs the API server several
times what a Deployment's does. (Not to be mistaken for the runtime's deferral, which keeps a
decided status back while a backlog of other workloads waits: see runtime/controller.py.)

A dying zone's nodes turn NotReady one batch at a time over many seconds (and come back the
same way); a change that is only node counts waits until no node has changed its Ready state
for NODE_COUNTS_SETTLE_SECONDS. While the workload is Progressing, such a change waits also for
the write that ends the move (Ready replicas back, which is written at once), at most
NODE_COUNTS_PROGRESS_COALESCE_SECONDS from when it was first coalesced: after a failover the lost
zone's last nodes are often marked only once the failover has been written. So do the node
counts of a zone the workload has failed over (it holds none of its replicas; its health is
what tells). A node's silence growing (core/heartbeat.py) is a node changing too: the verdict
writes what the silence has shown by then.

A zone lost is two writes: the verdict with the move (a decision, at once), and the move's end
(Progressing False, at once). Its silence proven within the grace period (Degraded) is an
observation: it waits with the nodes' other changes, at most NODE_CHANGES_COALESCE_SECONDS,
so with the defaults (proof at 20 s, the grace period's end at 30 s) it goes with the verdict;
the metrics say it at once, and what a new leader resumes from is on the leader's Lease, not
in the status (core/resume.py). In between, the lost zone's pods stop counting
Ready and its Deployments are cut: the Ready condition that changes while Progressing waits up to
PROGRESS_READY_COALESCE_SECONDS, and a plan whose only writes cut a failed or dark zone holds its
status as long (`hold_until`; the runtime keeps it and plans on it, runtime/controller.py); in a
failover, both wait up to FAILOVER_COALESCE_SECONDS, and so do the replica counts and what
follows from nodes still changing.

PerZone placement coalesces; Spread placement does not (see spread.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from zonal_operator.api.status import ConditionType, WorkloadStatus, ZoneState
from zonal_operator.core.plan import PerZoneObserved
from zonal_operator.core.status_diff import (
    ZONE_NODE_COUNTS,
    ZONE_READY_COUNTS,
    decisions,
    without,
)
from zonal_operator.core.zones import FAILED_OVER

NODE_COUNTS_SETTLE_SECONDS = 10
NODE_COUNTS_PROGRESS_COALESCE_SECONDS = 120
# While nodes are still changing, what follows from them besides counts (a zone failing within
# its grace period or back before it ended, pods on failed nodes no longer counted Ready, the
# conditions that say so) waits for them to settle too, but at most this long from when it was
# first coalesced: long enough that a zone lost in one go is recorded once, failed over.
NODE_CHANGES_COALESCE_SECONDS = 30
# While the workload is Progressing its Deployments report each pod created, Ready and
# available in separate status updates; a change that is only replica counts waits at most this
# long (from when it was first coalesced) for the change that ends the move.
PROGRESS_COALESCE_SECONDS = 10
# ... and one that also turns the Ready condition (a failed zone's pods no longer counted, then
# the replacements Ready) waits at most this long: in a zone loss the move that restores
# capacity is under way and said so (Progressing, FailedOver), and the write that ends it
# carries where Ready got to. Capacity as it is, second by second, is in the metrics.
PROGRESS_READY_COALESCE_SECONDS = 60
# While the workload moves replicas out of a zone it has failed over (or back into it), both
# wait up to this long instead, and so does the held cut: a zone lost is lost by every workload
# in it at once, the replacements of a loaded control plane take a minute or more to be Ready
# (docs/benchmarks.md: 54 s at p50 for a thousand workloads on 2 cores), and each window that
# runs out before the move ends is another write per workload in the worst minute. The move's
# verdict and its end are written at once; the metrics say capacity as it is meanwhile.
FAILOVER_COALESCE_SECONDS = 120


def coalesce_until(
    observed: PerZoneObserved, before: WorkloadStatus, after: WorkloadStatus
) -> datetime | None:
    """Until when a status change may wait, or None if it is to be written now."""
    latest = max(_node_changes(observed), default=None)
    settled = None if latest is None else latest + timedelta(seconds=NODE_COUNTS_SETTLE_SECONDS)
    since = observed.coalesced_since or observed.now
    progressing = _progressing(after)
    if without(before, ZONE_NODE_COUNTS) == without(after, ZONE_NODE_COUNTS):
        if progressing or _counts_only_of_failed_zones(before, after):
            moving = since + timedelta(seconds=NODE_COUNTS_PROGRESS_COALESCE_SECONDS)
            return moving if settled is None else max(settled, moving)
        if settled is None:
            return None
        # A silence that neither ends nor turns its node NotReady keeps `settled` moving.
        return min(settled, since + timedelta(seconds=NODE_COUNTS_PROGRESS_COALESCE_SECONDS))
    failover = progressing and _failed_over(after)
    if settled is not None and settled > observed.now and decisions(before) == decisions(after):
        # A lost zone's nodes turn NotReady batch by batch for a minute or more: in the
        # failover's move, what follows from them waits as long as the move's counts do.
        cap = FAILOVER_COALESCE_SECONDS if failover else NODE_CHANGES_COALESCE_SECONDS
        return min(settled, since + timedelta(seconds=cap))
    if not progressing:
        return None
    counts = ZONE_NODE_COUNTS | ZONE_READY_COUNTS
    if without(before, counts, counts=True) == without(after, counts, counts=True):
        window = FAILOVER_COALESCE_SECONDS if failover else PROGRESS_COALESCE_SECONDS
        until = since + timedelta(seconds=window)
        # Counts that follow a held cut wait with it.
        return until if observed.held_until is None else max(until, observed.held_until)
    if _without_ready(without(before, counts, counts=True)) == _without_ready(
        without(after, counts, counts=True)
    ):
        window = FAILOVER_COALESCE_SECONDS if failover else PROGRESS_READY_COALESCE_SECONDS
        return since + timedelta(seconds=window)
    return None


def hold_until(observed: PerZoneObserved, after: WorkloadStatus) -> datetime | None:
    """Until when the status of a plan whose writes only cut Deployments may be held back: a
    failed zone's replicas cut once they no longer serve (their nodes NotReady, or the
    replacements Ready) is a step of the move that the verdict's write announced, and the write
    that ends the move (Progressing False) tells of it. None once the move has ended."""
    if not _progressing(after):
        return None
    since = observed.coalesced_since or observed.now
    window = FAILOVER_COALESCE_SECONDS if _failed_over(after) else PROGRESS_READY_COALESCE_SECONDS
    return since + timedelta(seconds=window)


def _progressing(status: WorkloadStatus) -> bool:
    return any(
        c.get("type") == ConditionType.PROGRESSING and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _failed_over(status: WorkloadStatus) -> bool:
    """Whether a zone is failed over (Unhealthy, or Recovering on its way back)."""
    return any(z.get("health") in FAILED_OVER for z in status.get("zones") or [])


def _node_changes(observed: PerZoneObserved) -> list[datetime]:
    """When nodes last changed what a zone's health reads: Ready transitions, and silences as
    last confirmed (a node's silence grows until it turns NotReady)."""
    times = [n.ready_since for n in observed.nodes if n.ready_since is not None]
    times += [n.silence.confirmed for n in observed.nodes if n.silence is not None]
    return times


def _counts_only_of_failed_zones(before: WorkloadStatus, after: WorkloadStatus) -> bool:
    """Whether the node counts that changed are all of zones failed over (Unhealthy) before
    and after: zones that hold none of the workload's replicas, whose health is what tells."""
    zones_before = {str(z.get("name")): z for z in before.get("zones") or []}
    for zone in after.get("zones") or []:
        old = zones_before.get(str(zone.get("name")))
        if old is None:
            return False
        if old != zone and not (old.get("health") == zone.get("health") == ZoneState.UNHEALTHY):
            return False
    return True


def _without_ready(status: dict[str, Any]) -> dict[str, Any]:
    return {
        **status,
        "conditions": [
            c for c in status.get("conditions") or [] if c.get("type") != ConditionType.READY
        ],
    }
