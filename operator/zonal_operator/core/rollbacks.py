"""A zone put back on its previous revision after a halt (spec.zoneRollout.rollbackOnHalt)
goes back surge first: how many replicas more it holds, and when, from its live Deployment.

Why: a halt often comes just as the Deployment controller scaled the previous revision's
ReplicaSet down for a new pod that turned Ready (a container restart shows on the very pod that
made the step). Putting the template back makes that ReplicaSet the new one again while its
status still counts the pods just removed, and the controller, trusting that count, removes the
failed revision's Ready pods before the previous revision's replacements are Ready: a zone of 2
replicas was seen at 1 Ready for about 2 s on the local cluster. The controller's count can be
ahead by at most one step of the rolling update (maxSurge plus maxUnavailable); holding that
many replicas more, with maxUnavailable 0, raises its floor by as much, so the zone never has
fewer Ready pods than its replicas.

The surge is recorded on the Deployment (annotation zonal.dev/rollback-surge, which
render.render_deployment lays over with the strategy), so it is level-triggered: a restart
mid-rollback reads it back. It is held until the Deployment has rolled out at it (every pod on
the template and available), then dropped, with the user's strategy rendered again, in one
write that removes only the surplus pods. A zone with no replicas to run holds none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from zonal_operator.api.template import STRATEGY
from zonal_operator.core.deployment import rolled_out
from zonal_operator.core.render import SURGE_ANNOTATION

DEFAULT_STEP = "25%"  # the API server's default for both maxSurge and maxUnavailable


def step(strategy: Mapping[str, Any] | None, replicas: int) -> int:
    """One step of a rolling update under `strategy` (a Deployment's): maxSurge (rounded up)
    plus maxUnavailable (rounded down) resolved for `replicas`, as the Deployment controller
    resolves them; at least 1. Recreate replaces every pod at once anyway: 0."""
    strategy = strategy or {}
    if strategy.get("type") == "Recreate" or replicas <= 0:
        return 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = _resolve(rolling.get("maxSurge", DEFAULT_STEP), replicas, math.ceil)
    unavailable = _resolve(rolling.get("maxUnavailable", DEFAULT_STEP), replicas, math.floor)
    return max(1, surge + unavailable)


def _resolve(value: Any, replicas: int, rounding: Callable[[float], int]) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return rounding(replicas * int(value[:-1]) / 100)
    return int(value)


def recorded(live: Mapping[str, Any] | None) -> int:
    """The surge the live Deployment holds for a rollback (0: none)."""
    raw = (((live or {}).get("metadata") or {}).get("annotations") or {}).get(SURGE_ANNOTATION)
    try:
        return max(0, int(raw)) if raw is not None else 0
    except ValueError:
        return 0


def held(live: Mapping[str, Any], replicas: int, rolling_back: bool) -> int:
    """The surge the zone's Deployment is to hold over `replicas` now: one step of the strategy
    it rolled out under when this write puts it back, what it holds until it has rolled out at
    it, then none."""
    spec = live.get("spec") or {}
    if replicas <= 0:
        return 0
    if rolling_back:
        return step(spec.get(STRATEGY.name), replicas)
    surge = recorded(live)
    if surge and rolled_out(live, int(spec.get("replicas", 0))):
        return 0
    return surge
