"""The Deployment rendered for one zone of a ZonalWorkload (render.py)."""

from __future__ import annotations

import base64
import copy
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.kit.examples import UID, example_body, example_workload

from zonal_operator.api.group import (
    DEFAULT_TOPOLOGY_KEY,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    WORKLOAD_LABEL,
    ZONE_LABEL,
)
from zonal_operator.api.workload import Workload
from zonal_operator.core import waves
from zonal_operator.core.deployment import merge_for_replace
from zonal_operator.core.eligibility import node_affinity_matches
from zonal_operator.core.model import NodeInfo
from zonal_operator.core.render import (
    COMPRESSED_PREFIX,
    HOSTNAME_KEY,
    NODE_FAILURE_TAINTS,
    PREVIOUS_TEMPLATE_ANNOTATION,
    REVISION_ANNOTATION,
    TEMPLATE_ANNOTATION,
    render_deployment,
    template_revision,
)

ZONE_REQUIREMENT = {"key": DEFAULT_TOPOLOGY_KEY, "operator": "In", "values": ["zone-a"]}


def workload(**spec: Any) -> Workload:
    return example_workload(**spec)


def pod_spec_of(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def with_pod_spec(**fields: Any) -> Workload:
    """The example workload with `fields` set in its pod spec."""
    body = example_body()
    body["spec"]["template"]["spec"].update(copy.deepcopy(fields))
    return Workload.from_body(body)


def added_tolerations(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        t
        for t in pod_spec_of(deployment).get("tolerations") or []
        if t.get("key") in NODE_FAILURE_TAINTS and t.get("tolerationSeconds") is not None
    ]


# --- identity, labels, selector ---------------------------------------------------------------


def test_name_namespace_labels_and_owner() -> None:
    dep = render_deployment(workload(), "zone-a", 3)
    assert dep["apiVersion"] == "apps/v1"
    assert dep["kind"] == "Deployment"
    meta = dep["metadata"]
    assert meta["name"] == "web-zone-a"
    assert meta["namespace"] == "shop"
    assert meta["labels"] == {
        MANAGED_BY_LABEL: MANAGED_BY,
        WORKLOAD_LABEL: "web",
        ZONE_LABEL: "zone-a",
    }
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "zonal.dev/v1alpha1",
            "kind": "ZonalWorkload",
            "name": "web",
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert dep["spec"]["replicas"] == 3


def test_zone_value_that_is_not_a_dns_label_gets_a_safe_name() -> None:
    dep = render_deployment(workload(), "EU_West.1", 1)
    name = dep["metadata"]["name"]
    assert name.startswith("web-eu-west-1-")
    assert len(name) <= 63
    # The labels keep the zone value itself.
    assert dep["metadata"]["labels"][ZONE_LABEL] == "EU_West.1"


def test_selector_is_user_selector_plus_workload_and_zone() -> None:
    dep = render_deployment(workload(), "zone-b", 2)
    assert dep["spec"]["selector"] == {
        "matchLabels": {"app": "web", WORKLOAD_LABEL: "web", ZONE_LABEL: "zone-b"}
    }
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels == {"app": "web", WORKLOAD_LABEL: "web", ZONE_LABEL: "zone-b"}


def test_selector_match_expressions_are_kept() -> None:
    expr = {"key": "tier", "operator": "In", "values": ["front", "edge"]}
    body = example_body(selector={"matchLabels": {"app": "web"}, "matchExpressions": [expr]})
    body["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    dep = render_deployment(Workload.from_body(body), "zone-a", 1)
    assert dep["spec"]["selector"]["matchExpressions"] == [expr]
    assert dep["spec"]["selector"]["matchLabels"][ZONE_LABEL] == "zone-a"
    assert dep["spec"]["template"]["metadata"]["labels"]["tier"] == "front"


def test_without_user_selector_the_workload_label_selects() -> None:
    body = example_body()
    del body["spec"]["selector"]
    dep = render_deployment(Workload.from_body(body), "zone-c", 1)
    assert dep["spec"]["selector"] == {"matchLabels": {WORKLOAD_LABEL: "web", ZONE_LABEL: "zone-c"}}
    # The template's labels satisfy the selector.
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_template_annotations_and_containers_are_copied() -> None:
    body = example_body()
    body["spec"]["template"]["metadata"]["annotations"] = {"prometheus.io/scrape": "true"}
    wl = Workload.from_body(body)
    dep = render_deployment(wl, "zone-a", 1)
    assert dep["spec"]["template"]["metadata"]["annotations"] == {"prometheus.io/scrape": "true"}
    assert pod_spec_of(dep)["containers"] == body["spec"]["template"]["spec"]["containers"]


# --- node affinity ----------------------------------------------------------------------------


def test_zone_affinity_without_user_affinity() -> None:
    dep = render_deployment(workload(), "zone-a", 1)
    required = pod_spec_of(dep)["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert required == {"nodeSelectorTerms": [{"matchExpressions": [ZONE_REQUIREMENT]}]}


def test_zone_affinity_uses_the_workloads_topology_key() -> None:
    dep = render_deployment(workload(topologyKey="example.com/rack-zone"), "r1", 1)
    terms = pod_spec_of(dep)["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms == [
        {"matchExpressions": [{"key": "example.com/rack-zone", "operator": "In", "values": ["r1"]}]}
    ]


def test_zone_requirement_is_anded_into_every_user_term() -> None:
    ssd = {"key": "disk", "operator": "In", "values": ["ssd"]}
    gpu = {"key": "gpu", "operator": "Exists"}
    by_name = {"key": "metadata.name", "operator": "In", "values": ["node-7"]}
    user_terms = [
        {"matchExpressions": [ssd]},
        {"matchExpressions": [gpu], "matchFields": [by_name]},
        {"matchFields": [by_name]},
    ]
    preferred = [{"weight": 10, "preference": {"matchExpressions": [ssd]}}]
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": user_terms},
            "preferredDuringSchedulingIgnoredDuringExecution": preferred,
        },
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []},
    }
    dep = render_deployment(with_pod_spec(affinity=affinity), "zone-a", 1)
    rendered = pod_spec_of(dep)["affinity"]
    terms = rendered["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert terms == [
        {"matchExpressions": [ssd, ZONE_REQUIREMENT]},
        {"matchExpressions": [gpu, ZONE_REQUIREMENT], "matchFields": [by_name]},
        {"matchFields": [by_name], "matchExpressions": [ZONE_REQUIREMENT]},
    ]
    # Everything else in the affinity is left as the user wrote it.
    assert rendered["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == preferred
    assert rendered["podAntiAffinity"] == affinity["podAntiAffinity"]


def test_preferred_only_node_affinity_gets_a_required_term() -> None:
    preferred = [
        {"weight": 1, "preference": {"matchExpressions": [{"key": "x", "operator": "Exists"}]}}
    ]
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred}}
    dep = render_deployment(with_pod_spec(affinity=affinity), "zone-a", 1)
    node_affinity = pod_spec_of(dep)["affinity"]["nodeAffinity"]
    assert node_affinity["preferredDuringSchedulingIgnoredDuringExecution"] == preferred
    assert node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchExpressions": [ZONE_REQUIREMENT]}]
    }


