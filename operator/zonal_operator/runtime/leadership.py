"""Leader election on a `coordination.k8s.io/v1` Lease, and the write gate it opens.

Every replica runs the whole operator but the writes: reflectors and kopf's watch keep the
caches of standbys warm, and the controller's workers reconcile only while this replica leads
(runtime/controller.py, `lead`/`follow`). The decisions are pure (core/election.py); this
module reads and writes the Lease, and keeps the state of the write gate (`Leadership`) that
runtime/kube.py consults before every write.

Fencing: `Leadership.check` lets a write through only while this replica holds the lease and
`time.monotonic()` is before the moment its last successful renewal was SENT plus the renew
deadline. The renew deadline is shorter than the lease duration, and another replica takes the
lease only after seeing it unrenewed for a whole lease duration on its own clock; so a leader
has stopped writing before anyone else may start, even when it is frozen (SIGSTOP, a stalled
VM) and resumed: its clock ran on, and it writes again only after a renewal that succeeds.

Why not `kubernetes.leaderelection` (the official client's port of client-go's, read in
kubernetes 37.0.2): it is a blocking loop in a thread with `time.sleep`, and it times itself on
the wall clock (`time.time()`), which NTP steps move; a leader there gives up only after a
whole renew deadline of failed tries counted from the start of the try window (one retry
period after its last success, not from when that renewal was sent), and tells only through a
callback from inside that loop, so a process frozen and resumed believes it leads until its
loop next runs; `run()` returns after the first loss (no way back to standby without a new
object); and there is no release on shutdown (client-go's ReleaseOnCancel). The gate needs the
send moment of the last successful renewal on the monotonic clock, and the replica must go
back to standby and stand again; the loop here is small, asyncio-native, and does that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from zonal_operator.api.group import format_micro_time
from zonal_operator.core import election
from zonal_operator.core.election import LeaseRecord, Observation
from zonal_operator.runtime import metrics
from zonal_operator.runtime.kube import ApiException, KubeApi, NotLeader

log = logging.getLogger("zonal_operator")

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
LEASE_API = ("coordination.k8s.io/v1", "Lease")


def default_identity() -> str:
    """$POD_NAME in a pod (the chart sets it from the downward API), else host name and pid."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}_{os.getpid()}"


