from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonal_operator.core.distribution import distribute

ABC = ["a", "b", "c"]


def moves(alloc: dict[str, int], current: dict[str, int]) -> int:
    return sum(abs(alloc.get(z, 0) - current.get(z, 0)) for z in alloc.keys() | current.keys())


# --- examples -------------------------------------------------------------------------------


def test_even_split() -> None:
    assert distribute(9, ABC) == {"a": 3, "b": 3, "c": 3}


def test_extra_replica_goes_to_first_zone_by_name() -> None:
    assert distribute(10, ["c", "a", "b"]) == {"a": 4, "b": 3, "c": 3}
    assert distribute(11, ["c", "b", "a"]) == {"a": 4, "b": 4, "c": 3}


def test_even_split_with_large_skew_and_no_current() -> None:
    # A wide skew allows 4/4/2 too, but with nothing to preserve the split stays even.
    assert distribute(10, ABC, max_skew=5) == {"a": 4, "b": 3, "c": 3}
    assert distribute(10, ABC, max_skew=5, current={"a": 0, "b": 0}) == {"a": 4, "b": 3, "c": 3}


def test_scaling_up_and_down_keeps_existing_replicas() -> None:
    first = distribute(9, ABC)
    up = distribute(12, ABC, current=first)
    assert up == {"a": 4, "b": 4, "c": 4}
    assert moves(up, first) == 3
    down = distribute(4, ABC, current=up)
    assert down == {"a": 2, "b": 1, "c": 1}
    assert moves(down, up) == 8


def test_scale_down_takes_from_the_largest_zones() -> None:
    assert distribute(8, ABC, current={"a": 3, "b": 3, "c": 4}) == {"a": 3, "b": 3, "c": 2}
    # skew 2 tolerates 5/5/3 but the most even of the cheapest allocations is 5/4/4.
    assert distribute(13, ABC, max_skew=2, current={"a": 5, "b": 5, "c": 5}) == {
        "a": 5,
        "b": 4,
        "c": 4,
    }


def test_new_zone_takes_replicas_from_the_others() -> None:
    alloc = distribute(9, [*ABC, "d"], current={"a": 3, "b": 3, "c": 3})
    assert alloc == {"a": 3, "b": 2, "c": 2, "d": 2}
    assert moves(alloc, {"a": 3, "b": 3, "c": 3}) == 4


def test_removed_zone_gives_its_replicas_away() -> None:
    current = {"a": 3, "b": 3, "c": 3}
    alloc = distribute(9, ["a", "c"], current=current)
    assert alloc == {"a": 5, "c": 4}
    # only b's three replicas move
    assert moves(alloc, {"a": 3, "c": 3}) == 3


def test_skew_forces_raising_a_low_zone() -> None:
    # c is empty; with skew 1 it must get replicas although the total is unchanged.
    assert distribute(12, ABC, current={"a": 6, "b": 6, "c": 0}) == {"a": 4, "b": 4, "c": 4}
    # skew 3 lets a and b keep more: 5/5/2 moves four replicas (5/4/3 would move six).
    assert distribute(12, ABC, max_skew=3, current={"a": 6, "b": 6, "c": 0}) == {
        "a": 5,
        "b": 5,
        "c": 2,
    }


def test_more_zones_than_replicas() -> None:
    assert distribute(2, ["d", "c", "b", "a"]) == {"a": 1, "b": 1, "c": 0, "d": 0}
    assert distribute(2, ["a", "b", "c", "d"], current={"d": 1, "c": 1}) == {
        "a": 0,
        "b": 0,
        "c": 1,
        "d": 1,
    }


def test_empty_and_zero() -> None:
    assert distribute(0, []) == {}
    assert distribute(5, []) == {}
    assert distribute(0, ABC) == {"a": 0, "b": 0, "c": 0}
    assert distribute(7, ["only"]) == {"only": 7}


def test_current_for_unknown_zones_is_ignored() -> None:
    assert distribute(3, ["a"], current={"a": 1, "gone": 5}) == {"a": 3}


@pytest.mark.parametrize(
    ("total", "zones", "skew", "current"),
    [
        (-1, ABC, 1, None),
        (3, ABC, 0, None),
        (3, ABC, 1, {"a": -1}),
        (3, ["a", "b", "a"], 1, None),
    ],
)
def test_invalid_input(
    total: int, zones: list[str], skew: int, current: dict[str, int] | None
) -> None:
    with pytest.raises(ValueError):
        distribute(total, zones, max_skew=skew, current=current)


