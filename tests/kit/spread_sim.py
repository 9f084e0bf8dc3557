"""The Spread simulator, for the tests of Spread placement (test_spread.py) and of what
builds on it (zone shifts, heartbeats).

`SpreadSim` plays the API server (it applies the actions), the ReplicaSet controller (it
creates pods up to the Deployment's replicas, and on a scale-down removes not-ready pods first,
then the newest), the scheduler (a new pod goes to the zone with the fewest pods among those
with a Ready, untainted node: what the DoNotSchedule constraint with nodeTaintsPolicy Honor
does) and the kubelets (`settle` makes every scheduled pod on a Ready node Ready).

`RolloutSim` adds what a change of the pod template sets off: the Deployment controller's
rolling update (old and new ReplicaSets, maxSurge and maxUnavailable, Recreate) and a scheduler
that honours the template's `NotIn` zone term and spreads each ReplicaSet's pods afresh
(matchLabelKeys: pod-template-hash).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tests.kit.perzone_sim import NOW, ZONES, workload_body, zone_nodes
from zonal_operator.api.group import DEFAULT_TOPOLOGY_KEY
from zonal_operator.api.workload import Workload
from zonal_operator.api.zoneshift import ZoneShift
from zonal_operator.core import spread
from zonal_operator.core.model import NodeInfo, PodInfo
from zonal_operator.core.plan import Create, DeletePod, Evict, Plan, Replace, Scale, SpreadObserved
from zonal_operator.core.spread_shifts import SHIFTED_ZONES


def spread_body(replicas: int = 9, **kwargs: Any) -> dict[str, Any]:
    return workload_body(replicas, placement="Spread", **kwargs)


@dataclass
class SpreadSim:
    workload: dict[str, Any]
    nodes: list[NodeInfo]
    now: datetime = NOW
    deployment: dict[str, Any] | None = None
    pods: dict[str, PodInfo] = field(default_factory=dict)
    serial: itertools.count[int] = field(default_factory=itertools.count)
    evictions: int = 0
    # A PodDisruptionBudget with maxUnavailable 1: an eviction needs every pod Ready.
    pdb: bool = False
    shifts: tuple[ZoneShift, ...] = ()  # the ZoneShifts selecting it (test_shifts.py)
    events: list[str] = field(default_factory=list)  # the reasons of the events planned

    @property
    def wl(self) -> Workload:
        return Workload.from_body(self.workload)

    def observe(self) -> SpreadObserved:
        deployments = (
            {}
            if self.deployment is None
            else {self.deployment["metadata"]["name"]: self.deployment}
        )
        return SpreadObserved(
            workload=self.wl,
            nodes=self.nodes,
            deployments=deployments,
            now=self.now,
            pods=list(self.pods.values()),
            shifts=self.shifts,
        )

    def reconcile(self) -> Plan:
        result = spread.plan(self.observe())
        self.events.extend(e.reason for e in result.events)
        for action in result.actions:
            self.apply(action)
        if result.status is not None:
            self.workload["status"] = copy.deepcopy(result.status)
        self.replicaset()
        return result

    def apply(self, action: object) -> None:
        if isinstance(action, Create):
            self.deployment = copy.deepcopy(action.body)
            self.deployment["metadata"].update(generation=1)
        elif isinstance(action, Replace):
            generation = self.deployment["metadata"]["generation"] + 1  # type: ignore[index]
            self.deployment = copy.deepcopy(action.body)
            self.deployment["metadata"]["generation"] = generation
        elif isinstance(action, Scale):
            self.scale(action.replicas)
        elif isinstance(action, DeletePod):
            self.pods.pop(action.name)
        elif isinstance(action, Evict):
            evicted = 0
            for name, _ in action.pods:
                if self.pdb and not all(p.ready for p in self.pods.values()):
                    break
                if self.pdb and len(self.pods) <= action.replicas - 1 - evicted:
                    break
                self.pods.pop(name)
                self.evictions += 1
                evicted += 1
                self.replicaset()  # the ReplicaSet may replace it before the shrink lands
            if evicted:
                self.scale(action.replicas - evicted)
        else:
            raise AssertionError(action)

    def scale(self, replicas: int) -> None:
        assert self.deployment is not None
        self.deployment["spec"]["replicas"] = replicas
        self.deployment["metadata"]["generation"] += 1

    def zone_of(self, node: str) -> str:
        return next(n.labels[DEFAULT_TOPOLOGY_KEY] for n in self.nodes if n.name == node)

    def counts(self) -> Counter[str]:
        return Counter(self.zone_of(p.node) for p in self.pods.values() if p.node)

    def replicaset(self) -> None:
        """Create or remove pods to match the Deployment, and schedule the new ones."""
        if self.deployment is None:
            return
        want = self.deployment["spec"]["replicas"]
        while len(self.pods) > want:
            victim = min(self.pods.values(), key=lambda p: (p.ready, -int(p.name.split("-")[-1])))
            del self.pods[victim.name]
        while len(self.pods) < want:
            name = f"web-{next(self.serial)}"
            self.pods[name] = PodInfo(name=name, uid=name, node=self.schedule())

    def schedule(self) -> str:
        usable = [n for n in self.nodes if n.ready == "True" and not n.taints]
        if not usable:
            return ""
        counts = self.counts()
        zone = min(sorted({self.zone_of(n.name) for n in usable}), key=lambda z: counts[z])
        return next(n.name for n in usable if self.zone_of(n.name) == zone)

    def settle(self) -> None:
        """Kubelets report: pods on Ready nodes are Ready; the Deployment's status catches up."""
        ready_nodes = {n.name for n in self.nodes if n.ready == "True"}
        self.pods = {name: replace(p, ready=p.node in ready_nodes) for name, p in self.pods.items()}
        if self.deployment is not None:
            n, ready = len(self.pods), sum(p.ready for p in self.pods.values())
            self.deployment["status"] = {
                "observedGeneration": self.deployment["metadata"]["generation"],
                "replicas": n,
                "updatedReplicas": n,
                "readyReplicas": ready,
                "availableReplicas": ready,
            }

    def run(self, rounds: int = 60, check: bool = True) -> None:
        """Reconcile and settle until nothing is left to do."""
        for _ in range(rounds):
            result = self.reconcile()
            if check:
                assert self.ready() >= min(self.wl.replicas, self.ready_before)
            self.settle()
            self.ready_before = self.ready()
            if not result.actions and result.status is None:
                return
        raise AssertionError("no fixed point")

    ready_before: int = 0

    def ready(self) -> int:
        return sum(p.ready for p in self.pods.values())

    def condition(self, type_: str) -> Mapping[str, Any]:
        conditions = self.workload["status"]["conditions"]
        return next(c for c in conditions if c["type"] == type_)


