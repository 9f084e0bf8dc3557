"""The status of both kinds, as types: every key the operator writes, with its schema beside it
(see fields.Doc), so that mypy checks each key the core and the runtime write, and
hack/gen_crd.py generates the CRDs' status schemas from the same declarations. A list's items
are described by their TypedDict's docstring. Also named once here: the zone states, the
condition types, the reasons, a drill run's outcomes. A ZoneShift's status types are in
shift_status.py.

No `from __future__ import annotations`: TypedDict reads `Required` from evaluated
annotations only (Python 3.11)."""

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any, Required, TypedDict

from zonal_operator.api.fields import doc, i32, i64
from zonal_operator.api.group import Timestamp

# How many refused workloads a ZoneShift's status lists, how many workloads a drill's run lists
# (the counts are always whole), and how many silent nodes a zone's status records.
MAX_LISTED = 50

ATOMIC: Mapping[str, Any] = MappingProxyType({"x-kubernetes-list-type": "atomic"})


def map_list(key: str) -> dict[str, Any]:
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key]}


def keys(typed_dict: Any, *names: str) -> frozenset[str]:
    """Names of keys of a status TypedDict, for code that groups them (core/status_diff.py);
    a name it does not declare fails at import, as mypy fails on a misspelt key."""
    unknown = set(names) - typed_dict.__required_keys__ - typed_dict.__optional_keys__
    if unknown:
        raise KeyError(f"{typed_dict.__name__} has no key {sorted(unknown)}")
    return frozenset(names)


class ZoneState(StrEnum):
    HEALTHY = "Healthy"  # serves its share
    DEGRADED = "Degraded"  # failing, within the grace period (or failover is off): still serves
    UNHEALTHY = "Unhealthy"  # failed over: its share runs in other zones
    RECOVERING = "Recovering"  # nodes are back; waiting out the failback delay
    SHIFTED = "Shifted"  # up, but a ZoneShift moves its share to other zones (core/shifts.py)


class ConditionType(StrEnum):
    READY = "Ready"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    FAILED_OVER = "FailedOver"
    BALANCED = "Balanced"  # Spread placement
    ZONE_SHIFTED = "ZoneShifted"
    ACTIVE = "Active"  # a ZoneShift's: the shift is in force
    HEADROOM_READY = "HeadroomReady"  # spec.failover.headroom set (api/headroom.py)
    ZONE_LOSS_COVERED = "ZoneLossCovered"  # the forecast (core/loss_forecast.py)


class Reason(StrEnum):
    """The machine-readable reasons the operator writes: a condition's, a zone's health's
    (status.zones[].reason), a halted wave's, a drill run's. Grouped by where first written."""

    # Ready
    ALL_REPLICAS_AVAILABLE = "AllReplicasAvailable"
    REPLICAS_UNAVAILABLE = "ReplicasUnavailable"
    # Progressing
    STABLE = "Stable"
    RECONCILING = "Reconciling"
    ROLLOUT_HALTED = "RolloutHalted"
    ZONE_ROLLOUT_IN_PROGRESS = "ZoneRolloutInProgress"
    # Degraded (the first also a zone's; ZonesFailing and ReplicasUnschedulable also Balanced)
    DEPLOYMENT_CONFLICT = "DeploymentConflict"
    NO_ELIGIBLE_ZONES = "NoEligibleZones"
    ALL_ZONES_UNHEALTHY = "AllZonesUnhealthy"
    ZONES_FAILING = "ZonesFailing"
    REPLICAS_UNSCHEDULABLE = "ReplicasUnschedulable"
    AS_EXPECTED = "AsExpected"
    DEPLOYMENT_REJECTED = "DeploymentRejected"
    # FailedOver
    ZONES_FAILED_OVER = "ZonesFailedOver"
    ALL_ZONES_SERVING = "AllZonesServing"
    # Balanced (Spread placement; WaitingForFailback also a zone's)
    WITHIN_MAX_SKEW = "WithinMaxSkew"
    REBALANCING = "Rebalancing"
    WAITING_FOR_FAILBACK = "WaitingForFailback"
    FAILOVER_DISABLED = "FailoverDisabled"
    EVICTION_BLOCKED = "EvictionBlocked"
    # ZoneShifted
    ZONES_SHIFTED = "ZonesShifted"
    SHIFT_REFUSED = "ShiftRefused"
    NOTHING_TO_SHIFT = "NothingToShift"
    # HeadroomReady
    HEADROOM_SIZED = "HeadroomSized"
    PRIORITY_CLASS_UNKNOWN = "PriorityClassUnknown"
    PRIORITY_CLASS_MISSING = "PriorityClassMissing"
    PRIORITY_NOT_BELOW_WORKLOAD = "PriorityNotBelowWorkload"
    # ZoneLossCovered (the second also its event when it turns False)
    ZONE_LOSS_FITS = "ZoneLossFits"
    ZONE_LOSS_SHORTFALL = "ZoneLossShortfall"
    # A zone's health
    NO_ELIGIBLE_NODES = "NoEligibleNodes"
    NODES_READY = "NodesReady"
    NODES_NOT_READY = "NodesNotReady"
    FAILED_OVER = "FailedOver"
    ZONE_SHIFTED = "ZoneShifted"
    # A ZoneShift's Active condition
    SHIFTED = "Shifted"
    EXPIRED = "Expired"
    INVALID_SCHEDULE = "InvalidSchedule"
    DRILL_RUNNING = "DrillRunning"
    DRILL_SCHEDULED = "DrillScheduled"
    # A halted wave (status.zoneRollout.halted.reason)
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    CONTAINER_RESTARTS = "ContainerRestarts"
    PODS_NOT_READY = "PodsNotReady"
    # A drill's run: passed, failed, skipped
    CAPACITY_BACK = "CapacityBack"
    BELOW_REPLICAS = "BelowReplicas"
    CAPACITY_NOT_BACK = "CapacityNotBack"
    ZONE_FAILING = "ZoneFailing"
    CAPACITY_SHORT = "CapacityShort"
    SHIFT_IN_FORCE = "ShiftInForce"
    PREVIOUS_RUN_IN_FORCE = "PreviousRunInForce"
    NOTHING_TO_DRILL = "NothingToDrill"
    MISSED = "Missed"
    # An event: the zone open to voluntary disruptions moved (core/zone_budgets.py)
    ZONE_BUDGET_OPENED = "ZoneBudgetOpened"
    # Automatic shifts (core/gray_failure.py): one created; gray failure seen but no shift
    GRAY_FAILURE = "GrayFailure"
    AUTO_SHIFT_HELD = "AutoShiftHeld"


