"""Checks of everything shipped that needs no cluster: the Helm chart (lint, strict kubeconform
validation against offline schemas, what it renders), the generated files derived from it, the
Dockerfile, the kind configuration and the DRY_RUN path of the ship targets.

Needs the helm and kubeconform binaries of `make tools`, and Go for the schemas (hack/
kubeconform_schemas.py reads them from the Kubernetes and Prometheus Operator Go modules).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

import kubeconform_schemas
import render_manifests
from localcluster import binaries

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "zonal-operator"
ALL_ON = CHART / "ci" / "all-on-values.yaml"
CRD_SOURCES = sorted((REPO / "crds").glob("*.yaml"))
KIND_CONFIG = REPO / "hack" / "kind" / "kind-config.yaml"

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Helm with its own, empty configuration: nothing of the user's leaks in or out."""
    home = tmp_path_factory.mktemp("helm-home")
    return {**os.environ, **{f"HELM_{d}_HOME": str(home / d) for d in ("CACHE", "CONFIG", "DATA")}}


def helm(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(binaries.find("helm")), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, f"helm {shlex.join(args)}:\n{result.stderr}"
    return result


def render(env: dict[str, str], *args: str) -> str:
    return helm(env, "template", "zonal-operator", str(CHART), "-n", "zonal-system", *args).stdout


# libyaml's loader when PyYAML has it: the rendered CRD is 200 KB.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def docs(text: str) -> list[Doc]:
    return [d for d in yaml.load_all(text, Loader=LOADER) if d]


def by_kind(items: list[Doc], kind: str) -> list[Doc]:
    return [d for d in items if d["kind"] == kind]


def container(items: list[Doc]) -> Doc:
    [deployment] = by_kind(items, "Deployment")
    [operator] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(operator)


def rules(role: Doc) -> set[tuple[str, str, tuple[str, ...]]]:
    return {
        (group, resource, tuple(rule["verbs"]))
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


# -- lint and schema validation ------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, ALL_ON], ids=["default", "all-on"])
def test_helm_lint_strict(helm_env: dict[str, str], values: Path | None) -> None:
    args = ["-f", str(values)] if values else []
    result = helm(helm_env, "lint", "--strict", str(CHART), *args)
    assert "0 chart(s) failed" in result.stdout


@pytest.fixture(scope="module")
def rendered_dir(helm_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rendered")
    (out / "default.yaml").write_text(render(helm_env))
    (out / "all-on.yaml").write_text(render(helm_env, "-f", str(ALL_ON)))
    return out


@pytest.fixture(scope="module")
def schema_dir(rendered_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Strict JSON schemas for every built-in kind, the ServiceMonitor, and the CRDs the chart
    renders (all-on renders every CRD it has)."""
    out = tmp_path_factory.mktemp("schemas")
    kubeconform_schemas.generate(out, [rendered_dir / "all-on.yaml"])
    return out


def kubeconform(schema_dir: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    location = f"{schema_dir}/{kubeconform_schemas.SCHEMA_LOCATION}"
    cmd = [str(binaries.find("kubeconform")), "-strict", "-summary", "-schema-location", location]
    return subprocess.run(
        [*cmd, *map(str, files)], capture_output=True, text=True, check=False, timeout=120
    )


def test_kubeconform_strict_accepts_chart_manifests_and_example(
    rendered_dir: Path, schema_dir: Path
) -> None:
    files = [
        rendered_dir / "default.yaml",
        rendered_dir / "all-on.yaml",
        render_manifests.MANIFESTS,
        REPO / "examples" / "zonalworkload.yaml",
        REPO / "examples" / "zoneshift.yaml",
    ]
    result = kubeconform(schema_dir, *files)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(
        r"Summary: (\d+) resources? found .* Invalid: 0, Errors: 0, Skipped: 0", result.stdout
    )
    assert summary, result.stdout
    expected = sum(len(docs(path.read_text())) for path in files)
    assert int(summary.group(1)) == expected


def test_kubeconform_schemas_are_strict(schema_dir: Path, tmp_path: Path) -> None:
    """The check above means something: an unknown field is an error in each kind of schema
    (built-ins, our CRD, a CRD from the Prometheus Operator)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec: {containers: [{name: c, image: i, imagePullPolicyy: Always}]}
---
apiVersion: zonal.dev/v1alpha1
kind: ZonalWorkload
metadata: {name: x}
spec:
  replicaz: 3
  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: x}
spec: {selector: {}, endpoints: [{port: metrics, intervall: 10s}]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: x}
spec: {minAvailablez: 1}
"""
    )
    result = kubeconform(schema_dir, bad)
    assert result.returncode == 1
    for field in ("imagePullPolicyy", "replicaz", "intervall", "minAvailablez"):
        assert f"'{field}' not allowed" in result.stdout, result.stdout
    assert "Invalid: 4" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--set", "replicaCount=2", "--set", "leaderElection.enabled=false"],
        ["--set", "leaderElection.renewDeadline=15"],
        ["--set", "leaderElection.retryPeriod=10"],
        ["--set", "topologySpread.whenUnsatisfiable=Sometimes"],
        ["--set", "bogus=1"],
        ["--set", "operator.workerz=3"],
        ["--set", "operator.logFormat=xml"],
        ["--set", "watchNamespaces={Team_A}"],
        ["--set", "metrics.port=8081"],
        # Whole seconds: the operator would send timeoutSeconds=300.5, which the API refuses.
        ["--set-json", "operator.watchTimeout=300.5"],
        ["--set", "metrics.service.enabled=false", "--set", "metrics.serviceMonitor.enabled=true"],
    ],
    ids=lambda args: " ".join(args[1::2]),
)
def test_values_are_checked(helm_env: dict[str, str], args: list[str]) -> None:
    result = helm(helm_env, "template", "x", str(CHART), *args, check=False)
    assert result.returncode != 0, result.stdout[:500]


# -- what the chart renders ----------------------------------------------------------------------


def test_crd_is_the_one_from_crds_dir_plus_labels_and_keep(helm_env: dict[str, str]) -> None:
    crds = [d for d in docs(render(helm_env)) if d["kind"] == "CustomResourceDefinition"]
    sources = [doc for path in CRD_SOURCES for doc in docs(path.read_text())]
    assert sorted(c["metadata"]["name"] for c in crds) == [
        "zonalworkloads.zonal.dev",
        "zoneshifts.zonal.dev",
    ]
    assert len(crds) == len(sources)
    by_name = {s["metadata"]["name"]: s for s in sources}
    for crd in crds:
        meta = crd.pop("metadata")
        source = by_name[meta["name"]]
        assert meta["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert meta["labels"]["app.kubernetes.io/name"] == "zonal-operator"
        # Helm's fromYaml/toYaml round trip changes nothing else (numbers stay integers, etc.).
        assert {**crd, "metadata": source["metadata"]} == source
    without = docs(render(helm_env, "--set", "crds.install=false"))
    assert not by_kind(without, "CustomResourceDefinition")
    assert by_kind(without, "Deployment")


def test_packaged_chart_carries_the_crd(helm_env: dict[str, str], tmp_path: Path) -> None:
    """`helm package` keeps files/crds/ (not .helmignored) and renders the same from the .tgz."""
    helm(helm_env, "package", str(CHART), "--destination", str(tmp_path))
    [package] = tmp_path.glob("zonal-operator-*.tgz")
    packaged = helm(helm_env, "template", "zonal-operator", str(package), "-n", "zonal-system")
    assert packaged.stdout == render(helm_env)
    assert by_kind(docs(packaged.stdout), "CustomResourceDefinition")


def test_chart_crd_copy_is_current() -> None:
    """charts/zonal-operator/files/crds/ is a byte copy of crds/ (make chart-crd)."""
    assert render_manifests.chart_crds(), "no CRDs in crds/"
    problems = render_manifests.stale_files(render_manifests.chart_crds(), "crd")
    assert not problems, "\n".join(problems) + "\nrun `make chart-crd`"


def test_manifests_are_current() -> None:
    """manifests/ is what the chart renders with default values (make manifests)."""
    problems = render_manifests.stale_files(render_manifests.expected("manifests"), "manifests")
    assert not problems, "\n".join(problems) + "\nrun `make manifests`"


def test_manifests_namespace_comes_first_and_is_restricted() -> None:
    items = docs(render_manifests.MANIFESTS.read_text())
    assert items[0]["kind"] == "Namespace"
    assert items[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    namespaced = [d for d in items if d["kind"] in ("Deployment", "ServiceAccount", "Service")]
    assert {d["metadata"]["namespace"] for d in namespaced} == {"zonal-system"}


CLUSTER_SCOPED_READS = {
    ("", "nodes", ("get", "list", "watch")),
    ("apiextensions.k8s.io", "customresourcedefinitions", ("get", "list", "watch")),
    # ZoneShifts are people's: read, and their status written, nothing else.
    ("zonal.dev", "zoneshifts", ("get", "list", "watch")),
    ("zonal.dev", "zoneshifts/status", ("patch",)),
    # For the ZoneShifts' namespaceSelector (and --namespace globs).
    ("", "namespaces", ("get", "list", "watch")),
    # To check a headroom setting's PriorityClass (spec.failover.headroom).
    ("scheduling.k8s.io", "priorityclasses", ("get", "list", "watch")),
}
# Automatic shifts of a gray-failed zone (operator.autoShift): created, deleted once ended.
AUTO_SHIFTS = {("zonal.dev", "zoneshifts", ("create", "delete"))}
# The zone-loss forecast (operator.zoneLossForecast): every pod bound to a node, read only.
FORECAST = {("", "pods", ("list", "watch"))}
# The heartbeat verdict's Role, in kube-node-lease only.
NODE_LEASES = {("coordination.k8s.io", "leases", ("get", "list", "watch"))}
# The leader-election Role in the release namespace: the operator's own Lease, and the
# LeaderElected event on it.
LEASE_RULES = [
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "resourceNames": ["zonal-operator"],
        "verbs": ["get", "list", "watch", "update"],
    },
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]
NAMESPACED = {
    ("zonal.dev", "zonalworkloads", ("get", "list", "watch")),
    ("zonal.dev", "zonalworkloads/status", ("get", "patch", "update")),
    ("zonal.dev", "zonalworkloads/finalizers", ("update",)),
    ("apps", "deployments", ("get", "list", "watch", "create", "update", "patch", "delete")),
    ("policy", "poddisruptionbudgets", ("list", "watch", "create", "update", "delete")),
    ("", "pods", ("get", "list", "watch", "delete")),
    ("", "pods/eviction", ("create",)),
    ("", "events", ("create", "patch")),
    ("events.k8s.io", "events", ("create", "patch")),
}


def test_rbac_cluster_wide_is_exactly_the_documented_rules(helm_env: dict[str, str]) -> None:
    items = docs(render(helm_env))
    [role] = by_kind(items, "ClusterRole")
    assert rules(role) == CLUSTER_SCOPED_READS | AUTO_SHIFTS | FORECAST | NAMESPACED
    [binding] = by_kind(items, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "zonal-operator", "namespace": "zonal-system"}
    ]
    roles = {r["metadata"]["namespace"]: r for r in by_kind(items, "Role")}
    assert sorted(roles) == ["kube-node-lease", "zonal-system"]
    assert roles["zonal-system"]["rules"] == LEASE_RULES
    assert rules(roles["kube-node-lease"]) == NODE_LEASES
    bindings = {b["metadata"]["namespace"]: b for b in by_kind(items, "RoleBinding")}
    for namespace, role in roles.items():
        assert bindings[namespace]["roleRef"]["name"] == role["metadata"]["name"]
        assert bindings[namespace]["subjects"] == binding["subjects"]
    without = docs(
        render(helm_env, "--set", "leaderElection.enabled=false", "--set", "replicaCount=1")
    )
    assert [r["metadata"]["namespace"] for r in by_kind(without, "Role")] == ["kube-node-lease"]
    off = docs(render(helm_env, "--set", "operator.nodeHeartbeats=false"))
    assert [r["metadata"]["namespace"] for r in by_kind(off, "Role")] == ["zonal-system"]
    assert "--no-node-heartbeats" in container(off)["args"]
    manual = docs(render(helm_env, "--set", "operator.autoShift=false"))
    assert rules(by_kind(manual, "ClusterRole")[0]) == CLUSTER_SCOPED_READS | FORECAST | NAMESPACED
    assert "--no-auto-shift" in container(manual)["args"]
    blind = docs(render(helm_env, "--set", "operator.zoneLossForecast=false"))
    assert (
        rules(by_kind(blind, "ClusterRole")[0]) == CLUSTER_SCOPED_READS | AUTO_SHIFTS | NAMESPACED
    )
    assert "--no-zone-loss-forecast" in container(blind)["args"]


def test_rbac_namespaced_mode_grants_namespaced_rules_per_namespace(
    helm_env: dict[str, str],
) -> None:
    items = docs(render(helm_env, "-f", str(ALL_ON)))
    [role] = by_kind(items, "ClusterRole")
    assert rules(role) == CLUSTER_SCOPED_READS | AUTO_SHIFTS | FORECAST
    roles = by_kind(items, "Role")
    namespaces = sorted(r["metadata"]["namespace"] for r in roles)
    assert namespaces == ["kube-node-lease", "team-a", "team-b", "zonal-system"]
    roles = [r for r in roles if r["metadata"]["namespace"] != "kube-node-lease"]
    for r in roles:
        if r["metadata"]["namespace"] == "zonal-system":  # the Lease's, in the release namespace
            assert r["rules"] == [
                *LEASE_RULES[:1],
                {**LEASE_RULES[1], "resourceNames": ["zonal-ci-leader"]},
                *LEASE_RULES[2:],
            ]
        else:
            assert rules(r) == NAMESPACED
    bindings = by_kind(items, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == [
        "kube-node-lease",
        "team-a",
        "team-b",
        "zonal-system",
    ]
    args = container(items)["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args


@pytest.mark.parametrize("values", [None, ALL_ON], ids=["default", "all-on"])
def test_no_rbac_wildcards(helm_env: dict[str, str], values: Path | None) -> None:
    items = docs(render(helm_env, *(["-f", str(values)] if values else [])))
    for role in by_kind(items, "ClusterRole") + by_kind(items, "Role"):
        for rule in role["rules"]:
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], (role["metadata"]["name"], rule)
            assert "nonResourceURLs" not in rule
            # Names limit only the operator's own Lease (create cannot be limited by name).
            if "resourceNames" in rule:
                assert rule["resources"] == ["leases"]
                assert rule["verbs"] == ["get", "list", "watch", "update"]


def test_operator_pod_meets_restricted_pod_security(helm_env: dict[str, str]) -> None:
    items = docs(render(helm_env))
    [deployment] = by_kind(items, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container(items)["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container(items)["volumeMounts"]
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert deployment["spec"]["replicas"] == 2


def test_replicas_spread_over_zones_with_a_disruption_budget(helm_env: dict[str, str]) -> None:
    items = docs(render(helm_env))
    [deployment] = by_kind(items, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert pod["topologySpreadConstraints"] == [
        {
            "topologyKey": "topology.kubernetes.io/zone",
            "maxSkew": 1,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": selector},
            "matchLabelKeys": ["pod-template-hash"],
        }
    ]
    [pdb] = by_kind(items, "PodDisruptionBudget")
    assert pdb["spec"] == {"minAvailable": 1, "selector": {"matchLabels": selector}}
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container(items)["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    soft = docs(render(helm_env, "--set", "topologySpread.whenUnsatisfiable=ScheduleAnyway"))
    [constraint] = by_kind(soft, "Deployment")[0]["spec"]["template"]["spec"][
        "topologySpreadConstraints"
    ]
    assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
    single = docs(
        render(helm_env, "--set", "replicaCount=1", "--set", "leaderElection.enabled=false")
    )
    assert not by_kind(single, "PodDisruptionBudget")
    [recreate] = by_kind(single, "Deployment")
    assert recreate["spec"]["strategy"] == {"type": "Recreate"}
    assert "--no-leader-elect" in container(single)["args"]


def test_deployment_args_follow_values(helm_env: dict[str, str]) -> None:
    default = container(docs(render(helm_env)))
    assert default["args"] == [
        "run",
        "--log-format=json",
        "--workers=32",
        "--resync-seconds=600",
        "--status-delay-seconds=30",
        "--watch-timeout=300",
        "--headroom-image=registry.k8s.io/pause:3.10.2",
        "--node-heartbeats",
        "--auto-shift",
        "--auto-shift-duration=1h",
        "--zone-loss-forecast",
        "--zone-loss-forecast-seconds=15",
        "--metrics-port=8080",
        "--metrics-address=0.0.0.0",
        "--liveness=http://0.0.0.0:8081/healthz",
        "--leader-election-name=zonal-operator",
        "--leader-election-namespace=zonal-system",
        "--lease-duration=15",
        "--renew-deadline=10",
        "--retry-period=2",
    ]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert default[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8081, "protocol": "TCP"} in default["ports"]
    changed = container(
        docs(
            render(
                helm_env,
                *("--set", "operator.workers=9", "--set", "metrics.enabled=false"),
                *("--set", "leaderElection.leaseDuration=20", "--set", "extraArgs={--verbose}"),
                *("--set", "operator.headroomImage=local/pause:3.10.2"),
            )
        )
    )
    assert "--workers=9" in changed["args"]
    assert "--metrics-port=0" in changed["args"]
    assert "--lease-duration=20" in changed["args"]
    assert "--headroom-image=local/pause:3.10.2" in changed["args"]
    assert changed["args"][-1] == "--verbose"
    assert [p["name"] for p in changed["ports"]] == ["health"]


# -- Dockerfile, kind, make -----------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """(INSTRUCTION, arguments) per stage, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), rest.strip()))
    return stages


