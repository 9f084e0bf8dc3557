#!/usr/bin/env python3
"""Writes strict JSON schemas for kubeconform, offline, from sources pinned in the repository.

kubeconform fetches its schemas from GitHub by default; here they are generated instead:
- every built-in kind, from the OpenAPI v3 documents inside the ``k8s.io/kubernetes`` Go module
  of KUBERNETES_VERSION (hack/versions.env), found with ``go mod download -json``;
- the ServiceMonitor kind, from the Prometheus Operator's CRD in its Go module (pinned below);
- every CustomResourceDefinition in the ``--crd`` files (for example the chart's rendered
  output, so that its CRDs' custom resources are validated against exactly those CRDs).

Layout: ``OUTDIR/<group>/<kind>_<version>.json`` (``<group>`` is ``v1`` for the core group),
which is kubeconform's ``-schema-location 'OUTDIR/{{ .Group }}/{{ .ResourceKind }}_{{
.ResourceAPIVersion }}.json'`` (see SCHEMA_LOCATION). Every schema is strict: objects that list
their properties reject any other (``additionalProperties: false``), unless Kubernetes says
unknown fields are kept (``x-kubernetes-preserve-unknown-fields``).

Usage: .venv/bin/python hack/kubeconform_schemas.py OUTDIR [--crd FILE]...
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import yaml

Schema = dict[str, Any]

HACK_DIR: Final = Path(__file__).resolve().parent
OPENAPI_IN_MODULE: Final = Path("api/openapi-spec/v3")
# The ServiceMonitor CRD (monitoring.coreos.com/v1), for the chart's optional ServiceMonitor.
PROMETHEUS_OPERATOR: Final = ("github.com/prometheus-operator/prometheus-operator", "v0.85.0")
SERVICEMONITOR_CRD: Final = Path(
    "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
)
# ... and the PrometheusRule CRD, for its optional PrometheusRule.
PROMETHEUSRULE_CRD: Final = SERVICEMONITOR_CRD.with_name(
    "monitoring.coreos.com_prometheusrules.yaml"
)
SCHEMA_LOCATION: Final = "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
OBJECT_META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
REF_PREFIX: Final = "#/components/schemas/"


def kubernetes_version() -> str:
    for raw in (HACK_DIR / "versions.env").read_text().splitlines():
        key, _, value = raw.strip().partition("=")
        if key == "KUBERNETES_VERSION":
            return value.strip()
    raise SystemExit("KUBERNETES_VERSION missing from hack/versions.env")


def go_module_dir(module: str, version: str) -> Path:
    """The module's directory in the Go module cache, downloaded through the proxy if needed."""
    env = {**os.environ, "GOFLAGS": "-mod=mod"}
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    info = json.loads(result.stdout or "{}")
    if result.returncode != 0 or "Dir" not in info:
        raise SystemExit(f"go mod download {module}@{version} failed: {info or result.stderr}")
    return Path(info["Dir"])


def schema_path(group: str, version: str, kind: str) -> Path:
    """Where kubeconform looks with SCHEMA_LOCATION for this kind (core group: "v1")."""
    return Path(group or version) / f"{kind.lower()}_{version}.json"


def strict(node: Any) -> Any:
    """A copy of the schema in which every object with listed properties rejects others."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    # `properties` maps names to schemas: its keys are not keywords, recurse into values only.
    out = {key: strict(value) for key, value in node.items() if key != "properties"}
    if "properties" in node:
        out["properties"] = {name: strict(sub) for name, sub in node["properties"].items()}
        if "additionalProperties" not in node and not node.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            out["additionalProperties"] = False
    return out


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            yield ref[len(REF_PREFIX) :]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _local_refs(node: Any) -> Any:
    """OpenAPI component references rewritten to the bundled definitions."""
    if isinstance(node, dict):
        out = {key: _local_refs(value) for key, value in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            out["$ref"] = "#/definitions/" + ref[len(REF_PREFIX) :]
        return out
    if isinstance(node, list):
        return [_local_refs(item) for item in node]
    return node


def bundle(root: Schema, components: dict[str, Schema]) -> Schema:
    """A standalone schema: `root` plus every component it references, transitively."""
    needed: dict[str, Schema] = {}
    pending = list(_refs(root))
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed[name] = components[name]
        pending.extend(_refs(components[name]))
    out = _local_refs(strict(root))
    if needed:
        out["definitions"] = {name: _local_refs(strict(needed[name])) for name in sorted(needed)}
    return dict(out)


def _pin_type(schema: Schema, group: str, version: str, kind: str) -> Schema:
    api_version = f"{group}/{version}" if group else version
    properties = dict(schema.get("properties") or {})
    properties["apiVersion"] = {"type": "string", "enum": [api_version]}
    properties["kind"] = {"type": "string", "enum": [kind]}
    return {
        **schema,
        "properties": properties,
        "required": sorted({*schema.get("required", []), "apiVersion", "kind"}),
    }


def builtin_schemas(openapi_dir: Path) -> tuple[dict[Path, Schema], dict[str, Schema]]:
    """Schemas of every built-in kind, and all OpenAPI components (for CRDs' metadata)."""
    components: dict[str, Schema] = {}
    for document in sorted(openapi_dir.glob("*.json")):
        components.update(json.loads(document.read_text()).get("components", {}).get("schemas", {}))
    out: dict[Path, Schema] = {}
    for schema in components.values():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
            pinned = _pin_type(schema, group, version, kind)
            out[schema_path(group, version, kind)] = bundle(pinned, components)
    return out, components


def crd_schemas(documents: Iterable[Any], components: dict[str, Schema]) -> dict[Path, Schema]:
    """Schemas of the custom resources of every CustomResourceDefinition among `documents`;
    their metadata is checked as the ObjectMeta it is."""
    out: dict[Path, Schema] = {}
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        group, kind = spec["group"], spec["names"]["kind"]
        for version in spec["versions"]:
            openapi = (version.get("schema") or {}).get("openAPIV3Schema")
            if openapi is None:
                continue
            schema = copy.deepcopy(openapi)
            schema.setdefault("properties", {})["metadata"] = {"$ref": REF_PREFIX + OBJECT_META}
            pinned = _pin_type(schema, group, version["name"], kind)
            out[schema_path(group, version["name"], kind)] = bundle(pinned, components)
    return out


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def generate(outdir: Path, crd_files: Iterable[Path], openapi_dir: Path | None = None) -> int:
    """Write every schema under `outdir`; returns how many."""
    if openapi_dir is None:
        openapi_dir = go_module_dir("k8s.io/kubernetes", "v" + kubernetes_version())
        openapi_dir /= OPENAPI_IN_MODULE
    schemas, components = builtin_schemas(openapi_dir)
    module = go_module_dir(*PROMETHEUS_OPERATOR)
    documents = load_yaml_documents(module / SERVICEMONITOR_CRD)
    documents.extend(load_yaml_documents(module / PROMETHEUSRULE_CRD))
    for path in crd_files:
        documents.extend(load_yaml_documents(path))
    schemas.update(crd_schemas(documents, components))
    for relative, schema in schemas.items():
        target = outdir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True))
    return len(schemas)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--crd", type=Path, action="append", default=[], help="YAML with CRDs")
    parser.add_argument("--openapi-dir", type=Path, help="OpenAPI v3 documents (default: Go's)")
    args = parser.parse_args(argv)
    count = generate(args.outdir, args.crd, args.openapi_dir)
    print(
        f"{count} schemas in {args.outdir}; kubeconform -schema-location "
        f"'{args.outdir}/{SCHEMA_LOCATION}'"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
