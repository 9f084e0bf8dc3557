"""What the API is written in. The spec: a `Field` (its name, the attribute it is parsed into,
its schema and CEL rules, nested fields for an object) and a `Rule`. The status: TypedDicts
whose keys are annotated with a `Doc` (description and schema keywords), so that mypy checks
every key the operator writes. A kind: its `Kind` (names, scope, spec, status, printer
columns). hack/gen_crd.py walks these into the CRDs; nothing here renders them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rule:
    """A CEL validation rule (x-kubernetes-validations) the API server enforces."""

    rule: str
    message: str
    field_path: str | None = None


@dataclass(frozen=True)
class Field:
    """One field of the spec: its API name, the Python attribute it is parsed into ("" for
    what is not parsed into one), its type, description, format, default, bounds, further
    schema keywords and CEL rules; an object's properties (and which are required), an array's
    items, a map's values. `inline` names a Kubernetes type whose schema the generator inlines,
    with these properties laid over it. Empty type: the inlined type's own."""

    name: str
    attr: str
    type: str
    description: str = ""
    format: str | None = None
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    properties: tuple[Field, ...] = ()
    required: tuple[str, ...] = ()
    items: Field | None = None
    values: Field | None = None
    inline: str | None = None

    def read(self, raw: Mapping[str, Any]) -> Any:
        """The field's value in `raw` (a spec or a part of it), its default when absent."""
        return raw.get(self.name, self.default)


def int32(name: str, attr: str, description: str, **bounds: Any) -> Field:
    return Field(name, attr, "integer", description, format="int32", **bounds)


def item(
    type_: str,
    description: str = "",
    *,
    rules: tuple[Rule, ...] = (),
    properties: tuple[Field, ...] = (),
    required: tuple[str, ...] = (),
    **extra: Any,
) -> Field:
    """The unnamed schema of an array's items or a map's values; `extra`: further keywords."""
    return Field(
        "",
        "",
        type_,
        description,
        extra=extra,
        rules=rules,
        properties=properties,
        required=required,
    )


@dataclass(frozen=True)
class Doc:
    """A status key's schema beside its type, in `Annotated[type, Doc(...)]`: its description
    and further keywords (format, bounds, enum, list type). The type gives the rest."""

    description: str
    keywords: Mapping[str, Any] = field(default_factory=dict)


def doc(description: str, **keywords: Any) -> Doc:
    return Doc(description, keywords)


def i32(description: str, **keywords: Any) -> Doc:
    return Doc(description, {"format": "int32", **keywords})


def i64(description: str, **keywords: Any) -> Doc:
    return Doc(description, {"format": "int64", **keywords})


@dataclass(frozen=True)
class Column:
    """A printer column (additionalPrinterColumns); without a description, as Age goes."""

    name: str
    type: str
    json_path: str
    description: str | None = None
    priority: int | None = None


@dataclass(frozen=True)
class Kind:
    """One kind: its names and scope, its spec (an object Field), its status (a TypedDict),
    the rules and metadata schema of the whole object, subresources and printer columns."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    scope: str
    description: str
    spec: Field
    status: object  # a TypedDict class
    columns: tuple[Column, ...]
    metadata: Field
    rules: tuple[Rule, ...] = ()
    scale: Mapping[str, str] | None = None

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"