def test_dockerfile_is_multi_stage_non_root_and_runs_the_operator() -> None:
    stages = dockerfile_stages()
    assert len(stages) == 2
    build, final = stages
    assert build[0][1].endswith("AS build")
    instructions = dict(final)
    assert instructions["USER"] == "65532:65532"
    assert json.loads(instructions["ENTRYPOINT"]) == ["zonal-operator"]
    assert json.loads(instructions["CMD"]) == ["run", "--log-format=json"]
    copies = [args for inst, args in final if inst == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv"]
    final_runs = " ".join(args for inst, args in final if inst == "RUN")
    for tool in ("apt-get", "pip", "gcc", "build-essential"):
        assert tool not in final_runs
    # The base is pinned to a version (a digest cannot be looked up here; see the Dockerfile).
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.\d+-slim-\w+", (REPO / "Dockerfile").read_text())


def test_dockerignore_sends_only_what_the_wheel_needs() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert {"pyproject.toml", "README.md", "operator"} <= allowed
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'readme = "README.md"' in pyproject  # hatchling needs it to build the wheel


# Fields of kind's v1alpha4 Cluster and Node (sigs.k8s.io/kind pkg/apis/config/v1alpha4).
KIND_CLUSTER_FIELDS = {
    "kind",
    "apiVersion",
    "name",
    "nodes",
    "networking",
    "featureGates",
    "runtimeConfig",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
    "containerdConfigPatches",
    "containerdConfigPatchesJSON6902",
}
KIND_NODE_FIELDS = {
    "role",
    "image",
    "labels",
    "extraMounts",
    "extraPortMappings",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
}


def test_kind_config_has_two_workers_per_zone() -> None:
    config = yaml.safe_load(KIND_CONFIG.read_text())
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert set(config) <= KIND_CLUSTER_FIELDS
    nodes = config["nodes"]
    for node in nodes:
        assert set(node) <= KIND_NODE_FIELDS, node
        assert node["role"] in ("control-plane", "worker")
    roles = Counter(node["role"] for node in nodes)
    assert roles == {"control-plane": 1, "worker": 6}
    zones = Counter(
        node["labels"]["topology.kubernetes.io/zone"] for node in nodes if node["role"] == "worker"
    )
    assert zones == {"zone-a": 2, "zone-b": 2, "zone-c": 2}
    for node in nodes:
        for key, value in (node.get("labels") or {}).items():
            assert isinstance(key, str) and isinstance(value, str)


def make_dry_run(*targets: str) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", "-f", "hack/make/ship.mk", *targets, "DRY_RUN=1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "DOCKER": "false-docker-must-not-run"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_kind_targets_dry_run_print_the_workflow() -> None:
    out = make_dry_run("kind-up", "kind-load", "kind-deploy", "kind-down")
    commands = [line[2:] for line in out.splitlines() if line.startswith("+ ")]
    expected = [
        "hack/install-tools.sh kind",
        # The scripts decide online/offline when they run (hack/kind_offline.py).
        "KIND_CONFIG=hack/kind/kind-config.yaml",
        "hack/kind/up.sh",
        "IMAGE=zonal-operator:dev WEB_IMAGE=zonal-operator/web:dev",
        "hack/kind/load.sh",
        "apply --server-side -f hack/kind/namespace.yaml",
        "upgrade --install zonal-operator charts/zonal-operator --kube-context kind-zonal",
        "kind delete cluster --name zonal",
    ]
    position = 0
    for fragment in expected:
        found = next((i for i, c in enumerate(commands) if i >= position and fragment in c), None)
        assert found is not None, f"{fragment!r} not printed in order:\n{out}"
        position = found
    assert "image.pullPolicy=Never" in out


def test_manifests_check_target_passes() -> None:
    """`make manifests-check` (read-only) runs the same check as CI would."""
    make_dry_run("manifests-check")
