"""A ZonalWorkload on the local zoned cluster: spread, scaled, changed, guarded, deleted."""

from __future__ import annotations

import json
import time

import pytest

from localcluster import LocalCluster
from testkit.operator_process import OperatorProcess
from testkit.workloads import condition, workload
from tests.kit.e2e import (
    EVEN,
    apply,
    assert_quiet,
    deployments,
    get_json,
    reasons,
    split,
    status,
    wait_converged,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("running_operator")]


def test_create_spreads_replicas_over_zones(cluster: LocalCluster, namespace: str) -> None:
    apply(cluster, workload("web", namespace, replicas=9))
    st = wait_converged(cluster, namespace, "web", EVEN)

    deps = deployments(cluster, namespace, "web")
    assert sorted(deps) == ["web-zone-a", "web-zone-b", "web-zone-c"]
    owner = get_json(cluster, "zonalworkload", "web", "-n", namespace)["metadata"]["uid"]
    for dep in deps.values():
        refs = dep["metadata"]["ownerReferences"]
        assert [(r["kind"], r["uid"], r["controller"]) for r in refs] == [
            ("ZonalWorkload", owner, True)
        ]
        pod = dep["spec"]["template"]["spec"]
        zone = dep["metadata"]["labels"]["zonal.dev/zone"]
        terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]} in (
            terms["nodeSelectorTerms"][0]["matchExpressions"]
        )
        assert any(
            c["topologyKey"] == "kubernetes.io/hostname" for c in pod["topologySpreadConstraints"]
        )

    assert st["replicas"] == st["readyReplicas"] == st["availableReplicas"] == 9
    assert st["selector"] == "app=web,zonal.dev/workload=web"
    assert [(z["name"], z["desiredReplicas"], z["health"]) for z in st["zones"]] == [
        ("zone-a", 3, "Healthy"),
        ("zone-b", 3, "Healthy"),
        ("zone-c", 3, "Healthy"),
    ]
    printed = cluster.kubectl("get", "zw", "web", "-n", namespace).stdout
    assert printed.split("\n")[0].split()[:7] == [
        "NAME", "DESIRED", "READY", "AVAILABLE", "ZONES", "NOT-HEALTHY", "STATUS"
    ]  # fmt: skip
    # NOT-HEALTHY is empty when every zone is Healthy (status.zonesNotHealthy absent).
    assert printed.split("\n")[1].split()[:6] == ["web", "9", "9", "9", "3", "True"]
    items = get_json(
        cluster, "events", "-n", namespace, "--field-selector", "reason=DeploymentCreated"
    )["items"]
    assert len(items) == 1  # one event names all three
    assert all(f"web-{zone}" in items[0]["message"] for zone in ("zone-a", "zone-b", "zone-c"))


def test_scale_through_the_scale_subresource(cluster: LocalCluster, namespace: str) -> None:
    apply(cluster, workload("web", namespace, replicas=9))
    wait_converged(cluster, namespace, "web", EVEN)

    cluster.kubectl("scale", "zw", "web", "-n", namespace, "--replicas=12")
    wait_converged(cluster, namespace, "web", {"zone-a": 4, "zone-b": 4, "zone-c": 4})

    cluster.kubectl("scale", "zw", "web", "-n", namespace, "--replicas=4")
    st = wait_converged(cluster, namespace, "web", {"zone-a": 2, "zone-b": 1, "zone-c": 1})
    assert st["replicas"] == 4


def test_a_horizontal_pod_autoscaler_can_drive_the_workload(
    cluster: LocalCluster, namespace: str
) -> None:
    apply(cluster, workload("web", namespace, replicas=3))
    wait_converged(cluster, namespace, "web", {"zone-a": 1, "zone-b": 1, "zone-c": 1})
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "zonal.dev/v1alpha1", "kind": "ZonalWorkload",
                               "name": "web"},
            "minReplicas": 6,
            "maxReplicas": 12,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}],
        },
    }  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=json.dumps(hpa))

    def able_to_scale() -> bool:
        st = get_json(cluster, "hpa", "web", "-n", namespace).get("status") or {}
        able = next((c for c in st.get("conditions") or [] if c["type"] == "AbleToScale"), {})
        return able.get("status") == "True" and able.get("reason") == "SucceededGetScale"

    # The HPA controller reads the workload through /scale (no metrics server runs here, so
    # it cannot compute utilization, but it enforces minReplicas through the same subresource).
    wait_for(able_to_scale, timeout=60, what="HPA AbleToScale/SucceededGetScale")
    wait_converged(cluster, namespace, "web", {"zone-a": 2, "zone-b": 2, "zone-c": 2})


