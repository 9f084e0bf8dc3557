"""The PerZone simulator and its builders, for the tests of the PerZone planner and of what
builds on it (failover, shifts, waves, rollbacks, heartbeats, drills).

`Sim` plays the parts around the planner: the API server (it applies the actions, bumps
generations and adds its defaults), the Deployment controller (`settle` writes a status with
the Ready pods a test chooses) and the controller's bookkeeping (it writes the planned status,
with the generations of the operator's own writes recorded, back into the workload).
`random_state` draws a workload in any state, and `check_moves_keep_ready_capacity` is the
safety claim over it (test_perzone.py, and with shifts test_shifts.py).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from zonal_operator.api.group import DEFAULT_TOPOLOGY_KEY, MANAGED_BY, MANAGED_BY_LABEL
from zonal_operator.api.workload import Workload
from zonal_operator.api.zoneshift import ZoneShift
from zonal_operator.core.model import NodeInfo, Taint
from zonal_operator.core.naming import deployment_name
from zonal_operator.core.perzone import plan
from zonal_operator.core.plan import Action, Create, Delete, PerZoneObserved, Plan, Replace, Scale
from zonal_operator.core.render import render_deployment
from zonal_operator.core.status import record_generations

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=2)
UID = "3f0c8a52-0000-4000-8000-000000000001"
ZONES = ("zone-a", "zone-b", "zone-c")
UNREACHABLE = Taint("node.kubernetes.io/unreachable", "NoExecute")
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {
        "containers": [
            {
                "name": "web",
                "image": "nginx:1.27",
                "ports": [{"name": "http", "containerPort": 80}],
                # The API server writes these back as "500m" and "1Gi".
                "resources": {"requests": {"cpu": "0.5"}, "limits": {"memory": "1024Mi"}},
            }
        ]
    },
}


def dep(zone: str) -> str:
    return deployment_name("web", zone)


# --- builders ---------------------------------------------------------------------------------


def workload_body(
    replicas: int = 9,
    *,
    generation: int = 1,
    failover: Mapping[str, Any] | None = None,
    status: Mapping[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "zonal.dev/v1alpha1",
        "kind": "ZonalWorkload",
        "metadata": {"name": "web", "namespace": "shop", "uid": UID, "generation": generation},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": copy.deepcopy(TEMPLATE),
            "failover": dict(failover or {}),
            **copy.deepcopy(spec),
        },
    }
    if status is not None:
        body["status"] = copy.deepcopy(dict(status))
    return body


def zone_nodes(
    zone: str,
    count: int = 3,
    *,
    ready: str = "True",
    since: datetime | None = LONG_AGO,
    taints: tuple[Taint, ...] = (),
    unschedulable: bool = False,
) -> list[NodeInfo]:
    return [
        NodeInfo(
            name=f"{zone}-{i}",
            labels={DEFAULT_TOPOLOGY_KEY: zone, "kubernetes.io/hostname": f"{zone}-{i}"},
            taints=taints,
            unschedulable=unschedulable,
            ready=ready,
            ready_since=since,
        )
        for i in range(count)
    ]


def down(zone: str, since: datetime, count: int = 3) -> list[NodeInfo]:
    """Nodes the node lifecycle controller lost touch with at `since`."""
    return zone_nodes(zone, count, ready="Unknown", since=since, taints=(UNREACHABLE,))


def cluster_nodes(zones: Iterable[str] = ZONES, per_zone: int = 3) -> list[NodeInfo]:
    return [n for zone in zones for n in zone_nodes(zone, per_zone)]


def _canonical_quantity(value: Any) -> Any:
    return {"0.5": "500m", "1024Mi": "1Gi", "1000m": "1"}.get(value, value)


def server_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the API server stores for a written Deployment: its defaults added, quantities in
    canonical form."""
    out = copy.deepcopy(dict(body))
    spec = out["spec"]
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault(
        "strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
    )
    pod = spec["template"]["spec"]
    pod.setdefault("restartPolicy", "Always")
    pod.setdefault("dnsPolicy", "ClusterFirst")
    pod.setdefault("schedulerName", "default-scheduler")
    pod.setdefault("securityContext", {})
    pod.setdefault("terminationGracePeriodSeconds", 30)
    for c in pod.get("containers") or []:
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        for port in c.get("ports") or []:
            port.setdefault("protocol", "TCP")
        for kind in ("requests", "limits"):
            quantities = (c.get("resources") or {}).get(kind) or {}
            for name, value in quantities.items():
                quantities[name] = _canonical_quantity(value)
    out.pop("status", None)
    return out


