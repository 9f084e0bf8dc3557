"""Fixtures shared by every end-to-end test: one local zoned cluster per test process.

The cluster is the real control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler) with KWOK nodes in three zones of three nodes (tests.kit.e2e.E2E_CLUSTER). Run
with pytest-xdist (`make test-local`), each worker that gets an end-to-end test starts its own,
in its own temporary directory on ports of its own, with its own operator: the tests of one
worker never see another's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from localcluster import LocalCluster
from testkit.operator_process import OperatorProcess
from tests.kit.e2e import CRD, E2E_CLUSTER, cluster_up, heal, operator_running


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    yield from cluster_up(tmp_path_factory.mktemp("cluster"), E2E_CLUSTER)


@pytest.fixture(scope="session")
def crd_installed(cluster: LocalCluster) -> None:
    cluster.install_crds(CRD)


@pytest.fixture
def namespace(cluster: LocalCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, named after it, deleted afterwards. The name ends in a hash
    of the test's id: two tests whose names share their first 40 characters (one in
    test_failover.py, one in test_spread.py) may run one after the other on a worker's
    cluster, while the first one's namespace is still being deleted."""
    digest = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:6]
    name = "t-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    name = "".join(c if c.isalnum() or c == "-" else "-" for c in name).strip("-")
    name = f"{name}-{digest}"
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
def running_operator(operator: OperatorProcess, request: pytest.FixtureRequest) -> OperatorProcess:
    """The session operator, started again if an earlier test left it stopped. Where its log
    stood when the test began is kept, so that a failed test's report carries what the
    operator logged during it (pytest_runtest_makereport below)."""
    if not operator.running:
        operator.start()
    log = operator.log_path
    request.node.stash[LOG_FROM] = (log, log.stat().st_size if log.exists() else 0)
    return operator


LOG_FROM = pytest.StashKey[tuple[Path, int]]()
LOG_TAIL = 40_000  # characters of a failed test's operator log in its report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and LOG_FROM in item.stash:
        log, start = item.stash[LOG_FROM]
        with log.open("rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
        report.sections.append(("operator log during the test", text[-LOG_TAIL:]))
    return report


@pytest.fixture
def shifts(cluster: LocalCluster) -> Iterator[list[str]]:
    """The names of the ZoneShifts a test creates (tests.kit.e2e.create_shift); deleted
    afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        cluster.kubectl("delete", "zoneshift", name, "--wait=false", check=False)
