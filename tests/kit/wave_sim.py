"""The PerZone simulator with zone-by-zone rollouts (spec.zoneRollout), for the wave tests
(test_waves.py) and the rollback tests (test_rollbacks.py): three zones, the workload on one of
three images (`OLD`, `NEW`, `FIX` are their template revisions), `WaveSim` (the PerZone `Sim`
with the pods the wave looks at and stalled Deployments), `wave_sim` (a 3-zone ZoneByZone
workload past its first bake), `quiet` (run until nothing is in flight) and `halted_at_b`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tests.kit.perzone_sim import TEMPLATE, Sim, cluster_nodes, dep, workload_body
from zonal_operator.api.workload import Workload
from zonal_operator.core.model import PodInfo
from zonal_operator.core.plan import PerZoneObserved
from zonal_operator.core.render import REVISION_ANNOTATION, template_revision

A, B, C = "zone-a", "zone-b", "zone-c"
OLD_IMAGE, NEW_IMAGE, FIX_IMAGE = "nginx:1.27", "nginx:1.28", "nginx:1.29"


def template(image: str) -> dict[str, Any]:
    out: dict[str, Any] = copy.deepcopy(TEMPLATE)
    out["spec"]["containers"][0]["image"] = image
    return out


def workload(
    image: str = NEW_IMAGE,
    *,
    status: Mapping[str, Any] | None = None,
    spec_zones: Sequence[str] = (),
    mode: str | None = "ZoneByZone",
    **policy: Any,
) -> Workload:
    spec: dict[str, Any] = {"template": template(image)}
    if mode is not None:
        spec["zoneRollout"] = {"mode": mode, "bakeSeconds": 60, **policy}
    if spec_zones:
        spec["zones"] = list(spec_zones)
    return Workload.from_body(workload_body(9, status=status, **spec))


OLD = template_revision(workload(OLD_IMAGE))
NEW = template_revision(workload(NEW_IMAGE))
FIX = template_revision(workload(FIX_IMAGE))


@dataclass
class WaveSim(Sim):
    """The PerZone Sim with the pods the wave looks at (zone -> pods), and the stalled
    Deployments a test chooses (their controller's status says ProgressDeadlineExceeded)."""

    pods: dict[str, list[PodInfo]] = field(default_factory=dict)
    stalled: set[str] = field(default_factory=set)
    coalesced_since: datetime | None = None  # Sim's, typed

    def observed(self) -> PerZoneObserved:
        pods = {z: tuple(p) for z, p in self.pods.items()}
        return dataclasses.replace(super().observed(), zone_pods=pods)

    def settle(self, ready: Mapping[str, int] | None = None) -> None:
        super().settle(ready)
        for zone in self.stalled:
            live = self.deployments[dep(zone)]
            status = live["status"]
            short = max(0, live["spec"]["replicas"] - 1)  # a pod short of done
            status["readyReplicas"] = status["availableReplicas"] = short
            status["conditions"] = [
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": f'ReplicaSet "{dep(zone)}-x" has timed out progressing.',
                }
            ]

    def revision(self, zone: str) -> str:
        return str(self.deployments[dep(zone)]["metadata"]["annotations"][REVISION_ANNOTATION])

    def image(self, zone: str) -> str:
        return str(
            self.deployments[dep(zone)]["spec"]["template"]["spec"]["containers"][0]["image"]
        )

    def live_templates(self) -> dict[str, Any]:
        return {z: copy.deepcopy(d["spec"]["template"]) for z, d in self.deployments.items()}

    @property
    def rollout(self) -> dict[str, Any]:
        return dict(self.status.get("zoneRollout") or {})


def wave_sim(**policy: Any) -> WaveSim:
    """A 3-zone ZoneByZone workload, created, rolled out and past its first bake."""
    zone_rollout = {"mode": "ZoneByZone", "bakeSeconds": 60, **policy}
    sim = WaveSim(
        workload_body(9, template=template(OLD_IMAGE), zoneRollout=zone_rollout), cluster_nodes()
    )
    quiet(sim)
    assert {sim.revision(z) for z in (A, B, C)} == {OLD}
    return sim


def quiet(sim: WaveSim, seconds: int = 61, rounds: int = 20) -> None:
    """Plan, apply, let every pod get Ready and time pass until nothing is left to do and no
    zone is in flight."""
    for _ in range(rounds):
        result = sim.step()
        sim.settle()
        sim.now += timedelta(seconds=seconds)
        if not result.actions and result.status is None and "inFlight" not in sim.rollout:
            return
    raise AssertionError(f"no steady state: {sim.status}")


def halted_at_b(**policy: Any) -> tuple[WaveSim, dict[str, Any]]:
    """zone-a has baked the new template, zone-b's rollout of it stalls."""
    sim = wave_sim(**policy)
    old = sim.live_templates()
    sim.set_spec(template=template(NEW_IMAGE))
    for _ in range(30):
        sim.step()
        if sim.revision(B) == NEW:
            break
        sim.settle()
        sim.now += timedelta(seconds=10)
    sim.stalled.add(B)
    sim.settle()
    sim.now += timedelta(seconds=10)
    sim.events.clear()
    sim.step()
    assert sim.rollout["halted"]["zone"] == B, sim.rollout
    return sim, old
