from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonal_operator.core.naming import (
    MAX_WORKLOAD_NAME_LENGTH,
    MAX_ZONE_SLUG_LENGTH,
    deployment_name,
    zone_slug,
)

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
HASHED = re.compile(r"-[0-9a-f]{5}\Z")


def is_dns_label(value: str) -> bool:
    return len(value) <= 63 and DNS_LABEL.match(value) is not None


# --- examples -------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["us-east-1a", "europe-west4-b", "1", "eastus-2", "use1-az1"])
def test_plain_zones_map_to_themselves(zone: str) -> None:
    assert zone_slug(zone) == zone
    assert deployment_name("web", zone) == f"web-{zone}"


def test_example_deployment_name() -> None:
    assert deployment_name("web", "us-east-1a") == "web-us-east-1a"


@pytest.mark.parametrize(
    ("zone", "prefix"),
    [
        ("Zone_A/1", "zone-a-1"),
        (
            "US-EAST-1A",
            "us-east-1a",
        ),  # case alone is enough to hash: label values are case-sensitive
        ("northamerica-northeast1-a", "northamerica-nor"),  # 25 chars, too long
        ("zone.with.dots", "zone-with-dots"),
        ("-lead-", "lead"),
        ("", "z"),
        ("___", "z"),
    ],
)
def test_hashed_zones(zone: str, prefix: str) -> None:
    slug = zone_slug(zone)
    assert slug.startswith(prefix + "-")
    assert HASHED.search(slug)
    assert slug[len(prefix) + 1 :] == slug[-5:]
    assert len(slug) <= MAX_ZONE_SLUG_LENGTH
    assert is_dns_label(slug)


def test_long_zone_is_cut_without_trailing_dash() -> None:
    # the cut at 16 characters falls right after a '-', which must not end up doubled
    slug = zone_slug("abcdefghijklmno-pqrstuvwxyz")
    assert "--" not in slug
    assert re.fullmatch(r"abcdefghijklmno-[0-9a-f]{5}", slug)


def test_value_that_looks_hashed_is_hashed_too() -> None:
    # "us-1a2b3" could be the hashed slug of e.g. "US" or "us." if their hash began with 1a2b3.
    slug = zone_slug("us-1a2b3")
    assert slug != "us-1a2b3"
    assert slug.startswith("us-1a2b3-")
    assert zone_slug("us-1a2b") == "us-1a2b"  # 4 hex digits: cannot be a hashed slug
    assert zone_slug("us-1a2bz") == "us-1a2bz"


def test_hashed_slug_is_stable() -> None:
    # The name of existing Deployments depends on it: never change the hash.
    assert zone_slug("Zone_A/1") == "zone-a-1-804af"


def test_dotted_workload_names_do_not_collide_with_dashed_ones() -> None:
    dotted = deployment_name("my.app", "us-east-1a")
    dashed = deployment_name("my-app", "us-east-1a")
    assert dotted != dashed
    assert is_dns_label(dotted)
    assert dotted.startswith("my-app-") and dotted.endswith("-us-east-1a")


def test_longest_names_fit_a_label() -> None:
    workload = "w" * MAX_WORKLOAD_NAME_LENGTH
    name = deployment_name(workload, "z" * 63)
    assert len(name) == 63
    assert is_dns_label(name)
    dotted = "a." + "b" * (MAX_WORKLOAD_NAME_LENGTH - 2)
    assert is_dns_label(deployment_name(dotted, "z" * 63))


@pytest.mark.parametrize(
    "workload", ["w" * (MAX_WORKLOAD_NAME_LENGTH + 1), "", "Web", "web-", "-web", "a..b", "a_b"]
)
def test_invalid_workload_names(workload: str) -> None:
    with pytest.raises(ValueError):
        deployment_name(workload, "us-east-1a")


# --- properties -----------------------------------------------------------------------------

LABEL_VALUE_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
zone_values = st.text(LABEL_VALUE_ALPHABET, min_size=1, max_size=63)
# Bias towards values close to each other and to hashed-looking ones, where collisions would be.
tricky_zones = st.one_of(
    zone_values,
    st.text("aA-_.1", min_size=1, max_size=6),
    st.builds(
        lambda p, h: f"{p}-{h}",
        st.text("ab-", max_size=4),
        st.text("0123456789abcdef", min_size=5, max_size=5),
    ),
)
dns_label_part = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)
workload_names = (
    st.lists(dns_label_part, min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda name: len(name) <= MAX_WORKLOAD_NAME_LENGTH)
)


@settings(max_examples=400)
@given(zone=tricky_zones)
def test_slug_is_a_short_dns_label(zone: str) -> None:
    slug = zone_slug(zone)
    assert is_dns_label(slug)
    assert len(slug) <= MAX_ZONE_SLUG_LENGTH
    assert slug == zone_slug(zone)


@settings(max_examples=300)
@given(workload=workload_names, zone=tricky_zones)
def test_deployment_name_is_a_dns_label(workload: str, zone: str) -> None:
    name = deployment_name(workload, zone)
    assert is_dns_label(name)
    assert name == deployment_name(workload, zone)


@settings(max_examples=300)
@given(workload=workload_names, zones=st.lists(tricky_zones, min_size=2, max_size=30, unique=True))
def test_distinct_zones_get_distinct_names(workload: str, zones: list[str]) -> None:
    names = [deployment_name(workload, z) for z in zones]
    assert len(set(names)) == len(names)
