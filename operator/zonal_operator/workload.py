"""A ZonalWorkload as plain values: its spec with defaults applied, and who it is.

The API server applies the CRD's defaults already; the same defaults are repeated here so that
the pure core also works on objects that never went through an API server (tests, dry runs).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zonal_operator.model import DEFAULT_TOPOLOGY_KEY

GROUP = "zonal.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ZonalWorkload"
PLURAL = "zonalworkloads"

# Labels the operator puts on everything it generates. The `zonal.dev/` prefix is reserved:
# the CRD rejects it in user selectors and template labels.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "zonal-operator"
WORKLOAD_LABEL = "zonal.dev/workload"
ZONE_LABEL = "zonal.dev/zone"

# spec.placement: one Deployment per zone (the default), or one Deployment whose pods the
# scheduler spreads across zones with a topology spread constraint.
PER_ZONE = "PerZone"
SPREAD = "Spread"


@dataclass(frozen=True)
class FailoverPolicy:
    enabled: bool = True
    unhealthy_node_percent: int = 50
    grace_period_seconds: int = 30
    failback_delay_seconds: int = 300
    failback_step_percent: int = 25
    toleration_seconds: int = 30

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any] | None) -> FailoverPolicy:
        raw = raw or {}
        default = cls()
        return cls(
            enabled=bool(raw.get("enabled", default.enabled)),
            unhealthy_node_percent=int(
                raw.get("unhealthyNodePercent", default.unhealthy_node_percent)
            ),
            grace_period_seconds=int(raw.get("gracePeriodSeconds", default.grace_period_seconds)),
            failback_delay_seconds=int(
                raw.get("failbackDelaySeconds", default.failback_delay_seconds)
            ),
            failback_step_percent=int(
                raw.get("failbackStepPercent", default.failback_step_percent)
            ),
            toleration_seconds=int(raw.get("tolerationSeconds", default.toleration_seconds)),
        )


@dataclass(frozen=True)
class Workload:
    """One ZonalWorkload: identity, spec (defaults applied) and the status it last reported."""

    name: str
    namespace: str
    uid: str
    generation: int
    replicas: int
    template: Mapping[str, Any]
    selector: Mapping[str, Any] | None = None
    topology_key: str = DEFAULT_TOPOLOGY_KEY
    zones: tuple[str, ...] = ()
    max_skew: int = 1
    paused: bool = False
    placement: str = PER_ZONE
    # Deployment settings passed through untouched (strategy, minReadySeconds, ...).
    rollout: Mapping[str, Any] = field(default_factory=dict)
    failover: FailoverPolicy = field(default_factory=FailoverPolicy)
    status: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def pod_spec(self) -> Mapping[str, Any]:
        spec: Mapping[str, Any] = self.template.get("spec") or {}
        return spec

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Workload:
        meta = body.get("metadata") or {}
        spec = body.get("spec") or {}
        rollout = {
            k: copy.deepcopy(spec[k])
            for k in (
                "strategy",
                "minReadySeconds",
                "revisionHistoryLimit",
                "progressDeadlineSeconds",
            )
            if spec.get(k) is not None
        }
        return cls(
            name=meta["name"],
            namespace=meta.get("namespace", "default"),
            uid=meta.get("uid", ""),
            generation=int(meta.get("generation", 0)),
            replicas=int(spec.get("replicas", 1)),
            template=copy.deepcopy(spec.get("template") or {}),
            selector=copy.deepcopy(spec.get("selector")) if spec.get("selector") else None,
            topology_key=spec.get("topologyKey") or DEFAULT_TOPOLOGY_KEY,
            zones=tuple(spec.get("zones") or ()),
            max_skew=int(spec.get("maxSkew", 1)),
            paused=bool(spec.get("paused", False)),
            placement=str(spec.get("placement") or PER_ZONE),
            rollout=rollout,
            failover=FailoverPolicy.from_spec(spec.get("failover")),
            status=copy.deepcopy(body.get("status") or {}),
        )

    @property
    def spread(self) -> bool:
        return self.placement == SPREAD

    def base_selector(self) -> dict[str, Any]:
        """The selector of all this workload's pods, over every zone (for /scale and the HPA)."""
        selector = copy.deepcopy(dict(self.selector)) if self.selector else {}
        labels = dict(selector.get("matchLabels") or {})
        labels[WORKLOAD_LABEL] = self.name
        selector["matchLabels"] = labels
        return selector


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