def deployment_status(
    generation: int, replicas: int, ready: int, *, observed: bool = True
) -> dict[str, Any]:
    """A Deployment status as the API serves it: zero counts left out."""
    status = {
        "observedGeneration": generation if observed else generation - 1,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
    }
    return {k: v for k, v in status.items() if v}


def next_live(
    action: Action,
    previous: Mapping[str, Any] | None,
    *,
    rv: int,
    ready: int | None = None,
    observed: bool = True,
) -> dict[str, Any] | None:
    """The Deployment as it is after the API server applied `action` to `previous`, with the
    status the Deployment controller would write once `ready` pods (default: all) are Ready,
    or (`observed` false) the status it had before."""
    if isinstance(action, Delete):
        assert previous is not None
        assert action.uid == previous["metadata"]["uid"], "deleting somebody else's Deployment"
        return None
    if isinstance(action, Create):
        assert previous is None, "creating over an existing Deployment"
        live = server_view(action.body)
        name = live["metadata"]["name"]
        live["metadata"].update(uid=f"uid-{name}", generation=1)
    elif isinstance(action, Replace):
        assert previous is not None
        assert action.body["metadata"]["resourceVersion"] == previous["metadata"]["resourceVersion"]
        live = server_view(action.body)
        meta = live["metadata"]
        meta.pop("resourceVersion")
        meta["uid"] = previous["metadata"]["uid"]
        bump = server_view(action.body)["spec"] != previous["spec"]
        meta["generation"] = previous["metadata"]["generation"] + int(bump)
    else:
        assert isinstance(action, Scale)
        assert previous is not None
        live = copy.deepcopy(dict(previous))
        live.pop("status", None)
        bump = live["spec"]["replicas"] != action.replicas
        live["spec"]["replicas"] = action.replicas
        live["metadata"]["generation"] += int(bump)
    live["metadata"]["resourceVersion"] = str(rv)
    if not observed:
        # The Deployment controller has not caught up: the status is still the one it wrote
        # for the previous generation, with that generation's counts (none for a new one).
        live["status"] = copy.deepcopy(dict((previous or {}).get("status") or {}))
        return live
    replicas = live["spec"]["replicas"]
    live["status"] = deployment_status(
        live["metadata"]["generation"],
        replicas,
        replicas if ready is None else min(ready, replicas),
    )
    return live


def action_name(action: Action) -> str:
    if isinstance(action, Create | Replace):
        return str(action.body["metadata"]["name"])
    return action.name


def replicas_after(action: Action) -> int | None:
    if isinstance(action, Create | Replace):
        return int(action.body["spec"]["replicas"])
    if isinstance(action, Scale):
        return action.replicas
    return None


