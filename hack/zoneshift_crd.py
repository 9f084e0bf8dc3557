"""The CustomResourceDefinition of ZoneShift (crds/zonal.dev_zoneshifts.yaml), rendered by
hack/gen_crd.py from operator/zonal_operator/shiftapi.py (fields, defaults, descriptions, CEL
rules); this file adds the structure: the two label selectors, the status, printer columns."""

from __future__ import annotations

from crd_schema import Schema, column, date_time, int32, int64, string
from zonal_operator.api import GROUP, QUALIFIED_NAME_PATTERN, VERSION
from zonal_operator.core.drills import MAX_RUNS
from zonal_operator.shiftapi import (
    ACTIVE,
    DRILL_DURATION_RULE,
    KIND,
    MAX_LISTED,
    NAMESPACE_SELECTOR,
    NAMESPACE_SELECTOR_DESCRIPTION,
    PLURAL,
    SCALAR_FIELDS,
    WORKLOAD_SELECTOR,
    WORKLOAD_SELECTOR_DESCRIPTION,
    ZONE,
)

# Bounds that keep the CEL rules which iterate the selectors within the cost budget.
MAX_EXPRESSIONS = 32
MAX_VALUES = 64
MAX_LABELS = 64


def selector_schema(name: str, description: str) -> Schema:
    """A metav1.LabelSelector whose errors name `spec.<name>`."""
    path = f"spec.{name}"
    requirement: Schema = {
        "type": "object",
        "description": "A label selector requirement: a key, an operator and a set of values.",
        "required": ["key", "operator"],
        "properties": {
            "key": string(
                "The label key that the selector applies to.",
                maxLength=317,
                pattern=QUALIFIED_NAME_PATTERN,
            ),
            "operator": string(
                "How the key relates to the values: In, NotIn, Exists or DoesNotExist.",
                enum=["In", "NotIn", "Exists", "DoesNotExist"],
            ),
            "values": {
                "type": "array",
                "description": "The values: non-empty for In and NotIn, empty for Exists and "
                "DoesNotExist.",
                "maxItems": MAX_VALUES,
                "items": {"type": "string", "maxLength": 63},
                "x-kubernetes-list-type": "atomic",
            },
        },
        "x-kubernetes-validations": [
            {
                "rule": "!(self.operator in ['In', 'NotIn']) || "
                "(has(self.values) && size(self.values) > 0)",
                "message": f"{path}.matchExpressions[].values must be non-empty when the "
                "operator is In or NotIn",
            },
            {
                "rule": "!(self.operator in ['Exists', 'DoesNotExist']) || "
                "!has(self.values) || size(self.values) == 0",
                "message": f"{path}.matchExpressions[].values must be empty when the "
                "operator is Exists or DoesNotExist",
            },
        ],
    }
    return {
        "type": "object",
        "description": description,
        "properties": {
            "matchLabels": {
                "type": "object",
                "description": "Labels that must all be present with these values.",
                "maxProperties": MAX_LABELS,
                "additionalProperties": {"type": "string", "maxLength": 63},
                "x-kubernetes-validations": [
                    {
                        "rule": f"self.all(k, k.matches('{QUALIFIED_NAME_PATTERN}'))",
                        "message": f"{path}.matchLabels keys must be valid label keys "
                        "([prefix/]name)",
                    }
                ],
            },
            "matchExpressions": {
                "type": "array",
                "description": "Requirements on labels, all of which must hold.",
                "maxItems": MAX_EXPRESSIONS,
                "items": requirement,
                "x-kubernetes-list-type": "atomic",
            },
        },
        "x-kubernetes-map-type": "atomic",
    }


def spec_schema() -> Schema:
    properties: Schema = {f.name: f.schema() for f in SCALAR_FIELDS}
    properties[WORKLOAD_SELECTOR] = selector_schema(
        WORKLOAD_SELECTOR, WORKLOAD_SELECTOR_DESCRIPTION
    )
    properties[NAMESPACE_SELECTOR] = selector_schema(
        NAMESPACE_SELECTOR, NAMESPACE_SELECTOR_DESCRIPTION
    )
    return {
        "type": "object",
        "description": "Which zone to move out of, for which ZonalWorkloads, for how long, why.",
        "required": [ZONE.name, "duration"],
        "properties": properties,
        "x-kubernetes-validations": [DRILL_DURATION_RULE.schema()],
    }


