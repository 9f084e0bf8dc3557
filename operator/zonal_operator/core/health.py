"""Zone health from the zone's eligible nodes (pure).

A node counts as failed when its Ready condition is not True (the node lifecycle controller
sets it Unknown when the kubelet stops reporting, and taints the node). A cordoned node that is
Ready is not a failure (it is being drained on purpose), but it takes no new replicas; nor does
a node still carrying the lifecycle taints while it comes back.

A zone is failing when at least `threshold_percent` of its nodes have failed (a zone of one node
fails with its node). The times are derived from the nodes' Ready transition times, which the
node lifecycle controller sets, so they survive an operator restart:
- `failing_since`: each failed node has been failed continuously since its transition time, so
  the zone has been failing continuously since the k-th earliest of those times, where k is the
  number of failed nodes that makes the zone fail;
- `healthy_since`: likewise the m-th earliest transition time of the nodes that are fine, m
  being the number of fine nodes that keeps the zone healthy.

A node also counts as failed when it is silent (core/heartbeat.py: its Lease renewals stopped
longer ago than the workload's heartbeatTimeoutSeconds, confirmed by a fresh read) and enough
of its zone is silent with it (`heartbeat.correlated`). It has then failed since its last
renewal, so the grace period counts from the outage itself. If every zone of a workload looks
failing and silence is part of why, the signal is distrusted: far likelier that the operator's
view of the Leases is wrong than that every zone went dark; the zones are judged by their Ready
conditions alone, and the all-zones-down rule (zones.guard_all_failing) still holds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload

from zonal_operator.core import heartbeat
from zonal_operator.core.eligibility import eligible_zones
from zonal_operator.core.model import NODE_FAILURE_TAINTS, NodeInfo

LIFECYCLE_TAINTS = frozenset(NODE_FAILURE_TAINTS)
# A node with no transition time on record is taken to have been in its state for a long time:
# never "now", which would restart every grace period on each evaluation.
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ZoneHealth:
    zone: str
    nodes: int
    ready: int
    failed: int
    cordoned: int
    # Nodes that can take a new replica now: Ready, not cordoned, not tainted as failing.
    schedulable: int
    failing: bool
    failing_since: datetime | None
    healthy_since: datetime | None
    # Of the failed nodes, those failed by their silence alone (still Ready), and the latest of
    # their last heartbeats.
    silent: int = 0
    last_heartbeat: datetime | None = None
    # The earliest moment a quiet node could be proven silent (heartbeat.due): requeue then.
    silence_due: datetime | None = None
    # Failed nodes without the silent ones: did the zone fail only because of its silence?
    by_silence: bool = False

    @property
    def verdict(self) -> str:
        """What failed the zone ("Heartbeat" or "NotReady"), "" when it is not failing."""
        if not self.failing:
            return ""
        return "Heartbeat" if self.by_silence else "NotReady"

    def describe(self) -> str:
        if self.silent and self.last_heartbeat is not None:
            parts = [
                f"{self.silent}/{self.nodes} nodes silent, "
                f"last heartbeat {self.last_heartbeat:%H:%M:%S}"
            ]
            if self.failed > self.silent:
                parts.append(f"{self.failed - self.silent} not Ready")
        else:
            parts = [f"{self.ready}/{self.nodes} nodes Ready"]
            if self.failed:
                parts.append(f"{self.failed} not Ready")
        if self.cordoned:
            parts.append(f"{self.cordoned} cordoned")
        return ", ".join(parts)


def node_failed(node: NodeInfo) -> bool:
    # The Ready condition decides. The lifecycle controller's not-ready/unreachable taints
    # follow it, and linger a moment after a node comes back: a Ready node with such a taint
    # is recovering, not failing.
    return node.ready != "True"


def failed_nodes_to_fail(nodes: int, threshold_percent: int) -> int:
    """How many failed nodes make a zone of `nodes` nodes fail (at least one)."""
    return max(1, math.ceil(nodes * threshold_percent / 100))


def zone_health(
    zone: str,
    nodes: Sequence[NodeInfo],
    threshold_percent: int,
    heartbeat_timeout: int = 0,
    trusted: bool = True,
) -> ZoneHealth:
    not_ready = [n for n in nodes if node_failed(n)]
    quiet = [n for n in nodes if heartbeat.silent(n, heartbeat_timeout, trusted)]
    counted = quiet if heartbeat.correlated(len(quiet), len(nodes)) else []
    silent_only = [n for n in counted if not node_failed(n)]
    failed = not_ready + silent_only
    failed_names = {n.name for n in failed}
    fine = [n for n in nodes if n.name not in failed_names]
    cordoned = sum(1 for n in fine if n.unschedulable)
    k = failed_nodes_to_fail(len(nodes), threshold_percent)
    failing = bool(nodes) and len(failed) >= k
    failing_since = healthy_since = None
    if failing:
        silenced = {n.name for n in counted}
        failing_since = sorted(_failed_since(n, n.name in silenced) for n in failed)[k - 1]
    elif nodes:
        needed = len(nodes) - k + 1  # fine nodes that keep failed ones below k
        healthy_since = sorted(n.ready_since or _LONG_AGO for n in fine)[needed - 1]
    return ZoneHealth(
        zone=zone,
        nodes=len(nodes),
        ready=sum(1 for n in nodes if n.ready == "True"),
        failed=len(failed),
        cordoned=cordoned,
        schedulable=sum(
            1
            for n in fine
            if not n.unschedulable and not any(t.key in LIFECYCLE_TAINTS for t in n.taints)
        ),
        failing=failing,
        failing_since=failing_since,
        healthy_since=healthy_since,
        silent=len(silent_only),
        last_heartbeat=max((n.silence.since for n in silent_only if n.silence), default=None),
        silence_due=heartbeat.due(nodes, heartbeat_timeout, trusted),
        by_silence=failing and len(not_ready) < k,
    )


def _failed_since(node: NodeInfo, silenced: bool) -> datetime:
    """Since when a failed node has failed: its last heartbeat when its silence counts (the
    outage itself), else when its Ready condition changed; the earlier of the two."""
    times = [node.ready_since or _LONG_AGO] if node_failed(node) else []
    if silenced and node.silence is not None:
        times.append(node.silence.since)
    return min(times)


class NodeSnapshot(Sequence[NodeInfo]):
    """Every node at one moment, and what was computed over them: the zone healths per set of
    scheduling constraints, and the failed nodes' names. Workloads mostly share constraints,
    and a cluster change re-plans all of them against one snapshot: a thousand workloads on
    hundreds of nodes would otherwise repeat the same matching a thousand times. The cache
    hands every plan the same snapshot until a node changes; the memo lives and dies with it
    (a plain sequence of nodes works too, and is simply computed over every time)."""

    def __init__(self, nodes: Sequence[NodeInfo], heartbeats_trusted: bool = True) -> None:
        self._nodes = tuple(nodes)
        # False while the runtime distrusts its view of the node Leases (runtime/heartbeats.py):
        # silence then counts for nothing.
        self.heartbeats_trusted = heartbeats_trusted
        self._healths: dict[tuple[Any, ...], dict[str, ZoneHealth]] = {}
        self._failed: dict[int, frozenset[str]] = {}

    @overload
    def __getitem__(self, index: int) -> NodeInfo: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[NodeInfo]: ...

    def __getitem__(self, index: int | slice) -> NodeInfo | Sequence[NodeInfo]:
        return self._nodes[index]

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[NodeInfo]:
        return iter(self._nodes)


def zone_healths(
    nodes: Sequence[NodeInfo],
    pod_spec: Mapping[str, Any],
    topology_key: str,
    allowed_zones: Collection[str] | None,
    threshold_percent: int,
    *,
    heartbeat_timeout: int = 0,
) -> dict[str, ZoneHealth]:
    """Zone -> its health, over the joined nodes the pod spec may run on, zones sorted."""
    key = (
        json.dumps(
            [
                pod_spec.get("nodeSelector"),
                ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
                    "requiredDuringSchedulingIgnoredDuringExecution"
                ),
                pod_spec.get("tolerations"),
            ],
            sort_keys=True,
        ),
        topology_key,
        tuple(sorted(allowed_zones or ())),
        threshold_percent,
        heartbeat_timeout,
    )
    memo = nodes._healths if isinstance(nodes, NodeSnapshot) else {}
    found = memo.get(key)
    if found is None:
        joined = [n for n in nodes if n.joined]
        by_zone = eligible_zones(joined, pod_spec, topology_key, allowed_zones or None)

        def judge(trusted: bool) -> dict[str, ZoneHealth]:
            return {
                zone: zone_health(zone, members, threshold_percent, heartbeat_timeout, trusted)
                for zone, members in by_zone.items()
            }

        found = judge(_trusted(nodes))
        if (
            found
            and all(h.failing for h in found.values())
            and any(h.silent for h in found.values())
        ):
            found = judge(False)  # every zone silent or down: distrust the silence
        memo[key] = found
    return dict(found)


def _trusted(nodes: Sequence[NodeInfo]) -> bool:
    return nodes.heartbeats_trusted if isinstance(nodes, NodeSnapshot) else True


def failed_node_names(nodes: Sequence[NodeInfo], heartbeat_timeout: int = 0) -> frozenset[str]:
    """The names of the nodes that count as failed, once per node snapshot: not Ready
    (node_failed), or silent for longer than the workload's heartbeat timeout."""
    trusted = _trusted(nodes)

    def compute() -> frozenset[str]:
        return frozenset(
            n.name
            for n in nodes
            if node_failed(n) or heartbeat.silent(n, heartbeat_timeout, trusted)
        )

    if isinstance(nodes, NodeSnapshot):
        found = nodes._failed.get(heartbeat_timeout)
        if found is None:
            found = nodes._failed[heartbeat_timeout] = compute()
        return found
    return compute()
