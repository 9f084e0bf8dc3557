"""The repository's example ZonalWorkload (examples/zonalworkload.yaml), as a body and parsed:
what a user starts from, so that rendering is checked on it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from zonal_operator.api.workload import Workload

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "zonalworkload.yaml"
UID = "0b6b7c1e-5a1e-4f7e-9d3a-111111111111"


def example_body(**spec: Any) -> dict[str, Any]:
    """The example, in namespace `shop`, with `spec` fields set over its own."""
    body: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    body["metadata"].update(uid=UID, namespace="shop", generation=1)
    body["spec"].update(copy.deepcopy(spec))
    return body


def example_workload(**spec: Any) -> Workload:
    return Workload.from_body(example_body(**spec))
