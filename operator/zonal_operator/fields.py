"""The building blocks of the spec definitions (api.py, rolloutapi.py, shiftapi.py): a field
with its name, schema and CEL rules, and a CEL rule with its message. hack/gen_crd.py and
hack/zoneshift_crd.py render the CRDs' schemas from them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rule:
    """A CEL validation rule (x-kubernetes-validations) the API server enforces."""

    rule: str
    message: str
    field_path: str | None = None

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "message": self.message}
        if self.field_path is not None:
            out["fieldPath"] = self.field_path
        return out


@dataclass(frozen=True)
class Field:
    """One field of the spec: its API name, the Python attribute it is parsed into, its schema
    (type, format, default, bounds, description, further keywords) and its CEL rules."""

    name: str
    attr: str
    type: str
    description: str
    format: str | None = None
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()

    def schema(self) -> dict[str, Any]:
        """The field's OpenAPI schema in the CRD."""
        out: dict[str, Any] = {"type": self.type, "description": self.description}
        for key, value in (
            ("format", self.format),
            ("default", self.default),
            ("minimum", self.minimum),
            ("maximum", self.maximum),
        ):
            if value is not None:
                out[key] = value
        out.update(copy.deepcopy(dict(self.extra)))
        if self.rules:
            out["x-kubernetes-validations"] = [r.schema() for r in self.rules]
        return out

    def read(self, raw: Mapping[str, Any]) -> Any:
        """The field's value in `raw` (a spec or a part of it), its default when absent."""
        return raw.get(self.name, self.default)


def int32(name: str, attr: str, description: str, **bounds: Any) -> Field:
    return Field(name, attr, "integer", description, format="int32", **bounds)
