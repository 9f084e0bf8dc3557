"""spec.zoneRollout of a ZonalWorkload: how a change of the rendered Deployment (the pod
template, strategy, minReadySeconds, progressDeadlineSeconds, revisionHistoryLimit) reaches the
zones. Its fields with their defaults, bounds, descriptions and CEL rules, and the typed policy
the pure core reads (core/waves.py decides the waves). What the waves write into the status
is in status.py (ZoneRolloutStatus, and the zone entries' revision fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zonal_operator.api.fields import Field, Rule, int32, item
from zonal_operator.api.group import MAX_ZONES, ZONE_NAME

ZONE_ROLLOUT = "zoneRollout"
ZONE_ROLLOUT_DESCRIPTION = (
    "How a change of the pod template (or of strategy, minReadySeconds, "
    "progressDeadlineSeconds, revisionHistoryLimit) reaches the zones. AllZones: every zone's "
    "Deployment at once. ZoneByZone: one zone at a time (maxConcurrentZones), each after the "
    "previous ones have run the change fully Ready for bakeSeconds; the wave halts at the first "
    "zone whose rollout fails, and the other zones keep the previous template. PerZone "
    "placement only."
)
ALL_ZONES = "AllZones"
ZONE_BY_ZONE = "ZoneByZone"
MAX_BAKE_SECONDS = 86400

MODE = Field(
    "mode",
    "mode",
    "string",
    "AllZones (the default): a change reaches every zone at once. ZoneByZone: zone by zone, "
    "with a bake time, halting at the first zone that fails.",
    default=ALL_ZONES,
    extra={"enum": [ALL_ZONES, ZONE_BY_ZONE]},
)
BAKE_SECONDS = int32(
    "bakeSeconds",
    "bake_seconds",
    "ZoneByZone: how long, in seconds, a zone must run the change with its rollout complete, "
    "every pod Ready and no container restarting, before the next zone starts. 0 to 86400, "
    "default 300.",
    minimum=0,
    maximum=MAX_BAKE_SECONDS,
    default=300,
)
ORDER = Field(
    "order",
    "order",
    "array",
    "ZoneByZone: the zones in the order they get the change. Zones not listed follow, by "
    "name; zones listed that the workload does not run in are passed over. Default: the "
    "order of spec.zones when set, else by name.",
    extra={"maxItems": MAX_ZONES, "x-kubernetes-list-type": "atomic"},
    items=item("string", **ZONE_NAME),
    rules=(
        Rule(
            "self.all(z, self.exists_one(y, y == z))",
            "spec.zoneRollout.order must not name a zone twice",
        ),
    ),
)
MAX_CONCURRENT_ZONES = int32(
    "maxConcurrentZones",
    "max_concurrent_zones",
    "ZoneByZone: how many zones may be updating or baking at once. 1 to 100, default 1.",
    minimum=1,
    maximum=MAX_ZONES,
    default=1,
)
ROLLBACK_ON_HALT = Field(
    "rollbackOnHalt",
    "rollback_on_halt",
    "boolean",
    "ZoneByZone: when the wave halts, put the zone that failed back on the template the other "
    "zones still run. Default false: the failed zone is left as it is, for inspection.",
    default=False,
)
ZONE_ROLLOUT_FIELDS = (MODE, BAKE_SECONDS, ORDER, MAX_CONCURRENT_ZONES, ROLLBACK_ON_HALT)
_DEFAULTS = {f.attr: f.default for f in ZONE_ROLLOUT_FIELDS}
ZONE_ROLLOUT_SECTION = Field(
    ZONE_ROLLOUT,
    "zone_rollout",
    "object",
    ZONE_ROLLOUT_DESCRIPTION,
    default={},
    properties=ZONE_ROLLOUT_FIELDS,
)


@dataclass(frozen=True)
class ZoneRolloutPolicy:
    mode: str = _DEFAULTS["mode"]
    bake_seconds: int = _DEFAULTS["bake_seconds"]
    order: tuple[str, ...] = ()
    max_concurrent_zones: int = _DEFAULTS["max_concurrent_zones"]
    rollback_on_halt: bool = _DEFAULTS["rollback_on_halt"]

    @property
    def zone_by_zone(self) -> bool:
        return self.mode == ZONE_BY_ZONE

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any] | None) -> ZoneRolloutPolicy:
        raw = raw or {}
        return cls(
            mode=str(MODE.read(raw)),
            bake_seconds=int(BAKE_SECONDS.read(raw)),
            order=tuple(str(z) for z in raw.get(ORDER.name) or ()),
            max_concurrent_zones=int(MAX_CONCURRENT_ZONES.read(raw)),
            rollback_on_halt=bool(ROLLBACK_ON_HALT.read(raw)),
        )
