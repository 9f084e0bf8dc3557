"""The heartbeat verdict against real outages, with the node lifecycle controller's stock
50 s node-monitor grace: a zone whose kubelets stop renewing their Leases is failed over long
before any of its nodes turns NotReady, and nothing less than a correlated, lasting silence
moves anything.

This module runs its own cluster (the shared one shortens the node-monitor grace to 16 s, so
NotReady would come first). Its kubelets hold 8 s Leases, renewed every 2 s, so that a pause
of 12 s stays well within the workloads' 20 s heartbeatTimeoutSeconds.

Its operator manages the `hb-*` namespaces only; the last two tests run two replicas of their
own on theirs (a leader, and a new one started in the middle of the outage, as a `helm upgrade`
starts one), to show that a new leader resumes the verdict its predecessor reached.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from localcluster import LocalCluster
from testkit.operator_process import OperatorProcess, Replicas
from testkit.workloads import ZONE_KEY, workload
from tests.kit.e2e import (
    CRD,
    E2E_CLUSTER,
    EVEN,
    Poller,
    apply,
    cluster_up,
    deployments,
    get_json,
    heal,
    node_zones,
    operator_running,
    pod_ready,
    pods,
    status,
    wait_converged,
    wait_for,
    zone_health,
)
from zonal_operator.api.group import SILENCES_ANNOTATION
from zonal_operator.core.resume import recorded as read_record

pytestmark = pytest.mark.e2e

# The shared cluster's 8 s Leases, with the stock node-monitor grace and period.
STOCK_GRACE = dataclasses.replace(
    E2E_CLUSTER, node_monitor_grace_seconds=50, node_monitor_period_seconds=5
)


@pytest.fixture(scope="module")
def hb_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    yield from cluster_up(tmp_path_factory.mktemp("hb-cluster"), STOCK_GRACE, CRD)


@pytest.fixture(scope="module")
def hb_operator(
    hb_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    yield from operator_running(
        hb_cluster.kubeconfig, tmp_path_factory.mktemp("hb-op") / "log", "--namespace", "hb-*"
    )


@pytest.fixture
def ns(hb_cluster: LocalCluster, hb_operator: OperatorProcess, request: Any) -> Iterator[str]:
    name = "hb-" + request.node.name.lower().replace("_", "-")[5:40].strip("-")
    hb_cluster.kubectl("create", "namespace", name)
    yield name
    heal(hb_cluster)
    hb_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def metric(operator: OperatorProcess, name: str, **labels: str) -> float:
    return operator.metric(name, **labels)


def not_ready_nodes(cluster: LocalCluster) -> list[str]:
    return sorted(name for name, ready in cluster.node_readiness() if ready != "True")


def resource_versions(cluster: LocalCluster, ns: str) -> dict[str, str]:
    """The workload's and its Deployments' resourceVersions: any write changes one."""
    wl = get_json(cluster, "zonalworkload", "web", "-n", ns)
    found = {"web": wl["metadata"]["resourceVersion"]}
    for name, dep in deployments(cluster, ns, "web").items():
        found[name] = dep["metadata"]["resourceVersion"]
    return found


def steady(cluster: LocalCluster, ns: str, **failover: int) -> dict[str, str]:
    """The workload applied and converged, its last status write landed; its and its
    Deployments' resourceVersions then."""
    apply(cluster, workload("web", ns, replicas=9, failover=failover))
    wait_converged(cluster, ns, "web", EVEN)
    time.sleep(3)
    return resource_versions(cluster, ns)


class ReadyOutside(Poller):
    """Samples, once a second, the Ready replicas outside zone-a and whether any node is not
    Ready, from the moment zone-a's heartbeats stop; and of the Spread workload `spread`, its
    Ready pods outside zone-a and in all (zone-a's still count as Ready to the API)."""

    def __init__(self, cluster: LocalCluster, ns: str) -> None:
        self.cluster, self.ns = cluster, ns
        self.samples: list[tuple[float, int, list[str]]] = []
        self.spread: list[tuple[float, int, int, list[str]]] = []
        self.start = time.monotonic()
        self.lost = set(cluster.nodes_in_zone("zone-a"))

    def sample(self) -> None:
        ready = sum(
            int(d.get("status", {}).get("readyReplicas") or 0)
            for name, d in deployments(self.cluster, self.ns, "web").items()
            if not name.endswith("zone-a")
        )
        live = [
            p
            for p in pods(self.cluster, self.ns, "spread")
            if not p["metadata"].get("deletionTimestamp") and pod_ready(p)
        ]
        outside = sum(1 for p in live if p["spec"].get("nodeName") not in self.lost)
        now, not_ready = time.monotonic() - self.start, not_ready_nodes(self.cluster)
        self.samples.append((now, ready, not_ready))
        self.spread.append((now, outside, len(live), not_ready))

    def capacity_back(self, replicas: int) -> tuple[float, list[str]] | None:
        return next(((t, nr) for t, ready, nr in self.samples if ready >= replicas), None)

    def spread_back(self, replicas: int) -> tuple[float, list[str]] | None:
        return next(((t, nr) for t, out, _, nr in self.spread if out >= replicas), None)


