from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonal_operator.api.group import DEFAULT_TOPOLOGY_KEY
from zonal_operator.core.eligibility import (
    eligible_zones,
    node_affinity_matches,
    node_is_eligible,
    node_selector_matches,
    tolerates,
    zone_of,
)
from zonal_operator.core.model import HEALTH_TAINT_KEYS, NodeInfo, Taint

ZONE = DEFAULT_TOPOLOGY_KEY


def node(
    name: str = "n1", zone: str | None = "a", taints: tuple[Taint, ...] = (), **labels: str
) -> NodeInfo:
    all_labels = dict(labels)
    if zone is not None:
        all_labels[ZONE] = zone
    return NodeInfo(name=name, labels=all_labels, taints=taints)


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeSelectorTerms": list(terms)}


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    req: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        req["values"] = list(values)
    return req


def term(
    *expressions: dict[str, Any], fields: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    t: dict[str, Any] = {"matchExpressions": list(expressions)}
    if fields is not None:
        t["matchFields"] = fields
    return t


def affinity_spec(req: dict[str, Any]) -> dict[str, Any]:
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": req}}}


GPU = node(gpu="true", size="8")
PLAIN = node(name="n2", size="x")


# --- nodeSelector ---------------------------------------------------------------------------


def test_node_selector() -> None:
    assert node_selector_matches({"a": "1"}, None)
    assert node_selector_matches({"a": "1"}, {})
    assert node_selector_matches({"a": "1", "b": "2"}, {"a": "1"})
    assert not node_selector_matches({"a": "1"}, {"a": "2"})
    assert not node_selector_matches({}, {"a": ""})
    assert node_selector_matches({"a": ""}, {"a": ""})


# --- required node affinity -----------------------------------------------------------------


def test_no_affinity_matches_everything() -> None:
    assert node_affinity_matches(GPU, None)


@pytest.mark.parametrize(
    ("requirement", "on_gpu", "on_plain"),
    [
        (expr("gpu", "In", "true", "yes"), True, False),
        (expr("gpu", "In", "false"), False, False),
        (expr("gpu", "NotIn", "true"), False, True),  # NotIn matches a missing label
        (expr("gpu", "NotIn", "false"), True, True),
        (expr("gpu", "Exists"), True, False),
        (expr("gpu", "DoesNotExist"), False, True),
        (expr("size", "Gt", "4"), True, False),  # "x" is no integer: no match
        (expr("size", "Gt", "8"), False, False),
        (expr("size", "Lt", "9"), True, False),
        (expr("size", "Lt", "8"), False, False),
        (expr("size", "Lt", "+9"), True, False),
        (expr("missing", "Lt", "9"), False, False),
        # malformed requirements match nothing, as in the scheduler
        (expr("gpu", "In"), False, False),
        (expr("gpu", "NotIn"), False, False),
        (expr("gpu", "Exists", "true"), False, False),
        (expr("size", "Gt", "1", "2"), False, False),
        (expr("size", "Gt", "one"), False, False),
        (expr("gpu", "Like", "true"), False, False),
    ],
)
def test_operators(requirement: dict[str, Any], on_gpu: bool, on_plain: bool) -> None:
    req = required(term(requirement))
    assert node_affinity_matches(GPU, req) is on_gpu
    assert node_affinity_matches(PLAIN, req) is on_plain


@pytest.mark.parametrize("value", [" 9", "9 ", "1_0", "٣", "9.0", "", "99999999999999999999"])
def test_gt_lt_parse_label_values_like_go(value: str) -> None:
    n = node(size=value)
    assert not node_affinity_matches(n, required(term(expr("size", "Gt", "-5"))))
    assert not node_affinity_matches(n, required(term(expr("size", "Lt", "100"))))


def test_expressions_within_a_term_are_anded() -> None:
    both = required(term(expr("gpu", "Exists"), expr("size", "In", "8")))
    assert node_affinity_matches(GPU, both)
    mismatch = required(term(expr("gpu", "Exists"), expr("size", "In", "x")))
    assert not node_affinity_matches(GPU, mismatch)


def test_terms_are_ored() -> None:
    req = required(term(expr("gpu", "Exists")), term(expr("size", "In", "x")))
    assert node_affinity_matches(GPU, req)
    assert node_affinity_matches(PLAIN, req)
    assert not node_affinity_matches(node(name="n3"), req)


def test_a_malformed_term_does_not_spoil_the_others() -> None:
    req = required(term(expr("gpu", "In")), term(expr("size", "In", "x")))
    assert node_affinity_matches(PLAIN, req)


def test_empty_terms_match_nothing() -> None:
    assert not node_affinity_matches(GPU, required())
    assert not node_affinity_matches(GPU, {})
    assert not node_affinity_matches(GPU, required({}))
    assert not node_affinity_matches(GPU, required(term()))
    assert not node_affinity_matches(GPU, required({"matchExpressions": [], "matchFields": []}))


def test_match_fields() -> None:
    by_name = required(term(fields=[expr("metadata.name", "In", "n1")]))
    assert node_affinity_matches(GPU, by_name)
    assert not node_affinity_matches(PLAIN, by_name)
    not_name = required(term(fields=[expr("metadata.name", "NotIn", "n1")]))
    assert not node_affinity_matches(GPU, not_name)
    assert node_affinity_matches(PLAIN, not_name)
    # fields and expressions in one term are ANDed
    mixed = required(term(expr("gpu", "Exists"), fields=[expr("metadata.name", "In", "n2")]))
    assert not node_affinity_matches(GPU, mixed)
    assert not node_affinity_matches(PLAIN, mixed)
    # only metadata.name with exactly one value is supported
    assert not node_affinity_matches(GPU, required(term(fields=[expr("metadata.uid", "In", "n1")])))
    assert not node_affinity_matches(
        GPU, required(term(fields=[expr("metadata.name", "In", "n1", "n2")]))
    )
    assert not node_affinity_matches(GPU, required(term(fields=[expr("metadata.name", "Exists")])))


# --- tolerations ----------------------------------------------------------------------------

DEDICATED = Taint(key="dedicated", value="gpu", effect="NoSchedule")


@pytest.mark.parametrize(
    ("toleration", "expected"),
    [
        ({"operator": "Exists"}, True),  # no key: tolerates every taint
        ({"key": "dedicated", "operator": "Exists"}, True),
        ({"key": "other", "operator": "Exists"}, False),
        ({"key": "dedicated", "value": "gpu"}, True),  # operator defaults to Equal
        ({"key": "dedicated", "operator": "Equal", "value": "gpu"}, True),
        ({"key": "dedicated", "operator": "Equal", "value": "cpu"}, False),
        ({"key": "dedicated", "operator": "Equal"}, False),
        ({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}, True),
        ({"key": "dedicated", "value": "gpu", "effect": "NoExecute"}, False),
        ({"operator": "Exists", "effect": "NoExecute"}, False),
        ({"operator": "Exists", "effect": "NoSchedule"}, True),
        ({"key": "dedicated", "operator": "Gt", "value": "gpu"}, False),
    ],
)
def test_tolerates(toleration: dict[str, Any], expected: bool) -> None:
    assert tolerates([toleration], DEDICATED) is expected


def test_tolerates_empty_value_and_lists() -> None:
    bare = Taint(key="k", effect="NoExecute")
    assert tolerates([{"key": "k", "operator": "Equal"}], bare)
    assert tolerates([{"key": "k", "value": None}], bare)
    assert not tolerates(None, bare)
    assert not tolerates([], bare)
    assert tolerates([{"key": "x", "operator": "Exists"}, {"key": "k"}], bare)


# --- node eligibility -----------------------------------------------------------------------


def test_untolerated_blocking_taints_make_a_node_ineligible() -> None:
    tainted = node(taints=(DEDICATED,))
    assert not node_is_eligible(tainted, {})
    assert node_is_eligible(tainted, {"tolerations": [{"key": "dedicated", "operator": "Exists"}]})
    no_exec = node(taints=(Taint(key="dedicated", effect="NoExecute"),))
    assert not node_is_eligible(no_exec, {})


def test_prefer_no_schedule_is_only_a_preference() -> None:
    assert node_is_eligible(node(taints=(Taint(key="k", effect="PreferNoSchedule"),)), {})


@pytest.mark.parametrize("key", sorted(HEALTH_TAINT_KEYS))
def test_health_taints_are_ignored(key: str) -> None:
    sick = node(taints=(Taint(key=key, effect="NoSchedule"), Taint(key=key, effect="NoExecute")))
    assert node_is_eligible(sick, {})
    # ... but they do not hide other taints
    assert not node_is_eligible(node(taints=(*sick.taints, DEDICATED)), {})


def test_node_selector_and_affinity_are_both_required() -> None:
    spec = {
        "nodeSelector": {"gpu": "true"},
        **affinity_spec(required(term(expr("size", "Gt", "4")))),
    }
    assert node_is_eligible(GPU, spec)
    assert not node_is_eligible(node(gpu="true", size="2"), spec)
    assert not node_is_eligible(node(size="16"), spec)


def test_null_spec_fields_are_no_constraint() -> None:
    spec = {"nodeSelector": None, "affinity": None, "tolerations": None}
    assert node_is_eligible(PLAIN, spec)
    assert node_is_eligible(PLAIN, {"affinity": {"nodeAffinity": None}})
    assert node_is_eligible(PLAIN, {"affinity": {"podAntiAffinity": {}}})


# --- zones ----------------------------------------------------------------------------------


def test_zone_of() -> None:
    assert zone_of(node(zone="b"), ZONE) == "b"
    assert zone_of(node(zone=None), ZONE) is None
    assert zone_of(node(zone=""), ZONE) is None
    assert zone_of(node(zone="b", rack="r1"), "rack") == "r1"


def test_eligible_zones() -> None:
    nodes = [
        node("n3", zone="b"),
        node("n1", zone="b"),
        node("n2", zone="a"),
        node("n4", zone=None),  # no topology key: ignored
        node("n5", zone="c", taints=(DEDICATED,)),  # ineligible: zone c does not exist
        node("n6", zone="d", taints=(Taint("node.kubernetes.io/unreachable", "NoExecute"),)),
    ]
    zones = eligible_zones(nodes, {}, ZONE)
    assert list(zones) == ["a", "b", "d"]
    assert [n.name for n in zones["b"]] == ["n1", "n3"]
    assert [n.name for n in zones["a"]] == ["n2"]

    assert list(eligible_zones(nodes, {}, ZONE, allowed_zones={"b", "d", "x"})) == ["b", "d"]
    assert list(eligible_zones(nodes, {}, ZONE, allowed_zones=[])) == ["a", "b", "d"]
    tolerant = {"tolerations": [{"operator": "Exists"}]}
    assert list(eligible_zones(nodes, tolerant, ZONE)) == ["a", "b", "c", "d"]
    assert eligible_zones(nodes, {}, "rack") == {}
    assert eligible_zones([], {}, ZONE) == {}


# --- properties -----------------------------------------------------------------------------

label_keys = st.sampled_from(["gpu", "size", "pool", "example.com/tier", ZONE])
label_values = st.text("abc019-", max_size=4)
label_maps = st.dictionaries(label_keys, label_values, max_size=5)


@settings(max_examples=200)
@given(labels=label_maps, other=label_maps)
def test_a_node_matches_a_term_built_from_its_own_labels(
    labels: dict[str, str], other: dict[str, str]
) -> None:
    n = NodeInfo(name="n", labels=labels)
    own = [expr(k, "In", v) for k, v in labels.items()]
    if own:
        assert node_affinity_matches(n, required(term(*own)))
        # negating any of its own requirements fails
        for k, v in labels.items():
            assert not node_affinity_matches(n, required(term(*own, expr(k, "NotIn", v))))
    # and a selector built from its labels matches exactly when it is a subset of them
    assert node_selector_matches(labels, other) == (other.items() <= labels.items())


@settings(max_examples=200)
@given(
    labels=label_maps,
    requirement_key=label_keys,
    values=st.lists(label_values, min_size=1, max_size=3),
)
def test_complementary_operators(
    labels: dict[str, str], requirement_key: str, values: list[str]
) -> None:
    n = NodeInfo(name="n", labels=labels)

    def matches(op: str, *vals: str) -> bool:
        return node_affinity_matches(n, required(term(expr(requirement_key, op, *vals))))

    assert matches("In", *values) != matches("NotIn", *values)
    assert matches("Exists") != matches("DoesNotExist")
    # a term ORed with its complement matches every node
    either = required(
        term(expr(requirement_key, "In", *values)), term(expr(requirement_key, "NotIn", *values))
    )
    assert node_affinity_matches(n, either)
