"""Which workloads a batch of node changes concerns now, and which can wait (pure).

A lost zone's nodes fall silent within seconds, then the node lifecycle controller marks them
NotReady and taints them a batch at a time, over a minute or more (100 nodes: 80 s in
`make bench-scale`). Each batch used to be a reconcile of every workload, at a thousand
workloads some twenty thousand reconciles in the minute the API server is busiest. For a
workload that has already failed the zone over (its status says Unhealthy), one more of that
zone's nodes failing decides nothing: its replicas are gone from there, and a pod of its that
sat on the node is seen by the pod's own change (runtime/intake.py puts such a workload in
front at once). What is left is the zone's node counts in its status, which wait anyway
(core/coalesce.py); so such a workload is reconciled once the changes have gone on for
`WAIT_SECONDS`, not at every batch.

Every other change concerns every workload at once: a node coming back (a zone may be
recovering), failing in a zone the workload still serves, joining, leaving, or changing what
eligibility reads (labels, taints, cordons).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from zonal_operator.api.status import WorkloadStatus, ZoneState
from zonal_operator.core.health import node_failed
from zonal_operator.core.model import HEALTH_TAINT_KEYS, NodeInfo

# A workload that need not look at a batch of node changes looks this long after it anyway,
# for the node counts in its status (and as a bound on how long it goes unreconciled).
WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class NodeChange:
    """One node's change, as the batch of node changes records it."""

    labels: Mapping[str, str]
    # The node is failed after the change (NotReady, or silent), and nothing that eligibility
    # reads changed (labels, cordon, taints other than health's). False for anything else: a
    # node recovering, joining or deleted.
    failing: bool


def can_wait(status: WorkloadStatus, topology_key: str, changes: Iterable[NodeChange]) -> bool:
    """Whether a workload with this status can leave these node changes for later: each one
    is a node failing in a zone that the workload has failed over already."""
    failed_over = {
        str(z.get("name"))
        for z in status.get("zones") or []
        if z.get("health") == ZoneState.UNHEALTHY
    }
    if not failed_over:
        return False
    return all(c.failing and c.labels.get(topology_key) in failed_over for c in changes)


def change(before: NodeInfo | None, after: NodeInfo | None) -> NodeChange:
    """The change of a node from `before` to `after` (None: not there)."""
    if before is None or after is None:
        return NodeChange((after or before or NodeInfo("")).labels, failing=False)
    failed = node_failed(after) or after.silence is not None
    same = (
        before.labels == after.labels
        and before.unschedulable == after.unschedulable
        and before.joined == after.joined
        and _eligibility_taints(before) == _eligibility_taints(after)
    )
    return NodeChange(after.labels, failing=failed and same)


def _eligibility_taints(node: NodeInfo) -> frozenset[tuple[str, str, str]]:
    return frozenset(
        (t.key, t.value, t.effect) for t in node.taints if t.key not in HEALTH_TAINT_KEYS
    )
