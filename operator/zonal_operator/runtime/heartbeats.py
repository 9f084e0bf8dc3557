"""Node heartbeats: the renewals of the node Leases in kube-node-lease, as the operator sees
them, and the proof that a node has gone silent (what silence means is core/heartbeat.py's).

A reflector watches the Leases and hands every event to `on_lease`, which notes when each
node's renewal time last changed, on the operator's own clock. Once a second, `tick` looks for
quiet nodes (Ready, but no renewal for 1.5 renew intervals) and re-reads their Leases from the
API server: a watch that lost events or a cache that fell behind must never make a node look
silent. A read that still shows the last renewal seen proves the silence up to the moment the
read was sent, and puts a `Silence` on the node in the cache; a renewal (watched or read) takes
it off again.

The leader records the silences it has proven (`record`, written with its leader-election Lease,
runtime/leadership.py), and a new leader first resumes them (core/resume.py): `resume` re-reads
the Leases of the nodes recorded as silent, and a read that still shows the recorded renewal
puts the recorded silence on the node at once.

The signal is distrusted, and silence counts for nothing, while the Lease watch delivers no
event for two renew intervals although nodes hold Leases, or while every zone looks silent:
far likelier that the operator's view is wrong than that every kubelet stopped at once. It says
so in a log line and in `zonal_operator_heartbeats_trusted`.

Cost: a Lease event per node per renew interval (300 nodes with 10 s renewals: 30 a second),
each parsed and compared; nothing is written, and only quiet nodes are ever read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from zonal_operator.api.group import DEFAULT_TOPOLOGY_KEY
from zonal_operator.core import heartbeat, node_changes
from zonal_operator.core import resume as resuming
from zonal_operator.core.health import node_failed
from zonal_operator.core.model import Silence
from zonal_operator.runtime import metrics
from zonal_operator.runtime.cache import Store

log = logging.getLogger("zonal_operator")

LEASE_NAMESPACE = "kube-node-lease"
LEASES_PATH = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases"
# The kubelet's default lease (40 s), for a Lease that does not say.
DEFAULT_LEASE_SECONDS = 40.0
# Quiet Leases re-read at once; more wait for the next tick.
READ_CONCURRENCY = 16
# A new leader waits at most this long for the reads that resume recorded silences before it
# reconciles: a slow API server must not keep it from leading.
RESUME_SECONDS = 5.0

# A Lease read from the API server: the object, or None when it does not exist.
ReadLease = Callable[[str], Awaitable[Mapping[str, Any] | None]]


@dataclass
class _Seen:
    renew_time: str  # spec.renewTime as served: compared, never parsed (the kubelet's clock)
    # When the operator saw it change (its own clock); or, resumed, when a previous leader
    # saw that same renewal, as it recorded.
    seen: datetime
    lease_seconds: float


class Heartbeats:
    def __init__(
        self,
        store: Store,
        changed: Callable[[node_changes.NodeChange | None], None],
        read: ReadLease | None = None,
        *,
        tick_seconds: float = 1.0,
        zone_label: str = DEFAULT_TOPOLOGY_KEY,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        # `changed` re-queues the workloads a change concerns (soon, runtime/intake.py): a
        # node's silence started or ended (the node's change), or the signal's trust changed
        # (None: every workload). Confirmations of an ongoing silence only update the cache:
        # the workloads concerned have a timer for when it can matter (heartbeat.due).
        self.store, self.changed, self.read = store, changed, read
        self.tick_seconds, self.zone_label = tick_seconds, zone_label
        self.now, self.monotonic = now, monotonic
        self.leases: dict[str, _Seen] = {}
        self.last_event = monotonic()
        self.trusted = True
        metrics.HEARTBEATS_TRUSTED.set(1)

    # -- the watch -----------------------------------------------------------------------------
    def on_lease(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        self.last_event = self.monotonic()
        name = (body.get("metadata") or {}).get("name", "")
        if event_type == "DELETED":
            self.leases.pop(name, None)
            self._set_silence(name, None)
            return
        spec = body.get("spec") or {}
        renew_time = str(spec.get("renewTime") or "")
        lease_seconds = float(spec.get("leaseDurationSeconds") or DEFAULT_LEASE_SECONDS)
        seen = self.leases.get(name)
        if seen is None:
            # First sight (start-up, or a new node): counted as renewed now. The renewTime is
            # the kubelet's clock; trusting it here could call a node silent at start-up.
            self.leases[name] = _Seen(renew_time, self.now(), lease_seconds)
            return
        seen.lease_seconds = lease_seconds
        if renew_time != seen.renew_time:
            metrics.LEASE_RENEWALS.inc()
            seen.renew_time, seen.seen = renew_time, self.now()
            self._set_silence(name, None)

    # -- the tick ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Tick forever (cancel to stop)."""
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self.tick()
            except Exception:  # a bug here must not stop the heartbeats for good
                log.exception("heartbeat tick failed")

    async def tick(self) -> None:
        now = self.now()
        quiet = self._quiet(now)
        self._judge_trust(quiet)
        to_read = [name for name in quiet if self._ready(name)]
        if self.read is not None and to_read:
            limit = asyncio.Semaphore(READ_CONCURRENCY)
            await asyncio.gather(*(self._confirm(name, limit) for name in to_read))
        metrics.SILENT_NODES.set(
            sum(1 for name in self.leases if self._node_silence(name) is not None)
        )

    def _quiet(self, now: datetime) -> list[str]:
        """The nodes whose Lease has not been seen renewed for 1.5 renew intervals."""
        return [
            name
            for name, seen in self.leases.items()
            if (now - seen.seen).total_seconds() > heartbeat.quiet_after(seen.lease_seconds)
            and name in self.store.nodes
        ]

    async def _confirm(self, name: str, limit: asyncio.Semaphore) -> None:
        assert self.read is not None
        async with limit:
            sent = self.now()
            try:
                lease = await self.read(name)
            except Exception as exc:  # proves nothing either way
                metrics.LEASE_READS.labels(result="error").inc()
                log.debug("reading the Lease of node %s failed: %s", name, exc)
                return
        seen = self.leases.get(name)
        if seen is None:
            return  # deleted meanwhile
        if lease is None:
            metrics.LEASE_READS.labels(result="gone").inc()
            del self.leases[name]
            self._set_silence(name, None)  # no Lease: judged by its Ready condition alone
            return
        renew_time = str((lease.get("spec") or {}).get("renewTime") or "")
        if renew_time != seen.renew_time:
            metrics.LEASE_READS.labels(result="renewed").inc()
            seen.renew_time, seen.seen = renew_time, sent
            self._set_silence(name, None)
            return
        metrics.LEASE_READS.labels(result="silent").inc()
        self._set_silence(name, Silence(since=seen.seen, confirmed=sent, renew_time=renew_time))

    # -- a new leader ----------------------------------------------------------------------------
    def record(self) -> str:
        """The record of every silence proven now, for a new leader (core/resume.py)."""
        nodes = self.store.nodes
        return resuming.record(
            (name, silence)
            for name in self.leases
            if (node := nodes.get(name)) is not None and (silence := node.silence) is not None
        )

    async def resume(self, records: Mapping[str, list[resuming.Recorded]]) -> None:
        """Resume the silences a previous leader recorded (core/resume.py): read each recorded
        node's Lease from the API server, and take the record where the read shows the
        renewal it names. Reads only: a standby may do it too."""
        names = [n for n in records if n in self.leases and n in self.store.nodes]
        if self.read is None or not names:
            return
        limit = asyncio.Semaphore(READ_CONCURRENCY)
        try:
            async with asyncio.timeout(RESUME_SECONDS):
                found = await asyncio.gather(*(self._resume(n, records[n], limit) for n in names))
        except TimeoutError:  # what was not read in time is counted afresh
            log.warning("resuming the recorded node silences took over %gs", RESUME_SECONDS)
            return
        log.info(
            "resumed the recorded silence of %d nodes, discarded %d (renewed since)",
            sum(found),
            len(found) - sum(found),
        )

    async def _resume(
        self, name: str, records: list[resuming.Recorded], limit: asyncio.Semaphore
    ) -> bool:
        assert self.read is not None
        async with limit:
            sent = self.now()
            try:
                lease = await self.read(name)
            except Exception as exc:  # proves nothing: counted afresh
                metrics.LEASE_READS.labels(result="error").inc()
                log.debug("reading the Lease of node %s failed: %s", name, exc)
                return False
        seen = self.leases.get(name)
        if seen is None:
            return False  # deleted meanwhile
        renew_time = "" if lease is None else str((lease.get("spec") or {}).get("renewTime") or "")
        silence = resuming.resume(records, renew_time, sent, (seen.renew_time, seen.seen))
        if silence is None:
            metrics.SILENCES_RESUMED.labels(result="discarded").inc()
            if lease is not None and renew_time != seen.renew_time:
                seen.renew_time, seen.seen = renew_time, sent
                self._set_silence(name, None)
            return False
        metrics.SILENCES_RESUMED.labels(result="resumed").inc()
        seen.seen = silence.since
        self._set_silence(name, silence)
        return True

    # -- trust ---------------------------------------------------------------------------------
    def _judge_trust(self, quiet: list[str]) -> None:
        reason = ""
        if self.leases:
            longest = max(s.lease_seconds for s in self.leases.values())
            gap = self.monotonic() - self.last_event
            if gap > 2 * heartbeat.renew_interval(longest):
                reason = f"the node Lease watch has delivered nothing for {gap:.0f} s"
        if not reason and quiet and self._every_zone_quiet(set(quiet)):
            reason = "every zone's nodes look silent"
        trusted = not reason
        if trusted == self.trusted:
            return
        self.trusted = trusted
        metrics.HEARTBEATS_TRUSTED.set(1 if trusted else 0)
        if trusted:
            log.info("node heartbeats are trusted again")
        else:
            metrics.HEARTBEATS_DISTRUSTED.labels(
                reason="watch-quiet" if "watch" in reason else "all-zones-silent"
            ).inc()
            log.warning(
                "node heartbeats distrusted (%s): zones are judged by their nodes' Ready "
                "conditions alone until Lease renewals are seen again",
                reason,
            )
        self.store.set_heartbeats_trusted(trusted)
        self.changed(None)

    def _every_zone_quiet(self, quiet: set[str]) -> bool:
        members: dict[str, list[str]] = defaultdict(list)
        for name in self.leases:
            node = self.store.nodes.get(name)
            zone = node.labels.get(self.zone_label) if node is not None else None
            if zone:
                members[zone].append(name)
        return bool(members) and all(
            heartbeat.correlated(sum(1 for n in names if n in quiet), len(names))
            for names in members.values()
        )

    # -- the cache -----------------------------------------------------------------------------
    def _ready(self, name: str) -> bool:
        node = self.store.nodes.get(name)
        return node is not None and not node_failed(node)

    def _node_silence(self, name: str) -> Silence | None:
        node = self.store.nodes.get(name)
        return node.silence if node is not None else None

    def _set_silence(self, name: str, silence: Silence | None) -> None:
        node = self.store.nodes.get(name)
        if node is None or node.silence == silence:
            return
        started_or_ended = (node.silence is None) != (silence is None)
        after = dataclasses.replace(node, silence=silence)
        self.store.put_node(after)
        if started_or_ended:
            log.debug("node %s: %s", name, "silent" if silence else "renewing again")
            self.changed(node_changes.change(node, after))
