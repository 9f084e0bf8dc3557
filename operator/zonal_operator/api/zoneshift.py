"""The ZoneShift kind: its names, each spec field with its name, default, bounds, description
and CEL rules, the kind as hack/gen_crd.py renders it (its status is shift_status.ZoneShiftStatus),
and the parsing of an object into the typed `ZoneShift`.

A ZoneShift moves the replicas of the ZonalWorkloads it selects out of one zone for a while
(a zone that is up but unwell, or about to be taken down), as AWS ARC's zonal shift moves
traffic. People create, edit and delete ZoneShifts; the operator writes their status, and
creates the automatic ones of a gray zone failure (api/autoshift.py).

How long a shift lasts. CEL has no clock, so the API server cannot refuse an expiry time that
is already past; a duration can be bounded instead. `spec.duration` is a Go duration string of
more than 0s and at most 72h (ARC's bound: long enough for a weekend of maintenance, short
enough that a forgotten shift does not keep a zone empty for good). The operator counts it from
when it first sees the shift (`status.startedAt`), or from the last edit of spec.duration
(`status.countedFrom`), and writes `status.expiresAt`. Editing spec.duration extends (or
shortens) the shift: the new duration counts from the edit, at most 72h from then, like an ARC
extension. Deleting the ZoneShift cancels it.

A drill. With `spec.schedule` (cron, five fields, UTC) the ZoneShift is a practice run, not a
standing shift: it is in force only during a run, from a scheduled time for spec.duration (at
most 4h), as AWS ARC's practice runs are. core/drills.py decides when a run starts, is skipped,
and how it went; the operator records its runs in status.runs.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from zonal_operator.api.autoshift import OPTED_IN_ONLY
from zonal_operator.api.fields import Column, Field, Kind, Rule
from zonal_operator.api.group import (
    DEFAULT_TOPOLOGY_KEY,
    LABEL_KEY,
    ZONE_NAME,
    parse_time,
)
from zonal_operator.api.selector import label_selector
from zonal_operator.api.shift_status import ZoneShiftStatus
from zonal_operator.api.status import ConditionType

KIND = "ZoneShift"
PLURAL = "zoneshifts"

# ARC's bound for a zonal shift (see the module's doc).
MAX_DURATION_HOURS = 72
# A Go duration string (time.ParseDuration), as `kubectl` and metav1.Duration write them.
DURATION_PATTERN = r"^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
# A drill's run is a practice, not a maintenance window: long enough for capacity to move and
# settle (ARC's practice runs last 30 minutes), short enough never to be a standing shift.
MAX_DRILL_DURATION_HOURS = 4
# A cron schedule of five fields (minute hour day-of-month month day-of-week), each a list of
# `*` or values or ranges, each with an optional step; names for months and weekdays. Without
# backslashes, so that it goes into a CEL string literal as it is. The operator parses it with
# croniter, which is stricter still (a reversed range, a date that never comes).
_CRON_FIELDS = (
    "[0-5]?[0-9]",  # minute
    "[01]?[0-9]|2[0-3]",  # hour
    "0?[1-9]|[12][0-9]|3[01]",  # day of month
    "0?[1-9]|1[0-2]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec",  # month
    "[0-7]|sun|mon|tue|wed|thu|fri|sat",  # day of week
)


def _cron_field(values: str) -> str:
    item = f"([*]|({values})(-({values}))?)(/[1-9][0-9]?)?"
    return f"{item}(,{item})*"


SCHEDULE_PATTERN = "(?i)^ *" + "[ ]+".join(_cron_field(v) for v in _CRON_FIELDS) + " *$"

# -- spec -------------------------------------------------------------------------------------
ZONE = Field(
    "zone",
    "zone",
    "string",
    "The zone to move out of: a value of the topologyKey node label. Required, immutable "
    "(cancel this ZoneShift and create another to shift a different zone).",
    extra=ZONE_NAME,
    rules=(Rule("self == oldSelf", "spec.zone is immutable: create another ZoneShift"),),
)
TOPOLOGY_KEY = Field(
    "topologyKey",
    "topology_key",
    "string",
    "The node label whose value names a node's zone. The shift applies only to ZonalWorkloads "
    f"with the same spec.topologyKey. Immutable. Default {DEFAULT_TOPOLOGY_KEY}.",
    default=DEFAULT_TOPOLOGY_KEY,
    extra=LABEL_KEY,
    rules=(Rule("self == oldSelf", "spec.topologyKey is immutable"),),
)
DURATION = Field(
    "duration",
    "duration",
    "string",
    "How long the shift lasts: a duration such as 90m or 4h (units h, m, s, ms), more than 0s "
    f"and at most {MAX_DURATION_HOURS}h, as AWS ARC bounds a zonal shift. Counted from when the "
    "operator first sees the ZoneShift (status.startedAt), or from the last edit of this field "
    "(status.countedFrom): edit it to extend or shorten the shift. The operator writes the end "
    "into status.expiresAt. A duration, not an end time, because the API server has no clock "
    "to refuse an end time in the past or too far ahead. Delete the ZoneShift to cancel it.",
    extra={"maxLength": 64},
    rules=(
        Rule(
            f"self.matches('{DURATION_PATTERN}') && duration(self) > duration('0s') && "
            f"duration(self) <= duration('{MAX_DURATION_HOURS}h')",
            "spec.duration must be a duration such as 30m or 4h (units h, m, s, ms), more than "
            f"0s and at most {MAX_DURATION_HOURS}h",
        ),
    ),
)
SCHEDULE = Field(
    "schedule",
    "schedule",
    "string",
    "Makes the ZoneShift a drill: a practice run of losing the zone, on this cron schedule "
    "(five fields: minute hour day-of-month month day-of-week, in UTC), each run lasting "
    f"spec.duration (at most {MAX_DRILL_DURATION_HOURS}h). A drill is in force only during its "
    "runs. A run does not start while a zone of a selected ZonalWorkload is failing, one of "
    "them is short of Ready replicas, or another ZoneShift is in force: it is skipped, and "
    "status.runs says why. status.runs keeps the outcome of the last runs per workload: the "
    "seconds until its Ready capacity was back outside the zone, the lowest Ready count, and "
    "whether it fell below spec.replicas. Absent: a standing shift, in force once, for "
    "spec.duration.",
    extra={"maxLength": 128},
    rules=(
        Rule(
            f"self.matches('{SCHEDULE_PATTERN}')",
            "spec.schedule must be a cron schedule of five fields (minute hour day-of-month "
            "month day-of-week), such as '0 10 * * 1' (Mondays 10:00 UTC)",
        ),
    ),
)
REASON = Field(
    "reason",
    "reason",
    "string",
    "Why the zone is shifted (a ticket, a maintenance window). Shown in the events and the "
    "status of the ZoneShift and of the workloads it applies to.",
    default="",
    extra={"maxLength": 256},
)
WORKLOAD_SELECTOR = label_selector(
    "workloadSelector",
    "Which ZonalWorkloads the shift applies to, by their labels. Empty or absent: all of them "
    "(within namespaceSelector).",
)
# A namespace's name and a ZonalWorkload's: DNS-1123 labels.
_DNS_LABEL = {"minLength": 1, "maxLength": 63, "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
WORKLOAD = Field(
    "workload",
    "workload",
    "object",
    "Applies the shift to this one ZonalWorkload only, named by namespace and name, instead of "
    "selecting by labels (spec.workloadSelector and spec.namespaceSelector must then be absent; "
    "a drill selects by labels, so spec.schedule too). The operator's per-workload automatic "
    "shifts (a workload's spec.autoShift.perWorkload) set it. Immutable.",
    properties=(
        Field("namespace", "", "string", "The ZonalWorkload's namespace.", extra=_DNS_LABEL),
        Field("name", "", "string", "The ZonalWorkload's name.", extra=_DNS_LABEL),
    ),
    required=("namespace", "name"),
    rules=(Rule("self == oldSelf", "spec.workload is immutable: create another ZoneShift"),),
)
NAMESPACE_SELECTOR = label_selector(
    "namespaceSelector",
    "Which namespaces' ZonalWorkloads the shift applies to, by the namespaces' labels (every "
    "namespace carries kubernetes.io/metadata.name=<name>). Empty or absent: all namespaces.",
)
SCALAR_FIELDS = (ZONE, TOPOLOGY_KEY, DURATION, SCHEDULE, REASON, OPTED_IN_ONLY)
# On spec: a drill's run is bounded tighter than a standing shift.
DRILL_DURATION_RULE = Rule(
    f"!has(self.{SCHEDULE.name}) || !self.{DURATION.name}.matches('{DURATION_PATTERN}') || "
    f"duration(self.{DURATION.name}) <= duration('{MAX_DRILL_DURATION_HOURS}h')",
    f"spec.duration of a drill (a ZoneShift with spec.schedule) must be at most "
    f"{MAX_DRILL_DURATION_HOURS}h: it is the length of one practice run",
    field_path=".duration",
)

# On spec: one workload named, or workloads selected by labels, never both.
WORKLOAD_RULES = (
    Rule(
        f"!has(self.{WORKLOAD.name}) || (!has(self.{WORKLOAD_SELECTOR.name}) && "
        f"!has(self.{NAMESPACE_SELECTOR.name}) && !has(self.{SCHEDULE.name}))",
        f"spec.{WORKLOAD.name} names one ZonalWorkload: spec.{WORKLOAD_SELECTOR.name}, "
        f"spec.{NAMESPACE_SELECTOR.name} and spec.{SCHEDULE.name} (a drill selects by labels) "
        "must be absent",
        field_path=f".{WORKLOAD.name}",
    ),
    Rule(
        f"has(self.{WORKLOAD.name}) == has(oldSelf.{WORKLOAD.name})",
        f"spec.{WORKLOAD.name} is immutable: it can be neither added nor removed; create "
        "another ZoneShift",
        field_path=f".{WORKLOAD.name}",
    ),
)

SPEC = Field(
    "spec",
    "",
    "object",
    "Which zone to move out of, for which ZonalWorkloads, for how long, why.",
    required=(ZONE.name, DURATION.name),
    properties=(*SCALAR_FIELDS, WORKLOAD_SELECTOR, NAMESPACE_SELECTOR, WORKLOAD),
    rules=(DRILL_DURATION_RULE, *WORKLOAD_RULES),
)

ZONE_SHIFT = Kind(
    kind=KIND,
    plural=PLURAL,
    short_names=("zs",),
    scope="Cluster",
    description="ZoneShift moves the replicas of the selected ZonalWorkloads out of one zone "
    "for a bounded time (a zone that is up but unwell, or about to be taken down for "
    "maintenance), surge first, and lets them return by the workloads' failback rules when it "
    "ends. Cluster-scoped. Delete it to cancel the shift.",
    spec=SPEC,
    status=ZoneShiftStatus,
    metadata=Field("metadata", "", "object"),
    columns=(
        Column("Zone", "string", f".spec.{ZONE.name}", "The zone shifted away from"),
        Column("Active", "boolean", ".status.active", "In force now"),
        Column(
            "State",
            "string",
            f'.status.conditions[?(@.type=="{ConditionType.ACTIVE}")].reason',
            "Why it is in force or not: Shifted, Expired, DrillRunning, DrillScheduled...",
        ),
        Column("Expires", "string", ".status.expiresAt", "When it ends"),
        Column("Schedule", "string", f".spec.{SCHEDULE.name}", "A drill's schedule", priority=1),
        Column("Workloads", "integer", ".status.appliedWorkloads", "ZonalWorkloads it applies to"),
        Column(
            "Workload",
            "string",
            f".spec.{WORKLOAD.name}.name",
            "The one ZonalWorkload it names (spec.workload)",
            priority=1,
        ),
        Column(
            "Refused",
            "integer",
            ".status.refusedWorkloads",
            "ZonalWorkloads it selects but is not applied to",
        ),
        Column(
            "Last Run",
            "string",
            ".status.runs[0].outcome",
            "A drill's last run: Running, Passed, Failed or Skipped",
        ),
        Column("Reason", "string", f".spec.{REASON.name}", "Why", priority=1),
        Column("Age", "date", ".metadata.creationTimestamp"),
    ),
)


def parse_duration(text: str) -> timedelta:
    """A Go duration string (as the CRD admits it) as a timedelta; ValueError if it is not."""
    if not text or not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"not a duration: {text!r}")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


def _workload(raw: Any) -> tuple[str, str] | None:
    if not isinstance(raw, Mapping):
        return None
    return (str(raw.get("namespace") or ""), str(raw.get("name") or ""))


@dataclass(frozen=True)
class ZoneShift:
    """One ZoneShift: its spec (defaults applied), and the times its status records."""

    name: str
    uid: str
    generation: int
    zone: str
    duration: str
    topology_key: str = TOPOLOGY_KEY.default
    reason: str = REASON.default
    schedule: str = ""  # a drill's (see the module's doc); "": a standing shift
    created: datetime | None = None  # metadata.creationTimestamp
    workload_selector: Mapping[str, Any] | None = None
    namespace_selector: Mapping[str, Any] | None = None
    opted_in_only: bool = False  # spec.optedInOnly (api/autoshift.py)
    workload: tuple[str, str] | None = None  # spec.workload: (namespace, name)
    labels: Mapping[str, str] = field(default_factory=dict)
    status: ZoneShiftStatus | None = None
    deleting: bool = False
    resource_version: str = ""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ZoneShift:
        meta, spec = body.get("metadata") or {}, body.get("spec") or {}
        return cls(
            name=meta.get("name", ""),
            uid=meta.get("uid", ""),
            generation=int(meta.get("generation") or 0),
            zone=str(spec.get(ZONE.name) or ""),
            duration=str(spec.get(DURATION.name) or ""),
            topology_key=str(spec.get(TOPOLOGY_KEY.name) or TOPOLOGY_KEY.default),
            reason=str(spec.get(REASON.name) or ""),
            schedule=str(spec.get(SCHEDULE.name) or "").strip(),
            created=parse_time(meta.get("creationTimestamp")),
            workload_selector=copy.deepcopy(spec.get(WORKLOAD_SELECTOR.name)) or None,
            namespace_selector=copy.deepcopy(spec.get(NAMESPACE_SELECTOR.name)) or None,
            opted_in_only=bool(OPTED_IN_ONLY.read(spec)),
            workload=_workload(spec.get(WORKLOAD.name)),
            labels=dict(meta.get("labels") or {}),
            status=cast(ZoneShiftStatus, copy.deepcopy(body.get("status") or {})),
            deleting=bool(meta.get("deletionTimestamp")),
            resource_version=str(meta.get("resourceVersion") or ""),
        )

    @property
    def drill(self) -> bool:
        return bool(self.schedule)

    @property
    def started(self) -> datetime | None:
        """When the operator first saw it (status.startedAt); None until it has written so."""
        return parse_time((self.status or {}).get("startedAt"))

    @property
    def expires(self) -> datetime | None:
        """When it ends, as the operator recorded it (status.expiresAt)."""
        return parse_time((self.status or {}).get("expiresAt"))

    def active(self, now: datetime) -> bool:
        """In force now: started, not past its recorded end, not being deleted. A drill records
        the start and end of its current (or last) run in the same fields."""
        started, expires = self.started, self.expires
        return not self.deleting and started is not None and expires is not None and now < expires