class RunOutcome(StrEnum):
    RUNNING = "Running"
    PASSED = "Passed"
    FAILED = "Failed"
    SKIPPED = "Skipped"


class StatusCondition(TypedDict, total=False):
    """A condition (metav1.Condition)."""

    type: Required[
        Annotated[
            str,
            doc(
                "Type of the condition in CamelCase, e.g. Ready.",
                maxLength=316,
                pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
            ),
        ]
    ]
    status: Required[
        Annotated[
            str,
            doc(
                "Status of the condition: True, False or Unknown.",
                enum=["True", "False", "Unknown"],
            ),
        ]
    ]
    observedGeneration: Annotated[
        int, i64("The metadata.generation the condition was set for.", minimum=0)
    ]
    lastTransitionTime: Required[
        Annotated[Timestamp, doc("When the condition last changed status.")]
    ]
    reason: Required[
        Annotated[
            str,
            doc(
                "Machine-readable CamelCase reason for the last transition.",
                minLength=1,
                maxLength=1024,
                pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
            ),
        ]
    ]
    message: Required[
        Annotated[str, doc("Human-readable details about the last transition.", maxLength=32768)]
    ]


# -- ZonalWorkload ----------------------------------------------------------------------------
class ZoneRevision(TypedDict, total=False):
    """What zone-by-zone rollouts (core/waves.py) write into a zone's entry."""

    revision: Annotated[
        str,
        doc(
            "The revision of the workload's template (pod template and Deployment settings) the "
            "zone's Deployment runs."
        ),
    ]
    updatedAt: Annotated[Timestamp, doc("ZoneByZone: when the wave gave the zone its revision.")]
    bakingSince: Annotated[
        Timestamp,
        doc(
            "ZoneByZone: since when the zone has run the wave's revision rolled out, every pod "
            "Ready; it has baked once spec.zoneRollout.bakeSeconds have passed."
        ),
    ]
    bakedAt: Annotated[
        Timestamp, doc("ZoneByZone: when the zone finished baking the wave's revision.")
    ]