@dataclass
class Sim:
    body: dict[str, Any]
    nodes: list[NodeInfo]
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    now: datetime = NOW
    rv: int = 1000
    events: list[str] = field(default_factory=list)
    coalesced_since: datetime | None = None  # as the controller keeps it
    held_until: datetime | None = None  # likewise: a status held back (Plan.status_hold_until)
    writes: int = 0  # the status writes the controller would have sent
    memo: dict[Any, Any] = field(default_factory=dict)  # likewise, per spec generation
    pod_nodes: dict[str, tuple[str, ...]] | None = None  # zone -> its pods' nodes, as seen
    shifts: tuple[ZoneShift, ...] = ()  # the ZoneShifts selecting it (test_shifts.py)

    @property
    def workload(self) -> Workload:
        return Workload.from_body(self.body)

    def observed(self) -> PerZoneObserved:
        return PerZoneObserved(
            self.workload,
            list(self.nodes),
            self.deployments,
            self.now,
            coalesced_since=self.coalesced_since,
            held_until=self.held_until,
            match_memo=self.memo.setdefault(self.body["metadata"]["generation"], {}),
            pod_nodes=self.pod_nodes,
            shifts=tuple(s for s in self.shifts if s.active(self.now)),
        )

    def plan(self) -> Plan:
        before = copy.deepcopy((self.body, self.deployments, self.nodes))
        result = plan(self.observed())
        assert (self.body, self.deployments, self.nodes) == before, "plan mutated its input"
        check_plan(result, self.workload, self.deployments)
        self.memo[self.body["metadata"]["generation"]].update(result.matched)
        coalesced = result.status_coalesced
        self.coalesced_since = (self.coalesced_since or self.now) if coalesced else None
        # The controller's hold (runtime/controller.py): the held status is planned on (apply
        # keeps it in the body), and written once a status may not wait or the hold is over.
        quiet = result.status is None and not result.actions and not result.events
        if result.status_hold_until is not None:
            self.held_until = min(
                self.held_until or result.status_hold_until, result.status_hold_until
            )
        elif (
            result.status is not None
            or result.events
            or (quiet and self.held_until is not None and self.now >= self.held_until)
        ):
            self.writes += 1
            self.held_until = None
        return result

    def apply(
        self, result: Plan, ready: Mapping[str, int] | None = None, *, observed: bool = True
    ) -> None:
        """Carry out `result` as the controller does; written Deployments then have the given
        Ready pods (by Deployment name; default: all of them), in a status that has (or, with
        `observed` false, has not yet) caught up with the new generation."""
        generations: dict[str, int] = {}
        for action in result.actions:
            name = action_name(action)
            self.rv += 1
            live = next_live(
                action,
                self.deployments.get(name),
                rv=self.rv,
                ready=(ready or {}).get(name),
                observed=observed,
            )
            if live is None:
                del self.deployments[name]
            else:
                self.deployments[name] = live
                generations[name] = live["metadata"]["generation"]
        self.events.extend(e.reason for e in result.events)
        if result.status is None and not generations:
            return
        status = copy.deepcopy(result.status if result.status is not None else self.status)
        record_generations(status, generations)
        self.body["status"] = status

    def settle(self, ready: Mapping[str, int] | None = None) -> None:
        """The Deployment controller catches up: given Ready pods per Deployment, else all."""
        for name, live in self.deployments.items():
            replicas = live["spec"]["replicas"]
            count = replicas if ready is None or name not in ready else min(ready[name], replicas)
            live["status"] = deployment_status(live["metadata"]["generation"], replicas, count)

    def step(self, ready: Mapping[str, int] | None = None) -> Plan:
        result = self.plan()
        self.apply(result, ready)
        return result

    def converge(self, rounds: int = 8) -> list[Plan]:
        """Plan, apply and let every pod get Ready until a plan has nothing to do."""
        plans = []
        for _ in range(rounds):
            result = self.step()
            self.settle()
            plans.append(result)
            if not result.actions and result.status is None:
                return plans
        raise AssertionError(f"no steady state after {rounds} rounds: {plans[-1]}")

    def hand_edit(self, name: str, edit: Any) -> None:
        live = self.deployments[name]
        edit(live)
        live["metadata"]["generation"] += 1
        self.rv += 1
        live["metadata"]["resourceVersion"] = str(self.rv)
        live["status"]["observedGeneration"] = live["metadata"]["generation"]

    def set_spec(self, **changes: Any) -> None:
        self.body["spec"].update(copy.deepcopy(changes))
        self.body["metadata"]["generation"] += 1

    def replicas(self) -> dict[str, int]:
        return {name: d["spec"]["replicas"] for name, d in self.deployments.items()}

    def ready(self) -> dict[str, int]:
        return {
            name: min(d["status"].get("readyReplicas", 0), d["spec"]["replicas"])
            for name, d in self.deployments.items()
        }

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.body.get("status") or {})

    def zone_status(self, zone: str) -> dict[str, Any]:
        return zone_entry(self.status, zone)


def zone_entry(status: Mapping[str, Any] | None, zone: str) -> dict[str, Any]:
    assert status is not None
    for entry in status["zones"]:
        if entry["name"] == zone:
            return dict(entry)
    raise AssertionError(f"no status for zone {zone}: {status['zones']}")


def condition(status: Mapping[str, Any] | None, kind: str) -> dict[str, Any]:
    assert status is not None
    found = [c for c in status["conditions"] if c["type"] == kind]
    assert len(found) == 1
    return dict(found[0])


def reasons(result: Plan) -> list[str]:
    return [e.reason for e in result.events]


def scales(result: Plan) -> dict[str, int]:
    return {a.name: a.replicas for a in result.actions if isinstance(a, Scale)}


