"""`contains(desired, live)`: does the live object hold everything the operator set?"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonal_operator.core.semantic import contains, parse_quantity


def container(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"name": "app", "image": "app:1", "resources": dict(resources)}


def spec_with(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"template": {"spec": {"containers": list(containers)}}}


# --- subset semantics -------------------------------------------------------------------------


def test_equal_objects_contain_each_other() -> None:
    obj = {"a": 1, "b": {"c": [1, 2, {"d": "x"}]}, "e": True, "f": 0.5}
    assert contains(obj, copy.deepcopy(obj))


def test_fields_only_the_server_added_are_ignored() -> None:
    desired = spec_with({"name": "app", "image": "app:1"})
    live = copy.deepcopy(desired)
    live["template"]["spec"]["containers"][0].update(
        imagePullPolicy="IfNotPresent",
        terminationMessagePath="/dev/termination-log",
        terminationMessagePolicy="File",
    )
    live["template"]["spec"].update(
        restartPolicy="Always",
        dnsPolicy="ClusterFirst",
        schedulerName="default-scheduler",
        securityContext={},
        terminationGracePeriodSeconds=30,
    )
    live["revisionHistoryLimit"] = 10
    live["strategy"] = {"type": "RollingUpdate"}
    assert contains(desired, live)
    assert not contains(live, desired)  # not symmetric


@pytest.mark.parametrize(
    ("desired", "live"),
    [
        ({"image": "app:1"}, {"image": "app:2"}),
        ({"replicas": 3}, {"replicas": 4}),
        ({"replicas": 0}, {"replicas": 1}),
        ({"paused": True}, {"paused": False}),
        ({"paused": False}, {"paused": True}),
        ({"a": {"b": {"c": "x"}}}, {"a": {"b": {"c": "y"}}}),
        ({"a": {"b": "x"}}, {"a": {}}),
        ({"a": {"b": "x"}}, {}),
        ({"a": "x"}, {"a": {"b": "x"}}),
        ({"a": {"b": "x"}}, {"a": "x"}),
        ({"port": 80}, {"port": "80"}),
        ({"flag": True}, {"flag": 1}),
    ],
)
def test_changed_values_are_seen(desired: dict[str, Any], live: dict[str, Any]) -> None:
    assert not contains(desired, live)


@pytest.mark.parametrize(
    ("desired", "live"),
    [
        ({"args": ["a", "b"]}, {"args": ["a"]}),
        ({"args": ["a"]}, {"args": ["a", "b"]}),
        ({"args": ["a"]}, {}),
        ({"args": ["a", "b"]}, {"args": ["b", "a"]}),
        ({"env": [{"name": "A", "value": "1"}]}, {"env": [{"name": "A", "value": "2"}]}),
        ({"env": [{"name": "A"}]}, {"env": "A"}),
    ],
)
def test_list_changes_are_seen(desired: dict[str, Any], live: dict[str, Any]) -> None:
    assert not contains(desired, live)


def test_list_elements_compare_as_subsets() -> None:
    desired = {"ports": [{"containerPort": 80}]}
    live = {"ports": [{"containerPort": 80, "protocol": "TCP"}]}
    assert contains(desired, live)


@pytest.mark.parametrize(
    "desired",
    [
        {"args": []},
        {"annotations": {}},
        {"name": ""},
        {"count": 0},
        {"paused": False},
        {"nothing": None},
        {},
    ],
)
def test_empty_desired_values_match_missing_live_keys(desired: dict[str, Any]) -> None:
    assert contains(desired, {})
    assert contains(desired, {"other": 1})
    assert contains(desired, dict.fromkeys(desired))  # JSON null in the live object


def test_empty_values_inside_a_map_the_server_kept() -> None:
    # e.g. `podAntiAffinity: {preferred...: []}` comes back as `podAntiAffinity: {}`.
    desired = {"nested": {"list": [], "map": {}, "zero": 0, "off": False}}
    assert contains(desired, {"nested": {}})
    assert not contains(desired, {"nested": {"zero": 1}})


def test_empty_desired_values_do_not_match_set_live_values() -> None:
    assert not contains({"args": []}, {"args": ["a"]})
    assert not contains({"name": ""}, {"name": "x"})
    assert not contains({"annotations": {}}, {"annotations": "x"})


def test_top_level_none_and_non_dict() -> None:
    assert contains({}, None)
    assert not contains({"a": 1}, None)
    assert contains([], None)
    assert not contains(["a"], None)
    assert not contains({"a": 1}, ["a"])


# --- quantities -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("want", "have"),
    [
        ("1000m", "1"),
        ("1", "1000m"),
        ("1Gi", "1073741824"),
        ("0.5", "500m"),
        ("1.5Gi", "1536Mi"),
        ("1k", "1000"),
        ("1Ki", "1024"),
        ("1e3", "1k"),
        ("100M", "100000000"),
        (1, "1"),
        ("2", 2),
        (0.25, "250m"),
    ],
)
def test_quantities_in_resource_maps_compare_numerically(want: Any, have: Any) -> None:
    for resource_map in ("requests", "limits"):
        desired = spec_with(container(**{resource_map: {"cpu": want, "memory": want}}))
        live = spec_with(container(**{resource_map: {"cpu": have, "memory": have}}))
        assert contains(desired, live), (resource_map, want, have)
    assert contains({"overhead": {"cpu": want}}, {"overhead": {"cpu": have}})
    assert contains({"emptyDir": {"sizeLimit": want}}, {"emptyDir": {"sizeLimit": have}})


@pytest.mark.parametrize(
    ("want", "have"),
    [("1", "2"), ("1M", "1Mi"), ("1G", "1Gi"), ("500m", "0.05"), ("1", "not-a-quantity")],
)
def test_different_quantities_differ(want: str, have: str) -> None:
    desired = spec_with(container(requests={"cpu": want}))
    live = spec_with(container(requests={"cpu": have}))
    assert not contains(desired, live)


@pytest.mark.parametrize(
    ("desired", "live"),
    [
        # Outside a resource map "1" and "1.0" are different strings.
        ({"env": [{"name": "N", "value": "1"}]}, {"env": [{"name": "N", "value": "1.0"}]}),
        ({"env": [{"name": "N", "value": "1Gi"}]}, {"env": [{"name": "N", "value": "1073741824"}]}),
        ({"annotations": {"cpu": "1000m"}}, {"annotations": {"cpu": "1"}}),
        ({"labels": {"memory": "1Gi"}}, {"labels": {"memory": "1024Mi"}}),
        ({"minReadySeconds": 1}, {"minReadySeconds": 1.0}),
        ({"maxSurge": "1"}, {"maxSurge": 1}),
        # A quantity map's own value must still be a map.
        ({"requests": "1"}, {"requests": "1000m"}),
    ],
)
def test_quantities_are_not_compared_numerically_elsewhere(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    assert not contains(desired, live)


def test_resource_maps_are_found_anywhere_in_the_template() -> None:
    desired = {
        "template": {
            "spec": {
                "initContainers": [container(limits={"memory": "1Gi"})],
                "containers": [
                    container(requests={"cpu": "0.5"}),
                    container(requests={"cpu": "1"}, limits={"cpu": "2000m"}),
                ],
                "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}],
            }
        }
    }
    live = {
        "template": {
            "spec": {
                "initContainers": [container(limits={"memory": "1024Mi"})],
                "containers": [
                    container(requests={"cpu": "500m"}),
                    container(requests={"cpu": "1"}, limits={"cpu": "2"}),
                ],
                "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1073741824"}}],
            }
        }
    }
    assert contains(desired, live)
    live["template"]["spec"]["containers"][1]["resources"]["limits"] = {"cpu": "3"}
    assert not contains(desired, live)


def test_a_resource_the_server_added_is_ignored_but_a_missing_one_is_not() -> None:
    desired = spec_with(container(requests={"cpu": "1"}))
    live = spec_with(container(requests={"cpu": "1", "memory": "1Gi"}))
    assert contains(desired, live)
    assert not contains(live, desired)


# --- parse_quantity ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", Decimal(0)),
        ("1", Decimal(1)),
        ("1000m", Decimal(1)),
        ("250m", Decimal("0.25")),
        ("0.5", Decimal("0.5")),
        ("1.5", Decimal("1.5")),
        ("+2", Decimal(2)),
        ("-1", Decimal(-1)),
        ("100n", Decimal("1e-7")),
        ("5u", Decimal("5e-6")),
        ("1k", Decimal(1000)),
        ("2M", Decimal(2_000_000)),
        ("3G", Decimal(3 * 10**9)),
        ("1T", Decimal(10**12)),
        ("1P", Decimal(10**15)),
        ("1E", Decimal(10**18)),
        ("1Ki", Decimal(1024)),
        ("64Mi", Decimal(64 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("1Ti", Decimal(2**40)),
        ("1Pi", Decimal(2**50)),
        ("1Ei", Decimal(2**60)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("1e-3", Decimal("0.001")),
        (" 2Gi ", Decimal(2 * 2**30)),
        (3, Decimal(3)),
        (0.5, Decimal("0.5")),
    ],
)
def test_parse_quantity(text: str | int | float, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text",
    ["", "abc", "1Gb", "1gi", "1 Gi", "Gi", "1.2.3", ".", "1e", "1KiB", "m", "--1", "1,5"],
)
def test_parse_quantity_rejects_non_quantities(text: str) -> None:
    assert parse_quantity(text) is None


def test_parse_quantity_rejects_booleans() -> None:
    assert parse_quantity(True) is None
    assert parse_quantity(False) is None


_suffixes = st.sampled_from(["", "m", "k", "M", "G", "Ki", "Mi", "Gi"])


@settings(max_examples=200, deadline=None)
@given(number=st.integers(0, 10**6), suffix=_suffixes)
def test_canonical_forms_are_equal(number: int, suffix: str) -> None:
    """A quantity equals the plain number of its value, the form the server may write back."""
    value = parse_quantity(f"{number}{suffix}")
    assert value is not None
    canonical = format(value.normalize(), "f")
    desired = {"resources": {"limits": {"memory": f"{number}{suffix}"}}}
    live = {"resources": {"limits": {"memory": canonical}}}
    assert contains(desired, live)
    bumped = {"resources": {"limits": {"memory": format(value + 1, "f")}}}
    assert not contains(desired, bumped)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text("ab", max_size=2),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c"]), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(obj=_json, extra=st.dictionaries(st.sampled_from(["x", "y"]), _json, max_size=2))
def test_an_object_contains_itself_and_survives_server_additions(
    obj: Any, extra: dict[str, Any]
) -> None:
    assert contains(obj, copy.deepcopy(obj))
    if isinstance(obj, dict):
        assert contains(obj, {**extra, **copy.deepcopy(obj)})
