"""The OpenAPI leaves the CRD generators share: hack/gen_crd.py (ZonalWorkload, with
hack/rollout_crd.py for spec.zoneRollout) and hack/zoneshift_crd.py (ZoneShift)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def string(description: str, **extra: Any) -> Schema:
    return {"type": "string", "description": description, **extra}


def int32(description: str, **extra: Any) -> Schema:
    return {"type": "integer", "format": "int32", "description": description, **extra}


def int64(description: str, **extra: Any) -> Schema:
    return {"type": "integer", "format": "int64", "description": description, **extra}


def date_time(description: str) -> Schema:
    return {"type": "string", "format": "date-time", "description": description}


def column(name: str, type_: str, path: str, description: str | None, **extra: Any) -> Schema:
    """A printer column (additionalPrinterColumns); without a description, as Age goes."""
    out: Schema = {"name": name, "type": type_, "jsonPath": path}
    if description is not None:
        out["description"] = description
    return {**out, **extra}
