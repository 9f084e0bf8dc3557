"""What the placements ask of a live Deployment: whose it is, whether its status is current and
its rollout done, whether it holds what is rendered now, and what to PUT to put it back."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from zonal_operator.api.group import RESERVED_LABEL_PREFIX, ZONE_LABEL
from zonal_operator.api.workload import Workload
from zonal_operator.core.semantic import contains


def owns(wl: Workload, obj: Mapping[str, Any]) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("controller") and r.get("uid") == wl.uid for r in refs)


def owned_zone(obj: Mapping[str, Any], wl: Workload) -> str | None:
    """The zone of a PerZone Deployment the workload owns (None: not one)."""
    if not owns(wl, obj):
        return None
    zone = ((obj.get("metadata") or {}).get("labels") or {}).get(ZONE_LABEL)
    return str(zone) if zone else None


def status_stale(live: Mapping[str, Any]) -> bool:
    meta, status = live.get("metadata") or {}, live.get("status") or {}
    return int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0)


def rolled_out(live: Mapping[str, Any], replicas: int) -> bool:
    """The Deployment is done with `replicas`, as `kubectl rollout status` judges it: status is
    current, every pod runs the latest template, no old pod is left, and all are available."""
    status = live.get("status") or {}
    return (
        not status_stale(live)
        and int(status.get("replicas") or 0) == replicas
        and int(status.get("updatedReplicas") or 0) == replicas
        and int(status.get("availableReplicas") or 0) >= replicas
    )


def matches_live(desired: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """Whether the live Deployment holds what is rendered now, replicas aside: the same spec
    digest (catches fields the workload no longer sets), every rendered field and label, and
    no record of the operator's (a zonal.dev/ annotation) that is no longer rendered."""
    want_spec = {k: v for k, v in desired["spec"].items() if k != "replicas"}
    meta, live_meta = desired["metadata"], live.get("metadata") or {}
    live_spec = live.get("spec") or {}
    live_annotations = live_meta.get("annotations") or {}
    return (
        all(
            k in meta["annotations"]
            for k in live_annotations
            if k.startswith(RESERVED_LABEL_PREFIX)
        )
        and contains(meta["annotations"], live_annotations)
        and contains(want_spec, live_spec)
        and contains(meta["labels"], live_meta.get("labels") or {})
        and bool(want_spec.get("paused")) == bool(live_spec.get("paused"))
    )


def merge_for_replace(desired: dict[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
    """The full object to PUT: the live metadata (finalizers, other owners, everybody's labels
    and annotations) with ours laid over it, and our spec. The annotations under zonal.dev/ are
    all the operator's records, so one that `desired` no longer sets is dropped."""
    live_meta = live.get("metadata") or {}
    ours = desired["metadata"]
    meta = {k: copy.deepcopy(v) for k, v in live_meta.items() if k != "managedFields"}
    meta["labels"] = {**(live_meta.get("labels") or {}), **ours["labels"]}
    live_annotations = live_meta.get("annotations") or {}
    records = _records(live_annotations)
    theirs = {k: v for k, v in live_annotations.items() if k not in records}
    meta["annotations"] = {**theirs, **ours["annotations"]}
    mine = ours["ownerReferences"][0]
    others = [r for r in live_meta.get("ownerReferences") or [] if r.get("uid") != mine["uid"]]
    meta["ownerReferences"] = [mine, *others]
    return {
        "apiVersion": desired["apiVersion"],
        "kind": desired["kind"],
        "metadata": meta,
        "spec": desired["spec"],
    }


def _records(annotations: Mapping[str, Any]) -> set[str]:
    """The operator's records among a Deployment's annotations: every zonal.dev/ one."""
    return {k for k in annotations if k.startswith(RESERVED_LABEL_PREFIX)}
