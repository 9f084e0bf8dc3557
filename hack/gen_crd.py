#!/usr/bin/env python3
"""Generates crds/zonal.dev_zonalworkloads.yaml, the CustomResourceDefinition of ZonalWorkload,
and crds/zonal.dev_zoneshifts.yaml, that of ZoneShift (hack/zoneshift_crd.py).

What the API is (group, kind, plural, labels, limits, and each spec field with its default,
bounds, description and CEL rules) is defined once, in operator/zonal_operator/api.py, and
rendered here; this file adds the structural schemas of the nested Kubernetes shapes (label
selector, pod template, update strategy, status).

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

import rollout_crd
from crd_schema import Schema, column, date_time, int32, int64, string
from zonal_operator.api import (
    FAILOVER,
    FAILOVER_DESCRIPTION,
    FAILOVER_FIELDS,
    GROUP,
    KIND,
    NAME_RULE,
    PLURAL,
    QUALIFIED_NAME_PATTERN,
    RESERVED_LABEL_PREFIX,
    SCALAR_FIELDS,
    SPEC_RULES,
    STRATEGY,
    VERSION,
)
from zonal_operator.core.zones import ZoneState
from zonal_operator.rolloutapi import ZONE_ROLLOUT
from zoneshift_crd import crd as zoneshift_crd

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
VERSIONS_ENV: Final = REPO_ROOT / "hack" / "versions.env"
OUTPUT: Final = REPO_ROOT / "crds" / "zonal.dev_zonalworkloads.yaml"
SHIFT_OUTPUT: Final = REPO_ROOT / "crds" / "zonal.dev_zoneshifts.yaml"
RERUN: Final = ".venv/bin/python hack/gen_crd.py"
OPENAPI_IN_MODULE: Final = Path("api/openapi-spec/v3/apis__apps__v1_openapi.json")

POD_SPEC: Final = "io.k8s.api.core.v1.PodSpec"
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
LABEL_VALUE_PATTERN: Final = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
PERCENT_PATTERN: Final = r"^[0-9]+%$"

# Bounds that keep the CEL rules which iterate these collections within the cost budget.
MAX_LABELS: Final = 64
MAX_ANNOTATIONS: Final = 256
MAX_SELECTOR_EXPRESSIONS: Final = 32
MAX_SELECTOR_VALUES: Final = 64

POD_SPEC_DESCRIPTION: Final = (
    "Specification of the pods: the same fields as the spec of a Pod (core/v1 PodSpec). "
    "It is copied unchanged into the pod template of each generated Deployment. restartPolicy "
    "must be Always and activeDeadlineSeconds must not be set. Field reference: "
    "https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#PodSpec"
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
    if not isinstance(schemas, dict) or POD_SPEC not in schemas:
        raise GenerationError(f"{openapi_path} has no components.schemas[{POD_SPEC!r}]")
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


def template_metadata_schema(described: bool) -> Schema:
    """Object metadata of a template: only labels and annotations, as the API server allows."""

    def desc(text: str) -> dict[str, str]:
        return {"description": text} if described else {}

    return {
        "type": "object",
        **desc("Labels and annotations of the pods. No other metadata fields are allowed."),
        "properties": {
            "labels": {
                "type": "object",
                **desc("Labels of the pods."),
                "additionalProperties": {
                    "type": "string",
                    "maxLength": 63,
                    "pattern": LABEL_VALUE_PATTERN,
                },
            },
            "annotations": {
                "type": "object",
                **desc("Annotations of the pods."),
                "additionalProperties": {"type": "string"},
            },
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
            return template_metadata_schema(described=False)
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


def pod_spec_schema(schemas: Mapping[str, Schema]) -> Schema:
    spec = PodSpecConverter(schemas).convert_named(POD_SPEC)
    # A pod needs at least one container; say so in the schema instead of failing later when
    # the Deployment is created.
    spec["properties"]["containers"]["minItems"] = 1
    spec["properties"]["restartPolicy"]["x-kubernetes-validations"] = [
        {
            "rule": "self == 'Always'",
            "message": "spec.template.spec.restartPolicy must be Always: Deployments accept "
            "no other value",
        }
    ]
    spec["x-kubernetes-validations"] = [
        {
            "rule": "!has(self.activeDeadlineSeconds)",
            "message": "spec.template.spec.activeDeadlineSeconds must not be set: Deployments "
            "do not support it",
            "fieldPath": ".activeDeadlineSeconds",
        }
    ]
    spec["description"] = POD_SPEC_DESCRIPTION
    return spec


# --------------------------------------------------------------------------------------------
# The ZonalWorkload schema


def _rule(rule: str, message: str, field_path: str | None = None, **extra: str) -> Schema:
    out: Schema = {"rule": rule, "message": message}
    if field_path is not None:
        out["fieldPath"] = field_path
    out.update(extra)
    return out


def label_selector_schema() -> Schema:
    prefix = RESERVED_LABEL_PREFIX
    requirement: Schema = {
        "type": "object",
        "description": "A label selector requirement: a key, an operator and a set of values.",
        "required": ["key", "operator"],
        "properties": {
            "key": string(
                "The label key that the selector applies to.",
                maxLength=317,
                pattern=QUALIFIED_NAME_PATTERN,
                **{
                    "x-kubernetes-validations": [
                        _rule(
                            f"!self.startsWith('{prefix}')",
                            f"spec.selector.matchExpressions[].key must not use the reserved "
                            f"{prefix} prefix: those labels belong to the operator",
                        )
                    ]
                },
            ),
            "operator": string(
                "How the key relates to the values: In, NotIn, Exists or DoesNotExist.",
                enum=["In", "NotIn", "Exists", "DoesNotExist"],
            ),
            "values": {
                "type": "array",
                "description": "The values of the requirement: non-empty for In and NotIn, "
                "empty for Exists and DoesNotExist.",
                "maxItems": MAX_SELECTOR_VALUES,
                "items": {"type": "string", "maxLength": 63, "pattern": LABEL_VALUE_PATTERN},
                "x-kubernetes-list-type": "atomic",
            },
        },
        "x-kubernetes-validations": [
            _rule(
                "!(self.operator in ['In', 'NotIn']) || "
                "(has(self.values) && self.values.size() > 0)",
                "spec.selector.matchExpressions[].values must be non-empty when the operator "
                "is In or NotIn",
                ".values",
            ),
            _rule(
                "!(self.operator in ['Exists', 'DoesNotExist']) || "
                "!has(self.values) || self.values.size() == 0",
                "spec.selector.matchExpressions[].values must be empty when the operator "
                "is Exists or DoesNotExist",
                ".values",
            ),
        ],
    }
    return {
        "type": "object",
        "description": "Label query over the pods of this workload; it must match the labels "
        "of spec.template. Optional: when absent the operator derives one. Immutable: it cannot "
        "be added, changed or removed after the workload is created.",
        "properties": {
            "matchLabels": {
                "type": "object",
                "description": "A map of {key: value} pairs; each is equivalent to an In "
                "requirement with that single value. All requirements are ANDed.",
                "maxProperties": MAX_LABELS,
                "additionalProperties": {
                    "type": "string",
                    "maxLength": 63,
                    "pattern": LABEL_VALUE_PATTERN,
                },
                "x-kubernetes-validations": [
                    _rule(
                        f"self.all(k, !k.startsWith('{prefix}'))",
                        f"spec.selector.matchLabels must not use keys with the reserved "
                        f"{prefix} prefix: those labels belong to the operator",
                    ),
                    _rule(
                        f"self.all(k, k.matches('{QUALIFIED_NAME_PATTERN}'))",
                        "spec.selector.matchLabels keys must be valid label keys ([prefix/]name)",
                    ),
                ],
            },
            "matchExpressions": {
                "type": "array",
                "description": "A list of label selector requirements. All requirements are ANDed.",
                "maxItems": MAX_SELECTOR_EXPRESSIONS,
                "items": requirement,
                "x-kubernetes-list-type": "atomic",
            },
        },
        "x-kubernetes-map-type": "atomic",
        "x-kubernetes-validations": [
            _rule(
                "(has(self.matchLabels) && self.matchLabels.size() > 0) || "
                "(has(self.matchExpressions) && self.matchExpressions.size() > 0)",
                "spec.selector must not be empty: set matchLabels or matchExpressions, or "
                "leave spec.selector out to let the operator derive one",
            )
        ],
    }


def pod_template_schema(schemas: Mapping[str, Schema]) -> Schema:
    metadata = template_metadata_schema(described=True)
    labels = metadata["properties"]["labels"]
    labels["maxProperties"] = MAX_LABELS
    labels["description"] = (
        "Labels of the pods. spec.selector must match them. Keys with the "
        f"{RESERVED_LABEL_PREFIX} prefix are reserved for the operator."
    )
    labels["x-kubernetes-validations"] = [
        _rule(
            f"self.all(k, !k.startsWith('{RESERVED_LABEL_PREFIX}'))",
            f"spec.template.metadata.labels must not use keys with the reserved "
            f"{RESERVED_LABEL_PREFIX} prefix: those labels belong to the operator",
        ),
        _rule(
            f"self.all(k, k.matches('{QUALIFIED_NAME_PATTERN}'))",
            "spec.template.metadata.labels keys must be valid label keys ([prefix/]name)",
        ),
    ]
    annotations = metadata["properties"]["annotations"]
    annotations["maxProperties"] = MAX_ANNOTATIONS
    annotations["x-kubernetes-validations"] = [
        _rule(
            f"self.all(k, k.matches('{QUALIFIED_NAME_PATTERN}'))",
            "spec.template.metadata.annotations keys must be valid qualified names ([prefix/]name)",
        )
    ]
    return {
        "type": "object",
        "description": "The pod template of the workload, copied into each generated "
        "Deployment (one per zone).",
        "required": ["spec"],
        "properties": {
            "metadata": metadata,
            "spec": pod_spec_schema(schemas),
        },
    }


def failover_schema() -> Schema:
    return {
        "type": "object",
        "description": FAILOVER_DESCRIPTION,
        "default": {},
        "properties": {f.name: f.schema() for f in FAILOVER_FIELDS},
    }


def strategy_schema() -> Schema:
    def int_or_percent(description: str, rules: list[Schema]) -> Schema:
        out: Schema = {
            "description": description,
            "x-kubernetes-int-or-string": True,
            "minimum": 0,
            "maxLength": 12,
            "pattern": PERCENT_PATTERN,
        }
        if rules:
            out["x-kubernetes-validations"] = rules
        return out

    return {
        "type": "object",
        "description": "The update strategy of each generated Deployment (passed on unchanged).",
        "properties": {
            "type": string(
                "Type of the update: RollingUpdate (the Deployment default) or Recreate.",
                enum=["RollingUpdate", "Recreate"],
            ),
            "rollingUpdate": {
                "type": "object",
                "description": "Parameters of a rolling update; only with type RollingUpdate.",
                "properties": {
                    "maxSurge": int_or_percent(
                        "How many pods a Deployment may create above its desired count during "
                        "an update: a number or a percentage like 25%.",
                        [],
                    ),
                    "maxUnavailable": int_or_percent(
                        "How many pods of a Deployment may be unavailable during an update: a "
                        "number or a percentage like 25% (at most 100%).",
                        [
                            _rule(
                                "type(self) == int || int(self.substring(0, self.size() - 1)) "
                                "<= 100",
                                "spec.strategy.rollingUpdate.maxUnavailable must not be "
                                "greater than 100%",
                            )
                        ],
                    ),
                },
                "x-kubernetes-validations": [
                    _rule(
                        "!has(self.maxSurge) || !has(self.maxUnavailable) || "
                        "!(string(self.maxSurge).matches('^0+%?$') && "
                        "string(self.maxUnavailable).matches('^0+%?$'))",
                        "spec.strategy.rollingUpdate.maxUnavailable may not be 0 when "
                        "spec.strategy.rollingUpdate.maxSurge is 0",
                        ".maxUnavailable",
                    )
                ],
            },
        },
        "x-kubernetes-validations": [
            _rule(
                "!has(self.rollingUpdate) || !has(self.type) || self.type == 'RollingUpdate'",
                "spec.strategy.rollingUpdate may only be set when spec.strategy.type is "
                "RollingUpdate",
                ".rollingUpdate",
            )
        ],
    }


def spec_schema(schemas: Mapping[str, Schema]) -> Schema:
    # CEL has no local variables here (cel.bind is not in the Kubernetes environment), so the
    # template labels are spelled out; the has() guards make a missing map behave as empty.
    has_labels = "(has(self.template.metadata) && has(self.template.metadata.labels))"
    labels = "self.template.metadata.labels"
    selector_rules = [
        _rule(
            f"!has(self.selector) || !has(self.selector.matchLabels) || "
            f"self.selector.matchLabels.all(k, {has_labels} && k in {labels} && "
            f"{labels}[k] == self.selector.matchLabels[k])",
            "spec.selector must match spec.template.metadata.labels: every "
            "spec.selector.matchLabels entry must be among the template labels",
            ".selector",
        ),
        _rule(
            f"!has(self.selector) || !has(self.selector.matchExpressions) || "
            f"self.selector.matchExpressions.all(e, "
            f"e.operator == 'In' ? ({has_labels} && e.key in {labels} && has(e.values) && "
            f"{labels}[e.key] in e.values) : "
            f"e.operator == 'NotIn' ? (!{has_labels} || !(e.key in {labels}) || "
            f"!has(e.values) || !({labels}[e.key] in e.values)) : "
            f"e.operator == 'Exists' ? ({has_labels} && e.key in {labels}) : "
            f"(!{has_labels} || !(e.key in {labels})))",
            "spec.selector must match spec.template.metadata.labels: every "
            "spec.selector.matchExpressions requirement must hold for the template labels",
            ".selector",
        ),
        _rule(
            "has(self.selector) == has(oldSelf.selector) && "
            "(!has(self.selector) || self.selector == oldSelf.selector)",
            "spec.selector is immutable",
            ".selector",
        ),
        *(rule.schema() for rule in SPEC_RULES),
    ]
    return {
        "type": "object",
        "description": "The desired state of the ZonalWorkload: a pod template run with its "
        "replicas spread evenly across the zones, as one Deployment per zone (placement "
        "PerZone) or as one Deployment with a zone topology spread constraint (Spread).",
        "required": ["template"],
        "properties": {
            **{f.name: f.schema() for f in SCALAR_FIELDS},
            "selector": label_selector_schema(),
            "template": pod_template_schema(schemas),
            STRATEGY: strategy_schema(),
            FAILOVER: failover_schema(),
            ZONE_ROLLOUT: rollout_crd.spec_schema(),
        },
        "x-kubernetes-validations": selector_rules,
    }


def status_schema() -> Schema:
    zone: Schema = {
        "type": "object",
        "description": "The state of one zone.",
        "required": ["name"],
        "properties": {
            "name": string("The zone: a value of the topologyKey node label."),
            "deployment": string("Name of the Deployment that runs the zone's replicas."),
            "eligibleNodes": int32("Nodes of the zone the pods may run on."),
            "readyNodes": int32("Eligible nodes of the zone that are Ready."),
            "desiredReplicas": int32(
                "Replicas the zone is to run once every move in progress is done."
            ),
            "replicas": int32("Spread placement: the workload's pods running in the zone."),
            "readyReplicas": int32("Ready replicas of the zone (its pods that are Ready)."),
            "availableReplicas": int32("Available replicas of the zone's Deployment."),
            "health": string(
                "Health of the zone. Healthy: serves its share. Degraded: nodes are failing but "
                "the grace period has not run out (or failover is disabled), so it keeps its "
                "share. Unhealthy: failed over, its share runs in other zones. Recovering: its "
                "nodes are back, and its share returns once the failback delay has passed. "
                "Shifted: up, but a ZoneShift (see shiftedBy) moves its share to other zones.",
                enum=[state.value for state in ZoneState],
            ),
            "unschedulableReplicas": int32(
                "Pods of the zone's Deployment that the scheduler cannot place (Pending as "
                "Unschedulable). They are reported here and in the Degraded condition, not moved."
            ),
            "deploymentGeneration": int64(
                "metadata.generation of the zone's Deployment after the operator's last write. "
                "Any other generation means the Deployment was edited by hand, and the operator "
                "puts it back."
            ),
            "reason": string("Machine-readable reason for the zone's health."),
            "message": string("Human-readable details about the zone's health."),
            "unhealthySince": date_time(
                "When the zone started failing (set while Degraded or Unhealthy)."
            ),
            "healthySince": date_time("When the zone's nodes came back (set while Recovering)."),
            "shiftedBy": {
                "type": "array",
                "description": "The ZoneShifts applied to the zone: its share runs in other "
                "zones until they end (see the ZoneShifted condition).",
                "items": {"type": "string"},
                "x-kubernetes-list-type": "atomic",
            },
            **rollout_crd.zone_status_fields(),
        },
    }
    condition: Schema = {
        "type": "object",
        "description": "A condition of the workload (metav1.Condition).",
        "required": ["type", "status", "lastTransitionTime", "reason", "message"],
        "properties": {
            "type": string(
                "Type of the condition in CamelCase, e.g. Ready.",
                maxLength=316,
                pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
            ),
            "status": string(
                "Status of the condition: True, False or Unknown.",
                enum=["True", "False", "Unknown"],
            ),
            "observedGeneration": int64(
                "The metadata.generation the condition was set for.", minimum=0
            ),
            "lastTransitionTime": date_time("When the condition last changed status."),
            "reason": string(
                "Machine-readable CamelCase reason for the last transition.",
                minLength=1,
                maxLength=1024,
                pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
            ),
            "message": string("Human-readable details about the last transition.", maxLength=32768),
        },
    }
    return {
        "type": "object",
        "description": "The observed state of the ZonalWorkload, written by the operator.",
        "properties": {
            "observedGeneration": int64("The metadata.generation the operator last acted on."),
            "replicas": int32("Pods of all zones' Deployments."),
            "readyReplicas": int32("Ready pods of all zones' Deployments."),
            "availableReplicas": int32("Available pods of all zones' Deployments."),
            "updatedReplicas": int32("Pods of the current template, across all zones."),
            "selector": string(
                "The pod label selector in string form (for the scale subresource and the "
                "HorizontalPodAutoscaler)."
            ),
            "zoneCount": int32("Zones the workload runs in."),
            "skew": int32(
                "Spread placement: the largest difference between the pods of two zones that "
                "can take pods (Healthy or Recovering). See the Balanced condition."
            ),
            "surgeReplicas": int32(
                "Spread placement: extra replicas the operator holds while it rebalances "
                "(make-before-break); removed again through evictions."
            ),
            "healthyZoneCount": int32("Zones that are Healthy."),
            ZONE_ROLLOUT: rollout_crd.status_schema(),
            "zones": {
                "type": "array",
                "description": "Per-zone state, one entry per zone.",
                "items": zone,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
            "conditions": {
                "type": "array",
                "description": "Conditions of the workload, e.g. Ready.",
                "items": condition,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
        },
    }


def root_schema(schemas: Mapping[str, Schema]) -> Schema:
    return {
        "type": "object",
        "description": "ZonalWorkload runs a pod template as one Deployment per zone, keeps "
        "its replicas spread evenly across the zones, and moves replicas out of a failing zone "
        "before Kubernetes evicts them.",
        "required": ["spec"],
        "properties": {
            "apiVersion": string(
                "APIVersion defines the versioned schema of this representation of an object."
            ),
            "kind": string("Kind is a string value representing the REST resource."),
            # Only name may be declared here; it lets the name rule below point at the field.
            "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
            "spec": spec_schema(schemas),
            "status": status_schema(),
        },
        "x-kubernetes-validations": [NAME_RULE.schema()],
    }


def crd(schemas: Mapping[str, Schema]) -> Schema:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["zw"],
                "categories": ["zonal"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root_schema(schemas)},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": [
                        column("Desired", "integer", ".spec.replicas", "Desired replicas"),
                        column("Ready", "integer", ".status.readyReplicas", "Ready replicas"),
                        column(
                            "Available",
                            "integer",
                            ".status.availableReplicas",
                            "Available replicas",
                        ),
                        column("Zones", "integer", ".status.zoneCount", "Zones in use"),
                        column(
                            "Placement",
                            "string",
                            ".spec.placement",
                            "PerZone or Spread",
                            priority=1,
                        ),
                        column(
                            "Skew",
                            "integer",
                            ".status.skew",
                            "Spread placement: pods per zone, largest difference",
                            priority=1,
                        ),
                        column(
                            "Healthy-Zones",
                            "integer",
                            ".status.healthyZoneCount",
                            "Healthy zones",
                            priority=1,
                        ),
                        column(
                            "Rollout",
                            "string",
                            ".status.zoneRollout.summary",
                            "ZoneByZone: the wave's progress",
                            priority=1,
                        ),
                        column(
                            "Status",
                            "string",
                            '.status.conditions[?(@.type=="Ready")].status',
                            "Status of the Ready condition",
                        ),
                        column("Age", "date", ".metadata.creationTimestamp", None),
                    ],
                }
            ],
        },
    }


# --------------------------------------------------------------------------------------------
# Output


def render(document: Schema, kubernetes_version: str) -> str:
    header = (
        "# Code generated by hack/gen_crd.py; DO NOT EDIT.\n"
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
    return render(crd(load_schemas(openapi)), version)


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
    except (GenerationError, OSError, json.JSONDecodeError) as exc:
        print(f"gen_crd: {exc}", file=sys.stderr)
        return 2
    worst = 0
    for output, text in texts.items():
        worst = max(worst, check(output, text) if args.check else write(output, text))
    return worst


def render_zoneshift() -> str:
    """The ZoneShift CRD (hack/zoneshift_crd.py): no Kubernetes schema inside it."""
    header = "# Code generated by hack/gen_crd.py; DO NOT EDIT.\n"
    body = yaml.safe_dump(
        zoneshift_crd(), sort_keys=True, default_flow_style=False, width=100, allow_unicode=True
    )
    return header + "---\n" + body


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
