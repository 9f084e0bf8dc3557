"""The ZonalWorkload kind: its names, limits and placements, each spec field with its name,
default, bounds, description and CEL rules, the kind as hack/gen_crd.py renders it (its status
is status.WorkloadStatus), and the parsing of an object into the typed `Workload`.

The API server applies the defaults already; parsing applies the same ones, so that the pure
core also works on objects that never went through an API server (tests, dry runs).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from zonal_operator.api.autoshift import AUTO_SHIFT, AUTO_SHIFT_SECTION, AutoShiftPolicy
from zonal_operator.api.budgets import (
    DISRUPTION_BUDGET,
    DISRUPTION_BUDGET_SECTION,
    DisruptionBudget,
)
from zonal_operator.api.fields import Column, Field, Kind, Rule, item
from zonal_operator.api.fields import int32 as _int32
from zonal_operator.api.group import (
    DEFAULT_TOPOLOGY_KEY,
    LABEL_KEY,
    MAX_ZONES,
    WORKLOAD_LABEL,
    ZONE_NAME,
)
from zonal_operator.api.headroom import HEADROOM, HEADROOM_RULE, HEADROOM_SECTION, HeadroomPolicy
from zonal_operator.api.rollout import (
    ALL_ZONES,
    MODE,
    ZONE_BY_ZONE,
    ZONE_ROLLOUT,
    ZONE_ROLLOUT_SECTION,
    ZoneRolloutPolicy,
)
from zonal_operator.api.selector import label_selector
from zonal_operator.api.status import ConditionType, WorkloadStatus
from zonal_operator.api.template import STRATEGY, TEMPLATE

KIND = "ZonalWorkload"
_COVERED = f'.status.conditions[?(@.type=="{ConditionType.ZONE_LOSS_COVERED}")].status'
PLURAL = "zonalworkloads"

# 40 + "-" + 22 == 63, the DNS-1123 label limit for a Deployment name used in pod names/labels
# (the 22 are the zone's slug, see core/naming.py).
MAX_WORKLOAD_NAME_LENGTH = 40

# spec.placement: one Deployment per zone (the default), or one Deployment whose pods the
# scheduler spreads across zones with a topology spread constraint.
PER_ZONE = "PerZone"
SPREAD = "Spread"


# -- spec -------------------------------------------------------------------------------------
REPLICAS = _int32(
    "replicas",
    "replicas",
    "Total desired number of replicas across all zones. Default 1.",
    minimum=0,
    default=1,
)
TOPOLOGY_KEY = Field(
    "topologyKey",
    "topology_key",
    "string",
    f"The node label whose value names a node's zone. Immutable. Default {DEFAULT_TOPOLOGY_KEY}.",
    default=DEFAULT_TOPOLOGY_KEY,
    extra=LABEL_KEY,
    rules=(Rule("self == oldSelf", "spec.topologyKey is immutable"),),
)
ZONES = Field(
    "zones",
    "zones",
    "array",
    "The zones (values of the topologyKey node label) to run in; no duplicates. Default: every "
    "zone that has eligible nodes.",
    extra={"maxItems": MAX_ZONES, "x-kubernetes-list-type": "set"},
    items=item("string", **ZONE_NAME),
)
PLACEMENT = Field(
    "placement",
    "placement",
    "string",
    "How the replicas are placed. PerZone (default): one Deployment per zone, named "
    "<name>-<zone>, each pinned to its zone; the operator sets each zone's replicas. Spread: "
    "one Deployment named <name>, whose pods carry a DoNotSchedule topology spread constraint "
    "over the zones; the scheduler places them, and the operator replaces the pods of a failed "
    "zone and rebalances after recovery (surge first, then evictions that honour "
    "PodDisruptionBudgets). Immutable.",
    default=PER_ZONE,
    extra={"enum": [PER_ZONE, SPREAD]},
    rules=(
        Rule(
            "self == oldSelf",
            "spec.placement is immutable: switching would remove the running Deployments "
            "before the new ones have capacity. Create a second ZonalWorkload with the other "
            "placement, wait for it to be Ready, then delete this one",
        ),
    ),
)
MAX_SKEW = _int32(
    "maxSkew",
    "max_skew",
    "The largest allowed difference between the replicas of any two zones (with Spread "
    "placement, the maxSkew of the zone spread constraint). Default 1.",
    minimum=1,
    default=1,
)
MIN_READY_SECONDS = _int32(
    "minReadySeconds",
    "min_ready_seconds",
    "Minimum seconds a new pod must be ready, without any container crashing, to count as "
    "available. Passed on to each Deployment (whose default is 0).",
    minimum=0,
)
REVISION_HISTORY_LIMIT = _int32(
    "revisionHistoryLimit",
    "revision_history_limit",
    "How many old ReplicaSets each Deployment keeps for rollback. Passed on to each Deployment "
    "(whose default is 10).",
    minimum=0,
)
PROGRESS_DEADLINE_SECONDS = _int32(
    "progressDeadlineSeconds",
    "progress_deadline_seconds",
    "Seconds a Deployment may take to make progress before it is reported as failed; must be "
    "greater than minReadySeconds. Passed on to each Deployment (whose default is 600).",
    minimum=1,
)
PAUSED = Field(
    "paused",
    "paused",
    "boolean",
    "Pauses rollouts of template changes: passed on to each Deployment. Default false.",
    default=False,
)
# The spec fields that are plain values, in the order of the schema's properties.
SCALAR_FIELDS = (
    REPLICAS,
    TOPOLOGY_KEY,
    ZONES,
    PLACEMENT,
    MAX_SKEW,
    MIN_READY_SECONDS,
    REVISION_HISTORY_LIMIT,
    PROGRESS_DEADLINE_SECONDS,
    PAUSED,
)
# Deployment settings passed through untouched (template.py holds the strategy's schema).
ROLLOUT_FIELDS = (
    STRATEGY.name,
    MIN_READY_SECONDS.name,
    REVISION_HISTORY_LIMIT.name,
    PROGRESS_DEADLINE_SECONDS.name,
)

# Over the whole spec: a Spread workload has one Deployment, which every zone shares.
SPREAD_RULE = Rule(
    f"self.?{PLACEMENT.name}.orValue('{PER_ZONE}') != '{SPREAD}' || "
    f"self.?{ZONE_ROLLOUT}.{MODE.name}.orValue('{ALL_ZONES}') != '{ZONE_BY_ZONE}'",
    "spec.zoneRollout.mode ZoneByZone needs spec.placement PerZone: a Spread workload runs as "
    "one Deployment that every zone shares, so a change reaches its zones together",
    f".{ZONE_ROLLOUT}",
)
SPREAD_BUDGET_RULE = Rule(
    f"self.?{PLACEMENT.name}.orValue('{PER_ZONE}') != '{SPREAD}' || !has(self.{DISRUPTION_BUDGET})",
    "spec.disruptionBudget needs spec.placement PerZone: a Spread workload's pods in every zone "
    "come from one template, and no label tells a PodDisruptionBudget which zone a pod is in",
    f".{DISRUPTION_BUDGET}",
)
# Rules over several spec fields.
SPEC_RULES = (
    Rule(
        f"has(self.{PROGRESS_DEADLINE_SECONDS.name}) ? "
        f"self.{PROGRESS_DEADLINE_SECONDS.name} > self.?{MIN_READY_SECONDS.name}.orValue(0) : "
        f"self.?{MIN_READY_SECONDS.name}.orValue(0) < 600",
        "spec.progressDeadlineSeconds must be greater than spec.minReadySeconds (a Deployment "
        "defaults progressDeadlineSeconds to 600)",
        f".{PROGRESS_DEADLINE_SECONDS.name}",
    ),
    SPREAD_RULE,
    SPREAD_BUDGET_RULE,
    HEADROOM_RULE,
)

# -- spec.failover ----------------------------------------------------------------------------
FAILOVER = "failover"
FAILOVER_DESCRIPTION = "When and how replicas move out of an unhealthy zone and back again."
FAILOVER_FIELDS = (
    Field(
        "enabled",
        "enabled",
        "boolean",
        "Whether replicas move out of unhealthy zones. Default true.",
        default=True,
    ),
    _int32(
        "unhealthyNodePercent",
        "unhealthy_node_percent",
        "A zone is unhealthy when at least this percentage of its eligible nodes have failed "
        "(not Ready, or silent: see heartbeatTimeoutSeconds). 1 to 100, default 50.",
        minimum=1,
        maximum=100,
        default=50,
    ),
    _int32(
        "gracePeriodSeconds",
        "grace_period_seconds",
        "How long, in seconds, a zone must stay unhealthy before its replicas move to the "
        "healthy zones, counted from the zone's failure (its nodes' last heartbeat, or their "
        "Ready condition turning False or Unknown). 0 to 3600, default 30.",
        minimum=0,
        maximum=3600,
        default=30,
    ),
    _int32(
        "heartbeatTimeoutSeconds",
        "heartbeat_timeout_seconds",
        "A node whose Lease in kube-node-lease has not been renewed for longer than this many "
        "seconds counts as failed, without waiting for the node lifecycle controller to mark it "
        "NotReady (its node-monitor grace, 50 s by default). Make it at least twice the "
        "kubelets' renew interval (a quarter of their lease duration: 10 s by default), so that "
        "one late renewal never counts as silence. Silence alone fails a zone only when at least "
        "two of its nodes (its only node, in a zone of one) are silent, and only after the "
        "operator has re-read their Leases from the API server; nodes without a Lease are judged "
        "by their Ready condition alone. The zone's failure then counts from its last heartbeat. "
        "0 turns the heartbeat verdict off. 0 to 600, default 20.",
        minimum=0,
        maximum=600,
        default=20,
    ),
    _int32(
        "failbackDelaySeconds",
        "failback_delay_seconds",
        "How long, in seconds, a recovered zone must stay healthy before replicas return to it. "
        "0 to 86400, default 300.",
        minimum=0,
        maximum=86400,
        default=300,
    ),
    _int32(
        "failbackStepPercent",
        "failback_step_percent",
        "The percentage of spec.replicas returned to a recovered zone per failback step. 1 to "
        "100, default 25.",
        minimum=1,
        maximum=100,
        default=25,
    ),
    Field(
        "tolerationSeconds",
        "toleration_seconds",
        "integer",
        "tolerationSeconds of the NoExecute tolerations for node.kubernetes.io/not-ready and "
        "node.kubernetes.io/unreachable that the operator adds to the pods, unless the template "
        "sets its own. 0 to 3600, default 30.",
        format="int64",
        minimum=0,
        maximum=3600,
        default=30,
    ),
)
_FAILOVER_DEFAULTS = {f.attr: f.default for f in FAILOVER_FIELDS}
FAILOVER_SECTION = Field(
    FAILOVER,
    "failover",
    "object",
    FAILOVER_DESCRIPTION,
    default={},
    properties=(*FAILOVER_FIELDS, HEADROOM_SECTION),
)

# -- spec.selector ----------------------------------------------------------------------------
SELECTOR = label_selector(
    "selector",
    "Label query over the pods of this workload; it must match the labels of spec.template. "
    "Optional: when absent the operator derives one. Immutable: it cannot be added, changed or "
    "removed after the workload is created.",
    own_labels=True,
)
# CEL has no local variables here (cel.bind is not in the Kubernetes environment), so the
# template labels are spelled out; the has() guards make a missing map behave as empty.
_HAS_LABELS = "(has(self.template.metadata) && has(self.template.metadata.labels))"
_LABELS = "self.template.metadata.labels"
SELECTOR_RULES = (
    Rule(
        f"!has(self.selector) || !has(self.selector.matchLabels) || "
        f"self.selector.matchLabels.all(k, {_HAS_LABELS} && k in {_LABELS} && "
        f"{_LABELS}[k] == self.selector.matchLabels[k])",
        "spec.selector must match spec.template.metadata.labels: every "
        "spec.selector.matchLabels entry must be among the template labels",
        ".selector",
    ),
    Rule(
        f"!has(self.selector) || !has(self.selector.matchExpressions) || "
        f"self.selector.matchExpressions.all(e, "
        f"e.operator == 'In' ? ({_HAS_LABELS} && e.key in {_LABELS} && has(e.values) && "
        f"{_LABELS}[e.key] in e.values) : "
        f"e.operator == 'NotIn' ? (!{_HAS_LABELS} || !(e.key in {_LABELS}) || "
        f"!has(e.values) || !({_LABELS}[e.key] in e.values)) : "
        f"e.operator == 'Exists' ? ({_HAS_LABELS} && e.key in {_LABELS}) : "
        f"(!{_HAS_LABELS} || !(e.key in {_LABELS})))",
        "spec.selector must match spec.template.metadata.labels: every "
        "spec.selector.matchExpressions requirement must hold for the template labels",
        ".selector",
    ),
    Rule(
        "has(self.selector) == has(oldSelf.selector) && "
        "(!has(self.selector) || self.selector == oldSelf.selector)",
        "spec.selector is immutable",
        ".selector",
    ),
)

# -- whole-object rules -----------------------------------------------------------------------
NAME_RULE = Rule(
    f"self.metadata.name.size() <= {MAX_WORKLOAD_NAME_LENGTH}",
    f"metadata.name must be at most {MAX_WORKLOAD_NAME_LENGTH} characters: the generated "
    "Deployments are named <name>-<zone> and must fit in 63 characters",
    ".metadata.name",
)


SPEC = Field(
    "spec",
    "",
    "object",
    "The desired state of the ZonalWorkload: a pod template run with its replicas spread "
    "evenly across the zones, as one Deployment per zone (placement PerZone) or as one "
    "Deployment with a zone topology spread constraint (Spread).",
    required=(TEMPLATE.name,),
    properties=(
        *SCALAR_FIELDS,
        SELECTOR,
        TEMPLATE,
        STRATEGY,
        FAILOVER_SECTION,
        ZONE_ROLLOUT_SECTION,
        DISRUPTION_BUDGET_SECTION,
        AUTO_SHIFT_SECTION,
    ),
    rules=(*SELECTOR_RULES, *SPEC_RULES),
)

ZONAL_WORKLOAD = Kind(
    kind=KIND,
    plural=PLURAL,
    short_names=("zw",),
    scope="Namespaced",
    description="ZonalWorkload runs a pod template as one Deployment per zone, keeps its "
    "replicas spread evenly across the zones, and moves replicas out of a failing zone before "
    "Kubernetes evicts them.",
    spec=SPEC,
    status=WorkloadStatus,
    # Only name may be declared here; it lets the name rule point at the field.
    metadata=Field("metadata", "", "object", properties=(Field("name", "", "string"),)),
    rules=(NAME_RULE,),
    scale={
        "specReplicasPath": f".spec.{REPLICAS.name}",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    },
    columns=(
        Column("Desired", "integer", f".spec.{REPLICAS.name}", "Desired replicas"),
        Column("Ready", "integer", ".status.readyReplicas", "Ready replicas"),
        Column("Available", "integer", ".status.availableReplicas", "Available replicas"),
        Column("Zones", "integer", ".status.zoneCount", "Zones in use"),
        Column(
            "Not-Healthy",
            "string",
            ".status.zonesNotHealthy",
            "Zones not Healthy, and their health",
        ),
        Column("Placement", "string", f".spec.{PLACEMENT.name}", "PerZone or Spread", priority=1),
        Column(
            "Skew",
            "integer",
            ".status.skew",
            "Spread placement: pods per zone, largest difference",
            priority=1,
        ),
        Column("Healthy-Zones", "integer", ".status.healthyZoneCount", "Healthy zones", priority=1),
        Column("Loss-Covered", "string", _COVERED, "Would any one zone's loss fit now", priority=1),
        Column(
            "Rollout",
            "string",
            ".status.zoneRollout.summary",
            "ZoneByZone: the wave's progress",
            priority=1,
        ),
        Column(
            "Status",
            "string",
            '.status.conditions[?(@.type=="Ready")].status',
            "Status of the Ready condition",
        ),
        Column("Age", "date", ".metadata.creationTimestamp"),
    ),
)


@dataclass(frozen=True)
class FailoverPolicy:
    enabled: bool = _FAILOVER_DEFAULTS["enabled"]
    unhealthy_node_percent: int = _FAILOVER_DEFAULTS["unhealthy_node_percent"]
    grace_period_seconds: int = _FAILOVER_DEFAULTS["grace_period_seconds"]
    heartbeat_timeout_seconds: int = _FAILOVER_DEFAULTS["heartbeat_timeout_seconds"]
    failback_delay_seconds: int = _FAILOVER_DEFAULTS["failback_delay_seconds"]
    failback_step_percent: int = _FAILOVER_DEFAULTS["failback_step_percent"]
    toleration_seconds: int = _FAILOVER_DEFAULTS["toleration_seconds"]
    headroom: HeadroomPolicy = field(default_factory=HeadroomPolicy)

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any] | None) -> FailoverPolicy:
        raw = raw or {}
        values = {f.attr: f.read(raw) for f in FAILOVER_FIELDS}
        parsed: dict[str, Any] = {
            k: bool(v) if k == "enabled" else int(v) for k, v in values.items()
        }
        return cls(**parsed, headroom=HeadroomPolicy.from_spec(raw.get(HEADROOM)))


@dataclass(frozen=True)
class Workload:
    """One ZonalWorkload: identity, spec (defaults applied) and the status it last reported."""

    name: str
    namespace: str
    uid: str
    generation: int
    replicas: int
    template: Mapping[str, Any]
    selector: Mapping[str, Any] | None = None
    topology_key: str = TOPOLOGY_KEY.default
    zones: tuple[str, ...] = ()
    max_skew: int = MAX_SKEW.default
    paused: bool = PAUSED.default
    placement: str = PLACEMENT.default
    # Deployment settings passed through untouched (strategy, minReadySeconds, ...).
    rollout: Mapping[str, Any] = field(default_factory=dict)
    failover: FailoverPolicy = field(default_factory=FailoverPolicy)
    zone_rollout: ZoneRolloutPolicy = field(default_factory=ZoneRolloutPolicy)
    disruption_budget: DisruptionBudget | None = None  # None: no zone budgets
    auto_shift: AutoShiftPolicy = field(default_factory=AutoShiftPolicy)
    status: WorkloadStatus = field(default_factory=WorkloadStatus)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def pod_spec(self) -> Mapping[str, Any]:
        spec: Mapping[str, Any] = self.template.get("spec") or {}
        return spec

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Workload:
        meta = body.get("metadata") or {}
        spec = body.get("spec") or {}
        rollout = {k: copy.deepcopy(spec[k]) for k in ROLLOUT_FIELDS if spec.get(k) is not None}
        return cls(
            name=meta["name"],
            namespace=meta.get("namespace", "default"),
            uid=meta.get("uid", ""),
            generation=int(meta.get("generation", 0)),
            replicas=int(REPLICAS.read(spec)),
            template=copy.deepcopy(spec.get("template") or {}),
            selector=copy.deepcopy(spec.get("selector")) if spec.get("selector") else None,
            topology_key=spec.get(TOPOLOGY_KEY.name) or TOPOLOGY_KEY.default,
            zones=tuple(spec.get(ZONES.name) or ()),
            max_skew=int(MAX_SKEW.read(spec)),
            paused=bool(PAUSED.read(spec)),
            placement=str(spec.get(PLACEMENT.name) or PLACEMENT.default),
            rollout=rollout,
            failover=FailoverPolicy.from_spec(spec.get(FAILOVER)),
            zone_rollout=ZoneRolloutPolicy.from_spec(spec.get(ZONE_ROLLOUT)),
            disruption_budget=DisruptionBudget.from_spec(spec.get(DISRUPTION_BUDGET)),
            auto_shift=AutoShiftPolicy.from_spec(spec.get(AUTO_SHIFT)),
            status=cast(WorkloadStatus, copy.deepcopy(body.get("status") or {})),
        )

    @property
    def spread(self) -> bool:
        return self.placement == SPREAD

    def base_selector(self) -> dict[str, Any]:
        """The selector of all this workload's pods, over every zone (for /scale and the HPA)."""
        selector = copy.deepcopy(dict(self.selector)) if self.selector else {}
        labels = dict(selector.get("matchLabels") or {})
        labels[WORKLOAD_LABEL] = self.name
        selector["matchLabels"] = labels
        return selector
