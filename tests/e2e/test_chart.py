"""The Helm chart and the plain manifests on the local cluster.

- `kubectl apply --server-side -f manifests/` works, and its pod is admitted by a namespace that
  enforces Pod Security "restricted";
- `helm install` serves the CRD and runs the operator Deployment (KWOK nodes run any pod, so it
  becomes Available whatever the image); `helm upgrade` changes the operator's flags;
  `helm uninstall` removes the operator and keeps the CRD with every ZonalWorkload;
- the RBAC is proven, not assumed: the real operator runs as a local process with a token of
  the chart's ServiceAccount, reconciles a ZonalWorkload to Ready without a single 403, and the
  same token is refused what the operator must not do, cluster-wide and with watchNamespaces;
- the chart's two replicas elect one leader on its Lease with the ServiceAccount's own rights
  (the Role limited to that Lease), the other stands by.

The tests run in order and share one release (`installed`); the last one uninstalls it.
Helpers meant for reuse (for example by a failover test running as the ServiceAccount):
`service_account_kubeconfig` and `operator_running`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from localcluster import LocalCluster, binaries
from tests.kit.e2e import get_json, wait_converged, wait_for

# The tests share one release and run in order: under xdist, on one worker (tests/conftest.py).
pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "zonal-operator"
MANIFESTS = REPO / "manifests" / "zonal-operator.yaml"
EXAMPLE = REPO / "examples" / "zonalworkload.yaml"
CRD_NAME = "zonalworkloads.zonal.dev"
SHIFT_CRD_NAME = "zoneshifts.zonal.dev"
RELEASE = "e2e"
FULLNAME = f"{RELEASE}-zonal-operator"  # <release>-<chart>: Deployment, ServiceAccount, roles
RELEASE_NAMESPACE = "zonal-chart"
# No such image is pulled: KWOK "runs" every scheduled pod without looking at it.
IMAGE_ARGS = ("--set", "image.repository=example.invalid/zonal-operator")
FORBIDDEN = re.compile(r"Forbidden|\b403\b|Not enough permissions")


# -- reusable helpers ----------------------------------------------------------------------------


def service_account_kubeconfig(
    cluster: LocalCluster, namespace: str, service_account: str, path: Path, duration: str = "2h"
) -> Path:
    """A kubeconfig for the cluster that authenticates as the ServiceAccount, with a token from
    the TokenRequest API (`kubectl create token`); same server and CA as the admin's."""
    token = cluster.kubectl(
        "create", "token", service_account, "-n", namespace, f"--duration={duration}"
    ).stdout.strip()
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": service_account, "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = service_account
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


@contextlib.contextmanager
def operator_running(
    kubeconfig: Path, log_path: Path, *extra_args: str
) -> Iterator[subprocess.Popen[bytes]]:
    """The real operator (`zonal-operator run`) as a local process using `kubeconfig`, without
    metrics or liveness endpoints, electing a leader on the chart's Lease (the release's
    namespace and full name, as the chart's pods do); stopped with SIGTERM (then SIGKILL)."""
    exe = Path(sys.executable).parent / "zonal-operator"
    cmd = [str(exe), "run", "--kubeconfig", str(kubeconfig), "--metrics-port", "0"]
    cmd += ["--leader-election-namespace", RELEASE_NAMESPACE, "--leader-election-name", FULLNAME]
    cmd += ["--liveness", "", *extra_args]
    # No other credentials to fall back on: no $KUBECONFIG, no in-cluster service account.
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def other_operators_frozen() -> Iterator[None]:
    """Freeze (SIGSTOP) any `zonal-operator run` this test session started elsewhere, such as
    conftest's session `operator`: running as admin, it would race the ServiceAccount's operator
    for the same objects and prove nothing about the ServiceAccount. Resumed (SIGCONT) after."""
    frozen: list[int] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("PPid", "0")) == os.getpid() and any(
            a.endswith(b"zonal-operator") for a in cmdline[:2]
        ):
            os.kill(int(proc.name), signal.SIGSTOP)
            frozen.append(int(proc.name))
    try:
        yield
    finally:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def terminating_namespaces_gone(cluster: LocalCluster, timeout: float = 180) -> None:
    """Wait until no namespace is being deleted. Earlier tests leave their namespaces
    terminating, and an operator still reconciling a workload there gets 403s that have nothing
    to do with RBAC ("unable to create new content in namespace ... being terminated")."""
    wait_for(
        lambda: (
            not [
                ns["metadata"]["name"]
                for ns in get_json(cluster, "namespaces")["items"]
                if ns["status"].get("phase") == "Terminating"
            ]
        ),
        timeout=timeout,
        what="terminating namespaces to be gone",
    )


