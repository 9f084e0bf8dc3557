"""Fixtures shared by every end-to-end test: one local zoned cluster for the whole run.

The cluster is the real control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler) with KWOK nodes in three zones of three nodes. Node-monitor grace and the lease
duration are shortened (16 s, 8 s) so that outages are noticed in seconds; everything else,
including the API server's 300 s default tolerations, is stock.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from localcluster import ClusterConfig, LocalCluster
from testkit.operator_process import OperatorProcess
from tests.e2e.helpers import get_json, wait_for

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds"  # every CRD: ZonalWorkload and ZoneShift

E2E_CLUSTER = ClusterConfig(
    zones=3,
    nodes_per_zone=3,
    node_monitor_grace_seconds=16,
    node_monitor_period_seconds=2,
    node_lease_seconds=8,
)


def cluster_up(
    directory: Path, config: ClusterConfig, crd: Path | None = None
) -> Iterator[LocalCluster]:
    """A local cluster for as long as the fixture that yields from this lives (a test module
    with a cluster of its own uses it too), with the CRD installed if given."""
    local = LocalCluster(directory, config)
    local.up()
    try:
        if crd is not None:
            local.install_crds(crd)
        yield local
    finally:
        local.down()


def operator_running(kubeconfig: Path, log: Path) -> Iterator[OperatorProcess]:
    """The operator, for as long as the fixture that yields from this lives."""
    process = OperatorProcess(kubeconfig, log)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def heal(cluster: LocalCluster) -> None:
    """Every zone and node up, Ready and untainted again."""
    for zone in cluster.down_zones():
        cluster.zone_up(zone)
    for zone in cluster.zones():
        for node in cluster.nodes_in_zone(zone):
            cluster.node_up(node)
    cluster.wait_nodes_ready(timeout=120)

    def untainted() -> bool:
        nodes = get_json(cluster, "nodes")["items"]
        return not any(
            t["key"] in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")
            for n in nodes
            for t in n["spec"].get("taints") or []
        )

    wait_for(untainted, timeout=60, what="node lifecycle taints removed")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    yield from cluster_up(tmp_path_factory.mktemp("cluster"), E2E_CLUSTER)


@pytest.fixture(scope="session")
def crd_installed(cluster: LocalCluster) -> None:
    cluster.install_crds(CRD)


@pytest.fixture
def namespace(cluster: LocalCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, named after it, deleted afterwards."""
    name = "t-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    name = "".join(c if c.isalnum() or c == "-" else "-" for c in name).strip("-")
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def restore_zones(cluster: LocalCluster) -> Iterator[None]:
    """Whatever a test breaks, every zone and node is up and Ready again afterwards."""
    yield
    heal(cluster)


@pytest.fixture(scope="session")
def operator(
    cluster: LocalCluster, crd_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator, running for the whole session (tests may restart it)."""
    yield from operator_running(cluster.kubeconfig, tmp_path_factory.mktemp("operator") / "log")


@pytest.fixture
def running_operator(operator: OperatorProcess) -> OperatorProcess:
    """The session operator, started again if an earlier test left it stopped."""
    if not operator.running:
        operator.start()
    return operator
