"""Zone shifts for Spread placement: which zones the one Deployment's pod template keeps out, and
when its rollout is made surge first (see core/shifts.py for which shifts apply, spread.py for
the plan that calls this). A zone failed over on the heartbeat verdict is kept out the same way.

The scheduler places a Spread workload's pods, so a zone is taken away from them in the pod
template: a required node affinity term `topologyKey NotIn [shifted zones]`, ANDed into every
node selector term (render.py). The zone spread constraint has `nodeAffinityPolicy: Honor`, so
it then spreads over the remaining zones only, and `matchLabelKeys: [pod-template-hash]` makes
the new ReplicaSet's pods spread afresh. Deleting or evicting the zone's pods instead would not
do: their replacements belong to the same template, and the constraint would put them straight
back into the emptied zone.

Changing the template rolls the whole Deployment out under its strategy. So that Ready never
drops below spec.replicas because of the move, whatever spec.strategy says, the strategy is
rendered as `RollingUpdate` with `maxUnavailable: 0` and `maxSurge` one failback step
(failbackStepPercent of spec.replicas, as PerZone moves a shift's replicas): while a shift
applies, and after it ends until the rollout that brings the pods back is done. Then the
user's strategy is rendered again: a strategy-only change rolls no pod.

Everything is read back from the live Deployment (level-triggered: a restart mid-rollout finds
the same answer): the annotation SHIFTED_ZONES, present while the surge-first strategy is in
force, holds the zones the template keeps out ("" once the shift has ended and the pods are on
their way back).

- A zone that really fails while shifted is failed over as any other (spread.py deletes its
  stranded pods); if its shift ends before it has waited out the failback delay, it stays out
  of the template until it has: the delay guards against nodes that flap, shift or no shift.
- A shift that ends on a zone that never failed brings the pods back at once, without the
  failback delay, as with PerZone placement: the end of a shift is a decision, not nodes
  coming back (zones.judge_zone).
- A zone judged Unhealthy on the heartbeat verdict (its kubelets silent, its nodes still Ready
  to the scheduler, core/heartbeat.py) is kept out too: deleting its pods would not do, for the
  reason above, until the nodes are NotReady and tainted. That rollout surges every replica at
  once (`maxSurge: spec.replicas`): the ReplicaSet controller picks the old pods it removes
  without knowing that the silent zone's serve nothing (it rather removes pods from the nodes
  the surge crowded, in the healthy zones), so each smaller step would mostly replace pods
  that serve, and the capacity would stay short until the whole rollout is done. Once kept
  out, the zone stays out while it is Unhealthy or Recovering, whatever later turns its nodes
  NotReady, and comes back when it is Healthy again (after failbackDelaySeconds), surge first
  in failback steps as a shift's zone does. A zone whose renewals resume within its grace
  period was never Unhealthy: the template never moved.
- While every zone looks down, nothing moves: the template keeps the zones it keeps.
- While the template changes, and until its rollout is done, the plan starts no failback
  surge of its own (spread.py): the rollout already places every pod afresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zonal_operator.api.group import RESERVED_LABEL_PREFIX
from zonal_operator.api.status import ZoneState
from zonal_operator.api.workload import Workload
from zonal_operator.core.deployment import rolled_out
from zonal_operator.core.render import render_spread_deployment
from zonal_operator.core.zones import FAILED_OVER, ZoneView, failback_step

SHIFTED_ZONES = f"{RESERVED_LABEL_PREFIX}shifted-zones"


@dataclass(frozen=True)
class Exclusion:
    """What the Deployment renders for the shifts: the zones kept out of the pod template, and
    whether the rollout is made surge first (and the annotation recorded)."""

    zones: tuple[str, ...] = ()
    surge_first: bool = False
    # Some of `zones` are out because they failed, not (only) for a shift: surge every replica.
    failed: bool = False

    def annotations(self) -> dict[str, str]:
        return {SHIFTED_ZONES: ",".join(self.zones)} if self.surge_first else {}


NONE = Exclusion()


def recorded(live: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    """The zones the live Deployment keeps out, by its annotation; None: no annotation (no
    shift has been rendered, or the last one's rollout is done)."""
    annotations = ((live or {}).get("metadata") or {}).get("annotations") or {}
    value = annotations.get(SHIFTED_ZONES)
    if value is None:
        return None
    return tuple(sorted(z for z in str(value).split(",") if z))


def exclusion(
    zones: Mapping[str, ZoneView], live: Mapping[str, Any] | None, *, all_failing: bool
) -> Exclusion:
    """What to render now, from the zones as judged (their shifts applied) and the live
    Deployment."""
    before = recorded(live)
    if all_failing:
        return Exclusion(before or (), before is not None)  # move nothing
    out = {z.name for z in zones.values() if z.shifted_by and z.health is not None}
    # Failed on the heartbeat verdict: the scheduler still sees its nodes as fine.
    failed = {z.name for z in zones.values() if verdict_out(z)}
    # Out already (a shift, or the verdict), failed meanwhile: back once failback allows.
    failed |= {z for z in before or () if z in zones and zones[z].state in FAILED_OVER}
    out |= failed
    if out:
        return Exclusion(tuple(sorted(out)), True, bool(failed))
    if before is None:
        return NONE
    # The shift is over: surge first until the rollout that brings the pods back is done.
    current = int(((live or {}).get("spec") or {}).get("replicas", 1))
    back = before == () and live is not None and rolled_out(live, current)
    return NONE if back else Exclusion((), True)


def verdict_out(zone: ZoneView) -> bool:
    """Whether the zone is to leave the template now: Unhealthy on the heartbeat verdict."""
    health = zone.health
    return zone.state is ZoneState.UNHEALTHY and health is not None and health.by_silence


def strategy(wl: Workload, failed: bool = False) -> dict[str, Any]:
    """The Deployment strategy of a shift's rollout: never a pod down before its replacement
    is Ready; away from a failed zone, every replica at once (see the module's doc)."""
    surge = max(1, wl.replicas) if failed else failback_step(wl)  # never both 0
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": 0}}


def render(wl: Workload, replicas: int, ex: Exclusion = NONE) -> dict[str, Any]:
    """The one Deployment, with what `ex` keeps out and its surge-first strategy."""
    return render_spread_deployment(
        wl,
        replicas,
        excluded=ex.zones,
        strategy=strategy(wl, ex.failed) if ex.surge_first else None,
        annotations=ex.annotations(),
    )


def rolling(ex: Exclusion, live: Mapping[str, Any] | None) -> bool:
    """Whether this plan changes the zones the template keeps out (a rollout starts)."""
    return live is not None and ex.zones != (recorded(live) or ())
