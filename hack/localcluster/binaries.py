"""Where the upstream binaries come from.

Order of precedence for each binary: an explicit `ZONAL_<NAME>` environment variable (for
example `ZONAL_KUBE_APISERVER=/usr/local/bin/kube-apiserver`), then `KUBEBUILDER_ASSETS` (the
envtest convention: a directory holding etcd, kube-apiserver and kubectl), then the cache that
`hack/install-tools.sh` fills.
"""

from __future__ import annotations

import os
from pathlib import Path

HACK_DIR = Path(__file__).resolve().parent.parent
NAMES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "helm",
    "kubeconform",
)


def versions() -> dict[str, str]:
    """The pinned versions from hack/versions.env."""
    pins: dict[str, str] = {}
    for raw in (HACK_DIR / "versions.env").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            pins[key.strip()] = value.strip()
    return pins


def cache_bin_dir() -> Path:
    root = Path(os.environ.get("ZONAL_CACHE_DIR", Path.home() / ".cache" / "zonal-operator"))
    return root / f"k8s-v{versions()['KUBERNETES_VERSION']}" / "bin"


def find(name: str) -> Path:
    """The path of one binary; raises FileNotFoundError saying how to get it."""
    override = os.environ.get("ZONAL_" + name.upper().replace("-", "_"))
    if override:
        path = Path(override)
        if not path.is_file():
            raise FileNotFoundError(f"ZONAL_{name.upper().replace('-', '_')}={override}: no file")
        return path
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and (Path(assets) / name).is_file():
        return Path(assets) / name
    path = cache_bin_dir() / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{name} not found in {path.parent}: run `make tools` (hack/install-tools.sh) "
            f"or set ZONAL_{name.upper().replace('-', '_')}"
        )
    return path
