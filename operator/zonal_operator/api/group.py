"""What both kinds share: the API group and version, the labels the operator puts on what it
generates, the patterns of label keys and values, the schema of a zone's name, and the one
timestamp format of the status."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, NewType

GROUP = "zonal.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
# `kubectl get zonal` lists both kinds.
CATEGORIES = ("zonal",)

# Labels the operator puts on everything it generates. The `zonal.dev/` prefix is reserved:
# the CRD rejects it in user selectors and template labels.
RESERVED_LABEL_PREFIX = f"{GROUP}/"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "zonal-operator"
WORKLOAD_LABEL = f"{RESERVED_LABEL_PREFIX}workload"
ZONE_LABEL = f"{RESERVED_LABEL_PREFIX}zone"
HEADROOM_LABEL = f"{RESERVED_LABEL_PREFIX}headroom"
# On the leader-election Lease: the node silences the leader has proven, which a new leader
# resumes a heartbeat verdict from (core/resume.py).
SILENCES_ANNOTATION = f"{GROUP}/silent-nodes"

DEFAULT_TOPOLOGY_KEY = "topology.kubernetes.io/zone"

# A label key: an optional DNS subdomain prefix and "/", then a name of at most 63 characters.
QUALIFIED_NAME_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
QUALIFIED_NAME_MAX_LENGTH = 317
# A label value (possibly empty), and one that is not.
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
NON_EMPTY_LABEL_VALUE_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
LABEL_VALUE_MAX_LENGTH = 63
# Bound on the lists of zones (spec.zones, spec.zoneRollout.order) that keeps the CEL rules
# iterating them within the cost budget.
MAX_ZONES = 100


# A node label key, as a topologyKey names one: the keywords of its string.
LABEL_KEY: Mapping[str, Any] = MappingProxyType(
    {"minLength": 1, "maxLength": QUALIFIED_NAME_MAX_LENGTH, "pattern": QUALIFIED_NAME_PATTERN}
)
# A zone, wherever the spec names one (spec.zones, spec.zoneRollout.order, a ZoneShift's
# spec.zone): a non-empty value of the topologyKey node label. The keywords of its string.
ZONE_NAME: Mapping[str, Any] = MappingProxyType(
    {"minLength": 1, "maxLength": LABEL_VALUE_MAX_LENGTH, "pattern": NON_EMPTY_LABEL_VALUE_PATTERN}
)


# A time in the status: RFC 3339 in UTC, to the second, as metav1.Time writes it; and a
# metav1.MicroTime, as Lease timestamps are (leader election).
Timestamp = NewType("Timestamp", str)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MICRO_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(moment: datetime) -> Timestamp:
    return Timestamp(moment.strftime(TIME_FORMAT))


def format_micro_time(moment: datetime) -> str:
    return moment.strftime(MICRO_TIME_FORMAT)


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as the API serves it, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