def check_plan(result: Plan, wl: Workload, deployments: Mapping[str, Mapping[str, Any]]) -> None:
    """What holds for every plan, whatever the state."""
    names = [action_name(a) for a in result.actions]
    assert len(names) == len(set(names)), f"two actions on one Deployment: {result.actions}"
    # Increases come before decreases, deletions last. The first `together` actions, sent at
    # once, add capacity or take away only what serves nothing: a dark zone's pods.
    order = []
    for action in result.actions:
        live = deployments.get(action_name(action))
        after = replicas_after(action)
        if isinstance(action, Delete):
            order.append(3)
        elif live is None:
            order.append(0)
        else:
            assert after is not None
            order.append(1 if after >= live["spec"]["replicas"] else 2)
    head, tail = order[: result.together], order[result.together :]
    assert tail == sorted(tail) and not {0, 1} & set(tail), f"out of order: {result.actions}"
    zones = {z["deployment"]: z for z in (result.status or wl.status).get("zones") or []}
    for action, kind in zip(result.actions, head, strict=False):
        if kind == 2:
            assert zones[action_name(action)]["readyReplicas"] == 0, result.actions
    for action in result.actions:
        live = deployments.get(action_name(action))
        if live is not None:  # never touch what is not ours
            refs = live["metadata"].get("ownerReferences") or []
            assert any(r.get("controller") and r.get("uid") == wl.uid for r in refs)
        if isinstance(action, Create | Replace):
            body = action.body
            assert body["metadata"]["ownerReferences"][0]["uid"] == wl.uid
            assert body["metadata"]["labels"][MANAGED_BY_LABEL] == MANAGED_BY
        after = replicas_after(action)
        assert after is None or after >= 0
        if isinstance(action, Delete):
            assert live is not None and live["spec"]["replicas"] == 0
    if result.status is not None:
        for entry in result.status["zones"]:
            for key in ("unhealthySince", "healthySince"):
                if key in entry:
                    assert RFC3339.match(entry[key]), (key, entry[key])
    if result.requeue_after is not None:
        assert result.requeue_after >= 1


def steady(replicas: int = 9, **spec: Any) -> Sim:
    """A workload that has reached its steady state on the default 3 x 3 nodes."""
    sim = Sim(workload_body(replicas, **spec), cluster_nodes())
    sim.converge()
    return sim


# --- a namesake Deployment, a zone that fails -------------------------------------------------


def foreign(zone: str, owner_uid: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": dep(zone),
        "namespace": "shop",
        "uid": "uid-foreign",
        "generation": 4,
        "resourceVersion": "77",
        "labels": {"app": "someone-else"},
    }
    if owner_uid is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": "zonal.dev/v1alpha1",
                "kind": "ZonalWorkload",
                "name": "web",
                "uid": owner_uid,
                "controller": True,
            }
        ]
    return {
        "metadata": meta,
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "x"}]}}},
        "status": deployment_status(4, 2, 2),
    }


def fail_zone(sim: Sim, zone: str, since: datetime) -> None:
    sim.nodes = [n for n in sim.nodes if n.labels[DEFAULT_TOPOLOGY_KEY] != zone] + down(zone, since)


# --- the safety property ----------------------------------------------------------------------

_zone_kind = st.sampled_from(
    ["healthy", "failing", "partial", "grace", "recovering", "vanished", "absent", "foreign"]
)
State = tuple[Sim, dict[str, int], dict[str, int], set[str]]


