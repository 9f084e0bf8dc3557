"""What of a Deployment a ZonalWorkload carries: spec.template (labels and annotations with
their rules, and Kubernetes' own PodSpec, which hack/gen_crd.py inlines, with the rules a
Deployment adds) and spec.strategy, passed on unchanged."""

from __future__ import annotations

from zonal_operator.api.fields import Field, Rule, item
from zonal_operator.api.group import QUALIFIED_NAME_PATTERN, RESERVED_LABEL_PREFIX
from zonal_operator.api.selector import MAX_LABELS, label_value

POD_SPEC_TYPE = "io.k8s.api.core.v1.PodSpec"
# Bound that keeps the CEL rule over the annotation keys within the cost budget.
MAX_ANNOTATIONS = 256
PERCENT_PATTERN = r"^[0-9]+%$"

_RESERVED = f"{RESERVED_LABEL_PREFIX} prefix: those labels belong to the operator"

POD_SPEC = Field(
    "spec",
    "",
    "",
    "Specification of the pods: the same fields as the spec of a Pod (core/v1 PodSpec). It is "
    "copied unchanged into the pod template of each generated Deployment. restartPolicy must "
    "be Always and activeDeadlineSeconds must not be set. Field reference: "
    "https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#PodSpec",
    inline=POD_SPEC_TYPE,
    rules=(
        Rule(
            "!has(self.activeDeadlineSeconds)",
            "spec.template.spec.activeDeadlineSeconds must not be set: Deployments do not "
            "support it",
            ".activeDeadlineSeconds",
        ),
    ),
    properties=(
        # A pod needs a container: say so here rather than fail when the Deployment is made.
        Field("containers", "", "", extra={"minItems": 1}),
        Field(
            "restartPolicy",
            "",
            "",
            rules=(
                Rule(
                    "self == 'Always'",
                    "spec.template.spec.restartPolicy must be Always: Deployments accept no "
                    "other value",
                ),
            ),
        ),
    ),
)

TEMPLATE = Field(
    "template",
    "template",
    "object",
    "The pod template of the workload, copied into each generated Deployment (one per zone).",
    required=("spec",),
    properties=(
        Field(
            "metadata",
            "",
            "object",
            "Labels and annotations of the pods. No other metadata fields are allowed.",
            properties=(
                Field(
                    "labels",
                    "",
                    "object",
                    "Labels of the pods. spec.selector must match them. Keys with the "
                    f"{RESERVED_LABEL_PREFIX} prefix are reserved for the operator.",
                    extra={"maxProperties": MAX_LABELS},
                    values=label_value(),
                    rules=(
                        Rule(
                            f"self.all(k, !k.startsWith('{RESERVED_LABEL_PREFIX}'))",
                            "spec.template.metadata.labels must not use keys with the reserved "
                            + _RESERVED,
                        ),
                        Rule(
                            f"self.all(k, k.matches('{QUALIFIED_NAME_PATTERN}'))",
                            "spec.template.metadata.labels keys must be valid label keys "
                            "([prefix/]name)",
                        ),
                    ),
                ),
                Field(
                    "annotations",
                    "",
                    "object",
                    "Annotations of the pods.",
                    extra={"maxProperties": MAX_ANNOTATIONS},
                    values=item("string"),
                    rules=(
                        Rule(
                            f"self.all(k, k.matches('{QUALIFIED_NAME_PATTERN}'))",
                            "spec.template.metadata.annotations keys must be valid qualified "
                            "names ([prefix/]name)",
                        ),
                    ),
                ),
            ),
        ),
        POD_SPEC,
    ),
)


def _int_or_percent(name: str, description: str, *rules: Rule) -> Field:
    return Field(
        name,
        "",
        "",
        description,
        minimum=0,
        extra={"x-kubernetes-int-or-string": True, "maxLength": 12, "pattern": PERCENT_PATTERN},
        rules=rules,
    )


STRATEGY = Field(
    "strategy",
    "",
    "object",
    "The update strategy of each generated Deployment (passed on unchanged).",
    rules=(
        Rule(
            "!has(self.rollingUpdate) || !has(self.type) || self.type == 'RollingUpdate'",
            "spec.strategy.rollingUpdate may only be set when spec.strategy.type is RollingUpdate",
            ".rollingUpdate",
        ),
    ),
    properties=(
        Field(
            "type",
            "",
            "string",
            "Type of the update: RollingUpdate (the Deployment default) or Recreate.",
            extra={"enum": ["RollingUpdate", "Recreate"]},
        ),
        Field(
            "rollingUpdate",
            "",
            "object",
            "Parameters of a rolling update; only with type RollingUpdate.",
            rules=(
                Rule(
                    "!has(self.maxSurge) || !has(self.maxUnavailable) || "
                    "!(string(self.maxSurge).matches('^0+%?$') && "
                    "string(self.maxUnavailable).matches('^0+%?$'))",
                    "spec.strategy.rollingUpdate.maxUnavailable may not be 0 when "
                    "spec.strategy.rollingUpdate.maxSurge is 0",
                    ".maxUnavailable",
                ),
            ),
            properties=(
                _int_or_percent(
                    "maxSurge",
                    "How many pods a Deployment may create above its desired count during an "
                    "update: a number or a percentage like 25%.",
                ),
                _int_or_percent(
                    "maxUnavailable",
                    "How many pods of a Deployment may be unavailable during an update: a "
                    "number or a percentage like 25% (at most 100%).",
                    Rule(
                        "type(self) == int || int(self.substring(0, self.size() - 1)) <= 100",
                        "spec.strategy.rollingUpdate.maxUnavailable must not be greater than 100%",
                    ),
                ),
            ),
        ),
    ),
)
