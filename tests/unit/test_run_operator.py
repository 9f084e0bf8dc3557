"""When `make run` calls the sample Ready (hack/localcluster/run_operator.py)."""

from __future__ import annotations

from typing import Any

from localcluster.run_operator import ready_summary


def workload(generation: int = 2, observed: int = 2, ready: str = "True", **status: Any) -> Any:
    return {
        "metadata": {"name": "web", "generation": generation},
        "spec": {"replicas": 9},
        "status": {
            "observedGeneration": observed,
            "readyReplicas": 9,
            "conditions": [{"type": "Ready", "status": ready}],
            "zones": [
                {"name": "zone-a", "readyReplicas": 3},
                {"name": "zone-b", "readyReplicas": 3},
                {"name": "zone-c", "readyReplicas": 3},
            ],
        }
        | status,
    }


def test_ready_names_the_zones() -> None:
    assert ready_summary(workload()) == "9/9 Ready: zone-a 3, zone-b 3, zone-c 3"


def test_not_ready_while_any_part_is_missing() -> None:
    assert ready_summary(workload(observed=1)) is None  # status of an older spec
    assert ready_summary(workload(ready="False")) is None
    assert ready_summary(workload(readyReplicas=8)) is None
    assert ready_summary({"metadata": {"name": "web", "generation": 1}, "spec": {}}) is None
