"""Zone-by-zone rollouts on the local cluster: a change of the template reaches one zone at a
time, each after the one before has baked; a bad change (simulated by the local cluster's
kwok.zonal.dev/simulate annotation, see hack/localcluster/kwok.yaml) halts the wave at the
first zone with the others untouched; rollbackOnHalt restores that zone; a fix starts a new
wave; a zone failing over mid-wave keeps Ready where the outage left it. Ready is sampled every
second throughout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from localcluster import LocalCluster
from testkit.operator_process import OperatorProcess
from testkit.workloads import condition, workload
from tests.kit.e2e import (
    Poller,
    apply,
    deployments,
    events,
    metric,
    parse_time,
    reasons,
    split,
    status,
    wait_converged,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("running_operator", "restore_zones")]

ZONES = ("zone-a", "zone-b", "zone-c")
EVEN = {"zone-a": 2, "zone-b": 2, "zone-c": 2}
REVISION = "zonal.dev/revision"
SIMULATE = "kwok.zonal.dev/simulate"


def wave_workload(namespace: str, replicas: int = 6, **rollout: Any) -> dict[str, Any]:
    return workload(
        "web",
        namespace,
        replicas=replicas,
        progressDeadlineSeconds=15,
        failover={"gracePeriodSeconds": 5, "failbackDelaySeconds": 20, "tolerationSeconds": 10},
        zoneRollout={"mode": "ZoneByZone", "bakeSeconds": 15, **rollout},
    )


def zone_deployments(cluster: LocalCluster, namespace: str) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["labels"]["zonal.dev/zone"]: d
        for d in deployments(cluster, namespace, "web").values()
    }


def image(dep: dict[str, Any]) -> str:
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


def revision(dep: dict[str, Any]) -> str:
    return str(dep["metadata"]["annotations"].get(REVISION, ""))


def rolled_out(dep: dict[str, Any], replicas: int) -> bool:
    """As `kubectl rollout status` judges it: status current, every pod updated and available."""
    st = dep["status"]
    return (
        st.get("observedGeneration") == dep["metadata"]["generation"]
        and st.get("replicas") == st.get("updatedReplicas") == replicas
        and st.get("availableReplicas") == replicas
    )


def change(cluster: LocalCluster, namespace: str, *ops: dict[str, Any]) -> None:
    cluster.kubectl(
        "patch", "zw", "web", "-n", namespace, "--type=json", "-p", json.dumps(list(ops))
    )


def set_image(value: str) -> dict[str, Any]:
    return {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": value}


def simulate(kind: str) -> dict[str, Any]:
    return {"op": "add", "path": "/spec/template/metadata/annotations", "value": {SIMULATE: kind}}


def wave(cluster: LocalCluster, namespace: str) -> dict[str, Any]:
    result: dict[str, Any] = status(cluster, namespace, "web").get("zoneRollout") or {}
    return result


def wait_rolled_back(cluster: LocalCluster, namespace: str, old: dict[str, str]) -> None:
    """Until zone-a has been rolled back and every zone is on the revision it had (`old`, by
    zone) again, rolled out at 2 replicas, as `kubectl rollout status` judges it."""
    wait_for(
        lambda: "ZoneRolledBack" in reasons(cluster, namespace, "web"),
        timeout=90,
        what="zone-a rolled back",
    )
    wait_for(
        lambda: all(
            revision(dep) == old[zone] and rolled_out(dep, 2)
            for zone, dep in zone_deployments(cluster, namespace).items()
        ),
        timeout=60,
        what="every zone on the previous revision again, rolled out",
    )


@dataclass
class Sampler(Poller):
    """Once a second: Ready replicas over all zones, and when each zone's Deployment first
    showed each image."""

    cluster: LocalCluster
    namespace: str
    ready: list[int] = field(default_factory=list)
    first_seen: dict[tuple[str, str], float] = field(default_factory=dict)

    def sample(self) -> None:
        deps = zone_deployments(self.cluster, self.namespace)
        self.ready.append(sum(int(d["status"].get("readyReplicas") or 0) for d in deps.values()))
        for zone, dep in deps.items():
            self.first_seen.setdefault((zone, image(dep)), time.monotonic())


def test_a_good_change_rolls_zone_by_zone_each_after_the_one_before_baked(
    cluster: LocalCluster, namespace: str, figure: Callable[[str], None]
) -> None:
    apply(cluster, wave_workload(namespace, order=["zone-b", "zone-a", "zone-c"]))
    wait_converged(cluster, namespace, "web", EVEN)
    before = {zone: revision(dep) for zone, dep in zone_deployments(cluster, namespace).items()}

    with Sampler(cluster, namespace) as sampled:
        changed = time.monotonic()
        change(cluster, namespace, set_image("nginx:1.28"))
        wait_for(
            lambda: wave(cluster, namespace).get("inFlight") == ["zone-b"],
            timeout=30,
            what="zone-b in flight",
        )
        # /scale works mid-wave: the zones grow on the revision each is on.
        cluster.kubectl("scale", "zw", "web", "-n", namespace, "--replicas=9")
        wait_for(
            lambda: (
                wave(cluster, namespace).get("summary", "").startswith("complete")
                and wave(cluster, namespace).get("zonesDone") == 3
            ),
            timeout=180,
            what="the wave complete",
        )
        complete = time.monotonic() - changed
        wait_converged(cluster, namespace, "web", {"zone-a": 3, "zone-b": 3, "zone-c": 3})
    assert min(sampled.ready) >= 6, sampled.ready
    deps = zone_deployments(cluster, namespace)
    assert {zone: image(dep) for zone, dep in deps.items()} == dict.fromkeys(ZONES, "nginx:1.28")
    target = wave(cluster, namespace)["revision"]
    assert {revision(dep) for dep in deps.values()} == {target}
    assert wave(cluster, namespace)["previousRevision"] == before["zone-a"]
    # In the order given, each zone updated only after the one before had baked 15 s.
    started = [sampled.first_seen[(zone, "nginx:1.28")] for zone in ("zone-b", "zone-a", "zone-c")]
    assert started[0] < started[1] < started[2], started
    assert started[1] - started[0] >= 15 and started[2] - started[1] >= 15, started
    at = ", ".join(f"+{t - changed:.0f} s" for t in started)
    figure(
        f"zone-by-zone wave, 3 zones, bakeSeconds 15, scaled 6 -> 9 mid-wave: zones updated at "
        f"{at}, complete after {complete:.0f} s; lowest Ready {min(sampled.ready)}"
    )
    entries = {z["name"]: z for z in status(cluster, namespace, "web")["zones"]}
    for earlier, later in (("zone-b", "zone-a"), ("zone-a", "zone-c")):
        baked = parse_time(entries[earlier]["bakedAt"])
        assert parse_time(entries[later]["updatedAt"]) >= baked, entries
        assert (baked - parse_time(entries[earlier]["bakingSince"])).total_seconds() >= 15, entries
    told = reasons(cluster, namespace, "web")
    assert told.count("ZoneRolloutStarted") == 3 and told.count("ZoneBaked") == 3, told
    assert "ZoneRolloutComplete" in told
    progressing = condition(status(cluster, namespace, "web"), "Progressing")
    assert progressing["reason"] != "RolloutHalted", progressing
    wide = cluster.kubectl("get", "zw", "web", "-n", namespace, "-o", "wide").stdout
    assert "ROLLOUT" in wide and "complete (3/3 zones)" in wide, wide


def test_a_bad_change_halts_at_the_first_zone_and_a_fix_completes_the_wave(
    cluster: LocalCluster,
    namespace: str,
    running_operator: OperatorProcess,
    figure: Callable[[str], None],
) -> None:
    apply(cluster, wave_workload(namespace))
    wait_converged(cluster, namespace, "web", EVEN)
    old = {zone: revision(dep) for zone, dep in zone_deployments(cluster, namespace).items()}

    with Sampler(cluster, namespace) as sampled:
        changed = time.monotonic()
        change(cluster, namespace, simulate("NeverReady"))
        wait_for(
            lambda: (
                condition(status(cluster, namespace, "web"), "Progressing")["reason"]
                == "RolloutHalted"
            ),
            timeout=90,
            what="the wave halted",
        )
        halted_after = time.monotonic() - changed
        halted = wave(cluster, namespace)["halted"]
        assert (halted["zone"], halted["reason"]) == ("zone-a", "ProgressDeadlineExceeded")
        progressing = condition(status(cluster, namespace, "web"), "Progressing")
        assert progressing["status"] == "False" and "zone-a" in progressing["message"]
        # The other zones keep the previous template, every pod Ready; a while later too.
        time.sleep(10)
        deps = zone_deployments(cluster, namespace)
        assert revision(deps["zone-a"]) == wave(cluster, namespace)["revision"] != old["zone-a"]
        for zone in ("zone-b", "zone-c"):
            assert revision(deps[zone]) == old[zone], zone
            assert int(deps[zone]["status"].get("readyReplicas") or 0) == 2, deps[zone]["status"]
        assert wave(cluster, namespace)["zonesDone"] == 0
        assert "RolloutHalted" in reasons(cluster, namespace, "web")
        ours = {"namespace": namespace, "workload": "web"}
        assert metric(running_operator, "zonal_operator_rollout_halted", **ours) == 1
        assert metric(running_operator, "zonal_operator_rollout_halts_total", **ours) == 1

        # The fix: a new change of the template starts a new wave, which completes.
        fixed = time.monotonic()
        change(
            cluster,
            namespace,
            {"op": "remove", "path": "/spec/template/metadata/annotations"},
            set_image("nginx:1.28"),
        )
        wait_for(
            lambda: wave(cluster, namespace).get("zonesDone") == 3,
            timeout=150,
            what="the fixed wave complete",
        )
        fixed_after = time.monotonic() - fixed
    assert min(sampled.ready) >= 6, sampled.ready
    figure(
        f"bad change (pods never Ready), progressDeadlineSeconds 15: halted in zone-a after "
        f"{halted_after:.0f} s, other zones untouched; the fix's wave (bake 15 s) complete after "
        f"{fixed_after:.0f} s; lowest Ready {min(sampled.ready)} of 6"
    )
    deps = zone_deployments(cluster, namespace)
    assert {zone: image(dep) for zone, dep in deps.items()} == dict.fromkeys(ZONES, "nginx:1.28")
    assert "halted" not in wave(cluster, namespace)
    assert condition(status(cluster, namespace, "web"), "Progressing")["reason"] != "RolloutHalted"
    halted = {"namespace": namespace, "workload": "web"}
    assert metric(running_operator, "zonal_operator_rollout_halted", **halted) == 0


def test_rollback_on_halt_puts_the_failed_zone_back_after_a_restart(
    cluster: LocalCluster, namespace: str, figure: Callable[[str], None]
) -> None:
    apply(cluster, wave_workload(namespace, rollbackOnHalt=True))
    wait_converged(cluster, namespace, "web", EVEN)
    old = {zone: revision(dep) for zone, dep in zone_deployments(cluster, namespace).items()}
    assert len(set(old.values())) == 1

    with Sampler(cluster, namespace) as sampled:
        changed = time.monotonic()
        change(cluster, namespace, simulate("Restarting"))
        wait_rolled_back(cluster, namespace, old)
        restored = time.monotonic() - changed
    halted = wave(cluster, namespace)["halted"]
    assert (halted["zone"], halted["reason"]) == ("zone-a", "ContainerRestarts")
    assert min(sampled.ready) >= 6, sampled.ready
    figure(
        f"bad change (containers restart), rollbackOnHalt: zone-a back on the previous revision "
        f"and rolled out {restored:.0f} s after the change; lowest Ready {min(sampled.ready)} of 6"
    )
    template = zone_deployments(cluster, namespace)["zone-a"]["spec"]["template"]
    assert SIMULATE not in (template["metadata"].get("annotations") or {})
    assert condition(status(cluster, namespace, "web"), "Progressing")["reason"] == "RolloutHalted"
    # It went back surge first: a replica more until the rollback rolled out, then dropped.
    wait_for(
        lambda: any(
            e["reason"] == "DeploymentUpdated" and "its rollback to revision" in e["message"]
            for e in events(cluster, namespace, "web")
        ),
        timeout=15,
        what="the rollback's surge dropped",
    )


def test_a_zone_failing_over_mid_wave_keeps_ready_where_the_outage_left_it(
    cluster: LocalCluster, namespace: str, figure: Callable[[str], None]
) -> None:
    apply(cluster, wave_workload(namespace, replicas=9, bakeSeconds=60))
    wait_converged(cluster, namespace, "web", {"zone-a": 3, "zone-b": 3, "zone-c": 3})
    with Sampler(cluster, namespace) as sampled:
        change(cluster, namespace, set_image("nginx:1.28"))
        wait_for(
            lambda: any(
                z["name"] == "zone-a" and z.get("bakingSince")
                for z in status(cluster, namespace, "web").get("zones") or []
            ),
            timeout=60,
            what="zone-a baking",
        )
        cluster.zone_down("zone-c")  # not reached yet: it runs the previous template
        wait_for(
            lambda: split(cluster, namespace, "web")["zone-c"] == 0,
            timeout=90,
            what="zone-c failed over",
        )
        # The moved replicas run the template of the zone they moved to.
        deps = zone_deployments(cluster, namespace)
        assert image(deps["zone-a"]) == "nginx:1.28" and image(deps["zone-b"]) == "nginx:1.27"
        wait_for(
            lambda: wave(cluster, namespace).get("zonesDone") == 3,
            timeout=240,
            what="the wave complete with zone-c down",
        )
        wait_for(
            lambda: (
                sum(
                    int(d["status"].get("readyReplicas") or 0)
                    for zone, d in zone_deployments(cluster, namespace).items()
                    if zone != "zone-c"
                )
                >= 9
            ),
            timeout=60,
            what="9 Ready outside zone-c",
        )
    # Never below what the outage itself took away: 9 - zone-c's 3.
    assert min(sampled.ready) >= 6, sampled.ready
    deps = zone_deployments(cluster, namespace)
    assert {image(dep) for dep in deps.values()} == {"nginx:1.28"}
    assert "RolloutHalted" not in reasons(cluster, namespace, "web")
    figure(
        f"zone-c lost while zone-a baked (bake 60 s, 9 replicas): lowest Ready "
        f"{min(sampled.ready)} (the outage took 3), wave complete with zone-c down"
    )


def test_a_large_template_is_recorded_compressed_and_its_rollback_finds_it(
    cluster: LocalCluster, namespace: str
) -> None:
    """A pod template of about 145 KiB (a configuration inlined in an environment variable):
    recorded as is, a zone's two templates (the one it runs, the one it ran) would pass the API
    server's 256 KiB limit on an object's annotations. Compressed, the wave and its rollback go
    as with any template."""
    body = wave_workload(namespace, rollbackOnHalt=True)
    config = "\n".join(f"setting.{i:05d} = value-{i % 97}" for i in range(6000))
    assert len(config) > 128 * 1024  # twice that passes the limit
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "CONFIG", "value": config}]
    apply(cluster, body)
    wait_converged(cluster, namespace, "web", EVEN)
    old = {zone: revision(dep) for zone, dep in zone_deployments(cluster, namespace).items()}

    change(cluster, namespace, simulate("Restarting"))
    wait_rolled_back(cluster, namespace, old)
    for zone, dep in zone_deployments(cluster, namespace).items():
        annotations = dep["metadata"]["annotations"]
        assert annotations["zonal.dev/template"].startswith("zlib+base64:"), zone
        assert sum(len(k) + len(v) for k, v in annotations.items()) < 64 * 1024, zone
    ran = zone_deployments(cluster, namespace)["zone-a"]["metadata"]["annotations"]
    assert ran["zonal.dev/previous-template"].startswith("zlib+base64:")
    template = zone_deployments(cluster, namespace)["zone-a"]["spec"]["template"]
    assert SIMULATE not in (template["metadata"].get("annotations") or {})
    assert template["spec"]["containers"][0]["env"] == [{"name": "CONFIG", "value": config}]
