"""Which nodes a workload's pods may be scheduled on, and therefore which zones exist for it.

The matching mirrors kube-scheduler's NodeAffinity and TaintToleration filters for the parts of
a pod spec that the operator sees in the pod template (nodeSelector, required node affinity,
tolerations). Malformed requirements match nothing, as in the scheduler, which treats a term it
cannot parse as not matching.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from zonal_operator.core.model import HEALTH_TAINT_KEYS, NodeInfo, Taint

# Effects that keep a pod off a node. PreferNoSchedule is only a preference.
_BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
# Go's strconv.ParseInt(s, 10, 64): optional sign, ASCII digits, nothing else (Python's int()
# would also accept spaces, underscores and non-ASCII digits).
_GO_INT = re.compile(r"[+-]?[0-9]+\Z")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _parse_int64(value: str) -> int | None:
    if not _GO_INT.match(value):
        return None
    number = int(value)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def node_selector_matches(
    labels: Mapping[str, str], node_selector: Mapping[str, str] | None
) -> bool:
    """True when every key/value of a pod's plain ``nodeSelector`` is among ``labels``."""
    if not node_selector:
        return True
    return all(key in labels and labels[key] == value for key, value in node_selector.items())


def _label_requirement_matches(labels: Mapping[str, str], req: Mapping[str, Any]) -> bool:
    key = req.get("key") or ""
    operator = req.get("operator")
    values: list[str] = list(req.get("values") or [])
    present = key in labels
    if operator in ("In", "NotIn"):
        if not values:  # invalid for the API server and the scheduler alike
            return False
        found = present and labels[key] in values
        return found if operator == "In" else not found
    if operator in ("Exists", "DoesNotExist"):
        if values:
            return False
        return present if operator == "Exists" else not present
    if operator in ("Gt", "Lt"):
        if len(values) != 1:
            return False
        bound = _parse_int64(values[0])
        actual = _parse_int64(labels[key]) if present else None
        if bound is None or actual is None:
            return False
        return actual > bound if operator == "Gt" else actual < bound
    return False  # unknown operator


def _field_requirement_matches(node: NodeInfo, req: Mapping[str, Any]) -> bool:
    # The scheduler supports only metadata.name, with In/NotIn and exactly one value.
    values: list[str] = list(req.get("values") or [])
    if req.get("key") != "metadata.name" or len(values) != 1:
        return False
    if req.get("operator") == "In":
        return node.name == values[0]
    if req.get("operator") == "NotIn":
        return node.name != values[0]
    return False


def _term_matches(node: NodeInfo, term: Mapping[str, Any]) -> bool:
    expressions: Sequence[Mapping[str, Any]] = term.get("matchExpressions") or []
    fields: Sequence[Mapping[str, Any]] = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term matches no objects
    return all(_label_requirement_matches(node.labels, e) for e in expressions) and all(
        _field_requirement_matches(node, f) for f in fields
    )


def node_affinity_matches(node: NodeInfo, required: Mapping[str, Any] | None) -> bool:
    """Whether ``node`` satisfies ``requiredDuringSchedulingIgnoredDuringExecution``.

    None means no constraint. Terms are ORed; an empty term list matches nothing.
    """
    if required is None:
        return True
    terms: Sequence[Mapping[str, Any]] = required.get("nodeSelectorTerms") or []
    return any(_term_matches(node, term) for term in terms)


def _toleration_matches(toleration: Mapping[str, Any], taint: Taint) -> bool:
    # Same order of checks as v1.Toleration.ToleratesTaint.
    effect = toleration.get("effect") or ""
    if effect and effect != taint.effect:
        return False
    key = toleration.get("key") or ""
    if key and key != taint.key:
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == taint.value
    return False


def tolerates(tolerations: Sequence[Mapping[str, Any]] | None, taint: Taint) -> bool:
    """Whether any of the pod's ``tolerations`` tolerates ``taint``."""
    return any(_toleration_matches(t, taint) for t in tolerations or ())


def node_is_eligible(node: NodeInfo, pod_spec: Mapping[str, Any]) -> bool:
    """Whether pods with this spec may run on ``node``, health aside.

    Taints in HEALTH_TAINT_KEYS are ignored: they say the node is unwell, not that the workload
    does not belong there, and a zone must not vanish just because its nodes went down.
    """
    if not node_selector_matches(node.labels, pod_spec.get("nodeSelector")):
        return False
    affinity = pod_spec.get("affinity") or {}
    node_affinity = affinity.get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not node_affinity_matches(node, required):
        return False
    tolerations = pod_spec.get("tolerations")
    return all(
        tolerates(tolerations, taint)
        for taint in node.taints
        if taint.effect in _BLOCKING_EFFECTS and taint.key not in HEALTH_TAINT_KEYS
    )


def zone_of(node: NodeInfo, topology_key: str) -> str | None:
    """The node's zone; an empty label value counts as no zone."""
    return node.labels.get(topology_key) or None


def eligible_zones(
    nodes: Iterable[NodeInfo],
    pod_spec: Mapping[str, Any],
    topology_key: str,
    allowed_zones: Collection[str] | None = None,
) -> dict[str, list[NodeInfo]]:
    """Zone -> the eligible nodes in it (sorted by name), zones in sorted order.

    Nodes without the topology key are skipped. A non-empty ``allowed_zones`` restricts the
    result to those zones; None or empty means every zone.
    """
    by_zone: dict[str, list[NodeInfo]] = {}
    for node in nodes:
        zone = zone_of(node, topology_key)
        if zone is None or (allowed_zones and zone not in allowed_zones):
            continue
        if node_is_eligible(node, pod_spec):
            by_zone.setdefault(zone, []).append(node)
    return {zone: sorted(by_zone[zone], key=lambda n: n.name) for zone in sorted(by_zone)}
