"""The one metav1.LabelSelector of the API (a ZonalWorkload's spec.selector, a ZoneShift's
workloadSelector and namespaceSelector), and its string form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zonal_operator.api.fields import Field, Rule, item
from zonal_operator.api.group import (
    LABEL_VALUE_MAX_LENGTH,
    LABEL_VALUE_PATTERN,
    QUALIFIED_NAME_MAX_LENGTH,
    QUALIFIED_NAME_PATTERN,
    RESERVED_LABEL_PREFIX,
)

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
# Bounds that keep the CEL rules which iterate a selector within the cost budget.
MAX_LABELS = 64
MAX_EXPRESSIONS = 32
MAX_VALUES = 64


def label_value() -> Field:
    return item("string", maxLength=LABEL_VALUE_MAX_LENGTH, pattern=LABEL_VALUE_PATTERN)


def label_selector(name: str, description: str, *, own_labels: bool = False) -> Field:
    """spec.<name>, a LabelSelector whose errors name it. `own_labels`: it selects the
    workload's own pods, so it may not use the operator's reserved prefix, nor be empty."""
    path, prefix = f"spec.{name}", RESERVED_LABEL_PREFIX
    reserved = f"the reserved {prefix} prefix: those labels belong to the operator"
    key_rules = (
        (
            Rule(
                f"!self.startsWith('{prefix}')",
                f"{path}.matchExpressions[].key must not use {reserved}",
            ),
        )
        if own_labels
        else ()
    )
    label_rules = (
        (
            Rule(
                f"self.all(k, !k.startsWith('{prefix}'))",
                f"{path}.matchLabels must not use keys with {reserved}",
            ),
        )
        if own_labels
        else ()
    )
    requirement = item(
        "object",
        "A label selector requirement: a key, an operator and a set of values.",
        required=("key", "operator"),
        properties=(
            Field(
                "key",
                "",
                "string",
                "The label key that the selector applies to.",
                extra={"maxLength": QUALIFIED_NAME_MAX_LENGTH, "pattern": QUALIFIED_NAME_PATTERN},
                rules=key_rules,
            ),
            Field(
                "operator",
                "",
                "string",
                "How the key relates to the values: In, NotIn, Exists or DoesNotExist.",
                extra={"enum": list(OPERATORS)},
            ),
            Field(
                "values",
                "",
                "array",
                "The values of the requirement: non-empty for In and NotIn, empty for Exists "
                "and DoesNotExist.",
                extra={"maxItems": MAX_VALUES, "x-kubernetes-list-type": "atomic"},
                items=label_value(),
            ),
        ),
        rules=(
            Rule(
                "!(self.operator in ['In', 'NotIn']) || "
                "(has(self.values) && self.values.size() > 0)",
                f"{path}.matchExpressions[].values must be non-empty when the operator is In "
                "or NotIn",
                ".values",
            ),
            Rule(
                "!(self.operator in ['Exists', 'DoesNotExist']) || "
                "!has(self.values) || self.values.size() == 0",
                f"{path}.matchExpressions[].values must be empty when the operator is Exists "
                "or DoesNotExist",
                ".values",
            ),
        ),
    )
    non_empty = (
        Rule(
            "(has(self.matchLabels) && self.matchLabels.size() > 0) || "
            "(has(self.matchExpressions) && self.matchExpressions.size() > 0)",
            f"{path} must not be empty: set matchLabels or matchExpressions, or leave {path} "
            "out to let the operator derive one",
        ),
    )
    return Field(
        name,
        "",
        "object",
        description,
        extra={"x-kubernetes-map-type": "atomic"},
        rules=non_empty if own_labels else (),
        properties=(
            Field(
                "matchLabels",
                "",
                "object",
                "A map of {key: value} pairs; each is equivalent to an In requirement with that "
                "single value. All requirements are ANDed.",
                extra={"maxProperties": MAX_LABELS},
                values=label_value(),
                rules=(
                    *label_rules,
                    Rule(
                        f"self.all(k, k.matches('{QUALIFIED_NAME_PATTERN}'))",
                        f"{path}.matchLabels keys must be valid label keys ([prefix/]name)",
                    ),
                ),
            ),
            Field(
                "matchExpressions",
                "",
                "array",
                "A list of label selector requirements. All requirements are ANDed.",
                extra={"maxItems": MAX_EXPRESSIONS, "x-kubernetes-list-type": "atomic"},
                items=requirement,
            ),
        ),
    )


def selector_string(selector: Mapping[str, Any]) -> str:
    """A LabelSelector in the string form `kubectl get -l` and the /scale subresource use."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], sorted(expr.get("values") or [])
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)
