"""Plain value types shared by the pure core (no kopf, no API client)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

DEFAULT_TOPOLOGY_KEY = "topology.kubernetes.io/zone"

# Taints the node lifecycle controller and the kubelet set to describe node health. They are
# signals for zone health, never a reason to call a node ineligible.
HEALTH_TAINT_KEYS = frozenset(
    {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/unschedulable",
        "node.kubernetes.io/network-unavailable",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.cloudprovider.kubernetes.io/uninitialized",
        "node.cloudprovider.kubernetes.io/shutdown",
    }
)


@dataclass(frozen=True)
class Taint:
    key: str
    effect: str
    value: str = ""


@dataclass(frozen=True)
class NodeInfo:
    """What the operator needs to know of a Node, projected from the API object."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    unschedulable: bool = False
    # status of the Ready condition: "True", "False" or "Unknown" (no condition yet: "Unknown").
    ready: str = "Unknown"
    # lastTransitionTime of the Ready condition, when known.
    ready_since: datetime | None = None