def default_namespace() -> str:
    """$POD_NAMESPACE, else the service account's namespace in a pod, else `default`."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


class LeaseApi(Protocol):
    """The Lease calls of runtime/kube.py's KubeApi the elector makes (blocking)."""

    def get_lease(self, namespace: str, name: str, timeout: float) -> dict[str, Any] | None: ...

    def create_lease(
        self, namespace: str, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]: ...

    def replace_lease(
        self, namespace: str, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ElectionSettings:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        election.check_timing(self.lease_duration, self.renew_deadline, self.retry_period)

    @property
    def request_timeout(self) -> float:
        """Of each lease request: a hung one must not hold the loop past a renewal or two."""
        return 2 * self.retry_period


class Leadership:
    """The write gate's state: changed by the elector on the event loop, read by the worker
    threads before each write (two attribute reads; the renewal time is set before `holding`,
    and `holding` cleared first, so a reader never sees a stale pair that lets it through)."""

    def __init__(self, renew_deadline: float) -> None:
        self.renew_deadline = renew_deadline
        self.holding = False
        self.renewed_sent = float("-inf")

    def may_write(self) -> bool:
        return election.may_write(
            self.holding, self.renewed_sent, time.monotonic(), self.renew_deadline
        )

    def check(self) -> None:
        """The gate of runtime/kube.py: raises NotLeader unless writes are allowed now."""
        if not self.may_write():
            raise NotLeader("not the leader, or the leader lease is not renewed in time")

    def renewed(self, sent: float) -> None:
        self.renewed_sent = max(self.renewed_sent, sent)
        self.holding = True

    def drop(self) -> None:
        self.holding = False


class LeaderElector:
    """Tries to acquire or renew the lease every retry period; `on_started`/`on_stopped` are
    called on the event loop when this replica becomes leader or stops being one."""

    def __init__(
        self,
        api: LeaseApi,
        settings: ElectionSettings,
        leadership: Leadership,
        *,
        on_started: Callable[[], None],
        on_stopped: Callable[[], None],
        events: KubeApi | None = None,
        record: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.api = api  # its own client, without the gate: the lease is how the gate opens
        self.settings = settings
        self.leadership = leadership
        self.on_started = on_started
        self.on_stopped = on_stopped
        self.events = events  # where the LeaderElected event goes (the gated client)
        # Annotations each write of the lease carries while leading ("" removes one): what a
        # new leader takes over (the node silences proven, core/resume.py). They ride on the
        # renewals, which are written anyway: no write of their own.
        self.record = record
        # The lease's annotations as this replica read them when it acquired it: what the
        # previous leader recorded.
        self.inherited: Mapping[str, str] = {}
        self.leading = False
        self.error = ""  # why the lease could not be read or written lately; "" when it could
        self._seen: Observation | None = None
        self._wake = asyncio.Event()  # a standby's watch saw the lease change: try at once
        self._lease: dict[str, Any] | None = None  # as last read or written
        # One thread of its own: a reconcile backlog never delays a renewal.
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="leader-election")
        metrics.LEADER.set(0)

    async def run(self) -> None:
        s = self.settings
        log.info(
            "leader election as %s on Lease %s/%s (lease %gs, renew deadline %gs, retry %gs)",
            s.identity,
            s.namespace,
            s.name,
            s.lease_duration,
            s.renew_deadline,
            s.retry_period,
        )
        while True:
            self._wake.clear()
            await self.attempt()
            # asyncio.timeout, not wait_for: before Python 3.12, wait_for may swallow a
            # cancellation that comes as the wait ends, and shutdown would wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._next_try()):
                    await self._wake.wait()

    def nudge(self) -> None:
        """The lease changed (a watch event): a standby tries at once, so that a released
        lease is taken within a round trip, and another's renewal is seen when it happens,
        not at the next try (its lease then expires, for this replica, a lease duration after
        the renewal itself). The leader ignores it: its own renewals would wake it."""
        if not self.leading:
            self._wake.set()

    def _next_try(self) -> float:
        """A retry period; a standby wakes when the holder's lease expires, if sooner."""
        delay = self.settings.retry_period
        seen = self._seen
        if not self.leading and seen is not None and seen.record is not None:
            expires = seen.since + self.settings.lease_duration - time.monotonic()
            delay = min(delay, max(expires, 0.0) + 0.01)
        return delay

    async def attempt(self) -> None:
        """One try to acquire or renew, and what follows from it."""
        loop = asyncio.get_running_loop()
        sent = time.monotonic()  # before the read: the deadline counts from no later than this
        annotations = dict(self.record()) if self.record is not None else {}  # on the loop
        try:
            held = await loop.run_in_executor(self._pool, self._acquire_or_renew, annotations)
        except Exception as exc:
            self._failed(exc)
            if self.leading and not self.leadership.may_write():
                self._lose("could not renew the lease within the renew deadline")
            return
        self._recovered()
        if held:
            was_open = self.leadership.may_write()
            self.leadership.renewed(sent)
            if not self.leading:
                self._gain()
            elif not was_open:
                # Renewed after the deadline had shut the gate (a freeze shorter than the
                # lease, an API server back in time): writes refused meanwhile ended their
                # reconciles, so every workload is reconciled again.
                log.info("renewed the lease after the renew deadline; reconciling everything")
                self.on_started()
        elif self.leading:
            holder = self._seen.record.holder if self._seen and self._seen.record else ""
            self._lose(f"the lease is held by {holder or 'nobody'}")

    async def release(self) -> None:
        """On shutdown: stop writing, and hand the lease back (holderIdentity cleared, as
        client-go's ReleaseOnCancel does), so that a standby takes it at its next try
        instead of a lease duration later."""
        was_leading = self.leading
        self.leadership.drop()
        if was_leading:
            self.leading = False
            metrics.LEADER.set(0)
        loop = asyncio.get_running_loop()
        try:
            released = await loop.run_in_executor(self._pool, self._release)
        except Exception as exc:
            log.warning("could not release the leader lease: %s", _describe(exc))
        else:
            if released:
                log.info(
                    "released the leader lease %s/%s", self.settings.namespace, self.settings.name
                )
        finally:
            self._pool.shutdown(wait=False)

    # -- transitions (event loop) ------------------------------------------------------------
    def _gain(self) -> None:
        self.leading = True
        metrics.LEADER.set(1)
        metrics.LEADERSHIP_CHANGES.inc()
        s = self.settings
        log.info("became the leader (Lease %s/%s, identity %s)", s.namespace, s.name, s.identity)
        self.on_started()
        if self.events is not None and self._lease is not None:
            meta = self._lease["metadata"]
            asyncio.get_running_loop().run_in_executor(None, self._post_elected, meta["uid"])

    def _lose(self, why: str) -> None:
        self.leadership.drop()  # first: no write gets through from here on
        self.leading = False
        metrics.LEADER.set(0)
        metrics.LEADERSHIP_CHANGES.inc()
        log.warning("stopped leading (%s); standing by", why)
        self.on_stopped()

    def _failed(self, exc: Exception) -> None:
        error = _describe(exc)
        if error != self.error:
            s = self.settings
            log.warning(
                "leader election failed: cannot read or write Lease %s/%s: %s",
                s.namespace,
                s.name,
                error,
            )
        self.error = error

    def _recovered(self) -> None:
        if self.error:
            log.info("leader election: the Lease can be read and written again")
        self.error = ""

    def _post_elected(self, uid: str) -> None:
        assert self.events is not None
        s = self.settings
        try:
            self.events.create_event(
                s.namespace,
                s.name,
                uid,
                type_="Normal",
                reason="LeaderElected",
                message=f"{s.identity} became the leader",
                involved=LEASE_API,
            )
        except (ApiException, NotLeader, OSError) as exc:
            log.warning("could not record event LeaderElected: %s", _describe(exc))

    # -- lease I/O (its thread) ----------------------------------------------------------------
    def _acquire_or_renew(self, annotations: Mapping[str, str]) -> bool:
        """Whether this replica holds the lease after the try: it read the lease, and wrote it
        with its own identity (and `annotations`) if it may. A write that loses a race (409)
        holds nothing."""
        s = self.settings
        body = self.api.get_lease(s.namespace, s.name, s.request_timeout)
        now = time.monotonic()
        record = None if body is None else _record(body)
        self._seen = election.observe(self._seen, record, now)
        if body is not None:
            self._lease = body
        if not election.may_acquire(s.identity, self._seen, now, s.lease_duration):
            return False
        new = election.next_record(s.identity, record, _micro_now(), int(s.lease_duration))
        acquiring = not self.leading
        try:
            if body is None:
                written = self.api.create_lease(
                    s.namespace, _annotated(_lease(s, new), annotations), s.request_timeout
                )
            else:
                written = self.api.replace_lease(
                    s.namespace, _annotated(_with_spec(body, new), annotations), s.request_timeout
                )
        except ApiException as exc:
            if exc.status == 409:  # someone wrote it since it was read: look again next time
                return False
            raise
        self._lease = written
        self._seen = Observation(new, now)
        if acquiring:
            self.inherited = dict(((body or {}).get("metadata") or {}).get("annotations") or {})
        return True

    def _release(self) -> bool:
        s = self.settings
        body = self.api.get_lease(s.namespace, s.name, s.request_timeout)
        if body is None or _record(body).holder != s.identity:
            return False
        now = _micro_now()
        spec = dict(body.get("spec") or {})
        spec.update(holderIdentity=None, leaseDurationSeconds=1, acquireTime=now, renewTime=now)
        self.api.replace_lease(s.namespace, {**body, "spec": spec}, s.request_timeout)
        return True


def _record(body: dict[str, Any]) -> LeaseRecord:
    spec = body.get("spec") or {}
    return LeaseRecord(
        holder=spec.get("holderIdentity") or "",
        renew_time=spec.get("renewTime") or "",
        acquire_time=spec.get("acquireTime") or "",
        transitions=int(spec.get("leaseTransitions") or 0),
        duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
    )


def _spec(record: LeaseRecord) -> dict[str, Any]:
    return {
        "holderIdentity": record.holder,
        "leaseDurationSeconds": record.duration_seconds,
        "acquireTime": record.acquire_time,
        "renewTime": record.renew_time,
        "leaseTransitions": record.transitions,
    }


def _lease(settings: ElectionSettings, record: LeaseRecord) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": settings.name, "namespace": settings.namespace},
        "spec": _spec(record),
    }


def _with_spec(body: dict[str, Any], record: LeaseRecord) -> dict[str, Any]:
    """The lease as read (its resourceVersion included: the PUT is refused if it moved), with
    the new record."""
    return {**body, "spec": {**(body.get("spec") or {}), **_spec(record)}}


def _annotated(body: dict[str, Any], annotations: Mapping[str, str]) -> dict[str, Any]:
    """The lease with `annotations` set (an empty value removes the annotation)."""
    if not annotations:
        return body
    meta = dict(body.get("metadata") or {})
    merged = {**(meta.get("annotations") or {}), **annotations}
    meta["annotations"] = {k: v for k, v in merged.items() if v}
    return {**body, "metadata": meta}


def _micro_now() -> str:
    """A MicroTime, as Lease timestamps are."""
    return format_micro_time(datetime.now(UTC))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {exc}"
