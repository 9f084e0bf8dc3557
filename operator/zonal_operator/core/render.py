"""Render the Deployments of a ZonalWorkload (pure: values in, a dict out): one per zone with
PerZone placement, a single one with Spread placement.

What is added to the user's pod template, and why:
- PerZone: required node affinity `topologyKey In [zone]`, ANDed into every node selector term
  the user already has, so the pods land in their zone and nowhere else;
- Spread: required node affinity `topologyKey Exists` (or `In spec.zones`), and a
  `DoNotSchedule` topology spread constraint over the zone key with `nodeTaintsPolicy: Honor`:
  the nodes of a dead zone carry the `unreachable`/`not-ready` NoSchedule taints, so they drop
  out of the skew computation and the replacements schedule in the healthy zones instead of
  waiting Pending for the dead zone to catch up; while zone shifts apply, or a zone failed on
  the heartbeat verdict (its silent nodes untainted), also `topologyKey NotIn [those zones]`,
  and a surge-first strategy (core/spread_shifts.py);
- a soft topology spread constraint over `kubernetes.io/hostname`, so a zone's replicas do not
  pile onto one node, unless the user already spreads over hostnames;
- NoExecute tolerations for `not-ready` and `unreachable` with the failover policy's short
  `tolerationSeconds` (unless the template tolerates those taints itself), so pods on a dead
  node are replaced in seconds rather than after the API server's default 300 s.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from zonal_operator.api.group import (
    API_VERSION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    RESERVED_LABEL_PREFIX,
    WORKLOAD_LABEL,
    ZONE_LABEL,
)
from zonal_operator.api.template import STRATEGY
from zonal_operator.api.workload import KIND, Workload
from zonal_operator.core.model import NODE_FAILURE_TAINTS
from zonal_operator.core.naming import deployment_name

HOSTNAME_KEY = "kubernetes.io/hostname"
SPEC_HASH_ANNOTATION = f"{RESERVED_LABEL_PREFIX}spec-hash"
# PerZone: which revision of the workload's template a zone's Deployment runs, and that
# template itself, so that a zone-by-zone rollout (core/waves.py) can keep a zone on, or put it
# back to, a revision the spec no longer holds.
REVISION_ANNOTATION = f"{RESERVED_LABEL_PREFIX}revision"
TEMPLATE_ANNOTATION = f"{RESERVED_LABEL_PREFIX}template"
# ...and the template it ran before its last change of revision: what a rollback restores once
# every other zone has moved on.
PREVIOUS_TEMPLATE_ANNOTATION = f"{RESERVED_LABEL_PREFIX}previous-template"
# The API server refuses an object whose annotations add up to more than 256 KiB, and a
# Deployment may record two templates: a large one is kept compressed, and one too large even so
# is not recorded (its zone can then be rolled forward, not back).
INLINE_TEMPLATE_LIMIT = 16 * 1024
RECORDED_TEMPLATE_LIMIT = 100 * 1024
COMPRESSED_PREFIX = "zlib+base64:"
# The surge a zone put back after a halt holds over its replicas (core/rollbacks.py says why).
SURGE_ANNOTATION = f"{RESERVED_LABEL_PREFIX}rollback-surge"


def owner_reference(workload: Workload) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": workload.name,
        "uid": workload.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def zone_labels(workload: Workload, zone: str) -> dict[str, str]:
    """Labels that tell a zone's Deployment and pods apart from every other one's."""
    return {WORKLOAD_LABEL: workload.name, ZONE_LABEL: zone}


def zone_selector(workload: Workload, zone: str) -> dict[str, Any]:
    selector = workload.base_selector()
    selector["matchLabels"] = {**selector["matchLabels"], **zone_labels(workload, zone)}
    return selector


def render_deployment(
    workload: Workload,
    zone: str,
    replicas: int,
    *,
    surge: int = 0,
    live: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Deployment that runs `replicas` pods of `workload` in `zone` (PerZone placement), as
    it should be now: `workload` at the revision the zone is to run, a rollback's `surge` laid
    over (core/rollbacks.py), and the template the zone ran before carried over from `live`."""
    labels = zone_labels(workload, zone)
    template = _template(workload, labels)
    pod_spec = template["spec"]
    _pin_to_zone(pod_spec, workload.topology_key, zone)
    _spread_over_nodes(pod_spec, zone_selector(workload, zone))
    _tolerate_node_failures(pod_spec, workload.failover.toleration_seconds)
    name = deployment_name(workload.name, zone)
    body = _deployment(
        workload,
        name,
        labels=labels,
        selector=zone_selector(workload, zone),
        template=template,
        replicas=replicas,
    )
    recorded = recorded_template(workload)
    annotations = body["metadata"]["annotations"]
    annotations[REVISION_ANNOTATION] = _digest(recorded, 10)
    encoded = encode_template(recorded)
    if encoded is not None:
        annotations[TEMPLATE_ANNOTATION] = encoded
    _lay_over_surge(body, surge)
    if live is not None:
        _carry_previous(body, live)
    return body