def kubectl_as(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binaries.find("kubectl")), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def can_i(kubeconfig: Path, *args: str) -> bool:
    result = kubectl_as(kubeconfig, "auth", "can-i", *args)
    assert result.stdout.strip() in ("yes", "no"), result.stderr
    return result.stdout.strip() == "yes"


def workload_ready(cluster: LocalCluster, namespace: str, name: str = "web") -> bool:
    obj = get_json(cluster, "zonalworkload", name, "-n", namespace)
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def zone_deployments(cluster: LocalCluster, namespace: str) -> list[str]:
    items = get_json(cluster, "deployments", "-n", namespace, "-l", "zonal.dev/workload=web")
    return sorted(d["metadata"]["name"] for d in items["items"])


# -- fixtures ------------------------------------------------------------------------------------


class Helm:
    def __init__(self, cluster: LocalCluster, home: Path) -> None:
        self.cluster = cluster
        self.env = {
            **os.environ,
            **{f"HELM_{d}_HOME": str(home / d) for d in ("CACHE", "CONFIG", "DATA")},
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(binaries.find("helm")), "--kubeconfig", str(self.cluster.kubeconfig), *args]
        result = subprocess.run(
            cmd, capture_output=True, text=True, check=False, env=self.env, timeout=300
        )
        if check:
            assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}"
        return result

    def install(self, *args: str) -> None:
        self("upgrade", "--install", RELEASE, str(CHART), "-n", RELEASE_NAMESPACE, *IMAGE_ARGS,
             "--wait", "--timeout", "120s", *args)  # fmt: skip


