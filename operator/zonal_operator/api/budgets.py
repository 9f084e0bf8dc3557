"""spec.disruptionBudget of a ZonalWorkload: voluntary disruptions (drains, node upgrades, the
Eviction API) one zone at a time. Its field with its default, bound, description and CEL rule,
and the typed budget the pure core reads (core/zone_budgets.py decides which zone is open).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zonal_operator.api.fields import Field, Rule

DISRUPTION_BUDGET = "disruptionBudget"
DISRUPTION_BUDGET_DESCRIPTION = (
    "Opt-in: the operator keeps one PodDisruptionBudget per zone Deployment, named like the "
    "Deployment, so that voluntary disruptions (kubectl drain, node upgrades: anything that "
    "goes through the Eviction API) take the workload's pods in one zone at a time. The open "
    "zone's budget allows maxUnavailable; the other zones' allow none, and their evictions "
    "are refused (429) until their zone opens. The open zone is one already disrupted (a pod "
    "not Ready or missing, a zone failed over or shifted), else the one whose nodes are being "
    "drained (cordoned), else it stays where it is; once it is whole and Ready again, the next "
    "zone with a drain waiting opens. PerZone placement only: Spread pods of every zone come "
    "from one template, with no label that tells their zone."
)
DEFAULT_MAX_UNAVAILABLE = 1
MAX_UNAVAILABLE = Field(
    "maxUnavailable",
    "max_unavailable",
    "",
    "How many of the open zone's pods may be unavailable at once: a number (at least 1) or a "
    "percentage of the zone's replicas (1% to 100%, rounded up, as a PodDisruptionBudget "
    f"does). Default {DEFAULT_MAX_UNAVAILABLE}.",
    default=DEFAULT_MAX_UNAVAILABLE,
    extra={"x-kubernetes-int-or-string": True},
    rules=(
        Rule(
            "type(self) == int ? self >= 1 : self.matches('^([1-9][0-9]?|100)%$')",
            "spec.disruptionBudget.maxUnavailable must be a number of at least 1 or a "
            "percentage from 1% to 100%",
        ),
    ),
)
DISRUPTION_BUDGET_SECTION = Field(
    DISRUPTION_BUDGET,
    "disruption_budget",
    "object",
    DISRUPTION_BUDGET_DESCRIPTION,
    properties=(MAX_UNAVAILABLE,),
)


@dataclass(frozen=True)
class DisruptionBudget:
    """The open zone's budget: a PodDisruptionBudget's maxUnavailable (an int, or "N%")."""

    max_unavailable: int | str = DEFAULT_MAX_UNAVAILABLE

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any] | None) -> DisruptionBudget | None:
        """None when the spec has no disruptionBudget: the operator keeps no budgets."""
        if raw is None:
            return None
        value = MAX_UNAVAILABLE.read(raw)
        return cls(max_unavailable=value if isinstance(value, str) else int(value))
