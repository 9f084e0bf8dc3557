"""The placeholder Deployment of a zone (core/headroom_render.py)."""

from __future__ import annotations

from typing import Any

from zonal_operator.api.group import HEADROOM_LABEL, WORKLOAD_LABEL, ZONE_LABEL
from zonal_operator.api.workload import Workload
from zonal_operator.core import headroom_render as hr
from zonal_operator.core.deployment import owned_zone
from zonal_operator.core.naming import deployment_name


def _workload() -> Workload:
    spec: dict[str, Any] = {
        "replicas": 6,
        "failover": {"headroom": {"mode": "Placeholders", "priorityClassName": "low"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "nodeSelector": {"pool": "tight"},
                "tolerations": [{"key": "pool", "operator": "Exists", "effect": "NoSchedule"}],
                "affinity": {"podAntiAffinity": {"x": 1}},
                "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}],
                "containers": [
                    {
                        "name": "a",
                        "image": "x",
                        "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}},
                    },
                    {
                        "name": "b",
                        "image": "y",
                        "resources": {"requests": {"cpu": "1", "memory": "64Mi"}},
                    },
                ],
            },
        },
    }
    return Workload.from_body(
        {"metadata": {"name": "web", "namespace": "ns", "uid": "u1"}, "spec": spec}
    )


def test_placeholders_ask_what_one_pod_asks_where_it_may_run() -> None:
    wl = _workload()
    body = hr.render_placeholders(wl, "zone-a", 2)
    pod = body["spec"]["template"]["spec"]
    assert body["metadata"]["name"] == f"{deployment_name('web', 'zone-a')}.headroom"
    assert body["spec"]["replicas"] == 2
    assert pod["priorityClassName"] == "low"
    assert pod["nodeSelector"] == {"pool": "tight"}
    assert pod["tolerations"][0]["key"] == "pool"
    assert "podAntiAffinity" not in pod["affinity"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert {"key": wl.topology_key, "operator": "In", "values": ["zone-a"]} in terms[
        "nodeSelectorTerms"
    ][0]["matchExpressions"]
    (pause,) = pod["containers"]
    # 1.5 cores for the containers, raised to the init container's 2; 128Mi of memory.
    assert pause["resources"]["requests"] == {"cpu": "2", "memory": str(128 * 1024**2)}
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u1"


def test_placeholders_are_never_the_workload_s_pods() -> None:
    wl = _workload()
    body = hr.render_placeholders(wl, "zone-a", 1)
    labels = body["spec"]["template"]["metadata"]["labels"]
    assert labels == {HEADROOM_LABEL: "web", hr.HEADROOM_ZONE_LABEL: "zone-a"}
    assert WORKLOAD_LABEL not in labels and ZONE_LABEL not in labels and "app" not in labels
    assert owned_zone(body, wl) is None
    assert hr.is_placeholder(body)


def test_rendering_is_deterministic() -> None:
    wl = _workload()
    assert hr.render_placeholders(wl, "zone-a", 3) == hr.render_placeholders(wl, "zone-a", 3)
