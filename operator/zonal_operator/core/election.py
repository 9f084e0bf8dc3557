"""Leader election's decisions, as functions of plain values (the I/O is runtime/leadership.py).

Times here are the replica's own monotonic clock, never the lease's timestamps: replicas'
wall clocks may disagree, so a lease held by another replica counts as expired only once this
replica has seen it unchanged for a whole lease duration (as client-go's leaderelection judges
it). The leader, in turn, writes only until its renew deadline, counted from the moment it SENT
its last successful renewal; the renew deadline is shorter than the lease duration, so the
leader has stopped writing before any other replica can judge its lease expired.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease's spec says, as far as the election reads it."""

    holder: str  # holderIdentity; "" when released
    renew_time: str  # as written (compared, never parsed)
    acquire_time: str
    transitions: int
    duration_seconds: int

    @property
    def changed_by(self) -> tuple[str, str]:
        """What moves whenever a holder renews or the lease changes hands."""
        return (self.holder, self.renew_time)


@dataclass(frozen=True)
class Observation:
    """A lease as a replica last saw it, and since when (monotonic) it has looked like that."""

    record: LeaseRecord | None
    since: float


def observe(previous: Observation | None, record: LeaseRecord | None, now: float) -> Observation:
    """The new observation after reading `record` at `now`: the time seen stays that of the
    first reading of an unchanged record, so a silent holder's lease ages."""
    unchanged = (
        previous is not None
        and previous.record is not None
        and record is not None
        and previous.record.changed_by == record.changed_by
    )
    if unchanged:
        assert previous is not None
        return previous
    return Observation(record, now)


def may_acquire(identity: str, seen: Observation, now: float, lease_duration: float) -> bool:
    """Whether this replica may take (or keep) the lease: it is free, released, its own, or
    another holder has not renewed it for a whole lease duration as this replica saw it."""
    record = seen.record
    if record is None or not record.holder or record.holder == identity:
        return True
    return now >= seen.since + lease_duration


def may_write(holding: bool, renewed_sent: float, now: float, renew_deadline: float) -> bool:
    """The write gate: only while holding the lease, and before the renew deadline counted
    from the moment the last successful renewal was sent (not answered: the API server may
    have stamped it any time after sending)."""
    return holding and now < renewed_sent + renew_deadline


def next_record(
    identity: str, current: LeaseRecord | None, now_text: str, lease_duration: int
) -> LeaseRecord:
    """The record to write to acquire or renew: the transitions count moves when the lease
    changes hands, and the acquire time is kept while the holder stays the same."""
    if current is not None and current.holder == identity:
        return LeaseRecord(
            identity, now_text, current.acquire_time, current.transitions, lease_duration
        )
    transitions = 0 if current is None else current.transitions + 1
    return LeaseRecord(identity, now_text, now_text, transitions, lease_duration)


def check_timing(lease_duration: float, renew_deadline: float, retry_period: float) -> None:
    """The fencing holds only if a leader stops writing before its lease can expire, and it
    can try to renew more than once before it stops."""
    if not 0 < retry_period < renew_deadline < lease_duration:
        raise ValueError(
            "leader election needs 0 < retry period < renew deadline < lease duration, not "
            f"{retry_period} < {renew_deadline} < {lease_duration}"
        )