def status_schema() -> Schema:
    refused: Schema = {
        "type": "object",
        "description": "A ZonalWorkload the shift selects but is not applied to.",
        "required": ["namespace", "name"],
        "properties": {
            "namespace": string("The workload's namespace."),
            "name": string("The workload's name."),
            "message": string("Why the shift is not applied to it."),
        },
    }
    condition: Schema = {
        "type": "object",
        "description": "A condition of the shift (metav1.Condition).",
        "required": ["type", "status", "lastTransitionTime", "reason", "message"],
        "properties": {
            "type": string("Type of the condition, e.g. Active.", maxLength=316),
            "status": string("True, False or Unknown.", enum=["True", "False", "Unknown"]),
            "observedGeneration": int64("The metadata.generation it was set for."),
            "lastTransitionTime": date_time("When the condition last changed status."),
            "reason": string("Machine-readable CamelCase reason.", maxLength=1024),
            "message": string("Human-readable details.", maxLength=32768),
        },
    }
    drilled: Schema = {
        "type": "object",
        "description": "A ZonalWorkload a drill's run measured.",
        "required": ["namespace", "name"],
        "properties": {
            "namespace": string("The workload's namespace."),
            "name": string("The workload's name."),
            "replicas": int32("Its spec.replicas at the run's start."),
            "lowestReady": int32("The lowest Ready count the operator saw during the run."),
            "capacityBackSeconds": int32(
                "Seconds from the run's start until its Ready replicas outside the zone "
                "reached spec.replicas; absent: not (yet)."
            ),
            "failed": {
                "type": "boolean",
                "description": "Whether Ready fell below spec.replicas during the run.",
            },
        },
    }
    run: Schema = {
        "type": "object",
        "description": "One run of a drill.",
        "required": ["scheduledAt", "endsAt", "outcome"],
        "properties": {
            "scheduledAt": date_time("The scheduled time of the run."),
            "startedAt": date_time("When the operator started it (absent: skipped)."),
            "endsAt": date_time("The end of its window: scheduledAt + spec.duration."),
            "outcome": string(
                "Running, Passed, Failed or Skipped.",
                enum=["Running", "Passed", "Failed", "Skipped"],
            ),
            "skipped": {"type": "boolean", "description": "Whether the run was skipped."},
            "reason": string(
                "Why, in CamelCase: CapacityBack (passed); BelowReplicas, CapacityNotBack "
                "(failed); ZoneFailing, CapacityShort, ShiftInForce, PreviousRunInForce, "
                "NothingToDrill, Missed (skipped)."
            ),
            "message": string("Why, for people."),
            "workloadCount": int32("ZonalWorkloads the run measured."),
            "failedWorkloads": int32("Of those, the ones Ready fell below spec.replicas for."),
            "workloads": {
                "type": "array",
                "description": f"The measured workloads (at most {MAX_LISTED}, the failed "
                "first, then the slowest to have their capacity back).",
                "items": drilled,
                "x-kubernetes-list-type": "atomic",
            },
        },
    }
    return {
        "type": "object",
        "description": "The state of the shift, written by the operator.",
        "properties": {
            "observedGeneration": int64("The metadata.generation last acted on."),
            "startedAt": date_time(
                "When the operator first saw the shift: it is in force since. A drill's: when "
                "its last run started."
            ),
            "countedFrom": date_time(
                "When the current spec.duration started counting: startedAt, or the last edit "
                "of spec.duration."
            ),
            "duration": string("The spec.duration counted from countedFrom."),
            "expiresAt": date_time(
                "When the shift ends: countedFrom + duration. A drill's: when its last run ends."
            ),
            "schedule": string("A drill's spec.schedule, as the operator runs it."),
            "nextRunAt": date_time("A drill's next scheduled run."),
            "runs": {
                "type": "array",
                "description": f"A drill's last {MAX_RUNS} runs, newest first: started "
                "(Running, then Passed or Failed, with what was measured per workload) or "
                "skipped (and why).",
                "maxItems": MAX_RUNS,
                "items": run,
                "x-kubernetes-list-type": "atomic",
            },
            "active": {
                "type": "boolean",
                "description": "Whether the shift is in force (started, not expired).",
            },
            "appliedWorkloads": int32(
                "ZonalWorkloads the shift selects and applies to (their replicas leave the zone, "
                "or they run in no such zone)."
            ),
            "refusedWorkloads": int32(
                "ZonalWorkloads the shift selects but is not applied to (see refused)."
            ),
            "refused": {
                "type": "array",
                "description": f"The first {MAX_LISTED} refused ZonalWorkloads, and why: a "
                "shift that would leave a workload no zone to run in is not applied to it.",
                "items": refused,
                "x-kubernetes-list-type": "atomic",
            },
            "conditions": {
                "type": "array",
                "description": f"Conditions of the shift: {ACTIVE}.",
                "items": condition,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
        },
    }


def root_schema() -> Schema:
    return {
        "type": "object",
        "description": "ZoneShift moves the replicas of the selected ZonalWorkloads out of one "
        "zone for a bounded time (a zone that is up but unwell, or about to be taken down for "
        "maintenance), surge first, and lets them return by the workloads' failback rules when "
        "it ends. Cluster-scoped. Delete it to cancel the shift.",
        "required": ["spec"],
        "properties": {
            "apiVersion": string(
                "APIVersion defines the versioned schema of this representation of an object."
            ),
            "kind": string("Kind is a string value representing the REST resource."),
            "metadata": {"type": "object"},
            "spec": spec_schema(),
            "status": status_schema(),
        },
    }


def crd() -> Schema:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["zs"],
                "categories": ["zonal"],
            },
            "scope": "Cluster",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root_schema()},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        column("Zone", "string", ".spec.zone", "The zone shifted away from"),
                        column("Active", "boolean", ".status.active", "In force now"),
                        column("Expires", "string", ".status.expiresAt", "When it ends"),
                        column(
                            "Schedule", "string", ".spec.schedule", "A drill's schedule", priority=1
                        ),
                        column(
                            "Workloads",
                            "integer",
                            ".status.appliedWorkloads",
                            "ZonalWorkloads it applies to",
                        ),
                        column(
                            "Refused",
                            "integer",
                            ".status.refusedWorkloads",
                            "ZonalWorkloads it selects but is not applied to",
                        ),
                        column(
                            "Last Run",
                            "string",
                            ".status.runs[0].outcome",
                            "A drill's last run: Running, Passed, Failed or Skipped",
                        ),
                        column("Reason", "string", ".spec.reason", "Why", priority=1),
                        {
                            "name": "Age",
                            "type": "date",
                            "jsonPath": ".metadata.creationTimestamp",
                        },
                    ],
                }
            ],
        },
    }
