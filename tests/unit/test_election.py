"""Leader election's pure decisions (core/election.py): the write gate's deadline, when a
replica may take the lease, and the fencing property they give together."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes import client

from zonal_operator.core import election
from zonal_operator.core.election import LeaseRecord, Observation
from zonal_operator.runtime.kube import KubeApi, NotLeader
from zonal_operator.runtime.leadership import Leadership

LEASE, DEADLINE, RETRY = 15.0, 10.0, 2.0
times = st.floats(min_value=0, max_value=1e6, allow_nan=False)
spans = st.floats(min_value=0, max_value=100, allow_nan=False)


def held_by(holder: str, renew: str = "t0") -> LeaseRecord:
    return LeaseRecord(holder, renew, "t0", 0, int(LEASE))


def test_gate_opens_only_while_holding_and_before_the_deadline() -> None:
    assert election.may_write(True, 100.0, 109.999, DEADLINE)
    assert not election.may_write(True, 100.0, 110.0, DEADLINE)
    assert not election.may_write(False, 100.0, 100.0, DEADLINE)
    assert not election.may_write(True, float("-inf"), 0.0, DEADLINE)


@given(sent=times, elapsed=spans)
def test_gate_deadline_counts_from_the_send(sent: float, elapsed: float) -> None:
    assert election.may_write(True, sent, sent + elapsed, DEADLINE) == (
        sent + elapsed < sent + DEADLINE
    )


def test_free_released_or_own_lease_may_be_taken_at_once() -> None:
    now = 50.0
    assert election.may_acquire("a", Observation(None, now), now, LEASE)
    assert election.may_acquire("a", Observation(held_by(""), now), now, LEASE)
    assert election.may_acquire("a", Observation(held_by("a"), now), now, LEASE)
    assert not election.may_acquire("a", Observation(held_by("b"), now), now, LEASE)


@given(seen=times, waited=spans)
def test_anothers_lease_only_after_a_whole_lease_duration_unchanged(
    seen: float, waited: float
) -> None:
    observation = Observation(held_by("b"), seen)
    assert election.may_acquire("a", observation, seen + waited, LEASE) == (
        seen + waited >= seen + LEASE
    )


def test_an_unchanged_record_keeps_its_first_sighting() -> None:
    first = election.observe(None, held_by("b", "r1"), 10.0)
    again = election.observe(first, held_by("b", "r1"), 20.0)
    assert again.since == 10.0
    renewed = election.observe(again, held_by("b", "r2"), 21.0)
    assert renewed.since == 21.0
    handed = election.observe(renewed, held_by("c", "r2"), 22.0)
    assert handed.since == 22.0
    assert election.observe(handed, None, 23.0) == Observation(None, 23.0)


@given(
    renewed_sent=times,
    # When the renewal reached the API server and when the standby first saw it: both after
    # the send.
    arrival=spans,
    seen_after=spans,
    later=st.floats(min_value=0, max_value=1000, allow_nan=False),
)
def test_fencing_no_two_writers(
    renewed_sent: float, arrival: float, seen_after: float, later: float
) -> None:
    """Whatever the delays, at any moment when the standby may take the lease the old leader's
    gate is shut (both read one monotonic clock here: the durations are what matter)."""
    seen = renewed_sent + arrival + seen_after
    now = seen + later
    standby_may = election.may_acquire("b", Observation(held_by("a"), seen), now, LEASE)
    leader_may = election.may_write(True, renewed_sent, now, DEADLINE)
    assert not (standby_may and leader_may)


def test_next_record_counts_transitions_and_keeps_the_acquire_time() -> None:
    first = election.next_record("a", None, "t1", 15)
    assert first == LeaseRecord("a", "t1", "t1", 0, 15)
    renewed = election.next_record("a", first, "t2", 15)
    assert renewed == LeaseRecord("a", "t2", "t1", 0, 15)
    taken = election.next_record("b", renewed, "t3", 15)
    assert taken == LeaseRecord("b", "t3", "t3", 1, 15)


@pytest.mark.parametrize(
    "timing",
    [(15, 15, 2), (15, 10, 10), (10, 15, 2), (15, 10, 0)],
    ids=["deadline=lease", "retry=deadline", "deadline>lease", "no retry"],
)
def test_timing_that_breaks_fencing_is_refused(timing: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError, match="renew deadline"):
        election.check_timing(*timing)
    election.check_timing(LEASE, DEADLINE, RETRY)


def test_kube_writes_pass_the_gate_and_reads_do_not() -> None:
    """runtime/kube.py asks the gate before every write (events included) and sends nothing
    when it refuses; a port nobody listens on proves nothing was sent."""
    configuration = client.Configuration(host="http://127.0.0.1:9")
    configuration.retries = 0
    leadership = Leadership(renew_deadline=DEADLINE)
    api = KubeApi(client.ApiClient(configuration), gate=leadership.check)
    writes = [
        lambda: api.create_deployment("ns", {"metadata": {"name": "d"}}),
        lambda: api.scale_deployment("ns", "d", 1),
        lambda: api.delete_pod("ns", "p", "uid"),
        lambda: api.patch_workload_status("ns", "w", {}),
        lambda: api.create_event("ns", "w", "uid", type_="Normal", reason="R", message="m"),
    ]
    for write in writes:
        with pytest.raises(NotLeader):
            write()
    leadership.renewed(sent=time.monotonic() - DEADLINE)  # sent a deadline ago: still shut
    with pytest.raises(NotLeader):
        writes[0]()
    leadership.renewed(sent=time.monotonic())
    with pytest.raises(Exception) as refused:  # through the gate: the connection is refused
        writes[0]()
    assert not isinstance(refused.value, NotLeader)
    leadership.drop()
    with pytest.raises(NotLeader):
        writes[0]()
    with pytest.raises(Exception) as read:  # reads are never gated
        api.list_namespaces()
    assert not isinstance(read.value, NotLeader)
