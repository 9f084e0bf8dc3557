"""Status conditions in the Kubernetes shape (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str


def format_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def render_conditions(
    wanted: Sequence[Condition],
    previous: Sequence[Mapping[str, Any]],
    generation: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """Conditions as status holds them; a condition whose status did not change keeps its
    lastTransitionTime, so rendering the same state twice gives the same result."""
    before = {c.get("type"): c for c in previous}
    out = []
    for cond in wanted:
        status = "True" if cond.status else "False"
        old = before.get(cond.type)
        changed = old is None or old.get("status") != status
        out.append(
            {
                "type": cond.type,
                "status": status,
                "reason": cond.reason,
                "message": cond.message,
                "observedGeneration": generation,
                "lastTransitionTime": format_time(now)
                if changed or old is None
                else old.get("lastTransitionTime", format_time(now)),
            }
        )
    return out
