"""What a reconcile sees and what it decides, as plain values: `PerZoneObserved` or
`SpreadObserved` in, `Plan` out (the placements, perzone.py and spread.py, turn one into the
other)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zonal_operator.api.status import WorkloadStatus
from zonal_operator.api.workload import Workload
from zonal_operator.api.zoneshift import ZoneShift
from zonal_operator.core.headroom_render import DEFAULT_PAUSE_IMAGE
from zonal_operator.core.model import NodeInfo, PodInfo

# matches_live results for one spec generation of a workload, by (zone, Deployment uid,
# resourceVersion): PerZone placement's memo, which the caller keeps between plans.
MatchMemo = Mapping[tuple[str, str, str], bool]


@dataclass(frozen=True)
class Observed:
    """What one reconcile sees, whatever the placement."""

    workload: Workload
    nodes: Sequence[NodeInfo]  # a health.NodeSnapshot, or any sequence
    # Live Deployments of the workload's namespace that it owns or whose names it would use.
    deployments: Mapping[str, Mapping[str, Any]]
    now: datetime
    # The ZoneShifts in force that select the workload (core/shifts.selecting), in order.
    shifts: tuple[ZoneShift, ...] = ()
    # Zone -> how many more of its pods the zone's nodes take (core/loss_forecast.zone_rooms),
    # for the zone-loss forecast. None: no forecast (off, or the room not known).
    zone_room: Mapping[str, int] | None = None


@dataclass(frozen=True)
class PerZoneObserved(Observed):
    """What a reconcile of a PerZone workload sees besides (its pods are read through its
    Deployments' status, and where they run)."""

    # zone -> the workload's pods there that sit Pending as Unschedulable
    unschedulable: Mapping[str, int] = field(default_factory=dict)
    # zone -> the node ("" while unscheduled) of each of the workload's pods there that is not
    # being deleted. None: not known, so never a reason to act.
    pod_nodes: Mapping[str, Sequence[str]] | None = None
    # zone -> the workload's pods there that are not being deleted, for zone-by-zone rollouts
    # (core/waves.py). None: not known.
    zone_pods: Mapping[str, Sequence[PodInfo]] | None = None
    # Since when a status change has been coalesced (see coalesce.py).
    coalesced_since: datetime | None = None
    # Until when the status this plan starts from is held back by the runtime (a previous
    # plan's status_hold_until), if it is.
    held_until: datetime | None = None
    # What earlier plans of this spec generation found (Plan.matched). Most reconciles find
    # every Deployment as it should be; rendering and comparing them is then wasted.
    match_memo: MatchMemo | None = None
    # The cluster's PriorityClasses and their values, for headroom placeholders. None: not read.
    priority_classes: Mapping[str, int] | None = None
    # The placeholders' image (--headroom-image).
    headroom_image: str = DEFAULT_PAUSE_IMAGE


@dataclass(frozen=True)
class SpreadObserved(Observed):
    """What a reconcile of a Spread workload sees besides: its pods."""

    pods: Sequence[PodInfo] = ()


@dataclass(frozen=True)
class Create:
    body: dict[str, Any]


@dataclass(frozen=True)
class Replace:
    """Put the Deployment back to what it should be (template change, or hand edit). The body
    carries the live resourceVersion, so a concurrent change makes the write fail, not win."""

    body: dict[str, Any]


@dataclass(frozen=True)
class Scale:
    name: str
    replicas: int


@dataclass(frozen=True)
class Delete:
    name: str
    uid: str


@dataclass(frozen=True)
class DeletePod:
    """Delete a pod stranded on a failed node, as taint-based eviction would, only sooner."""

    name: str
    uid: str


@dataclass(frozen=True)
class Evict:
    """Make-before-break: evict these pods through the Eviction API (PodDisruptionBudgets
    decide), then shrink Deployment `deployment` from `replicas` by as many as were evicted."""

    deployment: str
    replicas: int
    pods: tuple[tuple[str, str], ...]  # (name, uid)


Action = Create | Replace | Scale | Delete | DeletePod | Evict


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str
    zone: str = ""  # the zone it is about, if any


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    # The complete new status, or None when the current one is still true.
    status: WorkloadStatus | None = None
    events: list[Event] = field(default_factory=list)
    # Reconcile again after this many seconds even if nothing changes (a grace period ends).
    requeue_after: float | None = None
    # The status changed only in what may wait, and that change is coalesced with the ones to
    # come: not written for now (coalesce.py).
    status_coalesced: bool = False
    # The status as this plan computed it, whether written now or coalesced: what the metrics
    # report, so that they show the workload as it is while its status waits.
    computed: WorkloadStatus | None = None
    # The status (with the generations this plan's writes produce) may be held back until then:
    # its writes only cut what no longer serves, while the move they belong to goes on
    # (coalesce.py); the runtime keeps it, plans on it, and writes it by then at the latest.
    status_hold_until: datetime | None = None
    # How many of the first actions may be sent at once: they add capacity, or take away only
    # what does not serve. The rest go one by one, after them.
    together: int = 0
    # matches_live results this plan computed that were not in PerZoneObserved.match_memo.
    matched: dict[tuple[str, str, str], bool] = field(default_factory=dict)
    # The zones this plan judges failed over, each with what failed it (ZoneHealth.verdict:
    # "Heartbeat" or "NotReady"), for the verdicts metric.
    verdicts: list[tuple[str, str]] = field(default_factory=list)