@pytest.fixture(scope="module")
def helm(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(cluster, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def release_namespace(cluster: LocalCluster, helm: Helm) -> Iterator[str]:
    """The release's namespace, enforcing Pod Security "restricted"."""
    cluster.kubectl("create", "namespace", RELEASE_NAMESPACE)
    cluster.kubectl(
        "label", "namespace", RELEASE_NAMESPACE,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )  # fmt: skip
    yield RELEASE_NAMESPACE
    helm("uninstall", RELEASE, "-n", RELEASE_NAMESPACE, "--wait", check=False)
    cluster.kubectl("delete", "namespace", RELEASE_NAMESPACE, "--wait=false", check=False)


def adopt_crd(cluster: LocalCluster, release: str, namespace: str) -> None:
    """Let the release take over a CRD that was applied without Helm (docs/install.md): Helm
    adopts an existing object only if it carries the release's ownership metadata."""
    for name in (CRD_NAME, SHIFT_CRD_NAME):
        if cluster.kubectl("get", "crd", name, check=False).returncode != 0:
            continue
        cluster.kubectl(
            "annotate", "--overwrite", "crd", name,
            f"meta.helm.sh/release-name={release}", f"meta.helm.sh/release-namespace={namespace}",
        )  # fmt: skip
        cluster.kubectl("label", "--overwrite", "crd", name, "app.kubernetes.io/managed-by=Helm")


@pytest.fixture(scope="module")
def installed(cluster: LocalCluster, helm: Helm, release_namespace: str) -> str:
    # Another test module (conftest's crd_installed) may have applied the CRD already.
    adopt_crd(cluster, RELEASE, release_namespace)
    helm.install()
    return release_namespace


@pytest.fixture
def sa_kubeconfig(cluster: LocalCluster, installed: str, tmp_path: Path) -> Path:
    return service_account_kubeconfig(cluster, installed, FULLNAME, tmp_path / "sa.kubeconfig")


def deployment_args(cluster: LocalCluster, namespace: str) -> list[str]:
    deployment = get_json(cluster, "deployment", FULLNAME, "-n", namespace)
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def wait_available(cluster: LocalCluster, namespace: str, name: str) -> None:
    cluster.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=120s")


# -- tests, in order -----------------------------------------------------------------------------


def test_manifests_apply_server_side(cluster: LocalCluster, tmp_path: Path) -> None:
    """The documented `kubectl apply --server-side -f manifests/`; then everything but the CRD
    is deleted again (the CRD stays, as `helm uninstall` would leave it)."""
    cluster.kubectl("apply", "--server-side", "-f", str(MANIFESTS.parent))
    try:
        namespace = get_json(cluster, "namespace", "zonal-system")
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        wait_available(cluster, "zonal-system", "zonal-operator")
        pods = get_json(cluster, "pods", "-n", "zonal-system")["items"]
        assert [p["status"]["phase"] for p in pods] == ["Running", "Running"]
        wait_for(lambda: crd_established(cluster), timeout=60, what="CRD Established")
    finally:
        docs = [d for d in yaml.safe_load_all(MANIFESTS.read_text()) if d]
        rest = [d for d in docs if d["kind"] != "CustomResourceDefinition"]
        without_crd = tmp_path / "without-crd.yaml"
        without_crd.write_text(yaml.safe_dump_all(rest))
        cluster.kubectl("delete", "-f", str(without_crd), "--wait=false", check=False)


def crd_established(cluster: LocalCluster) -> bool:
    crd = get_json(cluster, "crd", CRD_NAME)
    conditions = crd.get("status", {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def test_install_serves_crd_and_runs_operator(
    cluster: LocalCluster, helm: Helm, installed: str
) -> None:
    status = json.loads(helm("status", RELEASE, "-n", installed, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    wait_for(lambda: crd_established(cluster), timeout=60, what="CRD Established")
    crd = get_json(cluster, "crd", CRD_NAME)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE
    resources = cluster.kubectl("api-resources", "--api-group=zonal.dev", "-o", "name").stdout
    assert sorted(resources.split()) == [CRD_NAME, SHIFT_CRD_NAME]
    cluster.kubectl("get", "zs")  # the ZoneShift short name too
    cluster.kubectl("get", "zw", "-A")  # the short name is served
    wait_available(cluster, installed, FULLNAME)
    assert deployment_args(cluster, installed)[:3] == ["run", "--log-format=json", "--workers=32"]
    sa = get_json(cluster, "serviceaccount", FULLNAME, "-n", installed)
    assert sa["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
    get_json(cluster, "service", f"{FULLNAME}-metrics", "-n", installed)


def test_operator_pod_is_admitted_under_restricted_pod_security(
    cluster: LocalCluster, installed: str
) -> None:
    labels = get_json(cluster, "namespace", installed)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    # The namespace does enforce: a pod without the restricted securityContext is refused...
    refused = cluster.kubectl(
        "run", "unrestricted", "-n", installed, "--image=example.invalid/x", "--dry-run=server",
        check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr
    # ...and the operator's was admitted: its ReplicaSet made a pod, without FailedCreate.
    selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=zonal-operator"
    pods = get_json(cluster, "pods", "-n", installed, "-l", selector)["items"]
    assert [p["status"]["phase"] for p in pods] == ["Running", "Running"]
    # Spread over zones (topologySpreadConstraints, DoNotSchedule).
    zones = {
        get_json(cluster, "node", p["spec"]["nodeName"])["metadata"]["labels"][
            "topology.kubernetes.io/zone"
        ]
        for p in pods
    }
    assert len(zones) == 2, zones
    events = get_json(cluster, "events", "-n", installed)["items"]
    assert not [e for e in events if e["reason"] == "FailedCreate"]


@pytest.mark.usefixtures("restore_zones")
def test_service_account_runs_the_operator_cluster_wide(
    cluster: LocalCluster, namespace: str, sa_kubeconfig: Path, tmp_path: Path
) -> None:
    log = tmp_path / "operator.log"
    terminating_namespaces_gone(cluster)
    with other_operators_frozen(), operator_running(sa_kubeconfig, log):
        cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", str(EXAMPLE))
        wait_for(
            lambda: workload_ready(cluster, namespace),
            timeout=90,
            interval=1,
            what=f"ZonalWorkload web Ready (operator log: {log})",
        )
        # The whole failover path on the chart's credentials: read nodes, rescale, report.
        cluster.zone_down("zone-a")
        wait_converged(
            cluster, namespace, "web", {"zone-a": 0, "zone-b": 5, "zone-c": 4}, timeout=180
        )
    assert zone_deployments(cluster, namespace) == ["web-zone-a", "web-zone-b", "web-zone-c"]
    text = log.read_text()
    assert "creating Deployment" in text
    assert not FORBIDDEN.search(text), text
    assert "cannot list node Leases" not in text, text

    whoami = kubectl_as(sa_kubeconfig, "auth", "whoami", "-o", "json")
    username = json.loads(whoami.stdout)["status"]["userInfo"]["username"]
    assert username == f"system:serviceaccount:{RELEASE_NAMESPACE}:{FULLNAME}"
    # What the operator needs, and nothing more.
    assert can_i(sa_kubeconfig, "create", "deployments.apps", "-n", namespace)
    assert can_i(
        sa_kubeconfig, "patch", "zonalworkloads.zonal.dev", "--subresource=status",
        "-n", namespace,
    )  # fmt: skip
    assert can_i(sa_kubeconfig, "watch", "nodes")
    # ZoneShifts: read, and their status patched; people write them.
    assert can_i(sa_kubeconfig, "watch", "zoneshifts.zonal.dev")
    assert can_i(sa_kubeconfig, "patch", "zoneshifts.zonal.dev", "--subresource=status")
    # operator.autoShift (on by default): automatic shifts of a gray-failed zone are created,
    # and the operator's own deleted once ended.
    assert can_i(sa_kubeconfig, "create", "zoneshifts.zonal.dev")
    assert can_i(sa_kubeconfig, "delete", "zoneshifts.zonal.dev")
    assert can_i(sa_kubeconfig, "watch", "namespaces")
    # The heartbeat verdict: the node Leases, read-only, in their namespace only.
    assert can_i(sa_kubeconfig, "watch", "leases.coordination.k8s.io", "-n", "kube-node-lease")
    assert can_i(sa_kubeconfig, "get", "leases.coordination.k8s.io", "-n", "kube-node-lease")
    # Spread placement: stranded pods are deleted, surplus pods evicted.
    assert can_i(sa_kubeconfig, "delete", "pods", "-n", namespace)
    assert can_i(sa_kubeconfig, "create", "pods", "--subresource=eviction", "-n", namespace)
    # Leader election: its own Lease in the release namespace, and no other.
    lease = f"leases.coordination.k8s.io/{FULLNAME}"
    for verb in ("get", "update", "watch", "list"):
        assert can_i(sa_kubeconfig, verb, lease, "-n", RELEASE_NAMESPACE), verb
    assert can_i(sa_kubeconfig, "create", "leases.coordination.k8s.io", "-n", RELEASE_NAMESPACE)
    # The operator took the Lease, and released it when it stopped.
    spec = get_json(cluster, "lease", FULLNAME, "-n", RELEASE_NAMESPACE)["spec"]
    assert spec["leaseDurationSeconds"] == 1 and not spec.get("holderIdentity"), spec
    for denied in (
        ("get", "secrets", "-n", namespace),
        ("list", "secrets", "--all-namespaces"),
        ("patch", "nodes"),
        ("delete", "nodes"),
        ("update", "leases.coordination.k8s.io", "-n", "kube-node-lease"),
        ("delete", "leases.coordination.k8s.io", "-n", "kube-node-lease"),
        ("get", "leases.coordination.k8s.io", "-n", "kube-system"),
        ("create", "zonalworkloads.zonal.dev", "-n", namespace),
        ("update", "zoneshifts.zonal.dev"),
        ("patch", "zoneshifts.zonal.dev"),
        ("update", "zoneshifts.zonal.dev", "--subresource=status"),
        ("update", "zonalworkloads.zonal.dev", "-n", namespace),
        ("create", "pods", "-n", namespace),
        ("update", "pods", "-n", namespace),
        ("create", "clusterroles.rbac.authorization.k8s.io"),
        ("update", "customresourcedefinitions.apiextensions.k8s.io"),
        ("update", "leases.coordination.k8s.io/other", "-n", RELEASE_NAMESPACE),
        ("list", "leases.coordination.k8s.io", "-n", RELEASE_NAMESPACE),
        ("delete", f"leases.coordination.k8s.io/{FULLNAME}", "-n", RELEASE_NAMESPACE),
        ("update", "leases.coordination.k8s.io", "-n", "kube-node-lease"),
        ("create", "leases.coordination.k8s.io", "-n", namespace),
    ):
        assert not can_i(sa_kubeconfig, *denied), denied
    # Not only on paper: the attempts fail with 403 Forbidden.
    secrets = kubectl_as(sa_kubeconfig, "get", "secrets", "-n", namespace)
    assert secrets.returncode != 0 and "Forbidden" in secrets.stderr, secrets.stderr
    node = get_json(cluster, "nodes")["items"][0]["metadata"]["name"]
    patch = kubectl_as(
        sa_kubeconfig, "patch", "node", node, "--type=merge",
        "-p", '{"metadata":{"labels":{"zonal.dev/test":"x"}}}',
    )  # fmt: skip
    assert patch.returncode != 0 and "Forbidden" in patch.stderr, patch.stderr


def test_upgrade_changes_the_operator_flags(
    cluster: LocalCluster, helm: Helm, installed: str
) -> None:
    before = get_json(cluster, "deployment", FULLNAME, "-n", installed)["metadata"]["generation"]
    helm.install("--set", "operator.workers=7", "--set", "operator.resyncSeconds=120")
    args = deployment_args(cluster, installed)
    assert "--workers=7" in args and "--resync-seconds=120" in args
    assert "--workers=16" not in args
    after = get_json(cluster, "deployment", FULLNAME, "-n", installed)["metadata"]["generation"]
    assert after > before
    wait_available(cluster, installed, FULLNAME)
    assert crd_established(cluster)
    history = json.loads(helm("history", RELEASE, "-n", installed, "-o", "json").stdout)
    assert [h["status"] for h in history][-1] == "deployed" and len(history) >= 2


def test_service_account_runs_the_operator_in_watched_namespaces(
    cluster: LocalCluster, helm: Helm, namespace: str, sa_kubeconfig: Path, tmp_path: Path
) -> None:
    helm.install("--set", f"watchNamespaces={{{namespace}}}")
    try:
        assert f"--namespace={namespace}" in deployment_args(cluster, RELEASE_NAMESPACE)
        # Namespaced rights only where watched; elsewhere (here: the release's namespace) none.
        assert can_i(sa_kubeconfig, "create", "deployments.apps", "-n", namespace)
        assert not can_i(sa_kubeconfig, "list", "deployments.apps", "-n", RELEASE_NAMESPACE)
        assert not can_i(sa_kubeconfig, "list", "deployments.apps", "--all-namespaces")
        log = tmp_path / "operator.log"
        with (
            other_operators_frozen(),
            operator_running(sa_kubeconfig, log, "--namespace", namespace),
        ):
            cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", str(EXAMPLE))
            wait_for(
                lambda: workload_ready(cluster, namespace),
                timeout=90,
                what=f"ZonalWorkload web Ready (operator log: {log})",
            )
        text = log.read_text()
        assert not FORBIDDEN.search(text), text
    finally:
        helm.install()  # back to cluster-wide, default values
    assert not any(a.startswith("--namespace") for a in deployment_args(cluster, RELEASE_NAMESPACE))


def test_two_replicas_elect_one_leader_with_the_chart_rights(
    cluster: LocalCluster, helm: Helm, namespace: str, sa_kubeconfig: Path, tmp_path: Path
) -> None:
    """Two operators on the ServiceAccount's token, as the chart's two pods: one takes the
    Lease (created, read, watched by name and updated within the Role limited to it), the
    other stands by, and the workload is reconciled without a 403."""
    logs = [tmp_path / "replica-0.log", tmp_path / "replica-1.log"]
    terminating_namespaces_gone(cluster)
    with (
        other_operators_frozen(),
        operator_running(sa_kubeconfig, logs[0], "--identity", "replica-0"),
        operator_running(sa_kubeconfig, logs[1], "--identity", "replica-1"),
    ):
        cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", str(EXAMPLE))
        wait_for(
            lambda: workload_ready(cluster, namespace),
            timeout=90,
            what=f"ZonalWorkload web Ready (logs: {logs})",
        )
        holder = get_json(cluster, "lease", FULLNAME, "-n", RELEASE_NAMESPACE)["spec"][
            "holderIdentity"
        ]
        assert holder in ("replica-0", "replica-1")
        leaders = [log for log in logs if "became the leader" in log.read_text()]
        assert len(leaders) == 1, [log.read_text() for log in logs]
    for log in logs:
        assert not FORBIDDEN.search(log.read_text()), log.read_text()
        assert "leader election failed" not in log.read_text()


def test_uninstall_keeps_the_crd_and_the_workloads(
    cluster: LocalCluster, helm: Helm, installed: str, namespace: str
) -> None:
    cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", str(EXAMPLE))
    helm("uninstall", RELEASE, "-n", installed, "--wait")
    for kind, name, ns in (
        ("deployment", FULLNAME, installed),
        ("serviceaccount", FULLNAME, installed),
        ("clusterrole", FULLNAME, None),
        ("clusterrolebinding", FULLNAME, None),
    ):
        scope = ("-n", ns) if ns else ()
        gone = cluster.kubectl("get", kind, name, *scope, check=False)
        assert gone.returncode != 0 and "NotFound" in gone.stderr, (kind, gone.stdout)
    assert crd_established(cluster)
    get_json(cluster, "zonalworkload", "web", "-n", namespace)  # still there
    # The kept CRD still carries this release's ownership: installing the release again
    # adopts it.
    helm.install()
    wait_available(cluster, installed, FULLNAME)
    assert (
        get_json(cluster, "crd", CRD_NAME)["metadata"]["annotations"]["meta.helm.sh/release-name"]
        == RELEASE
    )
