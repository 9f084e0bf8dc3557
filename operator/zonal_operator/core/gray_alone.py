"""Per-workload automatic shifts: a workload that asked for them (spec.autoShift.perWorkload)
and whose own pods fail in one zone is shifted out of that zone alone, even when too few
other opted-in workloads fail there for the zone to be judged gray-failed
(core/gray_failure.py's correlation). The judgement is pure, like that module's, and reads the
same evidence: the runtime (runtime/gray_failure.py) creates the ZoneShifts it describes.

The rule: the zone is the workload's sustained outlier, by the same outlier rule and windows as
the correlation. Then, one ZoneShift for that workload only (spec.workload), labelled automatic,
applying while it stays opted in (spec.optedInOnly), for the same duration; its reason names
the evidence. Not when:
- the correlation judges the zone (any zone of that topology key, shifted or held) gray-failed:
  that is the cluster-wide judgement's, whose holds stand for every workload;
- another automatic shift applies to the workload already: its own, or the cluster-wide one
  (at most one automatic shift per workload, and never a per-workload one beside the shift of
  the whole zone);
- in the latest window its other zones fail too (at MAX_OTHERS_SHARE or more), or no better
  than the zone: every zone looks bad, a release, not a zone;
- its zone-by-zone rollout has the zone in flight (that is the wave's halt);
- it has no other compared zone with pods in the latest window (never leave it no zone;
  core/shifts.py refuses such a shift too).

What it cannot tell apart: a zone-local fault of a dependency only this workload uses (its
database's replica in the zone, a zonal cache) from a fault of the workload itself that shows
in one zone only (a release or configuration rolled out there alone, a node-local resource):
both move the workload out. A rollout that Deployments run in one zone first is told apart only
by the revision rule (a zone on another revision is not compared).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zonal_operator.api.zoneshift import WORKLOAD, ZoneShift
from zonal_operator.core import gray_failure as gray
from zonal_operator.core.naming import zone_slug

Key = gray.Key


@dataclass(frozen=True)
class AloneShift:
    """One shift of one workload alone, to create."""

    key: Key
    topology_key: str
    zone: str
    evidence: str


@dataclass(frozen=True)
class AloneJudgement:
    """The shifts to create, and per workload the zone it sees as its outlier and why it is
    not shifted (only the workloads with per-workload action that are held)."""

    shifts: tuple[AloneShift, ...] = ()
    held: Mapping[Key, tuple[str, str]] = field(default_factory=dict)


def judge_alone(
    evidence: Sequence[gray.Evidence],
    shifts: Iterable[ZoneShift],
    cluster: gray.Judgement,
    now: datetime,
) -> AloneJudgement:
    """The per-workload shifts to create (see the module's doc). `cluster` is the correlation's
    judgement over the same evidence; `shifts` every ZoneShift there is."""
    automatic = gray.in_force_automatic(shifts, now)
    gray_zones = set(gray.correlated(evidence, cluster.outliers))
    wide = {s.topology_key for s in automatic if s.workload is None}
    if cluster.zone is not None:
        wide.add(cluster.topology_key)  # being created now: it applies to every opted-in one
    own = {s.workload for s in automatic if s.workload is not None}
    created: list[AloneShift] = []
    held: dict[Key, tuple[str, str]] = {}
    for ev in sorted(evidence, key=lambda e: e.key):
        if not ev.per_workload:
            continue
        zone = gray.outlier(ev)
        if zone is None or (ev.topology_key, zone) in gray_zones or ev.key in own:
            continue
        why = _hold(ev, zone, wide)
        if why:
            held[ev.key] = (zone, why)
            continue
        created.append(AloneShift(ev.key, ev.topology_key, zone, describe(ev, zone)))
    return AloneJudgement(tuple(created), held)


def _hold(ev: gray.Evidence, zone: str, wide: set[str]) -> str:
    if ev.topology_key in wide:
        return "the cluster-wide automatic ZoneShift applies to it already"
    mine = gray.latest(ev, zone)
    others = _others(ev, zone)
    if not others.pods:
        return "it has no other zone with pods to move to"
    if others.share >= gray.MAX_OTHERS_SHARE or others.share >= mine.share:
        return (
            f"{others.share:.0%} of its pods fail in its other zones too, {mine.share:.0%} in "
            f"zone {zone}: every zone looks bad (a release, not a zone)"
        )
    if zone in ev.in_flight:
        return f"its zone-by-zone rollout has zone {zone} in flight"
    return ""


def _others(ev: gray.Evidence, zone: str) -> gray.Tally:
    return sum((gray.latest(ev, z) for z in sorted(ev.compared) if z != zone), gray.Tally())


def describe(ev: gray.Evidence, zone: str) -> str:
    """The evidence in words, for the shift's reason and annotation."""
    namespace, name = ev.key
    mine, others = gray.latest(ev, zone), _others(ev, zone)
    return (
        f"Automatic: {namespace}/{name} alone fails in zone {zone}: {mine.share:.0%} of its pods "
        f"failing vs {others.share:.0%} in its other zones, its outlier in "
        f"{gray.OUTLIER_WINDOWS} of the last {gray.WINDOWS} {gray.WINDOW_SECONDS:.0f}s windows; "
        "too few other opted-in workloads fail there for a zone failure; "
        "spec.autoShift.perWorkload shifts it alone"
    )


def shift_name(shift: AloneShift, now: datetime) -> str:
    namespace, name = shift.key
    return f"auto-{zone_slug(shift.zone)}-{namespace}-{name}-{now.strftime('%Y%m%d-%H%M%S')}"


def shift_body(shift: AloneShift, now: datetime, duration: str) -> dict[str, Any]:
    """The automatic ZoneShift of one workload alone."""
    namespace, name = shift.key
    return gray.automatic_body(
        shift_name(shift, now),
        shift.zone,
        shift.topology_key,
        shift.evidence,
        duration,
        **{WORKLOAD.name: {"namespace": namespace, "name": name}},
    )