def test_node_selector_is_kept() -> None:
    dep = render_deployment(with_pod_spec(nodeSelector={"disk": "ssd"}), "zone-a", 1)
    assert pod_spec_of(dep)["nodeSelector"] == {"disk": "ssd"}


# --- topology spread --------------------------------------------------------------------------


def test_hostname_spread_is_added() -> None:
    dep = render_deployment(workload(), "zone-a", 3)
    assert pod_spec_of(dep)["topologySpreadConstraints"] == [
        {
            "maxSkew": 1,
            "topologyKey": HOSTNAME_KEY,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": dep["spec"]["selector"],
            "matchLabelKeys": ["pod-template-hash"],
        }
    ]


def test_user_hostname_spread_is_left_untouched() -> None:
    mine = [
        {
            "maxSkew": 2,
            "topologyKey": HOSTNAME_KEY,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}},
        }
    ]
    dep = render_deployment(with_pod_spec(topologySpreadConstraints=mine), "zone-a", 3)
    assert pod_spec_of(dep)["topologySpreadConstraints"] == mine


def test_user_zone_spread_is_kept_and_hostname_spread_appended() -> None:
    zone_spread = {
        "maxSkew": 1,
        "topologyKey": DEFAULT_TOPOLOGY_KEY,
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}},
    }
    dep = render_deployment(with_pod_spec(topologySpreadConstraints=[zone_spread]), "zone-a", 3)
    constraints = pod_spec_of(dep)["topologySpreadConstraints"]
    assert constraints[0] == zone_spread
    assert [c["topologyKey"] for c in constraints] == [DEFAULT_TOPOLOGY_KEY, HOSTNAME_KEY]


