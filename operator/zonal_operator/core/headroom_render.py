"""Render a zone's headroom placeholders (pure): one Deployment per zone of pause pods, each
asking what one pod of the workload asks, under the workload's node constraints and pinned to
the zone, at the headroom PriorityClass, owned by the workload.

The placeholder pods carry none of the workload's labels, only HEADROOM_LABEL and the zone's
placeholder label: no Service routes to them, the workload's selector (/scale, the HPA) and
its Ready counts never see them, and core/deployment.owned_zone (which reads ZONE_LABEL) never
takes their Deployment for a zone's. The Deployment's name, `<zone Deployment>.headroom`,
cannot be a zone Deployment's: those are DNS labels, without a dot.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from zonal_operator.api.group import (
    HEADROOM_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    RESERVED_LABEL_PREFIX,
)
from zonal_operator.api.workload import Workload
from zonal_operator.core import render
from zonal_operator.core.naming import deployment_name
from zonal_operator.core.requests import format_milli, pod_requests_milli

# The pause image of the pinned Kubernetes (kubeadm 1.36.3 lists pause 3.10.2): every node
# that runs pods holds it already as its sandbox image.
DEFAULT_PAUSE_IMAGE = "registry.k8s.io/pause:3.10.2"
HEADROOM_ZONE_LABEL = f"{RESERVED_LABEL_PREFIX}headroom-zone"
SUFFIX = ".headroom"
# The pod spec fields that decide where a pod may run, carried over as the workload has them.
_PLACEMENT_FIELDS = ("nodeSelector", "tolerations", "nodeName", "schedulerName")


def placeholder_name(workload: str, zone: str) -> str:
    return f"{deployment_name(workload, zone)}{SUFFIX}"


def placeholder_labels(workload: Workload, zone: str) -> dict[str, str]:
    return {HEADROOM_LABEL: workload.name, HEADROOM_ZONE_LABEL: zone}


def is_placeholder(obj: Mapping[str, Any]) -> bool:
    return HEADROOM_LABEL in ((obj.get("metadata") or {}).get("labels") or {})


def pod_requests(pod_spec: Mapping[str, Any]) -> dict[str, str]:
    """What one pod of the workload asks the scheduler for (core/requests.py), as quantities."""
    return {key: format_milli(v) for key, v in sorted(pod_requests_milli(pod_spec).items())}


def render_placeholders(
    workload: Workload, zone: str, replicas: int, *, image: str = DEFAULT_PAUSE_IMAGE
) -> dict[str, Any]:
    """The placeholder Deployment of ``zone`` with ``replicas`` pause pods."""
    source = workload.pod_spec
    pod_spec: dict[str, Any] = {
        k: copy.deepcopy(source[k]) for k in _PLACEMENT_FIELDS if source.get(k) is not None
    }
    node_affinity = (source.get("affinity") or {}).get("nodeAffinity")
    if node_affinity:
        pod_spec["affinity"] = {"nodeAffinity": copy.deepcopy(node_affinity)}
    render._pin_to_zone(pod_spec, workload.topology_key, zone)
    render._tolerate_node_failures(pod_spec, workload.failover.toleration_seconds)
    requests = pod_requests(source)
    pod_spec.update(
        {
            "priorityClassName": workload.failover.headroom.priority_class_name,
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "containers": [
                {
                    "name": "pause",
                    "image": image,
                    "resources": {"requests": requests} if requests else {},
                }
            ],
        }
    )
    labels = placeholder_labels(workload, zone)
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": dict(labels)},
        "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        # Preempted placeholders are replaced at once; none needs to drain.
        "strategy": {"type": "Recreate"},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": placeholder_name(workload.name, zone),
            "namespace": workload.namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, **labels},
            "annotations": {render.SPEC_HASH_ANNOTATION: render.spec_hash(spec)},
            "ownerReferences": [render.owner_reference(workload)],
        },
        "spec": spec,
    }
