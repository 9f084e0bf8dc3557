"""Building ZonalWorkloads (and the stock Deployments they are compared with), and reading the
conditions of what comes back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

API_VERSION = "zonal.dev/v1alpha1"
WORKLOAD_LABEL = "zonal.dev/workload"  # on every Deployment and pod of a workload
ZONE_LABEL = "zonal.dev/zone"  # on a PerZone Deployment and its pods: their zone
ZONE_KEY = "topology.kubernetes.io/zone"  # a node's zone
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
# The headroom placeholders' PriorityClass, as the chart installs it (templates/priorityclass.yaml).
HEADROOM_PRIORITY_CLASS = {
    "apiVersion": "scheduling.k8s.io/v1",
    "kind": "PriorityClass",
    "metadata": {"name": "zonal-headroom"},
    "value": -10,
    "preemptionPolicy": "Never",
    "globalDefault": False,
}


def container(image: str = "nginx:1.27", cpu: str = "100m", memory: str = "64Mi") -> dict[str, Any]:
    """The one container of a test pod, named `app`, with these resource requests."""
    return {
        "name": "app",
        "image": image,
        "resources": {"requests": {"cpu": cpu, "memory": memory}},
    }


def pod_template(app: str, containers: Sequence[Mapping[str, Any]], **pod_spec: Any) -> Any:
    """A pod template labelled app=`app`."""
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [dict(c) for c in containers], **pod_spec},
    }


def workload(
    name: str,
    namespace: str,
    replicas: int = 9,
    image: str = "nginx:1.27",
    *,
    cpu: str = "100m",
    memory: str = "64Mi",
    **spec: Any,
) -> dict[str, Any]:
    """A ZonalWorkload of `replicas` pods of one container, selected by app=`name`; `spec`
    adds or overrides spec fields (placement, failover, ...)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ZonalWorkload",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name, [container(image, cpu, memory)]),
            **spec,
        },
    }


def deployment(
    name: str,
    namespace: str,
    replicas: int,
    containers: Sequence[Mapping[str, Any]],
    **pod_spec: Any,
) -> dict[str, Any]:
    """A stock Deployment of `replicas` pods, selected by app=`name`; `pod_spec` adds fields to
    its pod spec (topologySpreadConstraints, ...)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name, containers, **pod_spec),
        },
    }


def condition(status: Mapping[str, Any], type_: str) -> dict[str, Any]:
    """The condition of that type in an object's status; {} when there is none."""
    found: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == type_), {}
    )
    return found


def is_ready(obj: Mapping[str, Any]) -> bool:
    """Whether a pod's or a node's Ready condition is True."""
    return condition(obj.get("status") or {}, "Ready").get("status") == "True"
