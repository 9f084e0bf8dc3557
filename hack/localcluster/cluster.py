"""Start, stop and break a local control plane whose nodes are simulated by KWOK.

The control plane is the real thing: etcd, kube-apiserver, kube-controller-manager (node
lifecycle, deployment, replicaset and garbage-collector controllers among the defaults) and
kube-scheduler, run as plain local processes the way envtest and `kwokctl --runtime binary` run
them. Nodes are Node objects labelled with a zone; one kwok process per zone plays their
kubelets (node Ready status, lease renewals, pods turning Running).

Outages happen the way they happen in production: `zone_down` freezes the zone's kwok process
(SIGSTOP), so its nodes stop renewing their leases and the real node lifecycle controller marks
them Unknown and taints them `node.kubernetes.io/unreachable`; `zone_up` resumes it (SIGCONT).
A single node goes down by being excluded from its zone's kwok (the label
`kwok.zonal.dev/outage=true` on the Node): its lease stops being renewed the same way.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import ssl
import string
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from localcluster import binaries
from localcluster.ports import free_port

ZONE_LABEL = "topology.kubernetes.io/zone"
OUTAGE_LABEL = "kwok.zonal.dev/outage"
STATE_FILE = "state.json"
KWOK_CONFIG = Path(__file__).resolve().parent / "kwok.yaml"
# Control-plane components, in start order (kwok processes come after, one per zone).
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


class ClusterError(RuntimeError):
    """A cluster operation could not be done; the message says why and what to do."""


@dataclass
class ClusterConfig:
    """How to build the cluster. Defaults match stock Kubernetes timing."""

    zones: int = 3
    nodes_per_zone: int = 3
    # Node lifecycle: how long a node may stay silent before it is marked Unknown (stock: 50s),
    # how often the controller checks, and the lease a kubelet holds (stock: 40s).
    node_monitor_grace_seconds: int = 50
    node_monitor_period_seconds: int = 5
    node_lease_seconds: int = 40
    # tolerationSeconds the API server adds for not-ready/unreachable (stock: 300s).
    default_toleration_seconds: int = 300
    # Client rate limits of the controller manager and scheduler (stock: 20 qps / 30 burst).
    controller_qps: int = 20
    controller_burst: int = 30
    # Workers of the deployment and ReplicaSet controllers (stock: 5 each). With thousands of
    # Deployments the stock 5 leave their statuses far behind their pods.
    controller_syncs: int = 5
    # Per-node allocatable, like a mid-size cloud VM.
    node_cpu: str = "8"
    node_memory: str = "32Gi"
    node_pods: int = 110
    audit_log: bool = False

    def zone_names(self) -> list[str]:
        if not 1 <= self.zones <= 26:
            raise ClusterError(f"zones must be between 1 and 26, not {self.zones}")
        return [f"zone-{letter}" for letter in string.ascii_lowercase[: self.zones]]


@dataclass
class ClusterState:
    """What a running cluster is, persisted in <state_dir>/state.json."""

    config: dict[str, Any]
    ports: dict[str, int]
    pids: dict[str, int]
    token: str
    # zone name -> number of nodes; zones can be added and removed after start-up.
    zones: dict[str, int] = field(default_factory=dict)
    down_zones: list[str] = field(default_factory=list)


def _node_name(zone: str, index: int) -> str:
    return f"kwok-{zone}-{index}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited child not yet reaped) is not alive.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


class LocalCluster:
    """One local cluster, identified by its state directory."""

    def __init__(self, state_dir: Path | str, config: ClusterConfig | None = None) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.config = config or ClusterConfig()

    # -- paths ---------------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def audit_log(self) -> Path:
        return self.logs_dir / "audit.log"

    def _state_path(self) -> Path:
        return self.state_dir / STATE_FILE

    def _load(self) -> ClusterState | None:
        try:
            raw = json.loads(self._state_path().read_text())
        except FileNotFoundError:
            return None
        return ClusterState(**raw)

    def _save(self, state: ClusterState) -> None:
        tmp = self._state_path().with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=2, sort_keys=True))
        tmp.replace(self._state_path())

    def _require(self) -> ClusterState:
        state = self._load()
        if state is None or not self.is_running():
            raise ClusterError(f"no cluster is running in {self.state_dir}: run `make cluster-up`")
        # Act on the cluster as it was started, whatever this object was built with.
        self.config = ClusterConfig(**state.config)
        return state

    # -- queries -------------------------------------------------------------------------------
    def is_running(self) -> bool:
        state = self._load()
        return state is not None and all(_alive(pid) for pid in state.pids.values())

    def zones(self) -> list[str]:
        return list(self._require().zones)

    def nodes_in_zone(self, zone: str) -> list[str]:
        state = self._require()
        if zone not in state.zones:
            raise ClusterError(f"unknown zone {zone!r}; zones are {', '.join(state.zones)}")
        return [_node_name(zone, i) for i in range(state.zones[zone])]

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster (text in, text out)."""
        cmd = [str(binaries.find("kubectl")), "--kubeconfig", str(self.kubeconfig), *args]
        result = subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise ClusterError(
                f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result

    # -- lifecycle -----------------------------------------------------------------------------
    def up(self, timeout: float = 180) -> bool:
        """Start the cluster. Returns False (and changes nothing) if it is already running."""
        if self.is_running():
            return False
        if self._load() is not None:
            # Leftovers of a cluster whose processes died: clear them before starting afresh.
            self.down()
        for name in (*COMPONENTS, "kubectl", "kwok"):
            binaries.find(name)  # fail early, with the hint, before anything starts
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        cfg = self.config
        zones = cfg.zone_names()
        ports: dict[str, int] = {}
        for name in ("etcd", "etcd-peer", "apiserver"):
            ports[name] = free_port(set(ports.values()))
        state = ClusterState(
            config=asdict(cfg),
            ports=ports,
            pids={},
            token=secrets.token_hex(16),
            zones=dict.fromkeys(zones, cfg.nodes_per_zone),
        )
        try:
            self._write_credentials(state)
            self._start(state, "etcd", self._etcd_args(state))
            self._wait_tcp(ports["etcd"], "etcd", timeout=30)
            self._start(state, "kube-apiserver", self._apiserver_args(state))
            self._wait_ready(state, timeout=90)
            self._trust_serving_certificate(state)
            self._start(state, "kube-controller-manager", self._controller_manager_args())
            self._start(state, "kube-scheduler", self._scheduler_args())
            self._create_nodes(state.zones)
            for zone in zones:
                self._start(state, f"kwok-{zone}", self._kwok_args(zone))
            self._wait_nodes_ready(len(zones) * cfg.nodes_per_zone, timeout=timeout)
        except BaseException:
            self.down()
            raise
        return True

    def down(self) -> bool:
        """Stop every process and remove the state. Returns False if nothing was there."""
        state = self._load()
        if state is None:
            return False
        # Reverse start order; frozen kwok processes must be resumed to hear SIGTERM.
        for pid in reversed(list(state.pids.values())):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for pid in state.pids.values():
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        for item in ("etcd", "pki", "kubeconfig", "kwok.yaml", STATE_FILE):
            path = self.state_dir / item
            if path.is_dir():
                subprocess.run(["rm", "-rf", str(path)], check=False)
            else:
                path.unlink(missing_ok=True)
        return True

    def install_crds(self, path: Path | str, timeout: float = 60) -> list[str]:
        """Apply the CRDs in `path` (server-side: they are large) and wait until the API
        server serves them. Returns their names."""
        self._require()
        result = self.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", str(path), "-o", "name"
        )
        names = [line.split("/", 1)[1] for line in result.stdout.split() if "/" in line]
        deadline = time.monotonic() + timeout
        for name in names:
            while True:
                crd = json.loads(self.kubectl("get", "crd", name, "-o", "json").stdout)
                conditions = crd.get("status", {}).get("conditions") or []
                if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                    break
                if time.monotonic() > deadline:
                    raise ClusterError(f"CRD {name} not Established within {timeout:.0f}s")
                time.sleep(0.2)
        return names

    # -- topology changes --------------------------------------------------------------------
    def add_zone(self, zone: str, nodes: int, timeout: float = 60) -> None:
        """Add a zone of `nodes` Ready nodes to the running cluster."""
        state = self._require()
        if zone in state.zones:
            raise ClusterError(f"zone {zone!r} exists already")
        state.zones[zone] = nodes
        self._create_nodes({zone: nodes})
        self._start(state, f"kwok-{zone}", self._kwok_args(zone))
        self._wait_nodes_ready(sum(state.zones.values()), timeout=timeout)

    def remove_zone(self, zone: str) -> None:
        """Delete a zone's nodes and its kwok process, as when a node pool is removed."""
        state = self._require()
        nodes = self.nodes_in_zone(zone)
        self.kubectl("delete", "node", "--wait=false", *nodes)
        pid = state.pids.pop(f"kwok-{zone}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        del state.zones[zone]
        if zone in state.down_zones:
            state.down_zones.remove(zone)
        self._save(state)

    # -- outages -------------------------------------------------------------------------------
    def zone_down(self, zone: str) -> bool:
        """Stop every heartbeat of the zone's nodes. Returns False if it was already down."""
        state = self._require()
        self.nodes_in_zone(zone)  # validates the name
        if zone in state.down_zones:
            return False
        os.kill(state.pids[f"kwok-{zone}"], signal.SIGSTOP)
        state.down_zones.append(zone)
        self._save(state)
        return True

    def zone_up(self, zone: str) -> bool:
        """Resume the heartbeats of the zone's nodes. Returns False if it was not down."""
        state = self._require()
        self.nodes_in_zone(zone)
        if zone not in state.down_zones:
            return False
        os.kill(state.pids[f"kwok-{zone}"], signal.SIGCONT)
        state.down_zones.remove(zone)
        self._save(state)
        return True

    def restart_kwok(self, zone: str, configs: Sequence[Path]) -> None:
        """Restart the zone's kwok with these stage files besides kwok.yaml (degrade.py). A new
        kwok holds the nodes' Leases under an identity of its own, and would wait for the old
        one's to run out (40 s): they are deleted between the two, and the new one creates
        them at once, so the nodes miss no renewal (a kubelet keeps its Lease over a restart)."""
        state = self._require()
        if zone in state.down_zones:
            raise ClusterError(f"zone {zone} is down (make zone-up ZONE={zone} first)")
        nodes, pid = self.nodes_in_zone(zone), state.pids[f"kwok-{zone}"]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        while _alive(pid):
            time.sleep(0.05)
        leases = ("-n", "kube-node-lease", "--ignore-not-found", "--wait=false")
        self.kubectl("delete", "lease", *leases, *nodes)
        extra = [f"--config={path}" for path in configs]
        self._start(state, f"kwok-{zone}", [*self._kwok_args(zone), *extra])

    def node_down(self, node: str) -> bool:
        """Stop one node's heartbeats. Returns False if it was already down."""
        self._require()
        current = self._node_labels(node).get(OUTAGE_LABEL)
        if current == "true":
            return False
        self.kubectl("label", "node", node, f"{OUTAGE_LABEL}=true", "--overwrite")
        return True

    def node_up(self, node: str) -> bool:
        """Resume one node's heartbeats. Returns False if it was not down."""
        self._require()
        if self._node_labels(node).get(OUTAGE_LABEL) != "true":
            return False
        self.kubectl("label", "node", node, f"{OUTAGE_LABEL}-")
        return True

    def down_zones(self) -> list[str]:
        return list(self._require().down_zones)

    def _node_labels(self, node: str) -> dict[str, str]:
        result = self.kubectl("get", "node", node, "-o", "json", check=False)
        if result.returncode != 0:
            raise ClusterError(f"no node named {node!r}: {result.stderr.strip()}")
        labels: dict[str, str] = json.loads(result.stdout)["metadata"].get("labels", {})
        return labels

    # -- component arguments -------------------------------------------------------------------
    def _etcd_args(self, state: ClusterState) -> list[str]:
        client = f"http://127.0.0.1:{state.ports['etcd']}"
        peer = f"http://127.0.0.1:{state.ports['etcd-peer']}"
        return [
            "--name=local",
            f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=local={peer}",
            # A throwaway test cluster: durability is not worth the fsync latency.
            "--unsafe-no-fsync=true",
            "--quota-backend-bytes=8589934592",
            "--log-level=warn",
        ]

    def _apiserver_args(self, state: ClusterState) -> list[str]:
        pki = self.state_dir / "pki"
        cfg = self.config
        args = [
            f"--etcd-servers=http://127.0.0.1:{state.ports['etcd']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={state.ports['apiserver']}",
            f"--cert-dir={pki}",
            f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.key'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--default-not-ready-toleration-seconds={cfg.default_toleration_seconds}",
            f"--default-unreachable-toleration-seconds={cfg.default_toleration_seconds}",
            # Scale tests create thousands of objects quickly; lift the in-flight limits.
            "--max-requests-inflight=1000",
            "--max-mutating-requests-inflight=500",
        ]
        if cfg.audit_log:
            policy = pki / "audit-policy.yaml"
            policy.write_text(
                "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\n"
                "rules:\n- level: Metadata\n"
            )
            args += [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}"]
        return args

    def _controller_manager_args(self) -> list[str]:
        cfg = self.config
        pki = self.state_dir / "pki"
        return [
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            "--controllers=*",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            "--use-service-account-credentials=false",
            f"--node-monitor-grace-period={cfg.node_monitor_grace_seconds}s",
            f"--node-monitor-period={cfg.node_monitor_period_seconds}s",
            f"--kube-api-qps={cfg.controller_qps}",
            f"--kube-api-burst={cfg.controller_burst}",
            f"--concurrent-deployment-syncs={cfg.controller_syncs}",
            f"--concurrent-replicaset-syncs={cfg.controller_syncs}",
        ]

    def _scheduler_args(self) -> list[str]:
        cfg = self.config
        return [
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            f"--kube-api-qps={cfg.controller_qps}",
            f"--kube-api-burst={cfg.controller_burst}",
        ]

    def _kwok_args(self, zone: str) -> list[str]:
        return [
            f"--kubeconfig={self.kubeconfig}",
            f"--config={KWOK_CONFIG}",
            f"--manage-nodes-with-label-selector={ZONE_LABEL}={zone},!{OUTAGE_LABEL}",
            f"--node-lease-duration-seconds={self.config.node_lease_seconds}",
            "--server-address=",
        ]

    # -- helpers -------------------------------------------------------------------------------
    def _write_credentials(self, state: ClusterState) -> None:
        pki = self.state_dir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        (pki / "tokens.csv").write_text(f"{state.token},admin,admin,system:masters\n")
        subprocess.run(
            ["openssl", "genrsa", "-out", str(pki / "sa.key"), "2048"],
            check=True,
            capture_output=True,
        )
        server = f"https://127.0.0.1:{state.ports['apiserver']}"
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "zonal-local",
                            # Until the API server has made its serving certificate (and the CA
                            # that signs it) there is nothing to verify against.
                            "cluster": {"server": server, "insecure-skip-tls-verify": True},
                        }
                    ],
                    "users": [{"name": "admin", "user": {"token": state.token}}],
                    "contexts": [
                        {
                            "name": "zonal-local",
                            "context": {"cluster": "zonal-local", "user": "admin"},
                        }
                    ],
                    "current-context": "zonal-local",
                },
                indent=2,
            )
        )
        self.kubeconfig.chmod(0o600)

    def _trust_serving_certificate(self, state: ClusterState) -> None:
        """Point the kubeconfig at the CA the API server generated for its serving certificate
        (the .crt file holds the certificate and that CA), so clients verify TLS for real."""
        bundle = (self.state_dir / "pki" / "apiserver.crt").read_bytes()
        kubeconfig = json.loads(self.kubeconfig.read_text())
        cluster = kubeconfig["clusters"][0]["cluster"]
        cluster.pop("insecure-skip-tls-verify", None)
        cluster["certificate-authority-data"] = base64.b64encode(bundle).decode()
        self.kubeconfig.write_text(json.dumps(kubeconfig, indent=2))

    def _start(self, state: ClusterState, name: str, args: Sequence[str]) -> None:
        binary = binaries.find("kwok" if name.startswith("kwok-") else name)
        log = (self.logs_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [str(binary), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives `make cluster-up`; ctrl-C does not reach it
        )
        log.close()
        state.pids[name] = proc.pid
        self._save(state)
        time.sleep(0.2)
        if proc.poll() is not None:
            raise ClusterError(f"{name} exited at once; see {self.logs_dir / (name + '.log')}")

    def _wait_tcp(self, port: int, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return
            time.sleep(0.2)
        raise ClusterError(f"{what} did not listen on port {port} within {timeout:.0f}s")

    def _wait_ready(self, state: ClusterState, timeout: float) -> None:
        url = f"https://127.0.0.1:{state.ports['apiserver']}/readyz"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {state.token}"})
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not _alive(state.pids["kube-apiserver"]):
                raise ClusterError(
                    f"kube-apiserver exited; see {self.logs_dir / 'kube-apiserver.log'}"
                )
            try:
                with urllib.request.urlopen(request, timeout=5, context=context) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise ClusterError(f"kube-apiserver not ready within {timeout:.0f}s: {last}")

    def _create_nodes(self, zones: dict[str, int]) -> None:
        cfg = self.config
        items = []
        for zone, count in zones.items():
            for i in range(count):
                name = _node_name(zone, i)
                resources = {
                    "cpu": cfg.node_cpu,
                    "memory": cfg.node_memory,
                    "pods": str(cfg.node_pods),
                }
                items.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Node",
                        "metadata": {
                            "name": name,
                            "annotations": {
                                "kwok.x-k8s.io/node": "fake",
                                "node.alpha.kubernetes.io/ttl": "0",
                            },
                            "labels": {
                                "kubernetes.io/hostname": name,
                                "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64",
                                "node.kubernetes.io/instance-type": "kwok.8x32",
                                "topology.kubernetes.io/region": "local",
                                ZONE_LABEL: zone,
                                "type": "kwok",
                            },
                        },
                        "status": {"allocatable": resources, "capacity": resources},
                    }
                )
        manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        # The API server may still be finishing its bootstrap (default namespaces, RBAC).
        deadline = time.monotonic() + 60
        while True:
            result = self.kubectl("create", "-f", "-", input=manifest, check=False)
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"could not create nodes: {result.stderr.strip()}")
            time.sleep(1)

    def wait_nodes_ready(self, timeout: float = 120) -> None:
        """Wait until every node of the cluster is Ready (after outages end, say)."""
        self._wait_nodes_ready(sum(self._require().zones.values()), timeout)

    def _wait_nodes_ready(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        ready = 0
        while time.monotonic() < deadline:
            ready = sum(1 for _, status in self.node_readiness() if status == "True")
            if ready == count:
                return
            time.sleep(1)
        raise ClusterError(f"only {ready} of {count} nodes became Ready within {timeout:.0f}s")

    def node_readiness(self) -> Iterator[tuple[str, str]]:
        """(node name, Ready condition status) for every node."""
        result = self.kubectl("get", "nodes", "-o", "json")
        for node in json.loads(result.stdout)["items"]:
            conditions = node.get("status", {}).get("conditions", [])
            status = next((c["status"] for c in conditions if c["type"] == "Ready"), "Unknown")
            yield node["metadata"]["name"], status
