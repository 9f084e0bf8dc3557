#!/usr/bin/env python3
"""Generates crds/zonal.dev_zonalworkloads.yaml, the CustomResourceDefinition of ZonalWorkload,
and crds/zonal.dev_zoneshifts.yaml, that of ZoneShift.

What the API is (names, each spec field with its default, bounds, description and CEL rules,
the status as types) is declared once, in the package operator/zonal_operator/api/;
hack/crd_schema.py walks it into both CRDs. This file adds what Kubernetes itself declares:

The schema of ``spec.template.spec`` is Kubernetes' own ``io.k8s.api.core.v1.PodSpec``, taken
from the OpenAPI v3 document that ships inside the ``k8s.io/kubernetes`` Go module of the version
pinned in hack/versions.env (KUBERNETES_VERSION). Every ``$ref`` is inlined and the result is
turned into a structural CRD schema, so that strict field validation rejects typos in pod
templates and ``kubectl explain`` knows the fields.

Usage:
    .venv/bin/python hack/gen_crd.py            # (re)write the CRD file
    .venv/bin/python hack/gen_crd.py --check    # exit 1 if the committed file is out of date
    .venv/bin/python hack/gen_crd.py --openapi FILE   # use this OpenAPI v3 document, not go's
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from crd_schema import Schema, WalkError, crd
from zonal_operator.api.group import GROUP, LABEL_VALUE_MAX_LENGTH, LABEL_VALUE_PATTERN
from zonal_operator.api.template import POD_SPEC_TYPE
from zonal_operator.api.workload import ZONAL_WORKLOAD
from zonal_operator.api.zoneshift import ZONE_SHIFT

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
VERSIONS_ENV: Final = REPO_ROOT / "hack" / "versions.env"
OUTPUT: Final = REPO_ROOT / "crds" / f"{GROUP}_{ZONAL_WORKLOAD.plural}.yaml"
SHIFT_OUTPUT: Final = REPO_ROOT / "crds" / f"{GROUP}_{ZONE_SHIFT.plural}.yaml"
RERUN: Final = ".venv/bin/python hack/gen_crd.py"
OPENAPI_IN_MODULE: Final = Path("api/openapi-spec/v3/apis__apps__v1_openapi.json")

QUANTITY: Final = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING: Final = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
TIME_TYPES: Final = frozenset(
    {"io.k8s.apimachinery.pkg.apis.meta.v1.Time", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"}
)
OBJECT_META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
REF_PREFIX: Final = "#/components/schemas/"

# The pattern controller-gen uses for resource.Quantity (it applies to the string form only).
QUANTITY_PATTERN: Final = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

# Keys of the upstream OpenAPI schemas and what becomes of them.
_KEPT_KEYS: Final = frozenset(
    {
        "type",
        "format",
        "enum",
        "required",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "pattern",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
    }
)
_DROPPED_KEYS: Final = frozenset(
    {
        "description",  # stripped inside spec.template.spec to keep the CRD small
        "x-kubernetes-patch-strategy",
        "x-kubernetes-patch-merge-key",
        "x-kubernetes-unions",
    }
)
_HANDLED_KEYS: Final = frozenset(
    {"$ref", "allOf", "properties", "items", "additionalProperties", "default"}
)
# Formats a CRD schema understands (k8s.io/apiextensions-apiserver supported formats).
_KNOWN_FORMATS: Final = frozenset({"int32", "int64", "float", "double", "byte", "date-time"})


class GenerationError(Exception):
    """The upstream schema holds something this generator does not know how to convert."""


# --------------------------------------------------------------------------------------------
# Reading the upstream PodSpec schema


def read_versions(path: Path = VERSIONS_ENV) -> dict[str, str]:
    """Parses a KEY=VALUE file (comments and blank lines ignored, optional quotes removed)."""
    result: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise GenerationError(f"{path}:{lineno}: expected KEY=VALUE, got {raw!r}")
        result[key.strip()] = value.strip().strip("'\"")
    return result


def kubernetes_module_dir(version: str) -> Path:
    """Downloads (or finds in the module cache) k8s.io/kubernetes@v<version>; returns its dir."""
    go = os.environ.get("GO") or shutil.which("go")
    if go is None and Path("/usr/local/go/bin/go").is_file():
        go = "/usr/local/go/bin/go"
    if go is None:
        raise GenerationError(
            "`go` is not on PATH (nor $GO): it is needed to fetch the Kubernetes module; "
            "or pass --openapi FILE"
        )
    proc = subprocess.run(
        [go, "mod", "download", "-json", f"k8s.io/kubernetes@v{version}"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    if proc.returncode != 0:
        raise GenerationError(
            f"go mod download k8s.io/kubernetes@v{version} failed:\n{proc.stdout}{proc.stderr}"
        )
    info = json.loads(proc.stdout)
    if "Dir" not in info:
        raise GenerationError(f"go mod download gave no module directory: {info.get('Error')}")
    return Path(info["Dir"])


def load_schemas(openapi_path: Path) -> dict[str, Schema]:
    document = json.loads(openapi_path.read_text(encoding="utf-8"))
    schemas = document.get("components", {}).get("schemas")
    if not isinstance(schemas, dict) or POD_SPEC_TYPE not in schemas:
        raise GenerationError(f"{openapi_path} has no components.schemas[{POD_SPEC_TYPE!r}]")
    return schemas


# --------------------------------------------------------------------------------------------
# Converting it into a structural CRD schema


def _ref_name(schema: Mapping[str, Any]) -> str | None:
    """The schema name a node refers to: a bare $ref, or the v3 `allOf: [{$ref}]` wrapper."""
    ref = schema.get("$ref")
    if ref is None and "allOf" in schema:
        all_of = schema["allOf"]
        if (
            not isinstance(all_of, list)
            or len(all_of) != 1
            or not isinstance(all_of[0], dict)
            or set(all_of[0]) != {"$ref"}
        ):
            raise GenerationError(f"unsupported allOf (only a single $ref is): {all_of!r}")
        ref = all_of[0]["$ref"]
    if ref is None:
        return None
    if not isinstance(ref, str) or not ref.startswith(REF_PREFIX):
        raise GenerationError(f"unsupported $ref {ref!r}")
    return ref.removeprefix(REF_PREFIX)


def _is_zero(value: Any) -> bool:
    if isinstance(value, bool):
        return value is False
    return value is None or value == 0 or value in ("", {}, [])


def template_metadata_schema() -> Schema:
    """Object metadata of a template: only labels and annotations, as the API server allows."""
    label_value = {
        "type": "string",
        "maxLength": LABEL_VALUE_MAX_LENGTH,
        "pattern": LABEL_VALUE_PATTERN,
    }
    return {
        "type": "object",
        "properties": {
            "labels": {"type": "object", "additionalProperties": label_value},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }


class PodSpecConverter:
    """Inlines the $refs of an OpenAPI v3 schema and makes the result structural."""

    def __init__(self, schemas: Mapping[str, Schema]) -> None:
        self._schemas = schemas

    def convert_named(self, name: str) -> Schema:
        return self._convert_ref(name, (), name)

    def _convert_ref(self, name: str, stack: tuple[str, ...], path: str) -> Schema:
        if name in stack:
            cycle = " -> ".join((*stack, name))
            raise GenerationError(f"recursive schema at {path}: {cycle}")
        if name == QUANTITY:
            return {"x-kubernetes-int-or-string": True, "pattern": QUANTITY_PATTERN}
        if name == INT_OR_STRING:
            return {"x-kubernetes-int-or-string": True}
        if name in TIME_TYPES:
            return {"type": "string", "format": "date-time"}
        if name == OBJECT_META:
            # Only a template's metadata (PersistentVolumeClaimTemplate) is reachable from a
            # PodSpec, and there the API server allows nothing but labels and annotations.
            return template_metadata_schema()
        if name not in self._schemas:
            raise GenerationError(f"{path}: unknown schema {name!r}")
        return self._convert(self._schemas[name], (*stack, name), path)

    def _convert(self, schema: Mapping[str, Any], stack: tuple[str, ...], path: str) -> Schema:
        unknown = set(schema) - _KEPT_KEYS - _DROPPED_KEYS - _HANDLED_KEYS - {"oneOf", "anyOf"}
        if unknown:
            raise GenerationError(f"{path}: unsupported schema keys {sorted(unknown)}")

        out: Schema = {}
        ref = _ref_name(schema)
        if ref is not None:
            out = self._convert_ref(ref, stack, path)

        if "oneOf" in schema or "anyOf" in schema:
            # Only IntOrString and Quantity use oneOf upstream; both are handled by name above.
            raise GenerationError(f"{path}: unsupported oneOf/anyOf outside IntOrString/Quantity")
        if schema.get("format") == "int-or-string":
            out["x-kubernetes-int-or-string"] = True
        elif "format" in schema and schema["format"] not in _KNOWN_FORMATS:
            raise GenerationError(f"{path}: unsupported format {schema['format']!r}")

        for key in sorted(_KEPT_KEYS & set(schema)):
            if key == "format" and schema[key] == "int-or-string":
                continue
            out[key] = copy.deepcopy(schema[key])

        if "properties" in schema:
            out["properties"] = {
                prop: self._convert(sub, stack, f"{path}.{prop}")
                for prop, sub in sorted(schema["properties"].items())
            }
        if "items" in schema:
            out["items"] = self._convert(schema["items"], stack, f"{path}[]")
        if "additionalProperties" in schema:
            additional = schema["additionalProperties"]
            if not isinstance(additional, dict):
                raise GenerationError(f"{path}: additionalProperties must be a schema")
            out["additionalProperties"] = self._convert(additional, stack, f"{path}{{}}")

        if "default" in schema and not _is_zero(schema["default"]):
            # Defaults upstream mostly document Go zero values; in a CRD they would really be
            # applied (and e.g. satisfy `required` with ""), so only meaningful ones are kept.
            out["default"] = copy.deepcopy(schema["default"])

        if out.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
            out.pop("format", None)
        elif "type" not in out:
            raise GenerationError(f"{path}: no type (a structural schema needs one)")
        if out.get("x-kubernetes-list-type") == "map":
            self._fix_list_map_keys(schema, out, path)
        return out

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = _ref_name(schema)
        return self._schemas.get(ref, {}) if ref is not None else schema

    def _fix_list_map_keys(self, schema: Mapping[str, Any], out: Schema, path: str) -> None:
        """A CRD needs every key of a map-type list to be required or to have a default.

        Upstream, optional keys carry their zero value as the default (e.g. "" for the name of
        imagePullSecrets); for those keys that default is kept, because it is what a native
        object gets too.
        """
        items = out.get("items", {})
        raw_props = self._resolve(self._resolve(schema).get("items", {})).get("properties", {})
        required = set(items.get("required", []))
        for key in out.get("x-kubernetes-list-map-keys", []):
            prop = items.get("properties", {}).get(key)
            if prop is None:
                raise GenerationError(f"{path}: list map key {key!r} is not an item property")
            if key in required or "default" in prop:
                continue
            if "default" not in raw_props.get(key, {}):
                raise GenerationError(
                    f"{path}: list map key {key!r} must be required or have a default"
                )
            prop["default"] = copy.deepcopy(raw_props[key]["default"])


# --------------------------------------------------------------------------------------------
# Output


def render(document: Schema, kubernetes_version: str | None = None) -> str:
    header = "# Code generated by hack/gen_crd.py; DO NOT EDIT.\n"
    if kubernetes_version is not None:
        header += (
            f"# spec.template.spec is core/v1 PodSpec from Kubernetes v{kubernetes_version}.\n"
        )
    body = yaml.safe_dump(
        document, sort_keys=True, default_flow_style=False, width=100, allow_unicode=True
    )
    return header + "---\n" + body


def generate(openapi: Path | None) -> str:
    version = read_versions().get("KUBERNETES_VERSION")
    if not version:
        raise GenerationError(f"KUBERNETES_VERSION is not set in {VERSIONS_ENV}")
    if openapi is None:
        openapi = kubernetes_module_dir(version) / OPENAPI_IN_MODULE
    converter = PodSpecConverter(load_schemas(openapi))
    return render(crd(ZONAL_WORKLOAD, converter.convert_named), version)


def render_zoneshift() -> str:
    """The ZoneShift CRD: no Kubernetes schema inside it."""
    return render(crd(ZONE_SHIFT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the committed CRD differs from the generated one",
    )
    parser.add_argument(
        "--openapi",
        type=Path,
        help="the Kubernetes OpenAPI v3 document (apis__apps__v1_openapi.json) to read; "
        "default: the one in the k8s.io/kubernetes module of KUBERNETES_VERSION",
    )
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the CRD file")
    args = parser.parse_args(argv)
    try:
        texts = {args.output: generate(args.openapi), SHIFT_OUTPUT: render_zoneshift()}
    except (GenerationError, WalkError, OSError, json.JSONDecodeError) as exc:
        print(f"gen_crd: {exc}", file=sys.stderr)
        return 2
    worst = 0
    for output, text in texts.items():
        worst = max(worst, check(output, text) if args.check else write(output, text))
    return worst


def check(output: Path, text: str) -> int:
    if not output.exists():
        print(f"gen_crd: {output} is missing; run `{RERUN}`", file=sys.stderr)
        return 1
    current = output.read_text(encoding="utf-8")
    if current != text:
        diff = list(
            difflib.unified_diff(
                current.splitlines(),
                text.splitlines(),
                f"{output} (committed)",
                f"{output} (generated)",
                lineterm="",
            )
        )
        shown = "\n".join(diff[:40]) + ("\n..." if len(diff) > 40 else "")
        print(
            f"gen_crd: {output} is out of date; run `{RERUN}` and commit the result:\n{shown}",
            file=sys.stderr,
        )
        return 1
    print(f"gen_crd: {output} is up to date")
    return 0


def write(output: Path, text: str) -> int:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"gen_crd: wrote {output} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
