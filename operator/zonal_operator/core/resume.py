"""Resuming a heartbeat verdict in progress (pure): what a new leader takes of the silence the
previous leader proved, and when it throws that away.

A leader that starts in the middle of a zone's outage (a `helm upgrade`, a failover) has seen
no renewal of the zone's Leases, so on its own it counts their silence from its start
(core/heartbeat.py): the verdict would start over, and the zone fail over a whole heartbeat
timeout and grace period late. So the leader that proves a zone silent records, in each
workload's `status.zones[].silentNodes`, the fewest silent nodes that fail the zone (`entries`):
each node's Lease `renewTime` at the last renewal it saw, exactly as the API server served it,
and when it saw that renewal (`lastHeartbeat`, on its own clock, rounded up to the second).

A new leader reads those nodes' Leases from the API server, never from its cache, before its
first reconcile (runtime/heartbeats.py `Heartbeats.resume`), and decides per node (`resume`):
- the read shows a recorded renewTime: the node has not renewed since a previous leader saw
  that renewal; its silence runs from that leader's `lastHeartbeat` (or from this leader's own
  first sight of the renewal, if earlier), proven up to the moment the read was sent;
- it shows any other renewTime (a renewal since the record), or no Lease: the record is
  discarded for the node, and its silence, if any, is counted from this leader's own sight.

Clock skew. Whether a node has renewed is decided by comparing renewTime values of one Lease
as served, string with string: no kubelet's clock is compared with an operator's, so no skew
can make a node that renewed look silent (a renewal always discards the record). How long it
has been silent is the previous leader's recorded time against this leader's clock: the same
kind of trust the zone's grace period already puts in other machines' times (unhealthySince,
the nodes' Ready transition times). Skew between the two replicas moves the moment of the
verdict by that skew, no more; the record rounds its time up, so its 1 s resolution never
makes the verdict sooner. Where several records of a node match (leaders that saw the same
renewal at different moments), the latest counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from zonal_operator.api.group import format_time, parse_time
from zonal_operator.api.status import SilentNode, WorkloadStatus
from zonal_operator.core.model import Silence

__all__ = ["Recorded", "entries", "recorded", "resume"]


@dataclass(frozen=True)
class Recorded:
    """One node's silence as a previous leader recorded it."""

    renew_time: str  # its Lease's spec.renewTime as served
    since: datetime  # when that leader saw that renewal (rounded up to the second)


def entries(silenced: Sequence[tuple[str, Silence]]) -> list[SilentNode]:
    """The status record of a zone's silent nodes (name and its proven Silence)."""
    return [
        {
            "name": name,
            "renewTime": silence.renew_time,
            "lastHeartbeat": format_time(_ceil_second(silence.since)),
        }
        for name, silence in silenced
        if silence.renew_time
    ]


def recorded(statuses: Iterable[WorkloadStatus | Mapping[str, Any]]) -> dict[str, list[Recorded]]:
    """Node -> what the workloads' statuses record of its silence, over every zone entry that
    records one (a zone the status no longer calls failing records nothing)."""
    found: dict[str, list[Recorded]] = {}
    for status in statuses:
        for zone in status.get("zones") or []:
            for entry in zone.get("silentNodes") or []:
                name, renew = entry.get("name"), entry.get("renewTime")
                since = parse_time(entry.get("lastHeartbeat"))
                if not name or not renew or since is None:
                    continue
                record = Recorded(str(renew), since)
                if record not in found.setdefault(str(name), []):
                    found[str(name)].append(record)
    return found


def resume(
    records: Iterable[Recorded],
    read_renew_time: str,
    sent: datetime,
    own: tuple[str, datetime] | None = None,
) -> Silence | None:
    """A node's Silence resumed from `records`, given a fresh read of its Lease sent at `sent`
    that showed `read_renew_time`; None when no record holds (the read shows a renewal since).
    `own` is this leader's own sight of the Lease (the renewTime it last saw, and when)."""
    matching = [r.since for r in records if r.renew_time == read_renew_time]
    if not read_renew_time or not matching:
        return None
    since = max(matching)
    if own is not None:
        own_renew, own_since = own
        if own_renew != read_renew_time:
            return None  # renewed since this leader last saw it: not silent at all
        since = min(since, own_since)
    return Silence(since=since, confirmed=sent, renew_time=read_renew_time)


def _ceil_second(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)
