"""Per-workload automatic shifts (core/gray_alone.py): a workload with
spec.autoShift.perWorkload failing alone in a zone gets a shift of its own, under every guard
of the automatic shifts; properties over random evidence."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from zonal_operator.api.autoshift import AUTOMATIC_LABEL, AutoShiftPolicy
from zonal_operator.api.group import DEFAULT_TOPOLOGY_KEY, MANAGED_BY, MANAGED_BY_LABEL
from zonal_operator.api.workload import Workload
from zonal_operator.api.zoneshift import ZoneShift
from zonal_operator.core import gray_alone
from zonal_operator.core import gray_failure as gray
from zonal_operator.core import shifts as shifting
from zonal_operator.core.gray_failure import Evidence, Tally

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
ZONES = frozenset({"zone-a", "zone-b", "zone-c"})


def window(a: tuple[int, int], b: tuple[int, int], c: tuple[int, int]) -> dict[str, Tally]:
    return {"zone-a": Tally(*a), "zone-b": Tally(*b), "zone-c": Tally(*c)}


HEALTHY = window((4, 0), (4, 0), (4, 0))
B_BAD = window((4, 0), (4, 4), (4, 0))
ALL_BAD = window((4, 4), (4, 4), (4, 4))


def evidence(
    name: str,
    *windows: dict[str, Tally],
    alone: bool = True,
    in_flight: frozenset[str] = frozenset(),
) -> Evidence:
    return Evidence(("ns", name), DEFAULT_TOPOLOGY_KEY, tuple(windows), ZONES, in_flight, alone)


def automatic(zone: str, name: str = "auto-x", workload: str | None = None) -> ZoneShift:
    spec: dict[str, object] = {"zone": zone, "duration": "1h", "optedInOnly": True}
    if workload:
        spec["workload"] = {"namespace": "ns", "name": workload}
    return ZoneShift.from_body(
        {
            "metadata": {
                "name": name,
                "labels": {AUTOMATIC_LABEL: "true", MANAGED_BY_LABEL: MANAGED_BY},
            },
            "spec": spec,
            "status": {"startedAt": "2026-01-01T11:59:00Z", "expiresAt": "2026-01-01T13:00:00Z"},
        }
    )


def judge(ev: list[Evidence], shifts: list[ZoneShift] | None = None) -> gray_alone.AloneJudgement:
    shifts = shifts or []
    return gray_alone.judge_alone(ev, shifts, gray.judge(ev, shifts, NOW), NOW)


def test_a_workload_failing_alone_gets_its_own_shift_only_when_it_asks() -> None:
    healthy = [evidence(n, HEALTHY, HEALTHY, alone=False) for n in "bc"]
    [shift] = judge([evidence("a", B_BAD, B_BAD), *healthy]).shifts
    assert (shift.key, shift.zone) == (("ns", "a"), "zone-b")
    assert judge([evidence("a", B_BAD, B_BAD, alone=False), *healthy]).shifts == ()
    body = gray_alone.shift_body(shift, NOW, "1h")
    spec = body["spec"]
    assert spec["workload"] == {"namespace": "ns", "name": "a"}
    assert (spec["zone"], spec["optedInOnly"], spec["duration"]) == ("zone-b", True, "1h")
    assert spec["reason"].startswith("Automatic: ns/a alone fails in zone zone-b: 100%")
    assert len(spec["reason"]) <= gray.MAX_REASON_LENGTH
    made = ZoneShift.from_body(body)
    assert gray.is_automatic(made) and made.workload == ("ns", "a")
    assert body["metadata"]["name"].startswith("auto-zone-b-ns-a-")


def test_a_zone_the_correlation_judges_is_left_to_it() -> None:
    ev = [evidence("a", B_BAD, B_BAD), evidence("b", B_BAD, B_BAD), evidence("c", HEALTHY)]
    cluster = gray.judge(ev, [], NOW)
    assert cluster.zone == "zone-b"
    assert gray_alone.judge_alone(ev, [], cluster, NOW).shifts == ()
    # Held cluster-wide (a rollout in flight elsewhere): still the cluster-wide judgement's.
    ev[2] = evidence("c", HEALTHY, in_flight=frozenset({"zone-b"}))
    assert judge(ev).shifts == ()


def test_the_guards_hold_it() -> None:
    # Every zone bad for it in the latest window.
    held = judge([evidence("a", B_BAD, B_BAD, ALL_BAD)])
    assert held.shifts == () and "every zone looks bad" in held.held[("ns", "a")][1]
    # Its rollout has the zone in flight.
    rolling = judge([evidence("a", B_BAD, B_BAD, in_flight=frozenset({"zone-b"}))])
    assert rolling.shifts == () and "in flight" in rolling.held[("ns", "a")][1]
    # A cluster-wide automatic shift applies to it already (of another zone).
    wide = judge([evidence("a", B_BAD, B_BAD)], [automatic("zone-c")])
    assert wide.shifts == () and "cluster-wide" in wide.held[("ns", "a")][1]
    # Its own shift is in force already: nothing more, nothing to tell.
    own = judge([evidence("a", B_BAD, B_BAD)], [automatic("zone-c", workload="a")])
    assert own.shifts == () and own.held == {}
    # Another workload's own shift holds nothing.
    other = judge([evidence("a", B_BAD, B_BAD)], [automatic("zone-c", workload="b")])
    assert [s.key for s in other.shifts] == [("ns", "a")]
    # No other zone with pods in the latest window.
    lone = window((0, 0), (4, 4), (0, 0))
    assert judge([evidence("a", B_BAD, B_BAD, lone)]).shifts == ()


def test_a_per_workload_shift_holds_no_cluster_wide_one() -> None:
    ev = [evidence("a", B_BAD, B_BAD), evidence("b", B_BAD, B_BAD), evidence("c", HEALTHY)]
    assert gray.judge(ev, [automatic("zone-c", workload="d")], NOW).zone == "zone-b"


def test_a_shift_of_one_workload_selects_that_workload_only() -> None:
    shift = automatic("zone-b", workload="a")
    spec = {"template": {}, "autoShift": {"enabled": True, "perWorkload": True}}
    mine = Workload.from_body({"metadata": {"name": "a", "namespace": "ns"}, "spec": spec})
    other = Workload.from_body({"metadata": {"name": "b", "namespace": "ns"}, "spec": spec})
    elsewhere = Workload.from_body({"metadata": {"name": "a", "namespace": "x"}, "spec": spec})
    assert shifting.selecting([shift], mine, {}, {}, NOW) == (shift,)
    assert shifting.selecting([shift], other, {}, {}, NOW) == ()
    assert shifting.selecting([shift], elsewhere, {}, {}, NOW) == ()


def test_per_workload_action_needs_the_opt_in() -> None:
    assert AutoShiftPolicy.from_spec({"perWorkload": True}).per_workload is False
    assert AutoShiftPolicy.from_spec({"enabled": True, "perWorkload": True}).per_workload


def tally(kind: str) -> st.SearchStrategy[Tally]:
    pods = st.integers(0, 6)
    if kind == "ok":
        return pods.map(lambda n: Tally(n, 0))
    if kind == "bad":
        return pods.map(lambda n: Tally(n, n))
    return pods.flatmap(lambda n: st.integers(0, n).map(lambda f: Tally(n, f)))


def window_for(bad: str | None) -> st.SearchStrategy[dict[str, Tally]]:
    """A window in which `bad` mostly fails and the other zones mostly do not, so that
    outliers, and the guards' edges, are common."""
    return st.fixed_dictionaries(
        {
            z: st.sampled_from(
                ["bad", "bad", "some"] if z == bad else ["ok", "ok", "some", "bad"]
            ).flatmap(tally)
            for z in sorted(ZONES)
        }
    )


