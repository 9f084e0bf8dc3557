"""Zone shifts on the local cluster: a ZoneShift moves a workload's replicas (PerZone or Spread
placement) out of a zone that is up, surge first, and back when it expires or is deleted; it
selects by labels; it is refused where it would leave a workload no zone. Ready is sampled
every second throughout.

Each shift here selects only its test's namespace (namespaceSelector on the namespace's
kubernetes.io/metadata.name label), so that it touches no other test's workloads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from localcluster import LocalCluster
from testkit.operator_process import OperatorProcess
from testkit.workloads import condition, workload
from tests.kit.e2e import (
    EVEN,
    FAST,
    Sampler,
    SpreadSampler,
    apply,
    assert_quiet,
    create_shift,
    events,
    get_json,
    metric,
    parse_time,
    reasons,
    shift_status,
    split,
    spread_settled,
    spread_workload,
    status,
    wait_converged,
    wait_for,
    zone_entry,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("running_operator")]

OUT_OF_B = {"zone-a": 5, "zone-b": 0, "zone-c": 4}


def test_a_60s_shift_moves_the_replicas_out_surge_first_and_back(
    cluster: LocalCluster,
    namespace: str,
    shifts: list[str],
    running_operator: OperatorProcess,
    figure: Callable[[str], None],
) -> None:
    apply(cluster, workload("web", namespace, replicas=9, failover=FAST))
    wait_converged(cluster, namespace, "web", EVEN)

    with Sampler(cluster, namespace) as sampled:
        created = time.monotonic()
        name = create_shift(cluster, shifts, namespace, "60s")
        wait_converged(cluster, namespace, "web", OUT_OF_B)
        out_after = time.monotonic() - created
        entry = zone_entry(cluster, namespace, "web", "zone-b")
        assert (entry["health"], entry["shiftedBy"]) == ("Shifted", [name]), entry
        st = status(cluster, namespace, "web")
        shifted = condition(st, "ZoneShifted")
        assert (shifted["status"], shifted["reason"]) == ("True", "ZonesShifted"), shifted
        assert name in shifted["message"] and "e2e: zone-b maintenance" in shifted["message"]
        assert condition(st, "FailedOver")["status"] == "False"
        zs = shift_status(cluster, name)
        assert (zs["active"], zs["appliedWorkloads"], zs["refusedWorkloads"]) == (True, 1, 0)
        assert (parse_time(zs["expiresAt"]) - parse_time(zs["startedAt"])).total_seconds() == 60
        columns = cluster.kubectl("get", "zoneshift", name).stdout
        assert "zone-b" in columns and "true" in columns and " Shifted " in columns, columns
        web = cluster.kubectl("get", "zw", "web", "-n", namespace).stdout
        assert " zone-b=Shifted " in web, web
        assert metric(running_operator, "zonal_operator_zoneshifts_active") >= 1
        assert metric(
            running_operator, "zonal_operator_zoneshift_workloads", zoneshift=name,
            outcome="applied",
        ) == 1  # fmt: skip
        moved = [e for e in events(cluster, namespace, "web") if e["reason"] == "ZoneShifted"]
        assert len(moved) == 1 and name in moved[0]["message"], moved

        # It expires on its own: the replicas come back, in steps, surge first.
        wait_for(
            lambda: split(cluster, namespace, "web")["zone-b"] > 0,
            timeout=90,
            what="replicas returning to zone-b",
        )
        back_after = time.monotonic() - created
        wait_converged(cluster, namespace, "web", EVEN, timeout=90)
    # Ready never below spec.replicas because of the moves, out or back.
    figure(
        f"PerZone shift of 60 s: zone-b empty {out_after:.0f} s after the shift's creation, "
        f"replicas back from {back_after:.0f} s; lowest Ready {min(sampled.ready['web'])} of 9"
    )
    assert min(sampled.ready["web"]) >= 9, sampled.ready["web"]
    assert out_after < 45, out_after
    assert 55 <= back_after <= 90, back_after
    zs = shift_status(cluster, name)
    assert zs["active"] is False and zs["appliedWorkloads"] == 0
    assert condition(zs, "Active")["reason"] == "Expired"
    assert "ReplicasReturned" in reasons(cluster, namespace, "web")
    assert "ZoneShifted" not in {c["type"] for c in status(cluster, namespace, "web")["conditions"]}
    told = reasons(cluster, "default", name)
    assert "ZoneShiftStarted" in told and "ZoneShiftExpired" in told, told
    wait_for(
        lambda: metric(running_operator, "zonal_operator_zoneshift_workloads", zoneshift=name) == 0,
        timeout=10,
        what="the expired shift's series gone",
    )


def test_deleting_the_shift_cancels_it_early(
    cluster: LocalCluster, namespace: str, shifts: list[str], figure: Callable[[str], None]
) -> None:
    apply(cluster, workload("web", namespace, replicas=9, failover=FAST))
    wait_converged(cluster, namespace, "web", EVEN)
    with Sampler(cluster, namespace) as sampled:
        name = create_shift(cluster, shifts, namespace, "72h")
        wait_converged(cluster, namespace, "web", OUT_OF_B)
        cancelled = time.monotonic()
        cluster.kubectl("delete", "zoneshift", name)
        wait_converged(cluster, namespace, "web", EVEN, timeout=60)
        returned_in = time.monotonic() - cancelled
    figure(
        f"PerZone shift cancelled: back to 3/3/3 {returned_in:.0f} s after the deletion; "
        f"lowest Ready {min(sampled.ready['web'])} of 9"
    )
    assert min(sampled.ready["web"]) >= 9, sampled.ready["web"]
    assert returned_in < 45, returned_in  # no failback delay after a planned shift
    assert "ZoneShifted" not in {c["type"] for c in status(cluster, namespace, "web")["conditions"]}


def test_a_shift_selecting_one_of_two_workloads_leaves_the_other_alone(
    cluster: LocalCluster, namespace: str, shifts: list[str]
) -> None:
    for name, tier in (("web", "frontend"), ("api", "backend")):
        body = workload(name, namespace, replicas=9, failover=FAST)
        body["metadata"]["labels"] = {"tier": tier}
        apply(cluster, body)
    for name in ("web", "api"):
        wait_converged(cluster, namespace, name, EVEN)
    with Sampler(cluster, namespace, ("web", "api")) as sampled:
        shift = create_shift(
            cluster,
            shifts,
            namespace,
            "72h",
            workloadSelector={"matchLabels": {"tier": "frontend"}},
        )
        wait_converged(cluster, namespace, "web", OUT_OF_B)
        time.sleep(5)  # the other one has had every chance to move
    assert all(s == EVEN for s in sampled.splits["api"]), sampled.splits["api"]
    assert min(sampled.ready["web"]) >= 9 and min(sampled.ready["api"]) >= 9
    conditions = {c["type"] for c in status(cluster, namespace, "api")["conditions"]}
    assert "ZoneShifted" not in conditions
    assert zone_entry(cluster, namespace, "api", "zone-b")["health"] == "Healthy"
    zs = shift_status(cluster, shift)
    assert (zs["appliedWorkloads"], zs["refusedWorkloads"]) == (1, 0), zs


def test_a_shift_that_would_leave_a_workload_no_zone_is_refused_for_it_and_reported(
    cluster: LocalCluster, namespace: str, shifts: list[str]
) -> None:
    apply(cluster, workload("solo", namespace, replicas=2, zones=["zone-b"], failover=FAST))
    wait_converged(cluster, namespace, "solo", {"zone-b": 2})
    name = create_shift(cluster, shifts, namespace, "72h")

    def refused() -> dict[str, Any] | None:
        zs = shift_status(cluster, name)
        return zs if zs.get("refusedWorkloads") == 1 else None

    zs = wait_for(refused, timeout=30, what="the shift refused for solo")
    assert zs["appliedWorkloads"] == 0
    [entry] = zs["refused"]
    assert (entry["namespace"], entry["name"]) == (namespace, "solo")
    assert "no zone to run in" in entry["message"]
    columns = cluster.kubectl("get", "zoneshift", name).stdout.split("\n")[1].split()
    assert columns[6] == "1", columns  # the Refused column
    wait_for(
        lambda: (
            condition(status(cluster, namespace, "solo"), "ZoneShifted").get("reason")
            == "ShiftRefused"
        ),
        timeout=30,
        what="solo's ZoneShifted condition",
    )
    assert split(cluster, namespace, "solo") == {"zone-b": 2}
    assert zone_entry(cluster, namespace, "solo", "zone-b")["health"] == "Healthy"
    warned = [e for e in events(cluster, namespace, "solo") if e["reason"] == "ZoneShiftRefused"]
    assert len(warned) == 1 and warned[0]["type"] == "Warning" and name in warned[0]["message"]
    told = wait_for(
        lambda: "ZoneShiftRefused" in reasons(cluster, "default", name),
        timeout=10,
        what="the ZoneShift's ZoneShiftRefused event",
    )
    assert told


def test_a_shift_in_force_makes_no_writes_once_done(
    cluster: LocalCluster,
    namespace: str,
    shifts: list[str],
    running_operator: OperatorProcess,
) -> None:
    apply(cluster, workload("web", namespace, replicas=9, failover=FAST))
    wait_converged(cluster, namespace, "web", EVEN)
    name = create_shift(cluster, shifts, namespace, "72h")
    wait_converged(cluster, namespace, "web", OUT_OF_B)
    wait_for(
        lambda: shift_status(cluster, name).get("appliedWorkloads") == 1,
        timeout=30,
        what="the shift's status counted",
    )
    assert_quiet(cluster, running_operator)


# --- Spread placement ---------------------------------------------------------------------------


def the_deployment(cluster: LocalCluster, namespace: str) -> dict[str, Any]:
    result: dict[str, Any] = get_json(cluster, "deployment", "web", "-n", namespace)
    return result


def test_a_shift_moves_a_spread_workloads_pods_out_surge_first_and_back(
    cluster: LocalCluster, namespace: str, shifts: list[str], figure: Callable[[str], None]
) -> None:
    apply(cluster, spread_workload(namespace))
    every = {"zone-a", "zone-b", "zone-c"}
    wait_for(lambda: spread_settled(cluster, namespace, every), 90, what="spread over 3 zones")

    with SpreadSampler(cluster, namespace) as sampled:
        created = time.monotonic()
        name = create_shift(cluster, shifts, namespace, "72h")
        out = {"zone-a", "zone-c"}
        st = wait_for(
            lambda: spread_settled(cluster, namespace, out), 120, what="pods out of zone-b"
        )
        out_after = time.monotonic() - created
        entry = zone_entry(cluster, namespace, "web", "zone-b")
        assert (entry["health"], entry["shiftedBy"], entry["replicas"]) == ("Shifted", [name], 0)
        shifted = condition(st, "ZoneShifted")
        assert (shifted["status"], shifted["reason"]) == ("True", "ZonesShifted"), shifted
        assert name in shifted["message"] and "e2e: zone-b maintenance" in shifted["message"]
        assert condition(st, "FailedOver")["status"] == "False"
        wait_for(
            lambda: shift_status(cluster, name).get("appliedWorkloads") == 1,
            timeout=30,
            what="the shift's status counted",
        )
        moved = [e for e in events(cluster, namespace, "web") if e["reason"] == "ZoneShifted"]
        assert len(moved) == 1 and name in moved[0]["message"], moved
        dep = the_deployment(cluster, namespace)
        assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert dep["metadata"]["annotations"]["zonal.dev/shifted-zones"] == "zone-b"

        cancelled = time.monotonic()
        cluster.kubectl("delete", "zoneshift", name)
        wait_for(lambda: spread_settled(cluster, namespace, every), 120, what="pods back")
        back_after = time.monotonic() - cancelled
        # Then the user's strategy again (none: the Deployment's default), without a rollout.
        wait_for(
            lambda: (
                "zonal.dev/shifted-zones"
                not in the_deployment(cluster, namespace)["metadata"]["annotations"]
            ),
            timeout=30,
            what="the shift's annotation gone",
        )
        dep = the_deployment(cluster, namespace)
        assert dep["spec"]["strategy"]["rollingUpdate"] == {
            "maxSurge": "25%",
            "maxUnavailable": "25%",
        }
        assert spread_settled(cluster, namespace, every) is not None
    figure(
        f"Spread shift: pods out of zone-b {out_after:.0f}s after the shift, back over every "
        f"zone {back_after:.0f}s after its deletion; lowest Ready {min(sampled.ready)} "
        f"(spec.replicas 9), most replicas {max(sampled.replicas)}"
    )
    # Ready never below spec.replicas because of the moves, out or back.
    assert min(sampled.ready) >= 9, sampled.ready
    assert max(sampled.replicas) == 9  # the Deployment's surge, not the operator's
    assert out_after < 90, out_after
    assert back_after < 90, back_after  # no failback delay after a planned shift
    st = status(cluster, namespace, "web")
    assert "ZoneShifted" not in {c["type"] for c in st["conditions"]}
    assert "ReplicasReturned" in reasons(cluster, namespace, "web")
