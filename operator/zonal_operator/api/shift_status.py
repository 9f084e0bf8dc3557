"""A ZoneShift's status, as types (see status.py, which holds the ZonalWorkload's and what both
share): every key the operator writes, with its schema beside it.

No `from __future__ import annotations`: TypedDict reads `Required` from evaluated
annotations only (Python 3.11)."""

from typing import Annotated, Required, TypedDict

from zonal_operator.api.fields import doc, i32, i64
from zonal_operator.api.group import Timestamp
from zonal_operator.api.status import (
    ATOMIC,
    MAX_LISTED,
    ConditionType,
    RunOutcome,
    StatusCondition,
    map_list,
)

MAX_RUNS = 5  # how many runs a drill keeps


class RefusedWorkload(TypedDict, total=False):
    """A ZonalWorkload the shift selects but is not applied to."""

    namespace: Required[Annotated[str, doc("The workload's namespace.")]]
    name: Required[Annotated[str, doc("The workload's name.")]]
    message: Annotated[str, doc("Why the shift is not applied to it.")]


class DrilledWorkload(TypedDict, total=False):
    """A ZonalWorkload a drill's run measured."""

    namespace: Required[Annotated[str, doc("The workload's namespace.")]]
    name: Required[Annotated[str, doc("The workload's name.")]]
    replicas: Annotated[int, i32("Its spec.replicas at the run's start.")]
    lowestReady: Annotated[int, i32("The lowest Ready count the operator saw during the run.")]
    capacityBackSeconds: Annotated[
        int,
        i32(
            "Seconds from the run's start until its Ready replicas outside the zone reached "
            "spec.replicas; absent: not (yet)."
        ),
    ]
    failed: Annotated[bool, doc("Whether Ready fell below spec.replicas during the run.")]
    heldByHeadroom: Annotated[
        bool,
        doc(
            "Whether capacity was back only thanks to the workload's headroom: the scheduler "
            "preempted its placeholders for the surge, or static stability's extra replicas "
            "made it up (spec.failover.headroom)."
        ),
    ]


class DrillRun(TypedDict, total=False):
    """One run of a drill."""

    scheduledAt: Required[Annotated[Timestamp, doc("The scheduled time of the run.")]]
    startedAt: Annotated[Timestamp, doc("When the operator started it (absent: skipped).")]
    endsAt: Required[
        Annotated[Timestamp, doc("The end of its window: scheduledAt + spec.duration.")]
    ]
    outcome: Required[Annotated[str, doc("Running, Passed, Failed or Skipped.", enum=RunOutcome)]]
    skipped: Annotated[bool, doc("Whether the run was skipped.")]
    reason: Annotated[
        str,
        doc(
            "Why, in CamelCase: CapacityBack (passed); BelowReplicas, CapacityNotBack (failed); "
            "ZoneFailing, CapacityShort, ShiftInForce, PreviousRunInForce, NothingToDrill, "
            "Missed (skipped)."
        ),
    ]
    message: Annotated[str, doc("Why, for people.")]
    workloadCount: Annotated[int, i32("ZonalWorkloads the run measured.")]
    failedWorkloads: Annotated[int, i32("Of those, the ones Ready fell below spec.replicas for.")]
    workloads: Annotated[
        list[DrilledWorkload],
        doc(
            f"The measured workloads (at most {MAX_LISTED}, the failed first, then the slowest "
            "to have their capacity back).",
            **ATOMIC,
        ),
    ]


class ZoneShiftStatus(TypedDict, total=False):
    """The state of the shift, written by the operator."""

    observedGeneration: Annotated[int, i64("The metadata.generation last acted on.")]
    startedAt: Annotated[
        Timestamp,
        doc(
            "When the operator first saw the shift: it is in force since. A drill's: when its "
            "last run started."
        ),
    ]
    countedFrom: Annotated[
        Timestamp,
        doc(
            "When the current spec.duration started counting: startedAt, or the last edit of "
            "spec.duration."
        ),
    ]
    duration: Annotated[str, doc("The spec.duration counted from countedFrom.")]
    expiresAt: Annotated[
        Timestamp,
        doc("When the shift ends: countedFrom + duration. A drill's: when its last run ends."),
    ]
    schedule: Annotated[str, doc("A drill's spec.schedule, as the operator runs it.")]
    nextRunAt: Annotated[Timestamp, doc("A drill's next scheduled run.")]
    runs: Annotated[
        list[DrillRun],
        doc(
            f"A drill's last {MAX_RUNS} runs, newest first: started (Running, then Passed or "
            "Failed, with what was measured per workload) or skipped (and why).",
            maxItems=MAX_RUNS,
            **ATOMIC,
        ),
    ]
    active: Annotated[bool, doc("Whether the shift is in force (started, not expired).")]
    appliedWorkloads: Annotated[
        int,
        i32(
            "ZonalWorkloads the shift selects and applies to (their replicas leave the zone, or "
            "they run in no such zone)."
        ),
    ]
    refusedWorkloads: Annotated[
        int, i32("ZonalWorkloads the shift selects but is not applied to (see refused).")
    ]
    refused: Annotated[
        list[RefusedWorkload],
        doc(
            f"The first {MAX_LISTED} refused ZonalWorkloads, and why: a shift that would leave a "
            "workload no zone to run in is not applied to it.",
            **ATOMIC,
        ),
    ]
    conditions: Annotated[
        list[StatusCondition],
        doc(f"Conditions of the shift: {ConditionType.ACTIVE}.", **map_list("type")),
    ]
