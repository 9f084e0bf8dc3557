"""The heartbeat verdict (pure): which nodes have gone silent, and when silence may count.

Every kubelet renews its node's Lease in `kube-node-lease` every quarter of the lease duration
(10 s of 40 s by default). When a zone loses power or network, its renewals stop at once; the
node lifecycle controller marks the nodes NotReady only after its node-monitor grace (50 s by
default). The runtime (`runtime/heartbeats.py`) watches the Leases and, once a node has missed a
renewal, re-reads its Lease from the API server, not from its cache, about once a second. What
it learns is a `Silence` on the node: the last renewal the operator saw, and the last fresh read
that still showed no newer one. Both are times on the operator's own clock, never the kubelet's,
so clock skew between machines cannot make a node look silent.

A node is silent for a workload when `spec.failover.heartbeatTimeoutSeconds` is not 0, the
signal is trusted (`trusted`), and the silence proven by a fresh read is longer than that
timeout. A watch that lost events or a stale cache cannot make a node silent: only a read from
the API server proves it.

A leader that starts in the middle of an outage resumes what its predecessor proved rather
than counting the silence again from its own start: core/resume.py.

Silence counts towards a zone's failure only when it is correlated (`correlated`): at least two
of the zone's nodes silent (its only node, in a zone of one). One kubelet that hangs is the node
lifecycle controller's business; a zone whose kubelets go quiet together is an outage.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from zonal_operator.core.model import NodeInfo, Silence

__all__ = ["Silence", "correlated", "due", "quiet_after", "renew_interval", "silent"]

# A kubelet renews its Lease every quarter of the lease duration (kubelet and KWOK alike).
RENEW_FRACTION = 0.25
# The runtime starts re-reading a node's Lease once its renewal is this many renew intervals
# late: one late renewal, plus jitter and the watch's delivery.
QUIET_AFTER_RENEWALS = 1.5
# How long after a node's silence could prove it silent a workload looks again: the runtime
# re-reads quiet Leases every second, and the read takes its time.
CONFIRM_MARGIN = timedelta(seconds=2)


def renew_interval(lease_seconds: float) -> float:
    return lease_seconds * RENEW_FRACTION


def quiet_after(lease_seconds: float) -> float:
    """Seconds without a renewal after which the runtime re-reads a node's Lease."""
    return QUIET_AFTER_RENEWALS * renew_interval(lease_seconds)


def silent(node: NodeInfo, timeout_seconds: int, trusted: bool = True) -> bool:
    """Whether the node's proven silence is longer than the workload's timeout."""
    return (
        trusted
        and timeout_seconds > 0
        and node.silence is not None
        and node.silence.proven > timedelta(seconds=timeout_seconds)
    )


def correlated(silent_nodes: int, zone_nodes: int) -> bool:
    """Whether this many silent nodes may fail a zone of `zone_nodes` nodes."""
    return silent_nodes >= min(2, zone_nodes) and silent_nodes > 0


def due(nodes: Iterable[NodeInfo], timeout_seconds: int, trusted: bool = True) -> datetime | None:
    """When the earliest quiet node of `nodes` that is not silent yet could be proven silent:
    the workload is to be requeued then. Nodes already NotReady are judged by that (the runtime
    stops re-reading their Leases)."""
    if not trusted or timeout_seconds <= 0:
        return None
    times = [
        node.silence.since + timedelta(seconds=timeout_seconds) + CONFIRM_MARGIN
        for node in nodes
        if node.silence is not None
        and node.ready == "True"
        and not silent(node, timeout_seconds, trusted)
    ]
    return min(times, default=None)