# --- tolerations ------------------------------------------------------------------------------


def test_failure_tolerations_are_added_with_policy_seconds() -> None:
    dep = render_deployment(workload(failover={"tolerationSeconds": 7}), "zone-a", 1)
    assert pod_spec_of(dep)["tolerations"] == [
        {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 7}
        for key in NODE_FAILURE_TAINTS
    ]


def test_default_toleration_seconds_is_30() -> None:
    body = example_body()
    del body["spec"]["failover"]
    dep = render_deployment(Workload.from_body(body), "zone-a", 1)
    assert {t["tolerationSeconds"] for t in added_tolerations(dep)} == {30}


def test_user_tolerations_are_kept_before_the_added_ones() -> None:
    dedicated = {"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}
    dep = render_deployment(with_pod_spec(tolerations=[dedicated]), "zone-a", 1)
    tolerations = pod_spec_of(dep)["tolerations"]
    assert tolerations[0] == dedicated
    assert [t["key"] for t in tolerations[1:]] == list(NODE_FAILURE_TAINTS)


@pytest.mark.parametrize(
    ("user", "still_added"),
    [
        # Same key, NoExecute: the template decides for not-ready itself.
        (
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
            ["node.kubernetes.io/unreachable"],
        ),
        # Same key, empty effect matches every effect, NoExecute included.
        (
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists"},
            ["node.kubernetes.io/not-ready"],
        ),
        (
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "",
                "tolerationSeconds": 600,
            },
            ["node.kubernetes.io/not-ready"],
        ),
        # Same key but NoSchedule only: does not cover the NoExecute taint.
        (
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"},
            list(NODE_FAILURE_TAINTS),
        ),
        # Exists without a key tolerates everything.
        ({"operator": "Exists"}, []),
        ({"operator": "Exists", "effect": "NoExecute"}, []),
        # ... but not when it is limited to another effect.
        ({"operator": "Exists", "effect": "NoSchedule"}, list(NODE_FAILURE_TAINTS)),
        # Another key covers nothing.
        (
            {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"},
            list(NODE_FAILURE_TAINTS),
        ),
    ],
)
def test_existing_tolerations_suppress_the_added_ones(
    user: dict[str, Any], still_added: list[str]
) -> None:
    dep = render_deployment(with_pod_spec(tolerations=[user]), "zone-a", 1)
    tolerations = pod_spec_of(dep)["tolerations"]
    assert tolerations[0] == user
    added = tolerations[1:]
    assert [t["key"] for t in added] == still_added
    for t in added:
        assert t == {
            "key": t["key"],
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 30,
        }


# --- rollout settings -------------------------------------------------------------------------


def test_rollout_fields_are_passed_on() -> None:
    spec = render_deployment(workload(), "zone-a", 1)["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
    }
    assert spec["minReadySeconds"] == 5
    assert spec["revisionHistoryLimit"] == 5
    assert spec["progressDeadlineSeconds"] == 600
    assert "paused" not in spec


def test_unset_rollout_fields_are_left_to_the_server() -> None:
    body = example_body()
    for key in ("strategy", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"):
        del body["spec"][key]
    spec = render_deployment(Workload.from_body(body), "zone-a", 1)["spec"]
    assert set(spec) == {"replicas", "selector", "template"}


def test_paused_is_passed_on() -> None:
    spec = render_deployment(workload(paused=True), "zone-a", 1)["spec"]
    assert spec["paused"] is True


# --- purity -----------------------------------------------------------------------------------


def test_input_is_not_mutated_and_output_shares_nothing_with_it() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "x", "operator": "Exists"}]}]
            }
        }
    }
    tolerations = [{"key": "dedicated", "operator": "Exists"}]
    spread = [
        {"maxSkew": 1, "topologyKey": DEFAULT_TOPOLOGY_KEY, "whenUnsatisfiable": "DoNotSchedule"}
    ]
    wl = with_pod_spec(affinity=affinity, tolerations=tolerations, topologySpreadConstraints=spread)
    before = copy.deepcopy(wl)
    first = render_deployment(wl, "zone-a", 2)
    assert wl == before
    assert wl.template == before.template and wl.rollout == before.rollout
    assert wl.selector == before.selector
    # Scribbling over a rendered object does not leak into the next render.
    expected = copy.deepcopy(first)
    pod = pod_spec_of(first)
    pod["tolerations"].append({"key": "junk"})
    pod["topologySpreadConstraints"].clear()
    pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ][0]["matchExpressions"].append({"key": "junk", "operator": "Exists"})
    first["spec"]["selector"]["matchLabels"]["junk"] = "1"
    first["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = 9
    first["metadata"]["ownerReferences"][0]["uid"] = "junk"
    assert render_deployment(wl, "zone-a", 2) == expected
    assert wl == before


def test_zones_do_not_leak_into_each_other() -> None:
    wl = workload()
    a = render_deployment(wl, "zone-a", 1)
    b = render_deployment(wl, "zone-b", 1)
    assert render_deployment(wl, "zone-a", 1) == a
    b_terms = pod_spec_of(b)["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert b_terms == [
        {
            "matchExpressions": [
                {"key": DEFAULT_TOPOLOGY_KEY, "operator": "In", "values": ["zone-b"]}
            ]
        }
    ]


# --- property: nothing the user wrote is dropped ----------------------------------------------

_keys = st.sampled_from(
    [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "dedicated",
        "gpu",
        "",
    ]
)
_effects = st.sampled_from(["", "NoExecute", "NoSchedule", "PreferNoSchedule"])


@st.composite
def tolerations_st(draw: st.DrawFn) -> dict[str, Any]:
    key = draw(_keys)
    tol: dict[str, Any] = {}
    if key:
        tol["key"] = key
    operator = "Exists" if not key else draw(st.sampled_from(["Exists", "Equal"]))
    tol["operator"] = operator
    if operator == "Equal":
        tol["value"] = draw(st.sampled_from(["", "x"]))
    effect = draw(_effects)
    if effect:
        tol["effect"] = effect
    if effect == "NoExecute" and draw(st.booleans()):
        tol["tolerationSeconds"] = draw(st.integers(0, 600))
    return tol


_requirement = st.builds(
    lambda key, op, values: (
        {"key": key, "operator": op, "values": values}
        if op in ("In", "NotIn")
        else {"key": key, "operator": op}
    ),
    st.sampled_from(["disk", "gpu", "arch", DEFAULT_TOPOLOGY_KEY]),
    st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
    st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=2, unique=True),
)
_field_requirement = st.fixed_dictionaries(
    {
        "key": st.just("metadata.name"),
        "operator": st.sampled_from(["In", "NotIn"]),
        "values": st.lists(st.sampled_from(["n1", "n2"]), min_size=1, max_size=1),
    }
)


