"""Gray zone failure, judged from the workloads' own pods: a zone whose nodes keep
heartbeating while the pods of several opted-in workloads fail there (not Ready, or
restarting), and not elsewhere. The judgement is pure: the runtime (runtime/gray_failure.py)
samples the pods into windows and creates the automatic ZoneShift this module describes.

The evidence, per workload and zone, per window of WINDOW_SECONDS: the pod-samples of the
workload in the zone (each pod counted at each sample) and how many of them were failing: not
Ready, or with a container restarted within the last RESTART_SECONDS. A pod younger than
START_GRACE_SECONDS is not counted (it is starting, not failing), nor one being deleted or not
scheduled. Only the zones the workload is compared in count: those running the revision most
of its zones run (status.zones[].revision: a zone on another revision is a rollout, not a
zone), whose nodes are not failing (that is the heartbeat verdict's), and not shifted away.

The outlier rule, per window: a zone is the workload's outlier when at least
MIN_FAILING_SHARE of its pod-samples there fail, at most MAX_OTHERS_SHARE of those in the
other compared zones together do, and the zone's share is at least MIN_RATIO times theirs.
Sustained: in OUTLIER_WINDOWS of the last WINDOWS windows (as the AWS multi-AZ observability
patterns judge a zone an outlier in 2 of 3 datapoints).

Correlation: a zone is gray-failed when at least MIN_WORKLOADS opted-in workloads see it as
their outlier at once, and they are at least MIN_WORKLOAD_SHARE of the opted-in workloads
with pods compared there. One workload alone failing in one zone is probably that workload: it
moves nothing, unless its spec asks for per-workload action (spec.autoShift.perWorkload;
core/gray_alone.py decides those shifts of one workload alone).

The action, at most one cluster-wide at a time: one automatic ZoneShift of the zone, for
spec.duration (DEFAULT_DURATION), applying to the opted-in workloads only (spec.optedInOnly),
its reason and an annotation naming the evidence. None while another cluster-wide automatic
shift exists (a per-workload one holds none: a zone is more than one workload); none while
more than one zone is gray-failed, or the opted-in workloads' pods in the other zones together
fail at MAX_OTHERS_SHARE or more (every zone looks bad: a bad release, not a zone); none for a
zone a zone-by-zone rollout of any workload has in flight (that is the wave's halt).

With the defaults, a zone whose pods all turn unready is judged within two windows (40 s, at
most 60 s when the first window had only part of the failure), and the shift then moves the
replicas surge first, as any ZoneShift does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from zonal_operator.api.autoshift import (
    AUTOMATIC_LABEL,
    EVIDENCE_ANNOTATION,
    MAX_EVIDENCE_LENGTH,
    OPTED_IN_ONLY,
)
from zonal_operator.api.group import API_VERSION, MANAGED_BY, MANAGED_BY_LABEL
from zonal_operator.api.zoneshift import DURATION, KIND, REASON, TOPOLOGY_KEY, ZONE, ZoneShift
from zonal_operator.core.model import PodInfo
from zonal_operator.core.naming import zone_slug

Key = tuple[str, str]  # (namespace, name) of a workload

WINDOW_SECONDS = 20.0
WINDOWS = 3
OUTLIER_WINDOWS = 2
MIN_FAILING_SHARE = 0.5
MAX_OTHERS_SHARE = 0.2
MIN_RATIO = 3.0
MIN_WORKLOADS = 2
MIN_WORKLOAD_SHARE = 0.5
START_GRACE_SECONDS = 30.0
RESTART_SECONDS = WINDOW_SECONDS * WINDOWS
DEFAULT_DURATION = "1h"
MAX_REASON_LENGTH = 256


@dataclass(frozen=True)
class Tally:
    """Pod-samples of one workload in one zone within one window, and how many failed."""

    pods: int = 0
    failing: int = 0

    @property
    def share(self) -> float:
        return self.failing / self.pods if self.pods else 0.0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.pods + other.pods, self.failing + other.failing)


def failing(pod: PodInfo, now: datetime) -> bool | None:
    """Whether the pod fails now; None: it does not count (starting, leaving, unscheduled)."""
    if pod.deleting or not pod.node:
        return None
    if pod.created is not None and now - pod.created < timedelta(seconds=START_GRACE_SECONDS):
        return None
    restarted = pod.restarted is not None and now - pod.restarted < timedelta(
        seconds=RESTART_SECONDS
    )
    return not pod.ready or restarted


def sample(pods: Mapping[str, Iterable[PodInfo]], now: datetime) -> dict[str, Tally]:
    """One sample of a workload's pods, by zone."""
    tallies: dict[str, Tally] = {}
    for zone, zone_pods in pods.items():
        counted = [f for f in (failing(p, now) for p in zone_pods) if f is not None]
        if counted:
            tallies[zone] = Tally(len(counted), sum(counted))
    return tallies


