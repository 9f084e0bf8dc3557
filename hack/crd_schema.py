"""The one walker from the API package (operator/zonal_operator/api/) to a CRD, for both kinds:
a spec `Field` tree into its OpenAPI schema, a status TypedDict (its keys annotated with
`Doc`) into the status schema, a `Kind` into the CustomResourceDefinition. Kubernetes' own
types named by a Field's `inline` come from hack/gen_crd.py's PodSpec inliner."""

from __future__ import annotations

import copy
import typing
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any, NotRequired, Required, get_args, get_origin

from zonal_operator.api.fields import Column, Doc, Field, Kind, Rule
from zonal_operator.api.group import CATEGORIES, GROUP, VERSION, Timestamp

Schema = dict[str, Any]
# Kubernetes' schema of a named type (e.g. io.k8s.api.core.v1.PodSpec), structural, inlined.
Inliner = Callable[[str], Schema]


class WalkError(Exception):
    """A declaration of the API package the walker cannot render."""


def rule_schema(rule: Rule) -> Schema:
    out: Schema = {"rule": rule.rule, "message": rule.message}
    if rule.field_path is not None:
        out["fieldPath"] = rule.field_path
    return out


def field_schema(field: Field, inline: Inliner | None = None) -> Schema:
    """A spec field's schema; an inlined type's with the field's keywords laid over it."""
    if field.inline is not None:
        if inline is None:
            raise WalkError(f"{field.name}: inlines {field.inline}, and no inliner was given")
        out = inline(field.inline)
    else:
        out = {}
    if field.type:
        out["type"] = field.type
    if field.description:
        out["description"] = field.description
    for key, value in (
        ("format", field.format),
        ("default", field.default),
        ("minimum", field.minimum),
        ("maximum", field.maximum),
    ):
        if value is not None:
            out[key] = copy.deepcopy(value)
    out.update(copy.deepcopy(dict(field.extra)))
    if field.required:
        out["required"] = list(field.required)
    if field.properties:
        properties = out.setdefault("properties", {})
        for sub in field.properties:
            properties[sub.name] = {**properties.get(sub.name, {}), **field_schema(sub, inline)}
    if field.items is not None:
        out["items"] = field_schema(field.items, inline)
    if field.values is not None:
        out["additionalProperties"] = field_schema(field.values, inline)
    if field.rules:
        out["x-kubernetes-validations"] = [rule_schema(r) for r in field.rules]
    return out


def _docstring(cls: object) -> str | None:
    text = getattr(cls, "__doc__", None)
    return " ".join(text.split()) if text else None


def status_schema(typed_dict: object) -> Schema:
    """A status TypedDict's schema: its keys, their types and their `Doc`s, recursively."""
    if not typing.is_typeddict(typed_dict):
        raise WalkError(f"{typed_dict!r} is not a TypedDict")
    hints = typing.get_type_hints(typed_dict, include_extras=True)
    required_keys: frozenset[str] = getattr(typed_dict, "__required_keys__", frozenset())
    out: Schema = {"type": "object"}
    description = _docstring(typed_dict)
    if description:
        out["description"] = description
    required = [key for key in hints if key in required_keys]
    if required:
        out["required"] = required
    out["properties"] = {key: _key_schema(key, hint) for key, hint in hints.items()}
    return out


def _key_schema(key: str, hint: Any) -> Schema:
    while get_origin(hint) in (Required, NotRequired):
        hint = get_args(hint)[0]
    if get_origin(hint) is not Annotated:
        raise WalkError(f"status key {key!r} has no Doc: annotate it as Annotated[type, doc(...)]")
    base, *extras = get_args(hint)
    docs = [extra for extra in extras if isinstance(extra, Doc)]
    if len(docs) != 1:
        raise WalkError(f"status key {key!r} needs exactly one Doc")
    out = _type_schema(key, base)
    out["description"] = docs[0].description
    for name, value in docs[0].keywords.items():
        is_enum = isinstance(value, type) and issubclass(value, Enum)
        out[name] = [member.value for member in value] if is_enum else copy.deepcopy(value)
    return out


def _type_schema(key: str, base: Any) -> Schema:
    if base is Timestamp:
        return {"type": "string", "format": "date-time"}
    if typing.is_typeddict(base):
        return status_schema(base)
    if get_origin(base) is list:
        (element,) = get_args(base)
        return {"type": "array", "items": _type_schema(key, element)}
    for python, openapi in ((bool, "boolean"), (int, "integer"), (str, "string")):
        if base is python:
            return {"type": openapi}
    raise WalkError(f"status key {key!r}: no schema for the type {base!r}")


def _column(column: Column) -> Schema:
    out: Schema = {"name": column.name, "type": column.type, "jsonPath": column.json_path}
    if column.description is not None:
        out["description"] = column.description
    if column.priority is not None:
        out["priority"] = column.priority
    return out


def root_schema(kind: Kind, inline: Inliner | None = None) -> Schema:
    out: Schema = {
        "type": "object",
        "description": kind.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": "APIVersion defines the versioned schema of this representation "
                "of an object.",
            },
            "kind": {
                "type": "string",
                "description": "Kind is a string value representing the REST resource.",
            },
            "metadata": field_schema(kind.metadata),
            "spec": field_schema(kind.spec, inline),
            "status": status_schema(kind.status),
        },
    }
    if kind.rules:
        out["x-kubernetes-validations"] = [rule_schema(r) for r in kind.rules]
    return out


def crd(kind: Kind, inline: Inliner | None = None) -> Schema:
    """The CustomResourceDefinition of `kind`."""
    subresources: Schema = {"status": {}}
    if kind.scale is not None:
        subresources["scale"] = dict(kind.scale)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": kind.list_kind,
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": list(kind.short_names),
                "categories": list(CATEGORIES),
            },
            "scope": kind.scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root_schema(kind, inline)},
                    "subresources": subresources,
                    "additionalPrinterColumns": [_column(c) for c in kind.columns],
                }
            ],
        },
    }
