"""The kind of change a status write carries, as the status-writes metric labels it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from zonal_operator.core.status_diff import KINDS, status_change


def status() -> dict[str, Any]:
    return {
        "observedGeneration": 2,
        "replicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "updatedReplicas": 3,
        "selector": "zonal.dev/workload=web",
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "AllReplicasAvailable",
             "message": "3 of 3 replicas available"},
        ],
        "zones": [
            {"name": "a", "health": "Healthy", "desiredReplicas": 1, "readyReplicas": 1,
             "availableReplicas": 1, "unschedulableReplicas": 0, "eligibleNodes": 5,
             "readyNodes": 5, "reason": "NodesReady", "message": "5/5 nodes Ready",
             "deploymentGeneration": 1},
        ],
    }  # fmt: skip


def changed(path: str, value: Any) -> dict[str, Any]:
    after = copy.deepcopy(status())
    target: Any = after
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[last] = value
    return after


@pytest.mark.parametrize(
    ("path", "value", "kind"),
    [
        ("observedGeneration", 3, "generation"),
        ("conditions.0.status", "False", "conditions"),
        ("conditions.0.reason", "ReplicasUnavailable", "conditions"),
        ("zones.0.health", "Degraded", "zones"),
        ("zones.0.desiredReplicas", 2, "zones"),
        ("zones.0.unhealthySince", "2026-01-01T00:00:00Z", "zones"),
        ("zones.0.deploymentGeneration", 2, "deployments"),
        ("readyReplicas", 2, "replicas"),
        ("zones.0.readyReplicas", 0, "replicas"),
        ("conditions.0.message", "2 of 3 replicas available", "replicas"),
        ("zones.0.readyNodes", 4, "nodes"),
        ("zones.0.message", "4/5 nodes Ready", "nodes"),
        ("selector", "zonal.dev/workload=api", "other"),
    ],
)
def test_a_change_is_named_by_what_it_changes(path: str, value: Any, kind: str) -> None:
    assert kind in KINDS
    assert status_change(status(), changed(path, value)) == kind


def test_the_most_significant_change_names_the_write() -> None:
    after = changed("zones.0.readyNodes", 0)
    after["zones"][0]["health"] = "Unhealthy"
    after["readyReplicas"] = 2
    assert status_change(status(), after) == "zones"


def test_a_zone_that_comes_or_goes_is_a_zone_change() -> None:
    after = copy.deepcopy(status())
    after["zones"].append({**after["zones"][0], "name": "b"})
    assert status_change(status(), after) == "zones"
    assert status_change(after, status()) == "zones"


def test_a_first_status_is_a_generation_change() -> None:
    assert status_change({}, status()) == "generation"