def add(window: Mapping[str, Tally], tallies: Mapping[str, Tally]) -> dict[str, Tally]:
    """A window with one more sample in it."""
    merged = dict(window)
    for zone, tally in tallies.items():
        merged[zone] = merged.get(zone, Tally()) + tally
    return merged


def compared_zones(zones: Iterable[str], revisions: Mapping[str, str]) -> frozenset[str]:
    """Of the zones that serve, those on the revision most of them run (ties: the first by
    name); a zone with no revision recorded counts as on it."""
    zones = sorted(zones)
    counts: dict[str, int] = {}
    for zone in zones:
        if revisions.get(zone):
            counts[revisions[zone]] = counts.get(revisions[zone], 0) + 1
    if not counts:
        return frozenset(zones)
    most = max(sorted(counts), key=lambda r: counts[r])
    return frozenset(z for z in zones if revisions.get(z, most) == most)


@dataclass(frozen=True)
class Evidence:
    """One opted-in workload as the judgement sees it."""

    key: Key
    topology_key: str
    windows: tuple[Mapping[str, Tally], ...]  # complete windows, oldest first
    compared: frozenset[str]  # the zones it is compared in (see the module's doc)
    in_flight: frozenset[str] = frozenset()  # zones its zone-by-zone rollout has in flight
    per_workload: bool = False  # spec.autoShift.perWorkload: it may be shifted alone


def window_outlier(window: Mapping[str, Tally], zone: str, compared: frozenset[str]) -> bool:
    """The outlier rule over one window."""
    present = [z for z in sorted(compared) if window.get(z, Tally()).pods]
    if zone not in present or len(present) < 2:
        return False
    mine = window[zone]
    others = sum((window[z] for z in present if z != zone), Tally())
    return (
        mine.share >= MIN_FAILING_SHARE
        and others.share <= MAX_OTHERS_SHARE
        and mine.share >= MIN_RATIO * others.share
    )


def outlier(evidence: Evidence) -> str | None:
    """The zone the workload sees as its outlier, sustained over the last windows; None."""
    recent = evidence.windows[-WINDOWS:]
    for zone in sorted(evidence.compared):
        if sum(window_outlier(w, zone, evidence.compared) for w in recent) >= OUTLIER_WINDOWS:
            return zone
    return None


@dataclass(frozen=True)
class Judgement:
    """What the judgement found: the zone to shift away from (None: none), why not when some
    zone is gray-failed but is not shifted, the workloads that see each zone as their outlier,
    and the evidence in words."""

    zone: str | None = None
    topology_key: str = TOPOLOGY_KEY.default
    held: str = ""
    held_zone: str = ""
    outliers: Mapping[tuple[str, str], tuple[Key, ...]] = field(default_factory=dict)
    evidence: str = ""


def latest(evidence: Evidence, zone: str) -> Tally:
    return evidence.windows[-1].get(zone, Tally()) if evidence.windows else Tally()


def judge(evidence: Sequence[Evidence], shifts: Iterable[ZoneShift], now: datetime) -> Judgement:
    """Whether to shift a zone away, and which (see the module's doc). `shifts` are every
    ZoneShift there is; the automatic ones among them (automatic()) hold any other."""
    seeing: dict[tuple[str, str], list[Key]] = {}
    for ev in evidence:
        zone = outlier(ev)
        if zone is not None:
            seeing.setdefault((ev.topology_key, zone), []).append(ev.key)
    outliers = {k: tuple(sorted(v)) for k, v in sorted(seeing.items())}
    gray = correlated(evidence, outliers)
    if not gray:
        return Judgement(outliers=outliers)
    topology_key, zone = gray[0]
    text = describe(evidence, topology_key, zone, outliers[gray[0]])
    result = Judgement(None, topology_key, "", zone, outliers, text)

    def held(why: str) -> Judgement:
        return Judgement(None, topology_key, why, zone, outliers, text)

    existing = [s for s in in_force_automatic(shifts, now) if s.workload is None]
    if existing:
        if any(s.zone == zone for s in existing):
            return result  # shifted already: nothing to hold
        return held(f"automatic ZoneShift {existing[0].name} is in force")
    if len(gray) > 1:
        return held(
            "zones " + ", ".join(z for _, z in gray) + " look gray-failed at once: no zone "
            "to trust more than another"
        )
    others = sum(
        (
            latest(ev, z)
            for ev in evidence
            if ev.topology_key == topology_key
            for z in ev.compared
            if z != zone
        ),
        Tally(),
    )
    if others.share >= MAX_OTHERS_SHARE:
        return held(
            f"{others.share:.0%} of the opted-in workloads' pods fail in the other zones too: "
            "every zone looks bad (a release, not a zone)"
        )
    rolling = sorted(f"{ns}/{n}" for ev in evidence if zone in ev.in_flight for ns, n in [ev.key])
    if rolling:
        return held(f"a zone-by-zone rollout has zone {zone} in flight ({', '.join(rolling)})")
    return Judgement(zone, topology_key, "", zone, outliers, text)


