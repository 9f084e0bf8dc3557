"""Leader election with hot standbys, against a cluster whose API server keeps an audit log:
the log says which replica (its identity is in the User-Agent) wrote what, and when.

Two operator processes (testkit's `Replicas`) elect a leader on a Lease with the default
timing (lease 15 s, renew deadline 10 s, retry 2 s). The cluster is this module's own: the
shared one keeps no audit log (the scale tests would make it hundreds of megabytes).
"""

from __future__ import annotations

import dataclasses
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from localcluster import LocalCluster
from testkit import audit
from testkit.operator_process import OperatorProcess, Replicas
from testkit.workloads import workload
from tests.kit.e2e import (
    CRD,
    E2E_CLUSTER,
    EVEN,
    FAST,
    apply,
    cluster_up,
    deployments,
    get_json,
    wait_converged,
    wait_for,
)

pytestmark = pytest.mark.e2e

LEASE, RETRY = 15.0, 2.0


@pytest.fixture(scope="module")
def ha_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    audited = dataclasses.replace(E2E_CLUSTER, audit_log=True)
    yield from cluster_up(tmp_path_factory.mktemp("ha-cluster"), audited, CRD)


@pytest.fixture
def namespace(ha_cluster: LocalCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "le-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    ha_cluster.kubectl("create", "namespace", name)
    yield name
    ha_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def replicas(ha_cluster: LocalCluster, namespace: str, tmp_path: Path) -> Iterator[Replicas]:
    """Two replicas, not started, on a Lease of the test's own; stopped (and every zone up)
    afterwards."""
    group = Replicas(
        ha_cluster.kubeconfig,
        tmp_path,
        2,
        extra_args=["--leader-election-namespace", namespace],
        prefix=namespace,
    )
    try:
        yield group
    finally:
        group.stop()
        for zone in ha_cluster.down_zones():
            ha_cluster.zone_up(zone)
        ha_cluster.wait_nodes_ready(timeout=120)


def other(group: Replicas, one: OperatorProcess) -> OperatorProcess:
    [rest] = [m for m in group if m is not one]
    return rest


def lease_holder(cluster: LocalCluster, namespace: str) -> str:
    lease = get_json(cluster, "lease", "zonal-operator", "-n", namespace)
    return str(lease["spec"].get("holderIdentity") or "")


def ready_total(cluster: LocalCluster, namespace: str) -> int:
    return sum(
        int(d.get("status", {}).get("readyReplicas") or 0)
        for d in deployments(cluster, namespace, "web").values()
    )


def overlapping_writers(log: Path, group: Replicas, window: float) -> list[str]:
    """Pairs of writes from two identities less than `window` seconds apart."""
    mine = [
        (r.received, m.identity)
        for r in audit.requests(log)
        if r.write
        for m in group
        if m.user_agent_fragment() in r.user_agent
    ]
    mine.sort()
    last: dict[str, datetime] = {}
    clashes = []
    for received, identity in mine:
        for other_id, at in last.items():
            if other_id != identity and received - at < timedelta(seconds=window):
                clashes.append(f"{other_id} at {at} and {identity} at {received}")
        last[identity] = received
    return clashes


def test_frozen_leader_in_the_lost_zone_writes_nothing_after_resuming(
    ha_cluster: LocalCluster, namespace: str, replicas: Replicas
) -> None:
    replicas.start()
    leader, _ = replicas.wait_leader()
    standby = other(replicas, leader)
    apply(ha_cluster, workload("web", namespace, replicas=9, failover=FAST))
    wait_converged(ha_cluster, namespace, "web", EVEN)

    # The leader's pod runs in zone-a, and zone-a goes: both freeze at once.
    leader.signal(signal.SIGSTOP)
    ha_cluster.zone_down("zone-a")
    frozen_at = time.monotonic()
    new_leader, led_at = replicas.wait_leader(timeout=LEASE + 10, among=[standby])
    takeover = led_at - frozen_at
    print(f"takeover after SIGSTOP: {takeover:.1f}s")
    assert takeover <= LEASE + 1, takeover
    assert lease_holder(ha_cluster, namespace) == new_leader.identity
    wait_converged(ha_cluster, namespace, "web", {"zone-a": 0, "zone-b": 5, "zone-c": 4})
    wait_for(lambda: ready_total(ha_cluster, namespace) >= 9, timeout=60, what="9 Ready")

    resumed = datetime.now(UTC)
    leader.signal(signal.SIGCONT)
    wait_for(lambda: not leader.leading(), timeout=10, interval=0.2, what="old leader stands by")
    time.sleep(2 * RETRY + 1)  # a few more tries of its election loop, and its workers
    assert not leader.leading() and new_leader.leading()
    late = audit.writes_by(ha_cluster.audit_log, leader.user_agent_fragment(), since=resumed)
    assert late == [], late
    # It did write while it led (the audit log sees its identity at all).
    assert audit.writes_by(ha_cluster.audit_log, leader.user_agent_fragment())
    assert "stopped leading" in leader.log_text()


def test_killed_leader_standby_takes_over_and_writes_nothing_new(
    ha_cluster: LocalCluster, namespace: str, replicas: Replicas
) -> None:
    replicas.start()
    leader, _ = replicas.wait_leader()
    standby = other(replicas, leader)
    apply(ha_cluster, workload("web", namespace, replicas=9, failover=FAST))
    wait_converged(ha_cluster, namespace, "web", EVEN)
    time.sleep(5)  # the status settles (replica counts of the last pods)

    killed_at = time.monotonic()
    leader.kill()
    new_leader, led_at = replicas.wait_leader(timeout=LEASE + 10, among=[standby])
    takeover = led_at - killed_at
    print(f"takeover after SIGKILL: {takeover:.1f}s")
    assert takeover <= LEASE + 1, takeover
    took_over = datetime.now(UTC)
    time.sleep(5)  # it reconciles every workload at once, from its warm caches
    writes = [
        r
        for r in audit.writes_by(ha_cluster.audit_log, new_leader.user_agent_fragment(), took_over)
        if r.resource in ("deployments", "zonalworkloads", "zonalworkloads/status", "pods")
    ]
    assert writes == [], writes
    events = get_json(ha_cluster, "events", "-n", namespace)["items"]
    elected = [e for e in events if e["reason"] == "LeaderElected"]
    assert {e["involvedObject"]["kind"] for e in elected} == {"Lease"}
    assert any(new_leader.identity in e["message"] for e in elected)


def test_started_and_restarted_together_one_writer_at_a_time(
    ha_cluster: LocalCluster, namespace: str, replicas: Replicas
) -> None:
    apply(ha_cluster, workload("web", namespace, replicas=9, failover=FAST))
    replicas.start()
    replicas.wait_leader()
    wait_converged(ha_cluster, namespace, "web", EVEN)
    assert len(replicas.leaders()) == 1
    # Both restarted at once: a SIGKILL each, as a node's crash would, then both again.
    for member in replicas:
        member.kill()
    apply(ha_cluster, workload("web", namespace, replicas=6, failover=FAST))
    replicas.start()
    replicas.wait_leader(timeout=LEASE + 10)
    wait_converged(ha_cluster, namespace, "web", {"zone-a": 2, "zone-b": 2, "zone-c": 2})
    assert len(replicas.leaders()) == 1
    clashes = overlapping_writers(ha_cluster.audit_log, replicas, LEASE)
    assert clashes == [], clashes


def test_sigterm_hands_over_within_two_seconds(
    ha_cluster: LocalCluster, namespace: str, replicas: Replicas
) -> None:
    replicas.start()
    leader, _ = replicas.wait_leader()
    standby = other(replicas, leader)
    time.sleep(3)  # the standby has seen a renewal or two
    stopped_at = time.monotonic()
    leader.signal(signal.SIGTERM)
    new_leader, led_at = replicas.wait_leader(timeout=LEASE + 10, among=[standby])
    handover = led_at - stopped_at
    print(f"takeover after SIGTERM: {handover:.2f}s")
    assert new_leader is standby
    assert handover <= 2.0, handover
    assert "released the leader lease" in leader.log_text()
    assert leader.proc is not None and leader.proc.wait(15) == 0


def probe_status(process: OperatorProcess) -> int:
    """The HTTP status of kopf's /healthz (its probes, the leader_election one included)."""
    url = f"http://127.0.0.1:{process.liveness_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_a_failed_election_fails_the_probe_and_writes_nothing(
    ha_cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    """A Lease that cannot be written (here: its namespace does not exist, as an API server
    refusing it for any reason) is logged and fails the probe; the replica writes nothing."""
    lost = OperatorProcess(
        ha_cluster.kubeconfig,
        tmp_path / "lost.log",
        ["--leader-election-namespace", "no-such-namespace"],
        identity="lost-replica",
    )
    lost.start()
    try:
        apply(ha_cluster, workload("web", namespace, replicas=3, failover=FAST))
        wait_for(lambda: probe_status(lost) == 500, timeout=40, what="/healthz failing")
        assert "leader election failed" in lost.log_text()
        assert not lost.leading()
        time.sleep(3)
        assert deployments(ha_cluster, namespace, "web") == {}
        tried = audit.writes_by(ha_cluster.audit_log, lost.user_agent_fragment())
        # Its tries to create the Lease, every one refused; nothing else.
        assert tried and all(r.resource == "leases" and r.code == 404 for r in tried), tried
    finally:
        lost.stop()
