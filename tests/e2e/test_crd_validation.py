"""The ZonalWorkload CRD rejects invalid objects at the API server, naming the offending field.

Runs against the shared e2e cluster (fixtures `cluster` and `crd_installed` from conftest.py):
every invalid manifest is sent with `kubectl apply --server-side` (or `kubectl create`) and must
fail with a message that names the field; a minimal valid object must be accepted and defaulted.
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "zonalworkload.yaml"
API_VERSION = "zonal.dev/v1alpha1"

Manifest = dict[str, Any]


class Cluster(Protocol):
    """What this module needs of the shared `cluster` fixture."""

    kubeconfig: Path

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...


def minimal(name: str) -> Manifest:
    """The smallest valid ZonalWorkload."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ZonalWorkload",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            }
        },
    }


def with_spec(name: str, **spec: Any) -> Manifest:
    manifest = minimal(name)
    manifest["spec"].update(spec)
    return manifest


def with_pod_spec(name: str, **pod_spec: Any) -> Manifest:
    manifest = minimal(name)
    manifest["spec"]["template"]["spec"].update(pod_spec)
    return manifest


def with_labels(name: str, labels: dict[str, str], **spec: Any) -> Manifest:
    manifest = with_spec(name, **spec)
    manifest["spec"]["template"]["metadata"]["labels"] = labels
    return manifest


def with_template_metadata(name: str, metadata: dict[str, Any]) -> Manifest:
    manifest = minimal(name)
    manifest["spec"]["template"]["metadata"].update(metadata)
    return manifest


def without_containers(name: str) -> Manifest:
    manifest = minimal(name)
    del manifest["spec"]["template"]["spec"]["containers"]
    manifest["spec"]["template"]["spec"]["hostname"] = "web"
    return manifest


def with_typo(name: str) -> Manifest:
    manifest = minimal(name)
    pod = manifest["spec"]["template"]["spec"]
    pod["contaners"] = pod.pop("containers")
    return manifest


@dataclass(frozen=True)
class Invalid:
    """An invalid manifest and the texts the API server's rejection must contain."""

    id: str
    manifest: Callable[[str], Manifest]
    expect: tuple[str, ...]
    verb: str = "apply"  # "apply" (server-side) or "create"
    name: str = ""  # default: bad-<id>