@st.composite
def term_st(draw: st.DrawFn) -> dict[str, Any]:
    """A term with at least one requirement (an empty term matches nothing and is left alone)."""
    term: dict[str, Any] = {}
    fields = draw(st.lists(_field_requirement, max_size=1))
    expressions = draw(st.lists(_requirement, min_size=0 if fields else 1, max_size=3))
    write_empty_list: bool = draw(st.booleans())
    if expressions or write_empty_list:
        term["matchExpressions"] = expressions
    if fields:
        term["matchFields"] = fields
    return term


_spread = st.builds(
    lambda key, skew, when: {
        "maxSkew": skew,
        "topologyKey": key,
        "whenUnsatisfiable": when,
        "labelSelector": {"matchLabels": {"app": "web"}},
    },
    st.sampled_from([HOSTNAME_KEY, DEFAULT_TOPOLOGY_KEY, "example.com/rack"]),
    st.integers(1, 5),
    st.sampled_from(["DoNotSchedule", "ScheduleAnyway"]),
)


def _covers(toleration: dict[str, Any], key: str) -> bool:
    """Reference: whether the toleration already covers the NoExecute taint `key`."""
    if toleration.get("effect", "") not in ("", "NoExecute"):
        return False
    if not toleration.get("key"):
        return toleration.get("operator") == "Exists"
    return bool(toleration["key"] == key)