def _lay_over_surge(desired: dict[str, Any], surge: int) -> None:
    """The replicas, a strategy that takes no pod down before its replacement is Ready, the
    record, and the digest of the spec so held."""
    if surge <= 0:
        return
    spec = desired["spec"]
    spec["replicas"] += surge
    spec[STRATEGY.name] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": 0},
    }
    annotations = desired["metadata"]["annotations"]
    annotations[SURGE_ANNOTATION] = str(surge)
    annotations[SPEC_HASH_ANNOTATION] = spec_hash(spec)


def _carry_previous(desired: dict[str, Any], live: Mapping[str, Any]) -> None:
    """A zone keeps the template it ran before, for a rollback to find: the one it runs when it
    changes revision, the one it recorded when it does not."""
    recorded = (live.get("metadata") or {}).get("annotations") or {}
    ours = desired["metadata"]["annotations"]
    changing = str(recorded.get(REVISION_ANNOTATION, "")) != ours[REVISION_ANNOTATION]
    before = recorded.get(TEMPLATE_ANNOTATION if changing else PREVIOUS_TEMPLATE_ANNOTATION)
    if before:
        desired["metadata"]["annotations"][PREVIOUS_TEMPLATE_ANNOTATION] = before


def encode_template(recorded: Mapping[str, Any]) -> str | None:
    """A template as its annotation holds it: compact JSON, compressed when large, None when
    too large even so (see RECORDED_TEMPLATE_LIMIT)."""
    raw = json.dumps(recorded, sort_keys=True, separators=(",", ":"))
    if len(raw) <= INLINE_TEMPLATE_LIMIT:
        return raw
    packed = COMPRESSED_PREFIX + base64.b64encode(zlib.compress(raw.encode())).decode()
    return packed if len(packed) <= RECORDED_TEMPLATE_LIMIT else None


def decode_template(raw: str) -> Any:
    """The value encode_template encoded. Raises ValueError on anything else."""
    if not raw.startswith(COMPRESSED_PREFIX):
        return json.loads(raw)
    try:
        inflate = zlib.decompressobj()
        # Never inflate past what an object could hold (the annotation is anybody's to edit).
        text = inflate.decompress(base64.b64decode(raw[len(COMPRESSED_PREFIX) :]), 4 << 20)
    except zlib.error as err:
        raise ValueError(str(err)) from err
    return json.loads(text)


def recorded_template(workload: Workload) -> dict[str, Any]:
    """What a revision is: the pod template and the Deployment settings passed through."""
    return {"template": dict(workload.template), **dict(workload.rollout)}


def template_revision(workload: Workload) -> str:
    """The revision of the workload's spec that its PerZone Deployments run once rolled out."""
    return _digest(recorded_template(workload), 10)


def _digest(value: Any, length: int) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:length]


