"""Plain value types shared by the pure core (no kopf, no API client)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from zonal_operator.api.group import parse_time

# The taints the node lifecycle controller puts on a node that is not Ready (NoSchedule at once,
# NoExecute for taint-based eviction); they linger a moment after the node comes back.
NODE_FAILURE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
# Taints the node lifecycle controller and the kubelet set to describe node health. They are
# signals for zone health, never a reason to call a node ineligible.
HEALTH_TAINT_KEYS = frozenset(
    {
        *NODE_FAILURE_TAINTS,
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
    # Set by the node lifecycle controller on the taints it adds.
    time_added: datetime | None = None


@dataclass(frozen=True)
class Silence:
    """A node whose Lease renewals have stopped, as the runtime has confirmed it (the
    heartbeat verdict, core/heartbeat.py, decides what it means)."""

    since: datetime  # when the operator saw the last renewal
    confirmed: datetime  # when a read from the API server last showed no newer renewal
    # spec.renewTime of that last renewal, as served (the kubelet's clock: compared, never
    # parsed); recorded in the status so that a new leader can resume (core/resume.py).
    renew_time: str = ""

    @property
    def proven(self) -> timedelta:
        return self.confirmed - self.since


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
    # Whether the node has ever reported a Ready condition. A node that has not is still
    # joining: it belongs to no zone yet, and is certainly not a failure of one.
    joined: bool = True
    # Set by the runtime when the node's Lease renewals have stopped (never from the Node).
    silence: Silence | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> NodeInfo:
        """Project a Node as the API serves it. Heartbeat timestamps are left out on purpose:
        two projections differ only when something the operator acts on has changed."""
        meta, spec, status = (
            body.get("metadata") or {},
            body.get("spec") or {},
            body.get("status") or {},
        )
        ready, since, joined = "Unknown", None, False
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Ready":
                joined = True
                ready = cond.get("status") or "Unknown"
                since = parse_time(cond.get("lastTransitionTime"))
        return cls(
            name=meta.get("name", ""),
            labels=dict(meta.get("labels") or {}),
            taints=tuple(
                Taint(
                    key=t.get("key", ""),
                    effect=t.get("effect", ""),
                    value=t.get("value") or "",
                    time_added=parse_time(t.get("timeAdded")),
                )
                for t in spec.get("taints") or []
            ),
            unschedulable=bool(spec.get("unschedulable", False)),
            ready=ready,
            ready_since=since,
            joined=joined,
        )


@dataclass(frozen=True)
class PodInfo:
    """What the placements need to know of one of the workload's pods (Spread: where each is;
    PerZone rollouts, core/waves.py: whether it is Ready, since when it exists, restarts)."""

    name: str
    uid: str = ""
    node: str = ""  # spec.nodeName; empty while unscheduled
    ready: bool = False
    deleting: bool = False  # has a deletionTimestamp: no longer counts, as for the scheduler
    unschedulable: bool = False  # Pending, and the scheduler said Unschedulable
    created: datetime | None = None  # metadata.creationTimestamp
    # When one of its containers last ended and was restarted (lastState.terminated.finishedAt)
    restarted: datetime | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> PodInfo:
        meta, spec, status = (
            body.get("metadata") or {},
            body.get("spec") or {},
            body.get("status") or {},
        )
        conditions = status.get("conditions") or []

        def condition(type_: str) -> Mapping[str, Any]:
            return next((c for c in conditions if c.get("type") == type_), {})

        scheduled = condition("PodScheduled")
        ended = [
            parse_time(((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
            for c in status.get("containerStatuses") or []
        ]
        return cls(
            name=meta.get("name", ""),
            uid=meta.get("uid", ""),
            node=spec.get("nodeName") or "",
            ready=condition("Ready").get("status") == "True",
            deleting=bool(meta.get("deletionTimestamp")),
            unschedulable=status.get("phase") == "Pending"
            and scheduled.get("status") == "False"
            and scheduled.get("reason") == "Unschedulable",
            created=parse_time(meta.get("creationTimestamp")),
            restarted=max((t for t in ended if t is not None), default=None),
        )