def correlated(
    evidence: Sequence[Evidence], outliers: Mapping[tuple[str, str], Sequence[Key]]
) -> list[tuple[str, str]]:
    """The (topologyKey, zone)s that enough opted-in workloads see as their outlier at once."""
    gray = []
    for (topology_key, zone), keys in outliers.items():
        present = [
            ev
            for ev in evidence
            if ev.topology_key == topology_key and zone in ev.compared and latest(ev, zone).pods
        ]
        if len(keys) >= MIN_WORKLOADS and len(keys) >= MIN_WORKLOAD_SHARE * len(present):
            gray.append((topology_key, zone))
    return gray


def in_force_automatic(shifts: Iterable[ZoneShift], now: datetime) -> list[ZoneShift]:
    """The automatic ZoneShifts in force, or created and not yet started (no status yet)."""
    return [
        s
        for s in shifts
        if is_automatic(s) and not s.deleting and (s.started is None or s.active(now))
    ]


def describe(
    evidence: Sequence[Evidence], topology_key: str, zone: str, keys: Sequence[Key]
) -> str:
    """The evidence in words, for the shift's reason and annotation."""
    present = sum(
        1
        for ev in evidence
        if ev.topology_key == topology_key and zone in ev.compared and latest(ev, zone).pods
    )
    by_key = {ev.key: ev for ev in evidence}
    parts = []
    for key in keys:
        ev = by_key[key]
        mine = latest(ev, zone)
        others = sum((latest(ev, z) for z in ev.compared if z != zone), Tally())
        parts.append(
            f"{key[0]}/{key[1]} {mine.share:.0%} failing vs {others.share:.0%} in the other zones"
        )
    return (
        f"Automatic: gray failure of zone {zone}: {len(keys)} of {present} opted-in workloads "
        f"with pods there see it as their outlier in {OUTLIER_WINDOWS} of the last {WINDOWS} "
        f"{WINDOW_SECONDS:.0f}s windows: " + "; ".join(parts)
    )


def is_automatic(shift: ZoneShift) -> bool:
    """A ZoneShift the operator created (both labels: one alone is somebody's)."""
    labels = shift.labels
    return labels.get(AUTOMATIC_LABEL) == "true" and labels.get(MANAGED_BY_LABEL) == MANAGED_BY


def shift_name(zone: str, now: datetime) -> str:
    return f"auto-{zone_slug(zone)}-{now.strftime('%Y%m%d-%H%M%S')}"


def shift_body(judgement: Judgement, now: datetime, duration: str) -> dict[str, Any]:
    """The automatic ZoneShift to create for a judgement with a zone."""
    assert judgement.zone is not None
    name, text = shift_name(judgement.zone, now), judgement.evidence
    return automatic_body(name, judgement.zone, judgement.topology_key, text, duration)


def automatic_body(
    name: str, zone: str, topology_key: str, text: str, duration: str, **spec: Any
) -> dict[str, Any]:
    """An automatic ZoneShift: both labels, the evidence, opted-in workloads only; `spec`:
    further fields (a per-workload shift's spec.workload)."""
    reason = text if len(text) <= MAX_REASON_LENGTH else text[: MAX_REASON_LENGTH - 3] + "..."
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "labels": {AUTOMATIC_LABEL: "true", MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": {EVIDENCE_ANNOTATION: text[:MAX_EVIDENCE_LENGTH]},
        },
        "spec": {
            ZONE.name: zone,
            TOPOLOGY_KEY.name: topology_key,
            DURATION.name: duration,
            REASON.name: reason,
            OPTED_IN_ONLY.name: True,
            **spec,
        },
    }


def expired_automatic(shifts: Iterable[ZoneShift], now: datetime) -> list[ZoneShift]:
    """The automatic ZoneShifts that have ended: the operator's own, removed once over."""
    return [
        s
        for s in shifts
        if is_automatic(s) and not s.deleting and s.started is not None and not s.active(now)
    ]
