"""The schema of spec.zoneRollout and of what zone-by-zone rollouts write into the status of a
ZonalWorkload (rendered into its CRD by hack/gen_crd.py from
operator/zonal_operator/rolloutapi.py; core/waves.py writes the status)."""

from __future__ import annotations

from crd_schema import Schema, date_time, int32, string
from zonal_operator.rolloutapi import ZONE_ROLLOUT_DESCRIPTION, ZONE_ROLLOUT_FIELDS


def spec_schema() -> Schema:
    return {
        "type": "object",
        "description": ZONE_ROLLOUT_DESCRIPTION,
        "default": {},
        "properties": {f.name: f.schema() for f in ZONE_ROLLOUT_FIELDS},
    }


def zone_status_fields() -> Schema:
    """Fields of a zone's status entry (status.zones[])."""
    return {
        "revision": string(
            "The revision of the workload's template (pod template and Deployment settings) "
            "the zone's Deployment runs."
        ),
        "updatedAt": date_time("ZoneByZone: when the wave gave the zone its revision."),
        "bakingSince": date_time(
            "ZoneByZone: since when the zone has run the wave's revision rolled out, every pod "
            "Ready; it has baked once spec.zoneRollout.bakeSeconds have passed."
        ),
        "bakedAt": date_time("ZoneByZone: when the zone finished baking the wave's revision."),
    }


def status_schema() -> Schema:
    """status.zoneRollout."""
    return {
        "type": "object",
        "description": "ZoneByZone: the wave that brings the spec's revision to the zones.",
        "properties": {
            "revision": string("The revision of the spec the wave brings to the zones."),
            "previousRevision": string(
                "The revision the zones not reached run (what rollbackOnHalt restores)."
            ),
            "zonesDone": int32("Zones that run the revision and have baked it."),
            "zones": int32("Zones in the wave."),
            "inFlight": {
                "type": "array",
                "description": "Zones updating to the revision or baking it.",
                "items": {"type": "string"},
                "x-kubernetes-list-type": "atomic",
            },
            "halted": {
                "type": "object",
                "description": "Set when the wave has halted: where, why, and when. It holds "
                "until spec.template (or another setting of the revision) changes.",
                "properties": {
                    "zone": string("The zone whose rollout failed."),
                    "reason": string(
                        "ProgressDeadlineExceeded, ContainerRestarts or PodsNotReady."
                    ),
                    "message": string("Human-readable details."),
                    "at": date_time("When the wave halted."),
                },
            },
            "summary": string("The wave in a few words, for kubectl get -o wide."),
        },
    }
