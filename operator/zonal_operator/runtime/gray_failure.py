"""Automatic zone shifts in the runtime: a periodic pass that samples the opted-in workloads'
pods from the cache, per zone, into windows, asks core/gray_failure.py whether a zone is
gray-failed, and creates the automatic ZoneShift it describes (the ZoneShift's own rules then
move the workloads, surge first; runtime/shift_status.py writes its status).

Only the leader samples and writes (every write goes through kube.py's gate). The windows are
kept in memory: a standby keeps none, and a new leader starts with fresh ones, so it judges a
zone only after it has watched it for the windows the rule needs. The windows start over, too,
when an automatic shift ends (expired, or deleted by somebody to cancel it): the evidence is
gathered anew from the pods that come back (only that workload's, when the shift was of one
workload alone); a zone still failing is shifted again once they fail. To stop automatic
shifts for good, turn a workload's spec.autoShift.enabled (or perWorkload) or the operator's
--auto-shift off.

The same pass creates the shifts of one workload alone that core/gray_alone.py decides (for
the workloads with spec.autoShift.perWorkload), after the cluster-wide judgement.

The operator creates ZoneShifts and deletes only its own once they have ended (both labels of
api/autoshift.py, and the uid it saw): never one somebody else made.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import Counter, Gauge

from zonal_operator.api.autoshift import AUTO_SHIFT, ENABLED, EVIDENCE_ANNOTATION
from zonal_operator.api.status import Reason, ZoneState
from zonal_operator.api.workload import Workload
from zonal_operator.core import gray_alone
from zonal_operator.core import gray_failure as gray
from zonal_operator.core.model import PodInfo
from zonal_operator.core.zones import zones_of
from zonal_operator.runtime.cache import Key, Store
from zonal_operator.runtime.kube import ApiException, NotLeader

log = logging.getLogger("zonal_operator")

SAMPLE_SECONDS = 5.0

OUTLIERS = Gauge(
    "zonal_operator_gray_failure_outliers",
    "Opted-in ZonalWorkloads whose pods fail in this zone only (their sustained outlier).",
    ["zone"],
)
WINDOWS_JUDGED = Counter(
    "zonal_operator_gray_failure_windows_total",
    "Windows of pod samples the gray-failure judgement has closed and judged.",
)
AUTOMATIC_SHIFTS = Counter(
    "zonal_operator_automatic_shifts_total",
    "Automatic ZoneShifts created on a gray zone failure, by zone.",
    ["zone"],
)
WORKLOAD_SHIFTS = Counter(
    "zonal_operator_automatic_workload_shifts_total",
    "Automatic ZoneShifts of one workload alone (spec.autoShift.perWorkload), by zone.",
    ["zone"],
)


class AutoShiftApi(Protocol):
    """The calls of the pass (kube.KubeApi; blocking, run in the worker threads)."""

    def create_zoneshift(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def delete_zoneshift(self, name: str, uid: str) -> None: ...

    def create_zoneshift_event(
        self, name: str, uid: str, *, type_: str, reason: str, message: str
    ) -> None: ...

    def create_event(
        self, namespace: str, name: str, uid: str, *, type_: str, reason: str, message: str
    ) -> None: ...


def opted_in(body: Mapping[str, Any]) -> bool:
    """Cheap, before parsing: whether the workload asks for automatic shifts."""
    section = (body.get("spec") or {}).get(AUTO_SHIFT) or {}
    return bool(section.get(ENABLED.name)) and not (body.get("metadata") or {}).get(
        "deletionTimestamp"
    )


class GrayFailure:
    def __init__(
        self,
        store: Store,
        api: AutoShiftApi,
        pool: Executor,
        active: asyncio.Event,
        deliver: Callable[[str | None, dict[str, Any]], None],
        *,
        duration: str = gray.DEFAULT_DURATION,
        sample_seconds: float = SAMPLE_SECONDS,
        window_seconds: float = gray.WINDOW_SECONDS,
    ) -> None:
        self.store, self.api, self.pool, self.active = store, api, pool, active
        self.deliver = deliver  # a created ZoneShift into the cache (intake.on_zoneshift)
        self.duration = duration
        self.sample_seconds, self.window_seconds = sample_seconds, window_seconds
        self.windows: dict[Key, deque[dict[str, gray.Tally]]] = {}
        self.current: dict[Key, dict[str, gray.Tally]] = {}
        self.window_started = time.monotonic()
        # the automatic shifts in force at the last pass, each with the workload it names
        self._automatic: dict[str, tuple[str, str] | None] = {}
        self._held = ""  # the last hold told in events: told again only when it changes
        self._held_alone: dict[Key, tuple[str, str]] = {}  # per workload: (zone, why)
        self._zones: set[str] = set()  # zones with an outlier series

    def reset(self) -> None:
        self.windows.clear()
        self.current.clear()
        self.window_started = time.monotonic()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.sample_seconds)
            if not self.active.is_set():
                self.reset()  # a standby keeps no windows (see the module's doc)
                continue
            try:
                await self.step(datetime.now(UTC), time.monotonic())
            except NotLeader:
                self.reset()
            except Exception as exc:
                log.warning("automatic zone shifts: pass failed (%s)", exc)

    async def step(self, now: datetime, mono: float) -> gray.Judgement | None:
        """One sample; at a window's end, a judgement and what it asks for."""
        in_force = {
            s.name: s.workload
            for s in self.store.zoneshifts.values()
            if gray.is_automatic(s) and s.active(now)
        }
        ended = [self._automatic[n] for n in self._automatic if n not in in_force]
        if any(key is None for key in ended):
            self.reset()  # a cluster-wide automatic shift ended: the evidence starts over
        for key in ended:
            if key is not None:  # one workload's: its own evidence starts over
                self.windows.pop(key, None)
                self.current.pop(key, None)
        self._automatic = in_force
        evidence = self._sample(now)
        if mono - self.window_started < self.window_seconds:
            return None
        self.window_started = mono
        for key in list(self.windows):
            if key not in self.current:
                del self.windows[key]  # no longer opted in, or gone
        for key, window in self.current.items():
            self.windows.setdefault(key, deque(maxlen=gray.WINDOWS)).append(window)
        self.current = {}
        judged_evidence = [
            gray.Evidence(key, topology, tuple(self.windows[key]), compared, in_flight, alone)
            for key, (topology, compared, in_flight, alone) in evidence.items()
        ]
        judged = gray.judge(judged_evidence, self.store.zoneshifts.values(), now)
        WINDOWS_JUDGED.inc()
        self._metrics(judged)
        await self._act(judged, now)
        alone = gray_alone.judge_alone(judged_evidence, self.store.zoneshifts.values(), judged, now)
        await self._act_alone(alone, now)
        return judged

    def _sample(self, now: datetime) -> dict[Key, tuple[str, frozenset[str], frozenset[str], bool]]:
        """Add a sample of each opted-in workload to the current window; per workload its
        topology key, the zones it is compared in, those its rollout has in flight, and
        whether it asks for per-workload action."""
        nodes = self.store.node_snapshot()
        seen: dict[Key, tuple[str, frozenset[str], frozenset[str], bool]] = {}
        for key, body in self.store.workloads.items():
            if not opted_in(body):
                continue
            wl = Workload.from_body(body)
            entries = {z.get("name", ""): z for z in wl.status.get("zones") or []}
            shifted = {z for z, e in entries.items() if e.get("health") == ZoneState.SHIFTED}
            serving = [
                zone
                for zone, health in zones_of(wl, nodes).items()
                if not health.failing and zone not in shifted
            ]
            revisions = {z: str(e.get("revision") or "") for z, e in entries.items()}
            compared = gray.compared_zones(serving, revisions)
            in_flight = frozenset((wl.status.get("zoneRollout") or {}).get("inFlight") or ())
            tallies = gray.sample(self._pods(key, wl), now)
            self.current[key] = gray.add(self.current.get(key, {}), tallies)
            seen[key] = (wl.topology_key, compared, in_flight, wl.auto_shift.per_workload)
        return seen

    def _pods(self, key: Key, wl: Workload) -> dict[str, list[PodInfo]]:
        if not wl.spread:
            return {z: list(p.values()) for z, p in self.store.placed.get(key, {}).items()}
        by_zone: dict[str, list[PodInfo]] = {}
        for pod in self.store.pods.get(key, {}).values():
            node = self.store.nodes.get(pod.node)
            zone = node.labels.get(wl.topology_key) if node is not None else None
            if zone:
                by_zone.setdefault(zone, []).append(pod)
        return by_zone

    def _metrics(self, judged: gray.Judgement) -> None:
        counts: dict[str, int] = {}
        for (_, zone), keys in judged.outliers.items():
            counts[zone] = counts.get(zone, 0) + len(keys)
        for zone in self._zones - set(counts):
            OUTLIERS.labels(zone=zone).set(0)
        for zone, count in counts.items():
            OUTLIERS.labels(zone=zone).set(count)
        self._zones |= set(counts)

    async def _act(self, judged: gray.Judgement, now: datetime) -> None:
        loop = asyncio.get_running_loop()
        for shift in gray.expired_automatic(self.store.zoneshifts.values(), now):
            try:
                await loop.run_in_executor(
                    self.pool, self.api.delete_zoneshift, shift.name, shift.uid
                )
                log.info("automatic ZoneShift %s has ended: deleted", shift.name)
            except ApiException as exc:
                if exc.status not in (404, 409):
                    raise
        seeing = judged.outliers.get((judged.topology_key, judged.held_zone), ())
        if judged.held and judged.held != self._held:
            message = f"Zone {judged.held_zone} looks gray-failed, not shifted: {judged.held}"
            log.info("%s. %s", message, judged.evidence)
            for namespace, wl_name in seeing:
                await self._event(namespace, wl_name, "Warning", Reason.AUTO_SHIFT_HELD, message)
        self._held = judged.held
        if judged.zone is None or any(
            s.zone == judged.zone and s.workload is None
            for s in self.store.zoneshifts.values()
            if s.name in self._automatic
        ):
            return
        created = await self._create(gray.shift_body(judged, now, self.duration), None)
        if created is None:
            return
        AUTOMATIC_SHIFTS.labels(zone=judged.zone).inc()
        log.warning(
            "zone %s gray-failed: created ZoneShift %s. %s", judged.zone, created, judged.evidence
        )
        for namespace, wl_name in seeing:
            text = f"ZoneShift {created} moves the opted-in workloads out: {judged.evidence}"
            await self._event(namespace, wl_name, "Warning", Reason.GRAY_FAILURE, text)

    async def _act_alone(self, judged: gray_alone.AloneJudgement, now: datetime) -> None:
        """The shifts of one workload alone; a hold told once per workload and zone while it
        lasts (its message carries shares that move from window to window)."""
        for (namespace, name), (zone, why) in judged.held.items():
            if self._held_alone.get((namespace, name), ("", ""))[0] != zone:
                message = f"Zone {zone} is this workload's outlier, not shifted alone: {why}"
                await self._event(namespace, name, "Warning", Reason.AUTO_SHIFT_HELD, message)
        self._held_alone = dict(judged.held)
        for shift in judged.shifts:
            created = await self._create(
                gray_alone.shift_body(shift, now, self.duration), shift.key
            )
            if created is None:
                continue
            WORKLOAD_SHIFTS.labels(zone=shift.zone).inc()
            log.warning("created ZoneShift %s. %s", created, shift.evidence)
            text = f"ZoneShift {created} moves this workload alone out: {shift.evidence}"
            await self._event(*shift.key, "Warning", Reason.GRAY_FAILURE, text)

    async def _create(self, body: dict[str, Any], key: tuple[str, str] | None) -> str | None:
        """Create an automatic ZoneShift and post its event; its name, None if it exists."""
        loop = asyncio.get_running_loop()
        try:
            done = await loop.run_in_executor(self.pool, self.api.create_zoneshift, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            return None  # made already (by this leader's previous pass)
        self.deliver("ADDED", done)
        name, uid = str(done["metadata"]["name"]), done["metadata"].get("uid", "")
        self._automatic[name] = key
        evidence = body["metadata"]["annotations"][EVIDENCE_ANNOTATION]
        message = f"Zone {body['spec']['zone']} shifted away for {self.duration}. {evidence}"
        await loop.run_in_executor(self.pool, self._post_shift, name, uid, message)
        return name

    def _post_shift(self, name: str, uid: str, message: str) -> None:
        try:
            self.api.create_zoneshift_event(
                name, uid, type_="Warning", reason=Reason.GRAY_FAILURE, message=message
            )
        except ApiException as exc:
            log.warning("event on ZoneShift %s not posted (%s)", name, exc.reason)

    async def _event(
        self, namespace: str, name: str, type_: str, reason: str, message: str
    ) -> None:
        body = self.store.workloads.get((namespace, name))
        uid = ((body or {}).get("metadata") or {}).get("uid", "")

        def post() -> None:
            try:
                self.api.create_event(
                    namespace, name, uid, type_=type_, reason=reason, message=message
                )
            except ApiException as exc:
                log.warning(
                    "event %s on %s/%s not posted (%s)", reason, namespace, name, exc.reason
                )

        await asyncio.get_running_loop().run_in_executor(self.pool, post)