@settings(max_examples=150, deadline=None)
@given(
    tolerations=st.one_of(st.none(), st.lists(tolerations_st(), max_size=4)),
    terms=st.one_of(st.none(), st.lists(term_st(), max_size=3)),
    spread=st.one_of(st.none(), st.lists(_spread, max_size=3)),
    zone=st.sampled_from(["zone-a", "eu-west-1b", "Zone_C"]),
    replicas=st.integers(0, 20),
)
def test_render_keeps_every_user_entry_and_is_deterministic(
    tolerations: list[dict[str, Any]] | None,
    terms: list[dict[str, Any]] | None,
    spread: list[dict[str, Any]] | None,
    zone: str,
    replicas: int,
) -> None:
    fields: dict[str, Any] = {}
    if tolerations is not None:
        fields["tolerations"] = tolerations
    if terms is not None:
        fields["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
            }
        }
    if spread is not None:
        fields["topologySpreadConstraints"] = spread
    wl = with_pod_spec(**fields)
    before = copy.deepcopy(wl)

    dep = render_deployment(wl, zone, replicas)
    assert render_deployment(wl, zone, replicas) == dep  # deterministic
    assert wl == before  # pure
    pod = pod_spec_of(dep)
    requirement = {"key": DEFAULT_TOPOLOGY_KEY, "operator": "In", "values": [zone]}

    # Tolerations: the user's, in order, then one per failure taint the user does not cover.
    user_tolerations = tolerations or []
    rendered = pod["tolerations"]
    assert rendered[: len(user_tolerations)] == user_tolerations
    missing = [k for k in NODE_FAILURE_TAINTS if not any(_covers(t, k) for t in user_tolerations)]
    assert rendered[len(user_tolerations) :] == [
        {"key": k, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}
        for k in missing
    ]

    # Affinity: every user term survives with the zone requirement appended.
    rendered_terms = pod["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    if not terms:
        assert rendered_terms == [{"matchExpressions": [requirement]}]
    else:
        assert len(rendered_terms) == len(terms)
        for user_term, term in zip(terms, rendered_terms, strict=True):
            assert term["matchExpressions"] == [*user_term.get("matchExpressions", []), requirement]
            assert term.get("matchFields") == user_term.get("matchFields")

    # Spread constraints: all the user's, plus ours only when the user has no hostname one.
    user_spread = spread or []
    constraints = pod["topologySpreadConstraints"]
    assert constraints[: len(user_spread)] == user_spread
    has_hostname = any(c["topologyKey"] == HOSTNAME_KEY for c in user_spread)
    assert len(constraints) == len(user_spread) + (0 if has_hostname else 1)
    if not has_hostname:
        assert constraints[-1]["topologyKey"] == HOSTNAME_KEY
        assert constraints[-1]["labelSelector"] == dep["spec"]["selector"]


_node_st = st.builds(
    lambda name, labels: NodeInfo(name=name, labels=labels),
    st.sampled_from(["n1", "n2", "n3"]),
    st.dictionaries(
        st.sampled_from(["disk", "gpu", "arch", DEFAULT_TOPOLOGY_KEY]),
        st.sampled_from(["a", "b", "c", "zone-a"]),
        max_size=4,
    ),
)


@settings(max_examples=200, deadline=None)
@given(terms=st.lists(term_st(), min_size=1, max_size=3), nodes=st.lists(_node_st, max_size=5))
def test_rendered_affinity_admits_exactly_the_users_nodes_in_the_zone(
    terms: list[dict[str, Any]], nodes: list[NodeInfo]
) -> None:
    required = {"nodeSelectorTerms": terms}
    wl = with_pod_spec(
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
    )
    rendered = pod_spec_of(render_deployment(wl, "zone-a", 1))["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    for node in nodes:
        in_zone = node.labels.get(DEFAULT_TOPOLOGY_KEY) == "zone-a"
        assert node_affinity_matches(node, rendered) == (
            in_zone and node_affinity_matches(node, required)
        )


def test_empty_user_term_does_not_widen_the_users_affinity() -> None:
    ssd = {"key": "disk", "operator": "In", "values": ["ssd"]}
    required = {"nodeSelectorTerms": [{"matchExpressions": [ssd]}, {}]}
    wl = with_pod_spec(
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
    )
    hdd_node = NodeInfo("n1", {DEFAULT_TOPOLOGY_KEY: "zone-a", "disk": "hdd"})
    assert not node_affinity_matches(hdd_node, required)  # the user keeps pods off it
    rendered = pod_spec_of(render_deployment(wl, "zone-a", 1))["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert not node_affinity_matches(hdd_node, rendered)


def test_a_replace_drops_the_operators_records_it_no_longer_sets_and_keeps_everyone_elses() -> None:
    desired = render_deployment(workload(), "zone-a", 3)
    live = copy.deepcopy(desired)
    live["metadata"]["annotations"].update(
        {"zonal.dev/rollback-surge": "1", "team.example/owner": "payments"}
    )
    live["metadata"]["labels"]["team.example/tier"] = "web"
    body = merge_for_replace(desired, live)
    annotations = body["metadata"]["annotations"]
    assert "zonal.dev/rollback-surge" not in annotations
    assert annotations["team.example/owner"] == "payments"
    assert body["metadata"]["labels"]["team.example/tier"] == "web"
    assert desired["metadata"]["annotations"].items() <= annotations.items()


def with_env_value(value: str) -> Workload:
    body = example_body()
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "BLOB", "value": value}]
    return Workload.from_body(body)


def annotations_size(deployment: dict[str, Any]) -> int:
    return sum(len(k) + len(v) for k, v in deployment["metadata"]["annotations"].items())


def test_a_template_is_recorded_as_plain_json_while_small() -> None:
    wl = workload()
    recorded = render_deployment(wl, "zone-a", 3)["metadata"]["annotations"][TEMPLATE_ANNOTATION]
    assert recorded.startswith("{")
    assert waves.workload_at(wl, {"metadata": {"annotations": {TEMPLATE_ANNOTATION: recorded}}})


@pytest.mark.parametrize("size", [20 * 1024, 200 * 1024])
def test_a_large_template_is_recorded_compressed_and_read_back(size: int) -> None:
    wl = with_env_value("0123456789abcdef" * (size // 16))
    deployment = render_deployment(wl, "zone-a", 3)
    recorded = deployment["metadata"]["annotations"][TEMPLATE_ANNOTATION]
    assert recorded.startswith(COMPRESSED_PREFIX)
    read = waves.workload_at(workload(), deployment)
    assert read is not None and read.template == wl.template
    # With the template it ran before, too, the annotations stay far below the 256 KiB limit.
    deployment["metadata"]["annotations"][PREVIOUS_TEMPLATE_ANNOTATION] = recorded
    assert annotations_size(deployment) < 64 * 1024


def test_a_template_too_large_even_compressed_is_not_recorded() -> None:
    noise = base64.b64encode(random.Random(7).randbytes(150 * 1024)).decode()
    wl = with_env_value(noise)
    deployment = render_deployment(wl, "zone-a", 3)
    assert TEMPLATE_ANNOTATION not in deployment["metadata"]["annotations"]
    assert deployment["metadata"]["annotations"][REVISION_ANNOTATION] == template_revision(wl)
    assert waves.workload_at(wl, deployment) is None  # so its zone can go forward, not back


@pytest.mark.parametrize(
    "raw", ["", "not json", f"{COMPRESSED_PREFIX}not base64!", f"{COMPRESSED_PREFIX}AAAA"]
)
def test_a_record_that_is_no_template_reads_as_none(raw: str) -> None:
    live = {"metadata": {"annotations": {TEMPLATE_ANNOTATION: raw}}}
    assert waves.workload_at(workload(), live) is None