INVALID = [
    Invalid("negative-replicas", lambda n: with_spec(n, replicas=-1), ("spec.replicas",)),
    Invalid("max-skew-zero", lambda n: with_spec(n, maxSkew=0), ("spec.maxSkew",)),
    Invalid(
        "duplicate-zones",
        lambda n: with_spec(n, zones=["zone-a", "zone-a"]),
        ("spec.zones[1]", "Duplicate value"),
        verb="create",
    ),
    Invalid(
        "duplicate-zones-ssa",
        lambda n: with_spec(n, zones=["zone-a", "zone-b", "zone-a"]),
        ("spec.zones", "duplicate entries"),
    ),
    Invalid(
        "selector-match-labels-mismatch",
        lambda n: with_spec(n, selector={"matchLabels": {"app": "api"}}),
        ("spec.selector", "spec.template.metadata.labels"),
    ),
    Invalid(
        "selector-match-labels-missing-key",
        lambda n: with_spec(n, selector={"matchLabels": {"app": "web", "tier": "front"}}),
        ("spec.selector", "spec.template.metadata.labels"),
    ),
    Invalid(
        "selector-in-mismatch",
        lambda n: with_spec(
            n,
            selector={"matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]},
        ),
        ("spec.selector", "matchExpressions"),
    ),
    Invalid(
        "selector-notin-mismatch",
        lambda n: with_spec(
            n,
            selector={"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]},
        ),
        ("spec.selector", "matchExpressions"),
    ),
    Invalid(
        "selector-exists-mismatch",
        lambda n: with_spec(
            n, selector={"matchExpressions": [{"key": "tier", "operator": "Exists"}]}
        ),
        ("spec.selector", "matchExpressions"),
    ),
    Invalid(
        "selector-doesnotexist-mismatch",
        lambda n: with_spec(
            n, selector={"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}
        ),
        ("spec.selector", "matchExpressions"),
    ),
    Invalid(
        "selector-in-without-values",
        lambda n: with_spec(n, selector={"matchExpressions": [{"key": "app", "operator": "In"}]}),
        ("spec.selector.matchExpressions[0].values",),
    ),
    Invalid(
        "selector-exists-with-values",
        lambda n: with_spec(
            n,
            selector={
                "matchExpressions": [{"key": "app", "operator": "Exists", "values": ["web"]}]
            },
        ),
        ("spec.selector.matchExpressions[0].values",),
    ),
    Invalid(
        "selector-bad-operator",
        lambda n: with_spec(
            n, selector={"matchExpressions": [{"key": "app", "operator": "Equals"}]}
        ),
        ("spec.selector.matchExpressions[0].operator",),
    ),
    Invalid("selector-empty", lambda n: with_spec(n, selector={}), ("spec.selector",)),
    Invalid(
        "name-too-long",
        minimal,
        ("metadata.name", "40"),
        name="forty-one-characters-".ljust(41, "x"),
    ),
    Invalid(
        "reserved-template-label",
        lambda n: with_labels(n, {"app": "web", "zonal.dev/zone": "zone-a"}),
        ("spec.template.metadata.labels", "zonal.dev/"),
    ),
    Invalid(
        "reserved-selector-label",
        lambda n: with_labels(
            n,
            {"app": "web", "zonal.dev/owner": "me"},
            selector={"matchLabels": {"zonal.dev/owner": "me"}},
        ),
        ("spec.selector.matchLabels", "zonal.dev/"),
    ),
    Invalid(
        "reserved-selector-expression-key",
        lambda n: with_spec(
            n,
            selector={"matchExpressions": [{"key": "zonal.dev/zone", "operator": "DoesNotExist"}]},
        ),
        ("spec.selector.matchExpressions[0].key", "zonal.dev/"),
    ),
    Invalid(
        "invalid-label-key",
        lambda n: with_labels(n, {"app": "web", "not a key": "x"}),
        ("spec.template.metadata.labels",),
    ),
    Invalid(
        "template-metadata-name",
        lambda n: with_template_metadata(n, {"name": "pod"}),
        ("spec.template.metadata.name", "field not declared in schema"),
    ),
    Invalid(
        "unknown-pod-field",
        with_typo,
        ("spec.template.spec.contaners", "field not declared in schema"),
    ),
    Invalid(
        "unknown-pod-field-create",
        with_typo,
        ('unknown field "spec.template.spec.contaners"',),
        verb="create",
    ),
    Invalid(
        "unknown-container-field",
        lambda n: with_pod_spec(n, containers=[{"name": "web", "image": "nginx", "imag": "x"}]),
        ('spec.template.spec.containers[name="web"].imag',),
    ),
    Invalid(
        "restart-policy-never",
        lambda n: with_pod_spec(n, restartPolicy="Never"),
        ("spec.template.spec.restartPolicy",),
    ),
    Invalid(
        "active-deadline-seconds",
        lambda n: with_pod_spec(n, activeDeadlineSeconds=60),
        ("spec.template.spec.activeDeadlineSeconds",),
    ),
    Invalid(
        "missing-containers",
        without_containers,
        ("spec.template.spec.containers", "Required value"),
    ),
    Invalid(
        "empty-containers",
        lambda n: with_pod_spec(n, containers=[]),
        ("spec.template.spec.containers",),
    ),
    Invalid(
        "missing-template",
        lambda n: {**minimal(n), "spec": {"replicas": 1}},
        ("spec.template", "Required value"),
    ),
    Invalid(
        "bad-quantity",
        lambda n: with_pod_spec(
            n,
            containers=[
                {"name": "web", "image": "nginx", "resources": {"requests": {"cpu": "lots"}}}
            ],
        ),
        ("spec.template.spec.containers[0].resources.requests.cpu",),
    ),
    Invalid(
        "progress-deadline-not-above-min-ready",
        lambda n: with_spec(n, minReadySeconds=30, progressDeadlineSeconds=30),
        ("spec.progressDeadlineSeconds", "spec.minReadySeconds"),
    ),
    Invalid(
        "min-ready-above-default-progress-deadline",
        lambda n: with_spec(n, minReadySeconds=600),
        ("spec.progressDeadlineSeconds", "spec.minReadySeconds"),
    ),
    Invalid(
        "rolling-update-with-recreate",
        lambda n: with_spec(n, strategy={"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}),
        ("spec.strategy.rollingUpdate",),
    ),
    Invalid(
        "rolling-update-zero-zero",
        lambda n: with_spec(n, strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}),
        ("spec.strategy.rollingUpdate.maxUnavailable",),
    ),
    Invalid(
        "rolling-update-bad-percent",
        lambda n: with_spec(n, strategy={"rollingUpdate": {"maxSurge": "ten"}}),
        ("spec.strategy.rollingUpdate.maxSurge",),
    ),
    Invalid(
        "rolling-update-over-100-percent",
        lambda n: with_spec(n, strategy={"rollingUpdate": {"maxUnavailable": "150%"}}),
        ("spec.strategy.rollingUpdate.maxUnavailable", "100%"),
    ),
    Invalid(
        "strategy-bad-type",
        lambda n: with_spec(n, strategy={"type": "BlueGreen"}),
        ("spec.strategy.type",),
    ),
    Invalid(
        "failover-percent-out-of-range",
        lambda n: with_spec(n, failover={"unhealthyNodePercent": 0}),
        ("spec.failover.unhealthyNodePercent",),
    ),
    Invalid(
        "failover-grace-too-long",
        lambda n: with_spec(n, failover={"gracePeriodSeconds": 3601}),
        ("spec.failover.gracePeriodSeconds",),
    ),
    Invalid(
        "failover-heartbeat-timeout-too-long",
        lambda n: with_spec(n, failover={"heartbeatTimeoutSeconds": 601}),
        ("spec.failover.heartbeatTimeoutSeconds",),
    ),
    Invalid(
        "failover-heartbeat-timeout-negative",
        lambda n: with_spec(n, failover={"heartbeatTimeoutSeconds": -1}),
        ("spec.failover.heartbeatTimeoutSeconds",),
    ),
    Invalid(
        "bad-topology-key",
        lambda n: with_spec(n, topologyKey="not a label key"),
        ("spec.topologyKey",),
    ),
    Invalid("empty-zone", lambda n: with_spec(n, zones=[""]), ("spec.zones[0]",)),
    Invalid(
        "unknown-placement",
        lambda n: with_spec(n, placement="Everywhere"),
        ("spec.placement", "PerZone", "Spread"),
    ),
    Invalid(
        "rollout-unknown-mode",
        lambda n: with_spec(n, zoneRollout={"mode": "Canary"}),
        ("spec.zoneRollout.mode", "AllZones", "ZoneByZone"),
    ),
    Invalid(
        "rollout-zone-twice",
        lambda n: with_spec(
            n, zoneRollout={"mode": "ZoneByZone", "order": ["zone-a", "zone-b", "zone-a"]}
        ),
        ("spec.zoneRollout.order", "must not name a zone twice"),
    ),
    Invalid(
        "rollout-bake-too-long",
        lambda n: with_spec(n, zoneRollout={"mode": "ZoneByZone", "bakeSeconds": 86401}),
        ("spec.zoneRollout.bakeSeconds", "86400"),
    ),
    Invalid(
        "rollout-bake-negative",
        lambda n: with_spec(n, zoneRollout={"bakeSeconds": -1}),
        ("spec.zoneRollout.bakeSeconds",),
    ),
    Invalid(
        "rollout-no-zone-at-once",
        lambda n: with_spec(n, zoneRollout={"mode": "ZoneByZone", "maxConcurrentZones": 0}),
        ("spec.zoneRollout.maxConcurrentZones",),
    ),
    Invalid(
        "rollout-empty-zone-name",
        lambda n: with_spec(n, zoneRollout={"order": [""]}),
        ("spec.zoneRollout.order[0]",),
    ),
    Invalid(
        "rollout-invalid-zone-name",
        lambda n: with_spec(n, zoneRollout={"order": ["bad zone!"]}),
        ("spec.zoneRollout.order[0]",),
    ),
    Invalid(
        "rollout-zone-by-zone-spread",
        lambda n: with_spec(n, placement="Spread", zoneRollout={"mode": "ZoneByZone"}),
        ("spec.zoneRollout", "ZoneByZone needs spec.placement PerZone"),
    ),
    Invalid(
        "auto-shift-per-workload-without-enabled",
        lambda n: with_spec(n, autoShift={"perWorkload": True}),
        ("spec.autoShift.perWorkload", "needs spec.autoShift.enabled"),
    ),
    Invalid(
        "auto-shift-per-workload-disabled",
        lambda n: with_spec(n, autoShift={"enabled": False, "perWorkload": True}),
        ("spec.autoShift.perWorkload", "needs spec.autoShift.enabled"),
    ),
]


def _dump(manifest: Manifest) -> str:
    return yaml.safe_dump(manifest, sort_keys=False)


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def namespace(cluster: Cluster, crd_installed: object) -> Iterator[str]:
    name = f"zw-crd-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _send(cluster: Cluster, namespace: str, verb: str, manifest: Manifest) -> Any:
    args = ["apply", "--server-side"] if verb == "apply" else ["create"]
    return cluster.kubectl("-n", namespace, *args, "-f", "-", input=_dump(manifest), check=False)


def _get(cluster: Cluster, namespace: str, name: str) -> Manifest:
    proc = cluster.kubectl("-n", namespace, "get", "zonalworkloads", name, "-o", "json")
    result: Manifest = json.loads(proc.stdout)
    return result


# --------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize("case", INVALID, ids=[case.id for case in INVALID])
def test_invalid_object_is_rejected_naming_the_field(
    cluster: Cluster, namespace: str, case: Invalid
) -> None:
    name = case.name or f"bad-{case.id}"[:40].rstrip("-")
    proc = _send(cluster, namespace, case.verb, case.manifest(name))
    assert proc.returncode != 0, f"{case.id} was accepted:\n{proc.stdout}"
    for text in case.expect:
        assert text in proc.stderr, f"{case.id}: {text!r} not in:\n{proc.stderr}"
    absent = cluster.kubectl("-n", namespace, "get", "zonalworkloads", name, check=False)
    assert absent.returncode != 0, f"{case.id}: the object exists after all"


def test_minimal_object_is_accepted_and_defaulted(cluster: Cluster, namespace: str) -> None:
    proc = _send(cluster, namespace, "apply", minimal("minimal"))
    assert proc.returncode == 0, proc.stderr
    spec = _get(cluster, namespace, "minimal")["spec"]
    assert spec["replicas"] == 1
    assert spec["topologyKey"] == "topology.kubernetes.io/zone"
    assert spec["maxSkew"] == 1
    assert spec["paused"] is False
    assert spec["placement"] == "PerZone"
    assert spec["failover"] == {
        "enabled": True,
        "unhealthyNodePercent": 50,
        "gracePeriodSeconds": 30,
        "heartbeatTimeoutSeconds": 20,
        "failbackDelaySeconds": 300,
        "failbackStepPercent": 25,
        "tolerationSeconds": 30,
        "headroom": {"mode": "None", "priorityClassName": "zonal-headroom"},
    }
    assert spec["zoneRollout"] == {
        "mode": "AllZones",
        "bakeSeconds": 300,
        "maxConcurrentZones": 1,
        "rollbackOnHalt": False,
    }
    assert "selector" not in spec
    # Nothing outside the schema was added to the pod template.
    assert spec["template"]["spec"] == {"containers": [{"name": "web", "image": "nginx:1.27"}]}


def test_name_of_exactly_40_characters_is_accepted(cluster: Cluster, namespace: str) -> None:
    name = "a-name-that-is-exactly-forty-characters1"
    assert len(name) == 40
    proc = _send(cluster, namespace, "apply", minimal(name))
    assert proc.returncode == 0, proc.stderr


def test_matching_selector_expressions_are_accepted(cluster: Cluster, namespace: str) -> None:
    manifest = with_labels(
        "selector-ok",
        {"app": "web", "tier": "front"},
        selector={
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "edge"]},
                {"key": "tier", "operator": "NotIn", "values": ["db"]},
                {"key": "absent", "operator": "NotIn", "values": ["x"]},
                {"key": "app", "operator": "Exists"},
                {"key": "absent", "operator": "DoesNotExist"},
            ],
        },
        zones=["zone-a", "zone-b"],
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
        minReadySeconds=10,
        progressDeadlineSeconds=60,
    )
    proc = _send(cluster, namespace, "apply", manifest)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "example",
    [
        EXAMPLE,
        EXAMPLE.with_name("zonalworkload-spread.yaml"),
        EXAMPLE.with_name("zonalworkload-zonebyzone.yaml"),
    ],
)
def test_example_is_valid(cluster: Cluster, namespace: str, example: Path) -> None:
    proc = cluster.kubectl(
        "-n",
        namespace,
        "apply",
        "--server-side",
        "--dry-run=server",
        "-f",
        str(example),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def existing(cluster: Cluster, namespace: str) -> Iterator[Manifest]:
    """An object with a selector, to update."""
    manifest = with_labels(
        f"upd-{uuid.uuid4().hex[:6]}",
        {"app": "web", "tier": "front"},
        selector={"matchLabels": {"app": "web"}},
    )
    proc = _send(cluster, namespace, "apply", manifest)
    assert proc.returncode == 0, proc.stderr
    yield manifest
    cluster.kubectl(
        "-n", namespace, "delete", "zonalworkloads", manifest["metadata"]["name"], check=False
    )


def test_selector_cannot_change(cluster: Cluster, namespace: str, existing: Manifest) -> None:
    changed = copy.deepcopy(existing)
    changed["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "front"}}
    proc = _send(cluster, namespace, "apply", changed)
    assert proc.returncode != 0, proc.stdout
    assert "spec.selector" in proc.stderr
    assert "immutable" in proc.stderr


def test_selector_cannot_be_removed(cluster: Cluster, namespace: str, existing: Manifest) -> None:
    proc = cluster.kubectl(
        "-n",
        namespace,
        "patch",
        "zonalworkloads",
        existing["metadata"]["name"],
        "--type=json",
        "-p",
        '[{"op": "remove", "path": "/spec/selector"}]',
        check=False,
    )
    assert proc.returncode != 0, proc.stdout
    assert "spec.selector" in proc.stderr
    assert "immutable" in proc.stderr


def test_topology_key_cannot_change(cluster: Cluster, namespace: str, existing: Manifest) -> None:
    changed = copy.deepcopy(existing)
    changed["spec"]["topologyKey"] = "example.com/rack"
    proc = _send(cluster, namespace, "apply", changed)
    assert proc.returncode != 0, proc.stdout
    assert "spec.topologyKey" in proc.stderr
    assert "immutable" in proc.stderr


@pytest.mark.parametrize("to", ["Spread", "PerZone"])
def test_placement_cannot_change(cluster: Cluster, namespace: str, to: str) -> None:
    """Either way, and also by dropping the field (its default is PerZone): rejected with the
    way to switch in the message."""
    manifest = with_spec(
        f"plc-{uuid.uuid4().hex[:6]}", placement="PerZone" if to == "Spread" else "Spread"
    )
    proc = _send(cluster, namespace, "apply", manifest)
    assert proc.returncode == 0, proc.stderr
    changed = copy.deepcopy(manifest)
    if to == "PerZone":
        del changed["spec"]["placement"]
    else:
        changed["spec"]["placement"] = to
    proc = _send(cluster, namespace, "apply", changed)
    assert proc.returncode != 0, proc.stdout
    assert "spec.placement" in proc.stderr
    assert "immutable" in proc.stderr
    assert "Create a second ZonalWorkload" in proc.stderr


def test_other_fields_can_change(cluster: Cluster, namespace: str, existing: Manifest) -> None:
    changed = copy.deepcopy(existing)
    changed["spec"]["replicas"] = 6
    changed["spec"]["maxSkew"] = 2
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    proc = _send(cluster, namespace, "apply", changed)
    assert proc.returncode == 0, proc.stderr


def test_update_cannot_break_selector_match(
    cluster: Cluster, namespace: str, existing: Manifest
) -> None:
    changed = copy.deepcopy(existing)
    changed["spec"]["template"]["metadata"]["labels"] = {"app": "api"}
    proc = _send(cluster, namespace, "apply", changed)
    assert proc.returncode != 0, proc.stdout
    assert "spec.selector" in proc.stderr


def test_explain_shows_failover_descriptions(cluster: Cluster, tmp_path: Path) -> None:
    # A fresh discovery cache: one filled before the CRD was installed would not know it.
    deadline = time.monotonic() + 30
    while True:
        proc = cluster.kubectl(
            "--cache-dir", str(tmp_path), "explain", "zonalworkloads.spec.failover", check=False
        )
        if proc.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    for text in (
        "When and how replicas move out of an unhealthy zone",
        "enabled",
        "unhealthyNodePercent",
        "gracePeriodSeconds",
        "heartbeatTimeoutSeconds",
        "at least twice the kubelets' renew interval",
        "failbackDelaySeconds",
        "failbackStepPercent",
        "tolerationSeconds",
        "node.kubernetes.io/not-ready",
    ):
        assert text in out, f"{text!r} not in kubectl explain output:\n{proc.stdout}"