@st.composite
def random_state(draw: st.DrawFn) -> State:
    """A workload in any state: per zone, its nodes' health, its Deployment's replicas and
    Ready pods, and where its pods run. Besides the Sim: each Deployment's replicas and Ready
    pods, and the zones whose pods all sit on failed nodes, as far as the operator can know.
    It sees the pods through a cache that may lag: per zone, the oldest of them, or none at
    all. Where it sees them all, a zone whose pods all sit on failed nodes serves nothing;
    elsewhere the claim is against what the Deployments report."""
    zone_count = draw(st.integers(1, 4))
    zones = [f"zone-{chr(ord('a') + i)}" for i in range(zone_count)]
    replicas = draw(st.integers(0, 20))
    failover = {
        "failbackStepPercent": draw(st.integers(1, 100)),
        "failbackDelaySeconds": draw(st.sampled_from([0, 60, 300])),
    }
    body = workload_body(replicas, maxSkew=draw(st.integers(1, 3)), failover=failover)
    wl = Workload.from_body(body)
    nodes: list[NodeInfo] = []
    deployments: dict[str, dict[str, Any]] = {}
    zone_status: list[dict[str, Any]] = []
    current: dict[str, int] = {}
    ready: dict[str, int] = {}
    placed: dict[str, list[str]] = {}
    for zone in zones:
        kind = draw(_zone_kind)
        previous = draw(st.sampled_from(["Healthy", "Degraded", "Unhealthy", "Recovering"]))
        if kind in ("healthy", "foreign"):
            nodes += zone_nodes(zone)
        elif kind == "failing":
            nodes += down(zone, NOW - timedelta(minutes=5))
        elif kind == "partial":  # failing, with one node left
            nodes += down(zone, NOW - timedelta(minutes=5), count=2)
            nodes += [replace(zone_nodes(zone, 1)[0], name=f"{zone}-2")]
        elif kind == "grace":
            nodes += down(zone, NOW - timedelta(seconds=5))
        elif kind == "recovering":
            nodes += zone_nodes(zone, since=NOW - timedelta(seconds=30))
            previous = draw(st.sampled_from(["Unhealthy", "Recovering"]))
        # "vanished": a Deployment but no node; "absent": neither.
        entry: dict[str, Any] = {"name": zone, "deployment": dep(zone), "health": previous}
        if previous == "Recovering":
            entry["healthySince"] = "2025-03-01T11:58:00Z"
        if kind == "foreign":
            deployments[dep(zone)] = foreign(zone, draw(st.sampled_from([None, "other-uid"])))
        elif kind != "absent" and draw(st.booleans() if kind != "vanished" else st.just(True)):
            n = draw(st.integers(0, 10))
            r = draw(st.integers(0, n))
            generation = draw(st.integers(1, 3))
            live = server_view(render_deployment(wl, zone, n))
            live["metadata"].update(
                uid=f"uid-{zone}", generation=generation, resourceVersion=str(generation)
            )
            live["status"] = deployment_status(
                generation, n, r, observed=draw(st.booleans()) or generation == 1
            )
            deployments[dep(zone)] = live
            entry["deploymentGeneration"] = generation
            current[zone], ready[zone] = n, r
            here = [x.name for x in nodes if x.labels[DEFAULT_TOPOLOGY_KEY] == zone]
            placed[zone] = [draw(st.sampled_from(here or ["gone"])) for _ in range(n)]
        zone_status.append(entry)
    body["status"] = {"observedGeneration": 1, "zones": zone_status}
    seen = None
    if draw(st.booleans()):
        seen = {z: tuple(on[: draw(st.integers(0, len(on)))]) for z, on in placed.items()}
    failed = {x.name for x in nodes if x.ready != "True"}
    stranded = {
        z
        for z, on in placed.items()
        if on and seen is not None and len(seen[z]) == len(on) and set(on) <= failed
    }
    return Sim(body, nodes, deployments, pod_nodes=seen), current, ready, stranded


def check_moves_keep_ready_capacity(state: State) -> None:
    """The plan for any state never takes Ready capacity below what was asked."""
    sim, current, ready, stranded = state
    result = sim.plan()  # also checks the invariants of check_plan
    after = dict(current)
    for action in result.actions:
        zone = action_name(action).removeprefix("web-")
        count = replicas_after(action)
        if isinstance(action, Delete):
            assert current[zone] == 0
            after[zone] = 0
        elif isinstance(action, Create):
            assert zone not in current
            after[zone] = count or 0
        else:
            assert count is not None
            after[zone] = count
    # A zone that has nodes but none Ready serves nothing, whatever its Deployment says; nor
    # does one whose pods all sit on failed nodes.
    dark = {
        zone
        for zone in after
        if (states := [n.ready for n in sim.nodes if n.labels[DEFAULT_TOPOLOGY_KEY] == zone])
        and "True" not in states
    }
    serving = {z: 0 if z in dark | stranded else r for z, r in ready.items()}
    # Pods that are not Ready go first, so a zone keeps min(ready, next) Ready pods.
    kept = sum(min(serving.get(z, 0), after[z]) for z in after)
    assert kept >= min(sim.workload.replicas, sum(serving.values()))
