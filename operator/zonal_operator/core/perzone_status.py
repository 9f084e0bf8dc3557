"""PerZone placement's status (pure): the totals over the zones' Deployments (a dark zone's
pods not counted), each zone's entry, and the conditions, from the zones perzone.plan
judged and stepped."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from zonal_operator.api.status import ConditionType, WorkloadStatus, ZoneStatus
from zonal_operator.api.workload import Workload
from zonal_operator.core import status as report
from zonal_operator.core import waves
from zonal_operator.core.deployment import rolled_out as deployment_rolled_out
from zonal_operator.core.wording import PER_ZONE as WORDING
from zonal_operator.core.zones import FAILED_OVER, ZoneView


def rolled_out(zone: ZoneView) -> bool:
    """The zone's Deployment is done, and every one of its pods serves."""
    return deployment_rolled_out(zone.live or {}, zone.current) and zone.available == zone.current


def status(
    wl: Workload,
    zones: Mapping[str, ZoneView],
    previous: Mapping[str, ZoneStatus],
    all_failing: bool,
    now: datetime,
    *,
    acting: bool,
    unschedulable: Mapping[str, int],
    shifts: Callable[[list[report.Condition]], None],
    wave: waves.Wave,
) -> WorkloadStatus:
    owned = [z for z in zones.values() if z.live is not None]
    totals = dict.fromkeys(("replicas", "readyReplicas", "availableReplicas", "updatedReplicas"), 0)
    for zone in owned:
        status = zone.live.get("status") or {}  # type: ignore[union-attr]
        for key in totals:
            totals[key] += int(status.get(key) or 0)
        if zone.dark:  # see _zones: its pods do not serve
            totals["readyReplicas"] -= int(status.get("readyReplicas") or 0)
            totals["availableReplicas"] -= int(status.get("availableReplicas") or 0)
    zone_entries = []
    for zone in sorted(zones.values(), key=lambda z: z.name):
        entry = report.zone_entry(
            zone,
            zone.deployment,
            desired=zone.target,
            ready=zone.ready,
            available=zone.available,
            unschedulable=unschedulable.get(zone.name, 0),
        )
        if zone.live is not None:
            # What the operator's own last write produced; only a write (see
            # status.record_generations) moves it. Adopted from the live object when never
            # recorded.
            recorded = (
                previous[zone.name].get("deploymentGeneration") if zone.name in previous else None
            )
            live_generation = int((zone.live.get("metadata") or {}).get("generation") or 0)
            entry["deploymentGeneration"] = recorded if recorded is not None else live_generation
        waves.record(entry, wave.entries.get(zone.name) or {})
        zone_entries.append(entry)

    conflicts = sorted(z.deployment for z in zones.values() if z.conflict)
    serving = report.serving_zones(zones)
    failed_over = sorted(z.name for z in zones.values() if z.health and z.state in FAILED_OVER)
    converged = (
        not acting
        and all(z.next == z.target == z.current and rolled_out(z) for z in owned)
        and len(owned) >= len(serving)
    )
    wanted = report.summary(
        WORDING,
        available=totals["availableReplicas"],
        replicas=wl.replicas,
        blocked=bool(conflicts) or (not serving and wl.replicas != 0),
        converged=converged,
        degraded=report.degraded_condition(zones, conflicts, all_failing, unschedulable),
        failed_over=failed_over,
    )
    shifts(wanted)
    if wave.progressing is not None:
        wanted = [wave.progressing if c.type == ConditionType.PROGRESSING else c for c in wanted]
    return report.skeleton(
        wl,
        totals,
        serving,
        zones=zone_entries,
        conditions=wanted,
        now=now,
        zone_rollout=wave.status,
    )
