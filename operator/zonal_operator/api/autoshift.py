"""Automatic zone shifts on gray failure: a ZonalWorkload's opt-in (spec.autoShift, and its
per-workload action spec.autoShift.perWorkload), the ZoneShift field that makes a shift apply
to the opted-in workloads only (spec.optedInOnly), and the labels and annotation that mark a
ZoneShift the operator created.

A gray failure is a zone whose nodes keep renewing their Leases while the workloads' own pods
there fail (not Ready, or restarting): the heartbeat verdict sees nothing. core/gray_failure.py
judges it from the pods; runtime/gray_failure.py creates the automatic ZoneShift. It selects
workloads by their opt-in, never by labels the operator would have to put on them: a user's
ZonalWorkload is the user's, and the operator writes none of its metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zonal_operator.api.fields import Field, Rule
from zonal_operator.api.group import RESERVED_LABEL_PREFIX

# -- ZonalWorkload spec.autoShift ------------------------------------------------------------
AUTO_SHIFT = "autoShift"
ENABLED = Field(
    "enabled",
    "enabled",
    "boolean",
    "Whether the workload takes part in automatic zone shifts: its pods' readiness per zone is "
    "evidence of a gray zone failure (pods failing in one zone only while its nodes still "
    "heartbeat), and an automatic ZoneShift, once enough opted-in workloads see the same zone "
    "fail, moves its replicas out of that zone, surge first, until it expires or is deleted. "
    "The operator's --auto-shift switch must be on too. Default false.",
    default=False,
)
PER_WORKLOAD = Field(
    "perWorkload",
    "per_workload",
    "boolean",
    "Also shift this workload alone: when its own pods fail in one zone (its sustained "
    "outlier, by the same rule and windows as enabled) while too few other opted-in workloads "
    "fail there for the zone to be judged gray-failed, the operator creates an automatic "
    "ZoneShift for this workload only (spec.workload names it), moving its replicas out of "
    "that zone surge first until the shift expires or is deleted. Never while its other zones "
    "fail too, for a zone its zone-by-zone rollout has in flight, nor while another automatic "
    "shift applies to it. It cannot tell a zone-local fault of a dependency only this workload "
    "uses (its database's replica in that zone, a zonal cache) from a fault of the workload "
    "itself that shows in one zone only (a bad release or configuration rolled out there "
    "alone, a node-local resource exhausted): both move it out of the zone. Needs enabled. "
    "Default false: a workload failing alone in a zone moves nothing.",
    default=False,
)
AUTO_SHIFT_SECTION = Field(
    AUTO_SHIFT,
    "auto_shift",
    "object",
    "Automatic zone shifts on gray failure (see enabled and perWorkload).",
    default={},
    properties=(ENABLED, PER_WORKLOAD),
    rules=(
        Rule(
            f"!self.?{PER_WORKLOAD.name}.orValue(false) || self.?{ENABLED.name}.orValue(false)",
            f"spec.{AUTO_SHIFT}.{PER_WORKLOAD.name} needs spec.{AUTO_SHIFT}.{ENABLED.name}: "
            "a workload is shifted alone only on the evidence it gives as an opted-in workload",
            f".{PER_WORKLOAD.name}",
        ),
    ),
)


@dataclass(frozen=True)
class AutoShiftPolicy:
    enabled: bool = ENABLED.default
    per_workload: bool = PER_WORKLOAD.default

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any] | None) -> AutoShiftPolicy:
        raw = raw or {}
        enabled = bool(ENABLED.read(raw))
        return cls(enabled=enabled, per_workload=enabled and bool(PER_WORKLOAD.read(raw)))


# -- ZoneShift spec.optedInOnly ---------------------------------------------------------------
OPTED_IN_ONLY = Field(
    "optedInOnly",
    "opted_in_only",
    "boolean",
    "Applies the shift only to the selected ZonalWorkloads with spec.autoShift.enabled. The "
    "operator's automatic shifts set it. Default false: every selected workload.",
    default=False,
)

# -- what marks an automatic ZoneShift --------------------------------------------------------
# With the managed-by label: a user's ZoneShift that carries only one of them is the user's.
AUTOMATIC_LABEL = f"{RESERVED_LABEL_PREFIX}automatic"
# The evidence in full (spec.reason holds its first 256 characters).
EVIDENCE_ANNOTATION = f"{RESERVED_LABEL_PREFIX}evidence"
MAX_EVIDENCE_LENGTH = 4096