def spread_even(cluster: LocalCluster, ns: str) -> bool:
    """The Spread workload runs 9 pods, 3 Ready in each zone."""
    zone_of = node_zones(cluster)
    found = pods(cluster, ns, "spread")
    ready = Counter(zone_of.get(p["spec"].get("nodeName", "")) for p in found if pod_ready(p))
    return len(found) == 9 and ready == Counter(EVEN)


def spread_rolled_away(cluster: LocalCluster, ns: str) -> bool:
    """The Spread workload's rollout is done: 9 pods not terminating, none on zone-a (those
    there stay Terminating while their kubelets are silent)."""
    lost = set(cluster.nodes_in_zone("zone-a"))
    live = [p for p in pods(cluster, ns, "spread") if not p["metadata"].get("deletionTimestamp")]
    return len(live) == 9 and not any(p["spec"].get("nodeName") in lost for p in live)


def test_a_silent_zone_fails_over_before_its_nodes_turn_not_ready(
    hb_cluster: LocalCluster, hb_operator: OperatorProcess, ns: str
) -> None:
    """Both placements: PerZone scales the other zones' Deployments up; Spread keeps the zone
    out of its pod template, every replica surged first (the scheduler still sees zone-a's
    silent nodes as fine)."""
    failover = {"gracePeriodSeconds": 10}
    apply(hb_cluster, workload("web", ns, replicas=9, failover=failover))
    apply(hb_cluster, workload("spread", ns, replicas=9, placement="Spread", failover=failover))
    wait_converged(hb_cluster, ns, "web", EVEN)
    wait_for(lambda: spread_even(hb_cluster, ns), timeout=60, what="spread: 3 Ready per zone")
    verdicts = metric(hb_operator, "zonal_operator_zone_verdicts_total", source="Heartbeat")

    outage = time.time()
    with ReadyOutside(hb_cluster, ns) as sampler:
        hb_cluster.zone_down("zone-a")
        wait_for(lambda: sampler.capacity_back(9), timeout=45, what="9 Ready outside zone-a")
        wait_for(lambda: sampler.spread_back(9), timeout=15, what="spread: 9 outside zone-a")
        wait_for(lambda: spread_rolled_away(hb_cluster, ns), timeout=15, what="spread moved")
    back, not_ready = sampler.capacity_back(9)  # type: ignore[misc]
    spread_back, spread_not_ready = sampler.spread_back(9)  # type: ignore[misc]
    print(
        f"\nReady capacity back outside zone-a {back:.1f} s (PerZone), {spread_back:.1f} s "
        "(Spread) after its heartbeats stopped"
    )
    # Moved before the node lifecycle controller (50 s grace) marked any node NotReady.
    assert not_ready == [] and spread_not_ready == [], (not_ready, spread_not_ready)
    assert not not_ready_nodes(hb_cluster)
    # Within the larger of the 10 s grace period and the 20 s heartbeat timeout, + 10 s.
    assert back <= 30, sampler.samples
    assert spread_back <= 30, sampler.spread
    # Surge first: Ready never below spec.replicas, neither in the API's count nor, once back,
    # outside zone-a while the rollout took zone-a's pods away.
    assert min(total for _, _, total, _ in sampler.spread) >= 9, sampler.spread
    outside = [out for t, out, _, _ in sampler.spread if t >= spread_back]
    assert min(outside) >= 9, sampler.spread
    [dep] = deployments(hb_cluster, ns, "spread").values()
    pod_spec = dep["spec"]["template"]["spec"]
    terms = pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert all(
        {"key": ZONE_KEY, "operator": "NotIn", "values": ["zone-a"]} in t["matchExpressions"]
        for t in terms["nodeSelectorTerms"]
    ), terms
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 9, "maxUnavailable": 0}
    assert zone_health(hb_cluster, ns, "spread")["zone-a"] == "Unhealthy"

    zone_a = next(z for z in status(hb_cluster, ns, "web")["zones"] if z["name"] == "zone-a")
    assert zone_a["health"] == "Unhealthy"
    # The message counts the nodes proven silent when the zone failed: two fail it (correlated
    # silence), and the third's proof may come a read later; a failed-over zone's counts then
    # wait to be written with the move's end (core/coalesce.py).
    assert re.match(r"[23]/3 nodes silent, last heartbeat", zone_a["message"]), zone_a
    # The zone failed when its heartbeats stopped (the last renewal, at most one 2 s renew
    # interval before the outage), not when somebody noticed.
    since = calendar.timegm(time.strptime(zone_a["unhealthySince"], "%Y-%m-%dT%H:%M:%SZ"))
    assert outage - 4 <= since <= outage + 1, (zone_a["unhealthySince"], outage)
    selector = "reason=ZoneUnhealthy,involvedObject.name=web"
    events = get_json(hb_cluster, "events", "-n", ns, "--field-selector", selector)
    [event] = events["items"]
    assert "silent" in event["message"], event["message"]
    after = metric(hb_operator, "zonal_operator_zone_verdicts_total", source="Heartbeat")
    assert after == verdicts + 2  # one per workload


