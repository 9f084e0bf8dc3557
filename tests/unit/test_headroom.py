"""Headroom sizing (core/headroom.py): placeholders cover the loss of any one zone, static
stability leaves spec.replicas after any one zone's loss."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from zonal_operator.api.headroom import (
    DEFAULT_PRIORITY_CLASS,
    NONE,
    PLACEHOLDERS,
    HeadroomPolicy,
)
from zonal_operator.api.workload import Workload
from zonal_operator.core import headroom
from zonal_operator.core.distribution import distribute

ZONES = st.lists(st.sampled_from("abcdef"), min_size=1, max_size=6, unique=True)


@st.composite
def layouts(draw: st.DrawFn) -> tuple[dict[str, int], int]:
    zones = draw(ZONES)
    replicas = draw(st.integers(0, 60))
    skew = draw(st.integers(1, 3))
    return distribute(replicas, zones, max_skew=skew), skew


@given(layouts())
def test_any_one_loss_fits_in_the_placeholders(layout: tuple[dict[str, int], int]) -> None:
    shares, skew = layout
    room = headroom.placeholders(shares, max_skew=skew)
    assert all(n >= 0 for n in room.values())
    assert set(room) == set(shares)
    for lost in shares:
        for zone, count in headroom.after_loss(shares, lost, max_skew=skew).items():
            assert shares[zone] + room[zone] >= count


@given(layouts())
def test_placeholders_are_the_least_that_fit(layout: tuple[dict[str, int], int]) -> None:
    shares, skew = layout
    room = headroom.placeholders(shares, max_skew=skew)
    for zone, n in room.items():
        if n:
            # One fewer would leave some zone's loss short in this zone.
            assert any(
                headroom.after_loss(shares, lost, max_skew=skew)[zone] - shares[zone] == n
                for lost in shares
                if lost != zone
            )


@given(layouts())
def test_sizing_is_idempotent(layout: tuple[dict[str, int], int]) -> None:
    shares, skew = layout
    assert headroom.placeholders(shares, max_skew=skew) == headroom.placeholders(
        dict(shares), max_skew=skew
    )


@given(ZONES, st.integers(0, 200))
def test_static_stability_survives_any_one_loss(zones: list[str], replicas: int) -> None:
    shares = headroom.static_shares(replicas, zones)
    assert all(n >= 0 for n in shares.values())
    assert sum(shares.values()) >= replicas
    if len(zones) > 1:
        for lost in zones:
            assert sum(n for z, n in shares.items() if z != lost) >= replicas
    assert headroom.static_extra(replicas, zones) == sum(shares.values()) - replicas
    assert headroom.static_shares(replicas, list(reversed(zones))) == shares


def test_three_zones_of_nine() -> None:
    shares = {"a": 3, "b": 3, "c": 3}
    # A loss puts 5 and 4 on the other two, the 5 on the first by name: c never takes 5.
    assert headroom.placeholders(shares) == {"a": 2, "b": 2, "c": 1}
    assert headroom.static_shares(9, list(shares)) == {"a": 5, "b": 5, "c": 5}
    assert headroom.static_extra(9, list(shares)) == 6


def test_a_single_zone_has_no_room_to_fail_to() -> None:
    assert headroom.placeholders({"a": 4}) == {"a": 0}
    assert headroom.static_shares(4, ["a"]) == {"a": 4}


def test_policy_from_spec() -> None:
    body = {
        "metadata": {"name": "w"},
        "spec": {"replicas": 3, "template": {}, "failover": {"headroom": {"mode": PLACEHOLDERS}}},
    }
    policy = Workload.from_body(body).failover.headroom
    assert policy.placeholders and not policy.static_stability
    assert policy.priority_class_name == DEFAULT_PRIORITY_CLASS
    assert Workload.from_body({"metadata": {"name": "w"}, "spec": {}}).failover.headroom == (
        HeadroomPolicy(mode=NONE)
    )
