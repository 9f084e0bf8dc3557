"""Resuming a heartbeat verdict in progress (pure): what a new leader takes of the silence the
previous leader proved, and when it throws that away.

A leader that starts in the middle of a zone's outage (a `helm upgrade`, a failover) has seen
no renewal of the zone's Leases, so on its own it counts their silence from its start
(core/heartbeat.py): the verdict would start over, and the zone fail over a whole heartbeat
timeout and grace period late. So the leader records every node silence it has proven (`record`)
on its leader-election Lease (annotation `zonal.dev/silent-nodes`), carried by the renewals it
writes anyway: each node's Lease `renewTime` at the last renewal it saw, exactly as the API
server served it, and when it saw that renewal (on its own clock, rounded up to the second).
One record for the whole cluster, none in the workloads' status: a zone's silence is the
zone's, whatever the number of workloads in it.

The replica that acquires the Lease takes the record from the Lease as it read it, reads those
nodes' Leases from the API server, never from its cache, before its first reconcile
(runtime/heartbeats.py `Heartbeats.resume`), and decides per node (`resume`):
- the read shows a recorded renewTime: the node has not renewed since a previous leader saw
  that renewal; its silence runs from that leader's sight (or from this leader's own first
  sight of the renewal, if earlier), proven up to the moment the read was sent;
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

Size: about 80 bytes a node. The record keeps the longest silences first and stops at
RECORD_BYTES, well inside the API server's 256 KiB for an object's annotations; a node left
out is counted afresh by a new leader, later, never sooner. Without leader election there is
no Lease and no record: a restarted operator counts a silence from its own start.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from zonal_operator.api.group import format_time, parse_time
from zonal_operator.core.model import Silence

__all__ = ["RECORD_BYTES", "Recorded", "record", "recorded", "resume"]

RECORD_BYTES = 128 * 1024


@dataclass(frozen=True)
class Recorded:
    """One node's silence as a previous leader recorded it."""

    renew_time: str  # its Lease's spec.renewTime as served
    since: datetime  # when that leader saw that renewal (rounded up to the second)


def record(silences: Iterable[tuple[str, Silence]], limit: int = RECORD_BYTES) -> str:
    """The record of the proven node silences: a JSON object, node -> [renewTime, when the
    last renewal was seen]; the longest silences first, at most `limit` bytes; "" for none."""
    entries: list[str] = []
    size = 2
    for since, name, renew_time in sorted(
        (s.since, name, s.renew_time) for name, s in silences if s.renew_time
    ):
        entry = f"{json.dumps(name)}:{json.dumps([renew_time, format_time(_ceil_second(since))])}"
        size += len(entry) + 1
        if size > limit:
            break
        entries.append(entry)
    return "{" + ",".join(entries) + "}" if entries else ""


def recorded(text: str | None) -> dict[str, list[Recorded]]:
    """Node -> what the record says of its silence; nothing of what cannot be read (a record
    written by hand, or by another version, is no evidence)."""
    try:
        raw = json.loads(text) if text else {}
    except ValueError:
        return {}
    found: dict[str, list[Recorded]] = {}
    for name, entry in raw.items() if isinstance(raw, dict) else ():
        if not (isinstance(entry, list) and len(entry) == 2 and entry[0]):
            continue
        since = parse_time(entry[1]) if isinstance(entry[1], str) else None
        if since is not None:
            found[str(name)] = [Recorded(str(entry[0]), since)]
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
