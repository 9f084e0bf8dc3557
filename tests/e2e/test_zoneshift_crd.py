"""The ZoneShift CRD rejects invalid objects at the API server, naming the offending field, and
`kubectl explain` documents every field.

Runs against the shared e2e cluster (fixtures `cluster` and `crd_installed` from conftest.py).
ZoneShifts are cluster-scoped: each object here has a name of this module's own.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcluster import LocalCluster

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PREFIX = f"zs-crd-{uuid.uuid4().hex[:6]}"
Manifest = dict[str, Any]


# The shifts accepted here select no namespace, so that they touch no other test's workloads.
NOWHERE = {"matchLabels": {"kubernetes.io/metadata.name": PREFIX}}


def minimal(name: str, **spec: Any) -> Manifest:
    body: Manifest = {
        "apiVersion": "zonal.dev/v1alpha1",
        "kind": "ZoneShift",
        "metadata": {"name": name},
        "spec": {"zone": "zone-x", "duration": "30m", "namespaceSelector": NOWHERE, **spec},
    }
    return body


def without(field: str) -> Callable[[str], Manifest]:
    def make(name: str) -> Manifest:
        body = minimal(name)
        del body["spec"][field]
        return body

    return make


def one_workload(name: str, **spec: Any) -> Manifest:
    """A shift of one ZonalWorkload (spec.workload), in a namespace that does not exist."""
    body = minimal(name)
    del body["spec"]["namespaceSelector"]
    body["spec"].update({"workload": {"namespace": PREFIX, "name": "web"}, **spec})
    return body


def selector(field: str, value: Any) -> Callable[[str], Manifest]:
    return lambda name: minimal(name, **{field: value})


@dataclass(frozen=True)
class Invalid:
    id: str
    manifest: Callable[[str], Manifest]
    expect: tuple[str, ...]


INVALID = [
    Invalid("no-zone", without("zone"), ("spec.zone", "Required")),
    Invalid("empty-zone", lambda n: minimal(n, zone=""), ("spec.zone",)),
    Invalid("bad-zone", lambda n: minimal(n, zone="zone b!"), ("spec.zone",)),
    Invalid("no-duration", without("duration"), ("spec.duration", "Required")),
    Invalid("unbounded-duration", lambda n: minimal(n, duration="73h"), ("spec.duration", "72h")),
    Invalid("days", lambda n: minimal(n, duration="3d"), ("spec.duration",)),
    Invalid("zero-duration", lambda n: minimal(n, duration="0s"), ("spec.duration",)),
    Invalid("negative-duration", lambda n: minimal(n, duration="-5m"), ("spec.duration",)),
    Invalid("number-duration", lambda n: minimal(n, duration=3600), ("spec.duration",)),
    Invalid("long-reason", lambda n: minimal(n, reason="x" * 257), ("spec.reason",)),
    Invalid("bad-topology-key", lambda n: minimal(n, topologyKey="a b"), ("spec.topologyKey",)),
    Invalid(
        "selector-operator",
        selector("workloadSelector", {"matchExpressions": [{"key": "a", "operator": "Near"}]}),
        ("spec.workloadSelector.matchExpressions[0].operator",),
    ),
    Invalid(
        "selector-in-without-values",
        selector("workloadSelector", {"matchExpressions": [{"key": "a", "operator": "In"}]}),
        ("spec.workloadSelector.matchExpressions[].values must be non-empty",),
    ),
    Invalid(
        "selector-exists-with-values",
        selector(
            "namespaceSelector",
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        ),
        ("spec.namespaceSelector.matchExpressions[].values must be empty",),
    ),
    Invalid(
        "selector-label-key",
        selector("namespaceSelector", {"matchLabels": {"not a key": "x"}}),
        ("spec.namespaceSelector.matchLabels keys must be valid label keys",),
    ),
    Invalid(
        "selector-not-a-map",
        selector("workloadSelector", {"matchLabels": ["tier=web"]}),
        ("spec.workloadSelector.matchLabels",),
    ),
    Invalid("unknown-field", lambda n: minimal(n, zones=["a"]), (".spec.zones: field not",)),
    Invalid("schedule-six-fields", lambda n: minimal(n, schedule="0 0 10 * * 1"),
            ("spec.schedule must be a cron schedule of five fields",)),
    Invalid("schedule-out-of-range", lambda n: minimal(n, schedule="61 10 * * 1"),
            ("spec.schedule must be a cron schedule",)),
    Invalid("schedule-words", lambda n: minimal(n, schedule="every monday"),
            ("spec.schedule must be a cron schedule",)),
    Invalid("schedule-macro", lambda n: minimal(n, schedule="@weekly"),
            ("spec.schedule must be a cron schedule",)),
    Invalid("schedule-number", lambda n: minimal(n, schedule=5), ("spec.schedule",)),
    Invalid("drill-too-long", lambda n: minimal(n, schedule="0 10 * * 1", duration="5h"),
            ("spec.duration of a drill", "at most 4h")),
    Invalid("drill-bad-duration", lambda n: minimal(n, schedule="0 10 * * 1", duration="1d"),
            ("spec.duration",)),
    Invalid("workload-and-selector", lambda n: one_workload(n, workloadSelector={}),
            ("spec.workload names one ZonalWorkload", "spec.workloadSelector")),
    Invalid("workload-and-namespace-selector", lambda n: one_workload(n, namespaceSelector=NOWHERE),
            ("spec.workload names one ZonalWorkload", "spec.namespaceSelector")),
    Invalid("workload-drill", lambda n: one_workload(n, schedule="0 10 * * 1"),
            ("spec.workload names one ZonalWorkload", "spec.schedule")),
    Invalid("workload-without-name", lambda n: one_workload(n, workload={"namespace": "a"}),
            ("spec.workload.name", "Required")),
    Invalid("workload-bad-name",
            lambda n: one_workload(n, workload={"namespace": "a", "name": "A_b"}),
            ("spec.workload.name",)),
]  # fmt: skip


def _send(cluster: LocalCluster, manifest: Manifest, *args: str) -> Any:
    text = yaml.safe_dump(manifest, sort_keys=False)
    return cluster.kubectl(
        *(args or ("apply", "--server-side")), "-f", "-", input=text, check=False
    )


@pytest.fixture(scope="module")
def created(cluster: LocalCluster, crd_installed: object) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        cluster.kubectl("delete", "zoneshift", name, "--wait=false", check=False)


@pytest.mark.parametrize("case", INVALID, ids=[case.id for case in INVALID])
def test_invalid_zoneshift_is_rejected_naming_the_field(
    cluster: LocalCluster, created: list[str], case: Invalid
) -> None:
    name = f"{PREFIX}-{case.id}"
    proc = _send(cluster, case.manifest(name))
    assert proc.returncode != 0, f"{case.id} was accepted:\n{proc.stdout}"
    for text in case.expect:
        assert text in proc.stderr, f"{case.id}: {text!r} not in:\n{proc.stderr}"
    assert cluster.kubectl("get", "zoneshift", name, check=False).returncode != 0


def test_minimal_zoneshift_is_accepted_and_defaulted(
    cluster: LocalCluster, created: list[str]
) -> None:
    name = f"{PREFIX}-minimal"
    created.append(name)
    proc = _send(cluster, minimal(name, duration="72h"))
    assert proc.returncode == 0, proc.stderr
    spec = json.loads(cluster.kubectl("get", "zoneshift", name, "-o", "json").stdout)["spec"]
    assert spec["topologyKey"] == "topology.kubernetes.io/zone"
    assert spec["reason"] == ""


def test_zone_is_immutable_and_duration_editable(cluster: LocalCluster, created: list[str]) -> None:
    name = f"{PREFIX}-edit"
    created.append(name)
    assert _send(cluster, minimal(name)).returncode == 0
    moved = _send(cluster, minimal(name, zone="zone-y"))
    assert moved.returncode != 0 and "spec.zone is immutable" in moved.stderr, moved.stderr
    extended = _send(cluster, minimal(name, duration="10h"))
    assert extended.returncode == 0, extended.stderr
    too_long = _send(cluster, minimal(name, duration="100h"))
    assert too_long.returncode != 0 and "spec.duration" in too_long.stderr


def test_a_drill_is_accepted_and_its_schedule_editable(
    cluster: LocalCluster, created: list[str]
) -> None:
    name = f"{PREFIX}-drill"
    created.append(name)
    proc = _send(cluster, minimal(name, schedule="0 10 * * MON", duration="4h"))
    assert proc.returncode == 0, proc.stderr
    edited = _send(cluster, minimal(name, schedule="30 2 1,15 * *", duration="30m"))
    assert edited.returncode == 0, edited.stderr
    spec = json.loads(cluster.kubectl("get", "zoneshift", name, "-o", "json").stdout)["spec"]
    assert spec["schedule"] == "30 2 1,15 * *"
    # A standing shift may still last 72h; a drill's run may not.
    too_long = _send(cluster, minimal(name, schedule="30 2 1,15 * *", duration="72h"))
    assert too_long.returncode != 0 and "spec.duration of a drill" in too_long.stderr


def test_a_shift_of_one_workload_is_accepted_and_its_workload_immutable(
    cluster: LocalCluster, created: list[str]
) -> None:
    name = f"{PREFIX}-one"
    created.append(name)
    proc = _send(cluster, one_workload(name))
    assert proc.returncode == 0, proc.stderr
    renamed = one_workload(name)
    renamed["spec"]["workload"]["name"] = "api"
    moved = _send(cluster, renamed)
    assert moved.returncode != 0 and "spec.workload is immutable" in moved.stderr, moved.stderr
    widened = _send(cluster, minimal(f"{PREFIX}-widen"))
    created.append(f"{PREFIX}-widen")
    assert widened.returncode == 0, widened.stderr
    narrowed = minimal(f"{PREFIX}-widen", workload={"namespace": PREFIX, "name": "web"})
    del narrowed["spec"]["namespaceSelector"]
    refused = _send(cluster, narrowed)
    assert refused.returncode != 0 and "spec.workload is immutable" in refused.stderr


@pytest.mark.parametrize("example", ["zoneshift.yaml", "zonedrill.yaml"])
def test_example_is_valid(cluster: LocalCluster, created: list[str], example: str) -> None:
    manifest = yaml.safe_load((REPO / "examples" / example).read_text())
    body = copy.deepcopy(manifest)
    proc = _send(cluster, body, "create", "--dry-run=server")
    assert proc.returncode == 0, proc.stderr


def test_explain_describes_every_field(cluster: LocalCluster, tmp_path: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        proc = cluster.kubectl(
            "--cache-dir", str(tmp_path), "explain", "zoneshifts", "--recursive", check=False
        )
        if proc.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert proc.returncode == 0, proc.stderr
    for field in (
        "zone",
        "topologyKey",
        "duration",
        "reason",
        "workloadSelector",
        "namespaceSelector",
        "expiresAt",
        "appliedWorkloads",
        "refused",
        "schedule",
        "nextRunAt",
        "runs",
        "capacityBackSeconds",
        "lowestReady",
    ):
        assert field in proc.stdout, field
    spec = cluster.kubectl("--cache-dir", str(tmp_path), "explain", "zoneshifts.spec.duration")
    out = " ".join(spec.stdout.split())
    for text in ("at most 72h", "status.expiresAt", "no clock", "Delete the ZoneShift"):
        assert text in out, f"{text!r} not in:\n{spec.stdout}"
    # Every field of spec and status has a description.
    for path in ("spec", "status"):
        explained = cluster.kubectl("--cache-dir", str(tmp_path), "explain", f"zoneshifts.{path}")
        assert "<empty>" not in explained.stdout, explained.stdout