def test_a_pause_shorter_than_the_timeout_moves_nothing_and_writes_nothing(
    hb_cluster: LocalCluster, hb_operator: OperatorProcess, ns: str
) -> None:
    before = steady(hb_cluster, ns)
    hb_cluster.zone_down("zone-a")
    time.sleep(12)
    hb_cluster.zone_up("zone-a")
    time.sleep(20)  # past the moment a 20 s silence would have been proven
    assert resource_versions(hb_cluster, ns) == before
    # The operator did see the zone go quiet and read its Leases.
    assert metric(hb_operator, "zonal_operator_node_lease_reads_total", result="silent") > 0


def test_one_silent_node_fails_no_zone(
    hb_cluster: LocalCluster, hb_operator: OperatorProcess, ns: str
) -> None:
    before = steady(hb_cluster, ns, unhealthyNodePercent=30)
    node = hb_cluster.nodes_in_zone("zone-a")[0]
    hb_cluster.node_down(node)
    # Proven silent well past the 20 s timeout, still Ready for the node lifecycle controller.
    wait_for(
        lambda: metric(hb_operator, "zonal_operator_silent_nodes") == 1,
        timeout=20,
        what="the node confirmed silent",
    )
    time.sleep(25)
    assert node not in not_ready_nodes(hb_cluster)
    assert resource_versions(hb_cluster, ns) == before
    zone_a = next(z for z in status(hb_cluster, ns, "web")["zones"] if z["name"] == "zone-a")
    assert zone_a["health"] == "Healthy"


def test_every_zone_silent_is_distrusted_and_moves_nothing(
    hb_cluster: LocalCluster, hb_operator: OperatorProcess, ns: str
) -> None:
    before = steady(hb_cluster, ns, gracePeriodSeconds=0)
    distrusted = metric(hb_operator, "zonal_operator_heartbeats_distrusted_total")
    for zone in ("zone-a", "zone-b", "zone-c"):
        hb_cluster.zone_down(zone)
    wait_for(
        lambda: metric(hb_operator, "zonal_operator_heartbeats_trusted") == 0,
        timeout=20,
        what="the heartbeat signal distrusted",
    )
    time.sleep(20)  # past the 20 s timeout, before the 50 s node-monitor grace
    assert not not_ready_nodes(hb_cluster)
    assert resource_versions(hb_cluster, ns) == before
    assert metric(hb_operator, "zonal_operator_heartbeats_distrusted_total") > distrusted
    assert "node heartbeats distrusted" in hb_operator.log_text()
    for zone in ("zone-a", "zone-b", "zone-c"):
        hb_cluster.zone_up(zone)
    wait_for(
        lambda: metric(hb_operator, "zonal_operator_heartbeats_trusted") == 1,
        timeout=20,
        what="the heartbeat signal trusted again",
    )


# --- a new leader in the middle of the outage ---------------------------------------------------


@pytest.fixture
def handover(
    hb_cluster: LocalCluster, request: Any, tmp_path: Any
) -> Iterator[tuple[str, Replicas]]:
    """A namespace of the test's own (outside hb-*), and two replicas watching only it, on a
    Lease in it, not started; stopped, and every zone healed, afterwards."""
    name = "resume-" + request.node.name.lower().replace("_", "-")[5:30].strip("-")
    hb_cluster.kubectl("create", "namespace", name)
    args = ["--namespace", name, "--leader-election-namespace", name]
    group = Replicas(hb_cluster.kubeconfig, tmp_path, 2, extra_args=args, prefix=name)
    try:
        yield name, group
    finally:
        group.stop()
        heal(hb_cluster)
        hb_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def zone_a(cluster: LocalCluster, ns: str) -> dict[str, Any]:
    return next(z for z in status(cluster, ns, "web").get("zones", []) if z["name"] == "zone-a")