def test_template_change_rolls_out_to_every_zone(cluster: LocalCluster, namespace: str) -> None:
    apply(cluster, workload("web", namespace, replicas=6))
    wait_converged(cluster, namespace, "web", {"zone-a": 2, "zone-b": 2, "zone-c": 2})

    apply(cluster, workload("web", namespace, replicas=6, image="nginx:1.28"))
    st = wait_converged(cluster, namespace, "web", {"zone-a": 2, "zone-b": 2, "zone-c": 2})
    for dep in deployments(cluster, namespace, "web").values():
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
        assert dep["status"]["updatedReplicas"] == 2
    assert st["updatedReplicas"] == 6
    pods = get_json(cluster, "pods", "-n", namespace, "-l", "zonal.dev/workload=web")["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert {p["spec"]["containers"][0]["image"] for p in live} == {"nginx:1.28"}
    assert reasons(cluster, namespace, "web").count("DeploymentUpdated") == 3


@pytest.mark.usefixtures("restore_zones")
def test_zone_added_gets_its_share_and_removed_zone_gives_it_back(
    cluster: LocalCluster, namespace: str
) -> None:
    apply(cluster, workload("web", namespace, replicas=9))
    wait_converged(cluster, namespace, "web", EVEN)
    cluster.add_zone("zone-d", 2)
    try:
        st = wait_converged(
            cluster, namespace, "web", {"zone-a": 3, "zone-b": 2, "zone-c": 2, "zone-d": 2}
        )
        assert st["zoneCount"] == 4
    finally:
        cluster.remove_zone("zone-d")
    wait_converged(cluster, namespace, "web", EVEN)
    assert "web-zone-d" not in deployments(cluster, namespace, "web")
    assert "DeploymentDeleted" in reasons(cluster, namespace, "web")


def test_foreign_deployment_with_the_same_name_is_left_alone(
    cluster: LocalCluster, namespace: str
) -> None:
    foreign = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web-zone-a", "namespace": namespace, "labels": {"team": "other"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"team": "other"}},
            "template": {
                "metadata": {"labels": {"team": "other"}},
                "spec": {"containers": [{"name": "other", "image": "busybox:1.36"}]},
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(foreign))
    before = get_json(cluster, "deployment", "web-zone-a", "-n", namespace)

    apply(cluster, workload("web", namespace, replicas=9))

    def reported() -> bool:
        st = status(cluster, namespace, "web")
        return condition(st, "Degraded").get("reason") == "DeploymentConflict"

    wait_for(reported, timeout=60, what="DeploymentConflict reported")
    # The other zones carry the whole workload meanwhile.
    wait_for(
        lambda: split(cluster, namespace, "web") == {"zone-b": 5, "zone-c": 4},
        timeout=60,
        what="zone-b and zone-c carry all 9 replicas",
    )
    after = get_json(cluster, "deployment", "web-zone-a", "-n", namespace, "--show-managed-fields")
    # Untouched: same spec and metadata, and the operator never wrote a field of it.
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]
    assert after["metadata"]["labels"] == {"team": "other"}
    assert "ownerReferences" not in after["metadata"]
    managers = {m["manager"] for m in after["metadata"]["managedFields"]}
    assert "zonal-operator" not in managers, managers
    assert condition(status(cluster, namespace, "web"), "Ready")["status"] == "False"
    assert "DeploymentConflict" in reasons(cluster, namespace, "web")


def test_hand_edits_of_generated_deployments_are_put_back(
    cluster: LocalCluster, namespace: str
) -> None:
    apply(cluster, workload("web", namespace, replicas=6))
    wait_converged(cluster, namespace, "web", {"zone-a": 2, "zone-b": 2, "zone-c": 2})

    cluster.kubectl("scale", "deployment", "web-zone-a", "-n", namespace, "--replicas=5")
    cluster.kubectl("set", "image", "deployment/web-zone-b", "-n", namespace, "app=evil:latest")
    cluster.kubectl("set", "env", "deployment/web-zone-c", "-n", namespace, "INJECTED=1")

    def restored() -> bool:
        deps = deployments(cluster, namespace, "web")
        containers = {n: d["spec"]["template"]["spec"]["containers"][0] for n, d in deps.items()}
        return (
            deps["web-zone-a"]["spec"]["replicas"] == 2
            and containers["web-zone-b"]["image"] == "nginx:1.27"
            and not containers["web-zone-c"].get("env")
        )

    wait_for(restored, timeout=60, what="hand edits reverted")
    wait_converged(cluster, namespace, "web", {"zone-a": 2, "zone-b": 2, "zone-c": 2})
    assert "DeploymentRestored" in reasons(cluster, namespace, "web")


def test_steady_state_makes_no_writes(
    cluster: LocalCluster, namespace: str, running_operator: OperatorProcess
) -> None:
    apply(cluster, workload("web", namespace, replicas=9))
    wait_converged(cluster, namespace, "web", EVEN)
    # Steady state: nothing else changes either (earlier tests' namespaces are gone).
    assert_quiet(cluster, running_operator)


def test_delete_removes_deployments_even_without_the_operator(
    cluster: LocalCluster, namespace: str, running_operator: OperatorProcess
) -> None:
    apply(cluster, workload("web", namespace, replicas=3))
    wait_converged(cluster, namespace, "web", {"zone-a": 1, "zone-b": 1, "zone-c": 1})
    obj = get_json(cluster, "zonalworkload", "web", "-n", namespace)
    assert not obj["metadata"].get("finalizers")

    running_operator.stop()
    try:
        cluster.kubectl("delete", "zw", "web", "-n", namespace, "--timeout=30s")
        wait_for(
            lambda: not deployments(cluster, namespace, "web"),
            timeout=60,
            what="Deployments garbage-collected",
        )
    finally:
        running_operator.start()


def test_restart_mid_way_converges_without_duplicates(
    cluster: LocalCluster, namespace: str, running_operator: OperatorProcess
) -> None:
    names = [f"app{i}" for i in range(6)]
    for name in names:
        apply(cluster, workload(name, namespace, replicas=6))
    time.sleep(0.5)
    running_operator.kill()
    time.sleep(2)
    running_operator.start()
    for name in names:
        wait_converged(cluster, namespace, name, {"zone-a": 2, "zone-b": 2, "zone-c": 2})
    all_deps = get_json(cluster, "deployments", "-n", namespace)["items"]
    assert sorted(d["metadata"]["name"] for d in all_deps) == sorted(
        f"{n}-{z}" for n in names for z in ("zone-a", "zone-b", "zone-c")
    )