class ZoneStatus(ZoneRevision, total=False):
    """The state of one zone."""

    name: Required[Annotated[str, doc("The zone: a value of the topologyKey node label.")]]
    deployment: Annotated[str, doc("Name of the Deployment that runs the zone's replicas.")]
    eligibleNodes: Annotated[int, i32("Nodes of the zone the pods may run on.")]
    readyNodes: Annotated[int, i32("Eligible nodes of the zone that are Ready.")]
    desiredReplicas: Annotated[
        int, i32("Replicas the zone is to run once every move in progress is done.")
    ]
    replicas: Annotated[int, i32("Spread placement: the workload's pods running in the zone.")]
    readyReplicas: Annotated[int, i32("Ready replicas of the zone (its pods that are Ready).")]
    availableReplicas: Annotated[int, i32("Available replicas of the zone's Deployment.")]
    health: Annotated[
        str,
        doc(
            "Health of the zone. Healthy: serves its share. Degraded: nodes are failing but the "
            "grace period has not run out (or failover is disabled), so it keeps its share. "
            "Unhealthy: failed over, its share runs in other zones. Recovering: its nodes are "
            "back, and its share returns once the failback delay has passed. Shifted: up, but a "
            "ZoneShift (see shiftedBy) moves its share to other zones.",
            enum=ZoneState,
        ),
    ]
    unschedulableReplicas: Annotated[
        int,
        i32(
            "Pods of the zone's Deployment that the scheduler cannot place (Pending as "
            "Unschedulable). They are reported here and in the Degraded condition, not moved."
        ),
    ]
    lossShortfall: Annotated[
        int,
        i32(
            "The zone-loss forecast: of the replicas that would move if this zone were lost "
            "now, how many would find no room on the other zones' nodes (see the "
            "ZoneLossCovered condition). Only for the zones that serve."
        ),
    ]
    deploymentGeneration: Annotated[
        int,
        i64(
            "metadata.generation of the zone's Deployment after the operator's last write. Any "
            "other generation means the Deployment was edited by hand, and the operator puts it "
            "back."
        ),
    ]
    reason: Annotated[str, doc("Machine-readable reason for the zone's health.")]
    message: Annotated[str, doc("Human-readable details about the zone's health.")]
    unhealthySince: Annotated[
        Timestamp, doc("When the zone started failing (set while Degraded or Unhealthy).")
    ]
    healthySince: Annotated[
        Timestamp, doc("When the zone's nodes came back (set while Recovering).")
    ]
    shiftedBy: Annotated[
        list[str],
        doc(
            "The ZoneShifts applied to the zone: its share runs in other zones until they end "
            "(see the ZoneShifted condition).",
            **ATOMIC,
        ),
    ]


class WaveHalt(TypedDict, total=False):
    zone: Annotated[str, doc("The zone whose rollout failed.")]
    reason: Annotated[str, doc("ProgressDeadlineExceeded, ContainerRestarts or PodsNotReady.")]
    message: Annotated[str, doc("Human-readable details.")]
    at: Annotated[Timestamp, doc("When the wave halted.")]


class ZoneRolloutStatus(TypedDict, total=False):
    revision: Annotated[str, doc("The revision of the spec the wave brings to the zones.")]
    previousRevision: Annotated[
        str, doc("The revision the zones not reached run (what rollbackOnHalt restores).")
    ]
    zonesDone: Annotated[int, i32("Zones that run the revision and have baked it.")]
    zones: Annotated[int, i32("Zones in the wave.")]
    inFlight: Annotated[list[str], doc("Zones updating to the revision or baking it.", **ATOMIC)]
    halted: Annotated[
        WaveHalt,
        doc(
            "Set when the wave has halted: where, why, and when. It holds until spec.template "
            "(or another setting of the revision) changes."
        ),
    ]
    summary: Annotated[str, doc("The wave in a few words, for kubectl get -o wide.")]


class WorkloadStatus(TypedDict, total=False):
    """The observed state of the ZonalWorkload, written by the operator."""

    observedGeneration: Annotated[int, i64("The metadata.generation the operator last acted on.")]
    replicas: Annotated[int, i32("Pods of all zones' Deployments.")]
    readyReplicas: Annotated[int, i32("Ready pods of all zones' Deployments.")]
    availableReplicas: Annotated[int, i32("Available pods of all zones' Deployments.")]
    updatedReplicas: Annotated[int, i32("Pods of the current template, across all zones.")]
    selector: Annotated[
        str,
        doc(
            "The pod label selector in string form (for the scale subresource and the "
            "HorizontalPodAutoscaler)."
        ),
    ]
    zoneCount: Annotated[int, i32("Zones the workload runs in.")]
    skew: Annotated[
        int,
        i32(
            "Spread placement: the largest difference between the pods of two zones that can "
            "take pods (Healthy or Recovering). See the Balanced condition."
        ),
    ]
    surgeReplicas: Annotated[
        int,
        i32(
            "Spread placement: extra replicas the operator holds while it rebalances "
            "(make-before-break); removed again through evictions."
        ),
    ]
    healthyZoneCount: Annotated[int, i32("Zones that are Healthy.")]
    headroomReplicas: Annotated[
        int,
        i32(
            "spec.failover.headroom: the placeholder pods kept (Placeholders), or the replicas "
            "run beyond spec.replicas (StaticStability). Never counted as Ready capacity."
        ),
    ]
    zonesNotHealthy: Annotated[
        str,
        doc(
            "The zones that are not Healthy and their health, by name (zone-b=Unhealthy,"
            "zone-c=Recovering), for kubectl get; absent when every zone is Healthy."
        ),
    ]
    zoneRollout: Annotated[
        ZoneRolloutStatus, doc("ZoneByZone: the wave that brings the spec's revision to the zones.")
    ]
    zones: Annotated[
        list[ZoneStatus], doc("Per-zone state, one entry per zone.", **map_list("name"))
    ]
    conditions: Annotated[
        list[StatusCondition], doc("Conditions of the workload, e.g. Ready.", **map_list("type"))
    ]