def _count(value: Any, replicas: int, up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = replicas * int(value[:-1]) / 100
        return math.ceil(exact) if up else math.floor(exact)
    return int(value)


@dataclass
class RolloutSim(SpreadSim):
    revision: dict[str, str] = field(default_factory=dict)  # pod -> its template's digest
    lowest: int | None = None  # the fewest Ready pods seen after any reconcile
    # Zones whose pods serve nothing (their kubelets are silent), though the API says Ready.
    lost: set[str] = field(default_factory=set)
    serving: list[int] = field(default_factory=list)  # Ready outside `lost`, per reconcile

    def template_hash(self) -> str:
        assert self.deployment is not None
        template = self.deployment["spec"]["template"]
        return json.dumps(template, sort_keys=True)

    def kept_out(self) -> set[str]:
        assert self.deployment is not None
        pod = self.deployment["spec"]["template"]["spec"]
        terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        return {
            zone
            for term in terms["nodeSelectorTerms"]
            for expr in term.get("matchExpressions") or []
            if expr["key"] == DEFAULT_TOPOLOGY_KEY and expr["operator"] == "NotIn"
            for zone in expr["values"]
        }

    def replicaset(self) -> None:
        """One pass of the Deployment controller: scale the old ReplicaSets down and the new
        one up as the strategy allows, then schedule what was created."""
        if self.deployment is None:
            return
        spec = self.deployment["spec"]
        want, current = spec["replicas"], self.template_hash()
        strategy = spec.get("strategy") or {"type": "RollingUpdate"}
        old = [p for p in self.pods.values() if self.revision[p.name] != current]
        new = [p for p in self.pods.values() if self.revision[p.name] == current]
        if strategy.get("type") == "Recreate":
            surge, unavailable = 0, want
        else:
            rolling = strategy.get("rollingUpdate") or {}
            surge = _count(rolling.get("maxSurge", "25%"), want, up=True)
            unavailable = _count(rolling.get("maxUnavailable", "25%"), want, up=False)
        if not old:
            while len(new) > want:
                victim = min(new, key=lambda p: (p.ready, -int(p.name.split("-")[-1])))
                new.remove(victim)
                del self.pods[victim.name]
        ready = sum(p.ready for p in self.pods.values())
        # Not-ready pods first; then, as the real ranking does (pods on nodes crowded by the
        # surge go first), the pods of the zones that still serve before those of `lost`.
        for pod in sorted(
            old, key=lambda p: (p.ready, bool(p.node) and self.zone_of(p.node) in self.lost)
        ):
            if pod.ready and ready - 1 < want - unavailable:
                break
            ready -= pod.ready
            del self.pods[pod.name]
            old.remove(pod)
        if strategy.get("type") == "Recreate" and old:
            return
        while len(new) < want and len(self.pods) < want + surge:
            name = f"web-{next(self.serial)}"
            self.revision[name] = current
            self.pods[name] = PodInfo(name=name, uid=name, node=self.place(current))
            new.append(self.pods[name])

    def place(self, current: str) -> str:
        """The zone with the fewest pods of the current template, among the zones with a
        Ready, untainted node the template allows."""
        out = self.kept_out()
        usable = [
            n
            for n in self.nodes
            if n.ready == "True" and not n.taints and self.zone_of(n.name) not in out
        ]
        if not usable:
            return ""
        counts = Counter(
            self.zone_of(p.node)
            for p in self.pods.values()
            if p.node and self.revision[p.name] == current
        )
        zone = min(sorted({self.zone_of(n.name) for n in usable}), key=lambda z: counts[z])
        return next(n.name for n in usable if self.zone_of(n.name) == zone)

    def settle(self) -> None:
        super().settle()
        if self.deployment is not None:
            current = self.template_hash()
            updated = sum(1 for p in self.pods.values() if self.revision[p.name] == current)
            self.deployment["status"]["updatedReplicas"] = updated

    def reconcile(self) -> Plan:
        result = super().reconcile()
        ready = self.ready()
        self.lowest = ready if self.lowest is None else min(self.lowest, ready)
        self.serving.append(
            sum(
                p.ready
                for p in self.pods.values()
                if p.node and self.zone_of(p.node) not in self.lost
            )
        )
        return result

    def strategy(self) -> Any:
        assert self.deployment is not None
        return self.deployment["spec"].get("strategy")

    def annotation(self) -> str | None:
        assert self.deployment is not None
        return self.deployment["metadata"]["annotations"].get(SHIFTED_ZONES)


def healthy_nodes() -> list[NodeInfo]:
    return [n for z in ZONES for n in zone_nodes(z)]


def converged(sim: SpreadSim) -> SpreadSim:
    sim.run()
    return sim


def check_back_in_every_zone(
    sim: RolloutSim, replicas: int, max_skew: int, strategy: dict[str, Any]
) -> None:
    """After a zone's return: Ready never below spec.replicas on the way, the pods even over
    every zone, the user's strategy and no shift annotation back, and nothing more to do."""
    assert sim.lowest is not None and sim.lowest >= replicas
    counts = [sim.counts().get(z, 0) for z in ZONES]
    assert sum(counts) == replicas and max(counts) - min(counts) <= max_skew
    assert sim.strategy() == strategy and sim.annotation() is None
    again = spread.plan(sim.observe())
    assert (again.actions, again.status) == ([], None)