histories = st.sampled_from([None, *sorted(ZONES)]).flatmap(
    lambda bad: st.lists(window_for(bad), min_size=0, max_size=4)
)
workloads = st.lists(st.tuples(histories, st.booleans()), min_size=0, max_size=4)
existing = st.lists(
    st.tuples(st.sampled_from(sorted(ZONES)), st.sampled_from([None, "w0", "w1", "w9"])),
    max_size=2,
)


@settings(max_examples=400, deadline=None)
@given(workloads, existing)
def test_properties(
    history: list[tuple[list[dict[str, Tally]], bool]], made: list[tuple[str, str | None]]
) -> None:
    ev = [evidence(f"w{i}", *ws, alone=alone) for i, (ws, alone) in enumerate(history)]
    shifts = [automatic(z, f"auto-{i}", w) for i, (z, w) in enumerate(made)]
    cluster = gray.judge(ev, shifts, NOW)
    judged = gray_alone.judge_alone(ev, shifts, cluster, NOW)
    assert judged == gray_alone.judge_alone(ev, shifts, cluster, NOW)  # deterministic
    by_key = {e.key: e for e in ev}
    keys = [s.key for s in judged.shifts]
    # At most one per workload, none for a workload with an automatic shift applying already
    # (its own, or a cluster-wide one: made now or in force), none beside the cluster-wide one.
    assert len(keys) == len(set(keys))
    if cluster.zone is not None or any(w is None for _, w in made):
        assert keys == []
    for shift in judged.shifts:
        e = by_key[shift.key]
        # A workload not opted in to per-workload action is never shifted alone.
        assert e.per_workload
        assert ("ns", shift.key[1]) not in {("ns", w) for _, w in made if w}
        assert shift.zone not in e.in_flight
        # Its sustained outlier, by the same rule and windows.
        assert sum(gray.window_outlier(w, shift.zone, ZONES) for w in e.windows[-3:]) >= 2
        # Never while the other zones are no better: in the latest window its other zones
        # fail under MAX_OTHERS_SHARE and less than the zone, and some of them have pods.
        mine = e.windows[-1][shift.zone]
        others = sum((t for z, t in e.windows[-1].items() if z != shift.zone), Tally())
        assert others.pods > 0
        assert others.share < gray.MAX_OTHERS_SHARE and others.share < mine.share
        # Not a zone the correlation judges gray-failed.
        assert (DEFAULT_TOPOLOGY_KEY, shift.zone) not in gray.correlated(ev, cluster.outliers)