def render_spread_deployment(
    workload: Workload,
    replicas: int,
    *,
    excluded: Sequence[str] = (),
    strategy: Mapping[str, Any] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The one Deployment of a workload with Spread placement: named like the workload; with
    the zones kept out (a shift, the heartbeat verdict) `excluded`, and, while they are, the
    surge-first `strategy` and `annotations` (core/spread_shifts.py decides them)."""
    labels = {WORKLOAD_LABEL: workload.name}
    selector = workload.base_selector()
    template = _template(workload, labels)
    pod_spec = template["spec"]
    _require_zone(pod_spec, workload.topology_key, workload.zones)
    if excluded:
        _require(
            pod_spec,
            {"key": workload.topology_key, "operator": "NotIn", "values": list(excluded)},
        )
    _spread_over_zones(pod_spec, workload, selector)
    _spread_over_nodes(pod_spec, selector)
    _tolerate_node_failures(pod_spec, workload.failover.toleration_seconds)
    return _deployment(
        workload,
        workload.name,
        labels=labels,
        selector=selector,
        template=template,
        replicas=replicas,
        strategy=strategy,
        annotations=annotations,
    )


def _template(workload: Workload, labels: Mapping[str, str]) -> dict[str, Any]:
    template = copy.deepcopy(dict(workload.template))
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    template.setdefault("spec", {})
    return template


def _deployment(
    workload: Workload,
    name: str,
    *,
    labels: Mapping[str, str],
    selector: Mapping[str, Any],
    template: dict[str, Any],
    replicas: int,
    strategy: Mapping[str, Any] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": copy.deepcopy(dict(selector)),
        "template": template,
        **copy.deepcopy(dict(workload.rollout)),
    }
    if strategy is not None:
        spec[STRATEGY.name] = copy.deepcopy(dict(strategy))
    if workload.paused:
        spec["paused"] = True
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": workload.namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, **labels},
            "annotations": {**(annotations or {}), SPEC_HASH_ANNOTATION: spec_hash(spec)},
            "ownerReferences": [owner_reference(workload)],
        },
        "spec": spec,
    }


def spec_hash(spec: Mapping[str, Any]) -> str:
    """A digest of the rendered spec, replicas aside. A field removed from the workload's
    template is invisible to a field-by-field comparison with the live object; the digest
    changes."""
    return _digest({k: v for k, v in spec.items() if k != "replicas"}, 16)


def _pin_to_zone(pod_spec: dict[str, Any], topology_key: str, zone: str) -> None:
    _require(pod_spec, {"key": topology_key, "operator": "In", "values": [zone]})


def _require_zone(pod_spec: dict[str, Any], topology_key: str, zones: Sequence[str]) -> None:
    """Only nodes that belong to a zone (one of spec.zones, when given): a node without the
    zone label would be a domain of its own to the scheduler's skew arithmetic."""
    if zones:
        _require(pod_spec, {"key": topology_key, "operator": "In", "values": sorted(zones)})
    else:
        _require(pod_spec, {"key": topology_key, "operator": "Exists"})


def _require(pod_spec: dict[str, Any], requirement: Mapping[str, Any]) -> None:
    node_affinity = pod_spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    terms = required.get("nodeSelectorTerms") or [{}]
    # Terms are ORed: the zone requirement must go into each of them to hold for all. A user's
    # empty term matches no node; it is left as it is rather than made to match the zone.
    user_terms = bool(required.get("nodeSelectorTerms"))
    for term in terms:
        if term or not user_terms:
            term["matchExpressions"] = [
                *(term.get("matchExpressions") or []),
                copy.deepcopy(dict(requirement)),
            ]
    required["nodeSelectorTerms"] = terms


def _spread_over_zones(
    pod_spec: dict[str, Any], workload: Workload, selector: Mapping[str, Any]
) -> None:
    constraints = pod_spec.get("topologySpreadConstraints") or []
    if any(c.get("topologyKey") == workload.topology_key for c in constraints):
        return  # the user's own zone spreading wins
    constraints.append(
        {
            "maxSkew": workload.max_skew,
            "topologyKey": workload.topology_key,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": copy.deepcopy(dict(selector)),
            # Count only the pods of the current ReplicaSet: a rollout starts a fresh spread.
            "matchLabelKeys": ["pod-template-hash"],
            # Honor taints: a dead zone's tainted nodes are no domain, so they hold no one back.
            "nodeTaintsPolicy": "Honor",
            "nodeAffinityPolicy": "Honor",
        }
    )
    pod_spec["topologySpreadConstraints"] = constraints


def _spread_over_nodes(pod_spec: dict[str, Any], selector: Mapping[str, Any]) -> None:
    constraints = pod_spec.get("topologySpreadConstraints") or []
    if any(c.get("topologyKey") == HOSTNAME_KEY for c in constraints):
        return  # the user's own hostname spreading wins
    constraints.append(
        {
            "maxSkew": 1,
            "topologyKey": HOSTNAME_KEY,
            # Soft: a full or cordoned node must not leave a replica Pending.
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": copy.deepcopy(dict(selector)),
            "matchLabelKeys": ["pod-template-hash"],
        }
    )
    pod_spec["topologySpreadConstraints"] = constraints


def _tolerate_node_failures(pod_spec: dict[str, Any], seconds: int) -> None:
    tolerations = pod_spec.get("tolerations") or []
    for key in NODE_FAILURE_TAINTS:
        if any(_covers(t, key) for t in tolerations):
            continue  # the template decides for itself
        tolerations.append(
            {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}
        )
    pod_spec["tolerations"] = tolerations


def _covers(toleration: Mapping[str, Any], key: str) -> bool:
    """Whether the toleration already applies to the NoExecute taint `key`."""
    if toleration.get("effect") not in (None, "", "NoExecute"):
        return False
    if not toleration.get("key"):
        return toleration.get("operator") == "Exists"
    return bool(toleration.get("key") == key)
