"""The chart's life on kind: `helm upgrade` in the middle of a failover, `helm uninstall` leaving
the workloads running, and the chart installed again adopting them."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.kit.e2e import wait_for
from tests.kit.kind import (
    OPERATOR_NAMESPACE,
    RELEASE,
    ROOT,
    ReadyByZone,
    apply,
    balanced,
    condition,
    get,
    helm,
    leader,
    operator_pods,
    pause,
    recorded_silent,
    unpause_all,
    wait_operator_settled,
    wait_workload_ready,
    web_workload,
    worker_zones,
    zone_of_pod,
)
from zonal_operator.api.workload import FailoverPolicy

pytestmark = pytest.mark.kind

REPLICAS = 9
CHART = str(ROOT / "charts" / "zonal-operator")
# A new leader resumes the verdict its predecessor recorded (core/resume.py) instead of
# counting the silence afresh: the zone fails over at the deadline the old leader had (the last
# heartbeat, up to 10 s before the pause, + the 30 s grace period: 20-30 s after it) or as soon
# as the new leader leads, whichever is later; the upgrade starts about 20 s in and a leader
# releases its Lease on SIGTERM, so a new one leads 30-35 s in at the latest, and the
# replacements are Ready about 10 s after they are asked for (the "zone lost" test: 24-39 s).
UPGRADE_TARGET = 45
HEARTBEAT_TIMEOUT = FailoverPolicy().heartbeat_timeout_seconds  # the default, 20 s


def args(pod: dict[str, object]) -> list[str]:
    spec = pod["spec"]
    assert isinstance(spec, dict)
    return list(spec["containers"][0]["args"])


@pytest.fixture
def verbose_afterwards() -> Iterator[None]:
    """The release goes back to the values it was installed with (make kind-deploy's)."""
    yield
    upgrade("operator.verbose=false", "--wait", "--timeout", "5m")
    wait_operator_settled()


def upgrade(value: str, *flags: str) -> None:
    """helm upgrade of the release with one value changed, the others as they are."""
    helm(
        "upgrade",
        RELEASE,
        CHART,
        "--namespace",
        OPERATOR_NAMESPACE,
        "--reuse-values",
        "--set",
        value,
        *flags,
    )


def test_helm_upgrade_during_a_failover(
    namespace: str,
    verbose_afterwards: None,
    zones_restored: None,  # after verbose_afterwards: torn down first, so the zone is back
    figure: Callable[[str], None],
) -> None:
    apply(namespace, web_workload("upgraded", REPLICAS, failbackDelaySeconds=20))
    wait_workload_ready(namespace, "upgraded")
    wait_for(lambda: balanced(namespace, "upgraded"), timeout=180, what="balanced")
    wait_operator_settled()
    before = {p["metadata"]["name"] for p in operator_pods()}
    operator_zones = {zone_of_pod(name) for name in before}
    lost = sorted(set(worker_zones().values()) - operator_zones)[0]

    old_leader = leader()
    start = pause(lost)
    with ReadyByZone(namespace, "upgraded", start=start) as outage:
        # The operator has judged the zone failing (its nodes silent for the 20 s heartbeat
        # timeout, as its record on the Lease says, what a new leader resumes) and counts its
        # grace period: roll the operator.
        lost_nodes = {n for n, zone in worker_zones().items() if zone == lost}

        def judged() -> bool:
            silent = recorded_silent()
            now = datetime.now(UTC)
            return bool(lost_nodes) and all(
                n in silent and now - silent[n] >= timedelta(seconds=HEARTBEAT_TIMEOUT)
                for n in lost_nodes
            )

        wait_for(judged, timeout=120, what=f"{lost} judged failing")
        upgraded_at = outage.samples[-1][0] if outage.samples else 0.0
        upgrade("operator.verbose=true")
        wait_for(
            lambda: outage.ready_outside(lost, REPLICAS) is not None,
            timeout=240,
            what=f"{REPLICAS} Ready outside {lost}",
        )
    back = outage.ready_outside(lost, REPLICAS)
    assert back is not None
    handed = outage.holder_changed(old_leader)
    led = "the old leader still" if handed is None else f"a new leader at {handed:.0f} s"
    figure(
        f"helm upgrade {upgraded_at:.0f} s into an outage of {lost} ({led}): {REPLICAS} Ready "
        f"outside it {back:.1f} s after the pause (bound {UPGRADE_TARGET} s)"
    )
    assert back <= UPGRADE_TARGET, outage.samples
    wait_for(
        lambda: condition(get("-n", namespace, "zonalworkload/upgraded"), "FailedOver") == "True",
        timeout=120,
        what="FailedOver",
    )

    # The zone comes back; the new operator pods (verbose now) run it, and bring replicas back.
    unpause_all()
    wait_for(
        lambda: (
            (pods := operator_pods())
            and all("--verbose" in args(p) for p in pods)
            and all(condition(p, "Ready") == "True" for p in pods)
        ),
        timeout=300,
        what="the upgraded operator pods Ready",
    )
    assert not before & {p["metadata"]["name"] for p in operator_pods()}
    wait_operator_settled()
    wait_for(lambda: balanced(namespace, "upgraded"), timeout=300, what="failback complete")


def test_helm_uninstall_leaves_the_workloads_and_install_adopts_them(namespace: str) -> None:
    apply(namespace, web_workload("kept", REPLICAS))
    wait_workload_ready(namespace, "kept")
    wait_for(lambda: balanced(namespace, "kept"), timeout=180, what="balanced")
    values = helm("get", "values", RELEASE, "--namespace", OPERATOR_NAMESPACE, "--output", "yaml")
    generations = {
        d["metadata"]["name"]: d["metadata"]["generation"]
        for d in get("deployments", "-n", namespace, "-l", "zonal.dev/workload=kept")["items"]
    }

    helm("uninstall", RELEASE, "--namespace", OPERATOR_NAMESPACE, "--wait", "--timeout", "2m")
    try:
        wait_for(lambda: not operator_pods(), timeout=120, what="the operator pods gone")
        # The CRD is kept (helm.sh/resource-policy: keep), and with it the workload and its
        # Deployments, still serving.
        get("crd", "zonalworkloads.zonal.dev")
        assert get("-n", namespace, "zonalworkload/kept")["spec"]["replicas"] == REPLICAS
        deployments = get("deployments", "-n", namespace, "-l", "zonal.dev/workload=kept")["items"]
        assert {d["metadata"]["name"] for d in deployments} == set(generations)
        assert sum(d["status"].get("readyReplicas", 0) for d in deployments) == REPLICAS
    finally:
        # Installed again with the same values (make kind-deploy's), as the next tests expect.
        reinstall(values)
    wait_operator_settled()
    # The new operator adopts the workload as it is: its Deployments are not rewritten.
    wait_for(lambda: balanced(namespace, "kept"), timeout=120, what="balanced")
    after = {
        d["metadata"]["name"]: d["metadata"]["generation"]
        for d in get("deployments", "-n", namespace, "-l", "zonal.dev/workload=kept")["items"]
    }
    assert after == generations


def reinstall(values: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(values)
        f.flush()
        helm(
            "install",
            RELEASE,
            CHART,
            "--namespace",
            OPERATOR_NAMESPACE,
            "--values",
            f.name,
            "--wait",
            "--timeout",
            "5m",
        )