def test_large_input() -> None:
    zones = [f"zone-{i:02d}" for i in range(50)]
    current = {z: (i * 7919) % 4000 for i, z in enumerate(zones)}
    alloc = distribute(100_000, zones, max_skew=1, current=current)
    assert sum(alloc.values()) == 100_000
    assert max(alloc.values()) - min(alloc.values()) <= 1


# --- properties -----------------------------------------------------------------------------

zone_names = st.lists(st.text("abcdefgh", min_size=1, max_size=3), max_size=8, unique=True)


@st.composite
def problems(
    draw: st.DrawFn, max_total: int = 200, max_count: int = 60
) -> tuple[int, list[str], int, dict[str, int]]:
    zones = draw(zone_names)
    total = draw(st.integers(0, max_total))
    skew = draw(st.integers(1, 5))
    # current may name zones that are not (or no longer) in `zones`
    known = st.sampled_from([*zones, "gone", "other"])
    current = draw(st.dictionaries(known, st.integers(0, max_count), max_size=10))
    return total, zones, skew, current


@settings(max_examples=300)
@given(problems())
def test_invariants(problem: tuple[int, list[str], int, dict[str, int]]) -> None:
    total, zones, skew, current = problem
    alloc = distribute(total, zones, max_skew=skew, current=current)
    assert list(alloc) == sorted(zones)
    if not zones:
        return
    assert sum(alloc.values()) == total
    assert all(v >= 0 for v in alloc.values())
    assert max(alloc.values()) - min(alloc.values()) <= skew


@settings(max_examples=200)
@given(problems(), st.randoms(use_true_random=False))
def test_independent_of_input_order(
    problem: tuple[int, list[str], int, dict[str, int]], rnd: random.Random
) -> None:
    total, zones, skew, current = problem
    shuffled_zones = list(zones)
    rnd.shuffle(shuffled_zones)
    items = list(current.items())
    rnd.shuffle(items)
    expected = distribute(total, zones, max_skew=skew, current=current)
    got = distribute(total, shuffled_zones, max_skew=skew, current=dict(items))
    assert got == expected
    assert list(got) == list(expected)


def compositions(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    if parts == 1:
        yield (total,)
        return
    for first in range(total + 1):
        for rest in compositions(total - first, parts - 1):
            yield (first, *rest)


def brute_force(total: int, counts: tuple[int, ...], skew: int) -> tuple[int, ...]:
    """The documented optimum: fewest moves, then most even, then more replicas to earlier zones."""
    best: tuple[tuple[int, int, tuple[int, ...]], tuple[int, ...]] | None = None
    for alloc in compositions(total, len(counts)):
        if max(alloc) - min(alloc) > skew:
            continue
        key = (
            sum(abs(x - c) for x, c in zip(alloc, counts, strict=True)),
            sum(x * x for x in alloc),
            tuple(-x for x in alloc),
        )
        if best is None or key < best[0]:
            best = (key, alloc)
    assert best is not None
    return best[1]


@settings(max_examples=400, deadline=None)
@given(
    total=st.integers(0, 12),
    counts=st.lists(st.integers(0, 8), min_size=1, max_size=4),
    skew=st.integers(1, 3),
)
def test_minimal_against_brute_force(total: int, counts: list[int], skew: int) -> None:
    zones = [f"z{i}" for i in range(len(counts))]  # already in sorted order
    current = dict(zip(zones, counts, strict=True))
    alloc = distribute(total, zones, max_skew=skew, current=current)
    expected = brute_force(total, tuple(counts), skew)
    assert moves(alloc, current) == moves(dict(zip(zones, expected, strict=True)), current)
    assert tuple(alloc.values()) == expected


@settings(max_examples=200, deadline=None)
@given(total=st.integers(0, 12), zones=st.integers(1, 4), skew=st.integers(1, 3))
def test_no_current_is_the_even_split(total: int, zones: int, skew: int) -> None:
    names = [f"z{i}" for i in range(zones)]
    base, extra = divmod(total, zones)
    expected = {z: base + (1 if i < extra else 0) for i, z in enumerate(names)}
    assert distribute(total, names, max_skew=skew) == expected
    assert distribute(total, names, max_skew=skew, current=dict.fromkeys(names, 0)) == expected
