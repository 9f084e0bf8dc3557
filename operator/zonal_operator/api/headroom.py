"""spec.failover.headroom of a ZonalWorkload: room kept in every zone so that the loss of any
one zone fits in the others. Placeholders: pause pods at a low PriorityClass, sized per zone,
that the failover's surge preempts. StaticStability: real replicas instead, enough per zone
that the other zones hold spec.replicas with no move. Its fields with their defaults, bounds,
descriptions and CEL rules, and the typed policy the pure core reads (core/headroom.py sizes
it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zonal_operator.api.fields import Field, Rule

HEADROOM = "headroom"
NONE = "None"
PLACEHOLDERS = "Placeholders"
STATIC_STABILITY = "StaticStability"
# The PriorityClass the chart installs (value -10, preemptionPolicy Never).
DEFAULT_PRIORITY_CLASS = "zonal-headroom"
# A PriorityClass name: a DNS subdomain.
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

MODE = Field(
    "mode",
    "mode",
    "string",
    "None (the default): no headroom. Placeholders: pause pods in every zone, at "
    "priorityClassName, with the workload's requests and scheduling constraints, sized so the "
    "loss of any one zone fits in the others; the failover's surge preempts them. They never "
    "count as Ready capacity. StaticStability: real replicas instead, enough per zone that the "
    "other zones hold spec.replicas with no move; spec.replicas and /scale stay what was asked, "
    "the extra is status.headroomReplicas. PerZone placement only.",
    default=NONE,
    extra={"enum": [NONE, PLACEHOLDERS, STATIC_STABILITY]},
)
PRIORITY_CLASS_NAME = Field(
    "priorityClassName",
    "priority_class_name",
    "string",
    "Placeholders: the PriorityClass of the placeholder pods. It must exist and its value must "
    "be below the workload's own priority, else status condition HeadroomReady is False and "
    f"nothing else changes. Default {DEFAULT_PRIORITY_CLASS}, which the chart installs.",
    default=DEFAULT_PRIORITY_CLASS,
    extra={"minLength": 1, "maxLength": 253, "pattern": _DNS_SUBDOMAIN},
)
HEADROOM_FIELDS = (MODE, PRIORITY_CLASS_NAME)
HEADROOM_SECTION = Field(
    HEADROOM,
    "headroom",
    "object",
    "Room kept in every zone for the loss of any one zone: None, Placeholders or StaticStability.",
    default={},
    properties=HEADROOM_FIELDS,
)
# Over the whole spec: headroom is sized per zone Deployment.
HEADROOM_RULE = Rule(
    "self.?placement.orValue('PerZone') != 'Spread' || "
    f"self.?failover.{HEADROOM}.{MODE.name}.orValue('{NONE}') == '{NONE}'",
    "spec.failover.headroom.mode needs spec.placement PerZone: a Spread workload's one "
    "Deployment is placed by the scheduler's spread, not per zone",
    f".failover.{HEADROOM}",
)


@dataclass(frozen=True)
class HeadroomPolicy:
    mode: str = NONE
    priority_class_name: str = DEFAULT_PRIORITY_CLASS

    @property
    def placeholders(self) -> bool:
        return self.mode == PLACEHOLDERS

    @property
    def static_stability(self) -> bool:
        return self.mode == STATIC_STABILITY

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any] | None) -> HeadroomPolicy:
        raw = raw or {}
        return cls(
            mode=str(MODE.read(raw)),
            priority_class_name=str(PRIORITY_CLASS_NAME.read(raw)),
        )