def recorded_silent(cluster: LocalCluster, ns: str) -> list[str]:
    """The nodes whose silence the leader records on its Lease, for a new leader to resume."""
    lease = get_json(cluster, "lease", "-n", ns, "zonal-operator")
    return sorted(read_record(lease["metadata"].get("annotations", {}).get(SILENCES_ANNOTATION)))


ZONE_A = ["kwok-zone-a-0", "kwok-zone-a-1", "kwok-zone-a-2"]


def first_leader_judges_zone_a(cluster: LocalCluster, ns: str, group: Replicas) -> OperatorProcess:
    """Replica 0 leads alone and converges the workload (the 30 s default grace period); zone-a
    goes silent."""
    first = group[0]
    first.start()
    group.wait_leader(among=[first])
    apply(cluster, workload("web", ns, replicas=9))
    wait_converged(cluster, ns, "web", EVEN)
    cluster.zone_down("zone-a")
    return first


def test_a_new_leader_resumes_the_verdict_and_fails_over_without_a_fresh_timeout(
    hb_cluster: LocalCluster, handover: tuple[str, Replicas]
) -> None:
    ns, group = handover
    first = first_leader_judges_zone_a(hb_cluster, ns, group)
    with ReadyOutside(hb_cluster, ns) as sampler:
        # Judged failing (20 s of proven silence: Degraded, as the metrics say at once; the
        # status may say it only with the failover), and recorded on the Lease.
        wait_for(
            lambda: (
                first.metric("zonal_operator_zone_state", zone="zone-a", state="Degraded")
                and recorded_silent(hb_cluster, ns) == ZONE_A
            ),
            timeout=30,
            what="zone-a judged failing by the first leader, its silence recorded",
        )
        judged = sampler.samples[-1][0] if sampler.samples else 0.0
        # The new replica first sees the Leases now, well into the outage; the first one hands
        # the Lease over on SIGTERM.
        second = group[1]
        second.start()
        started = time.monotonic() - sampler.start
        first.signal(signal.SIGTERM)
        group.wait_leader(timeout=10, among=[second])
        led = time.monotonic() - sampler.start
        wait_for(lambda: sampler.capacity_back(9), timeout=45, what="9 Ready outside zone-a")
    back, not_ready = sampler.capacity_back(9)  # type: ignore[misc]
    print(
        f"\nzone-a judged {judged:.1f} s after its heartbeats stopped, a new replica started at "
        f"{started:.1f} s and led at {led:.1f} s; 9 Ready outside zone-a at {back:.1f} s"
    )
    assert second.metric("zonal_operator_silences_resumed_total", result="resumed") == 3
    assert "resumed the recorded silence of 3 nodes" in second.log_text()
    assert recorded_silent(hb_cluster, ns) == ZONE_A  # the new leader's record, from its renewals
    # Counted afresh, the silence would be proven only 20 s after the new replica started, and
    # the 30 s grace period would run from then; resumed, the zone fails over at the first
    # leader's deadline (30 s after the last heartbeat) or as soon as the new one leads.
    assert back < started + 20, sampler.samples
    assert back <= 40, sampler.samples
    assert not_ready == [], not_ready  # before the node lifecycle controller's 50 s
    entry = zone_a(hb_cluster, ns)
    assert entry["health"] == "Unhealthy"
    assert "3/3 nodes silent" in entry["message"] or "2/3 nodes silent" in entry["message"], entry


def test_a_new_leader_discards_a_verdict_the_nodes_renewed_since(
    hb_cluster: LocalCluster, handover: tuple[str, Replicas]
) -> None:
    ns, group = handover
    first = first_leader_judges_zone_a(hb_cluster, ns, group)
    wait_for(
        lambda: recorded_silent(hb_cluster, ns) == ZONE_A,
        timeout=30,
        what="zone-a's silence proven and recorded by the first leader",
    )
    # The leader freezes before it sees zone-a renew again, and is killed: its Lease still
    # records the silence when the new replica, started after the renewals, takes over.
    first.signal(signal.SIGSTOP)
    hb_cluster.zone_up("zone-a")
    second = group[1]
    second.start()
    first.kill()
    before = {
        n: d["metadata"]["resourceVersion"] for n, d in deployments(hb_cluster, ns, "web").items()
    }
    group.wait_leader(timeout=25, among=[second])
    wait_for(
        lambda: zone_a(hb_cluster, ns).get("health") == "Healthy",
        timeout=15,
        what="zone-a Healthy again",
    )
    assert second.metric("zonal_operator_silences_resumed_total", result="discarded") == 3
    wait_for(lambda: recorded_silent(hb_cluster, ns) == [], timeout=5, what="the record emptied")
    time.sleep(3)
    after = {
        n: d["metadata"]["resourceVersion"] for n, d in deployments(hb_cluster, ns, "web").items()
    }
    assert after == before  # nothing moved
