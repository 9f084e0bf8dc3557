"""Zone-loss headroom on the local cluster (spec.failover.headroom): placeholder pods kept in
every zone at the headroom PriorityClass, never counted as Ready; static stability's larger
zones, so a zone loss never takes Ready below spec.replicas."""

from __future__ import annotations

import json
import time

import pytest

from localcluster import LocalCluster
from testkit.workloads import HEADROOM_PRIORITY_CLASS
from tests.kit.e2e import (
    Sampler,
    apply,
    failover_workload,
    get_json,
    nodes_not_ready,
    placeholders,
    status,
    wait_converged,
    wait_for,
)
from zonal_operator.api.group import HEADROOM_LABEL

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.usefixtures("running_operator", "restore_zones"),
]


def _condition(st: dict[str, object], kind: str) -> dict[str, str]:
    conditions = st.get("conditions") or []
    assert isinstance(conditions, list)
    return next((c for c in conditions if c.get("type") == kind), {})


def test_placeholders_are_kept_in_every_zone_and_never_counted(
    cluster: LocalCluster, namespace: str
) -> None:
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(HEADROOM_PRIORITY_CLASS))
    apply(cluster, failover_workload(namespace, headroom={"mode": "Placeholders"}))
    st = wait_converged(cluster, namespace, "web", {"zone-a": 3, "zone-b": 3, "zone-c": 3})
    expected = {"zone-a": (2, 2), "zone-b": (2, 2), "zone-c": (1, 1)}
    wait_for(lambda: placeholders(cluster, namespace) == expected, timeout=60,
             what="placeholders 2/2/1 Ready")  # fmt: skip
    st = status(cluster, namespace, "web")
    assert st["readyReplicas"] == 9 and st["headroomReplicas"] == 5
    assert _condition(st, "HeadroomReady")["status"] == "True"
    pods = get_json(cluster, "pods", "-n", namespace, "-l", f"{HEADROOM_LABEL}=web")["items"]
    assert {p["spec"]["priorityClassName"] for p in pods} == {"zonal-headroom"}
    assert {p["spec"]["priority"] for p in pods} == {-10}

    # A zone loss: the lost zone keeps none, the others are sized for the next loss.
    started = time.monotonic()
    cluster.zone_down("zone-a")
    wait_converged(cluster, namespace, "web", {"zone-a": 0, "zone-b": 5, "zone-c": 4},
                   timeout=120)  # fmt: skip
    print(f"placeholders: capacity back outside zone-a {time.monotonic() - started:.0f} s "
          "after its heartbeats stopped (roomy cluster)")  # fmt: skip
    wait_for(lambda: placeholders(cluster, namespace) == {"zone-b": (4, 4), "zone-c": (5, 5)},
             timeout=60, what="placeholders resized for the next loss")  # fmt: skip


def test_a_missing_priority_class_is_reported_and_changes_nothing(
    cluster: LocalCluster, namespace: str
) -> None:
    apply(
        cluster,
        failover_workload(
            namespace, headroom={"mode": "Placeholders", "priorityClassName": "nope"}
        ),
    )
    wait_converged(cluster, namespace, "web", {"zone-a": 3, "zone-b": 3, "zone-c": 3})
    wait_for(
        lambda: (
            _condition(status(cluster, namespace, "web"), "HeadroomReady").get("reason")
            == "PriorityClassMissing"
        ),
        timeout=30,
        what="HeadroomReady False, PriorityClassMissing",
    )
    assert placeholders(cluster, namespace) == {}


def test_static_stability_keeps_spec_replicas_ready_through_a_zone_loss(
    cluster: LocalCluster, namespace: str
) -> None:
    apply(cluster, failover_workload(namespace, headroom={"mode": "StaticStability"}))
    st = wait_converged(cluster, namespace, "web", {"zone-a": 5, "zone-b": 5, "zone-c": 5})
    assert st["headroomReplicas"] == 6
    with Sampler(cluster, namespace) as outage:
        cluster.zone_down("zone-a")
        wait_for(nodes_not_ready(cluster, "zone-a"), timeout=60, what="zone-a NotReady")
        # Two zones left: each must hold all 9 for the next loss to be covered too.
        wait_converged(cluster, namespace, "web", {"zone-a": 0, "zone-b": 9, "zone-c": 9},
                       timeout=120)  # fmt: skip
    # zone-b and zone-c held 10 Ready before the loss, with no move needed.
    print(f"static stability: Ready min {min(outage.ready['web'])} of 9 over "
          f"{len(outage.ready['web'])} samples")  # fmt: skip
    assert min(outage.ready["web"]) >= 9, outage.ready
