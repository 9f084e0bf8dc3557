"""spec.zoneRollout of a ZonalWorkload: how a change of the rendered Deployment (the pod
template, strategy, minReadySeconds, progressDeadlineSeconds, revisionHistoryLimit) reaches the
zones. Its fields with their defaults, bounds, descriptions and CEL rules, and the typed policy
the pure core reads (core/waves.py decides the waves). hack/rollout_crd.py renders the schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zonal_operator.fields import Field, Rule, int32

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
# As spec.zones: keeps the CEL rule over the order within the cost budget.
MAX_ORDER = 100
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
    extra={
        "items": {"type": "string", "minLength": 1, "maxLength": 63},
        "maxItems": MAX_ORDER,
        "x-kubernetes-list-type": "atomic",
    },
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
    maximum=MAX_ORDER,
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

# Over the whole spec: a Spread workload has one Deployment, which every zone shares.
SPREAD_RULE = Rule(
    f"self.?placement.orValue('PerZone') != 'Spread' || "
    f"self.?{ZONE_ROLLOUT}.{MODE.name}.orValue('{ALL_ZONES}') != '{ZONE_BY_ZONE}'",
    "spec.zoneRollout.mode ZoneByZone needs spec.placement PerZone: a Spread workload runs as "
    "one Deployment that every zone shares, so a change reaches its zones together",
    f".{ZONE_ROLLOUT}",
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
