"""The gray-failure judgement (core/gray_failure.py): the outlier rule, the correlation, what
holds an automatic shift, and properties over random evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from zonal_operator.api.autoshift import AUTOMATIC_LABEL
from zonal_operator.api.group import DEFAULT_TOPOLOGY_KEY, MANAGED_BY, MANAGED_BY_LABEL
from zonal_operator.api.workload import Workload
from zonal_operator.api.zoneshift import ZoneShift
from zonal_operator.core import gray_failure as gray
from zonal_operator.core import shifts as shifting
from zonal_operator.core.gray_failure import Evidence, Tally
from zonal_operator.core.model import PodInfo

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
ZONES = frozenset({"zone-a", "zone-b", "zone-c"})


def window(a: tuple[int, int], b: tuple[int, int], c: tuple[int, int]) -> dict[str, Tally]:
    return {"zone-a": Tally(*a), "zone-b": Tally(*b), "zone-c": Tally(*c)}


HEALTHY = window((4, 0), (4, 0), (4, 0))
B_BAD = window((4, 0), (4, 4), (4, 0))


def evidence(
    name: str, *windows: dict[str, Tally], in_flight: frozenset[str] = frozenset()
) -> Evidence:
    return Evidence(("ns", name), DEFAULT_TOPOLOGY_KEY, tuple(windows), ZONES, in_flight)


def automatic(zone: str, name: str = "auto-x", started: bool = True) -> ZoneShift:
    status = (
        {"startedAt": "2026-01-01T11:59:00Z", "expiresAt": "2026-01-01T13:00:00Z"}
        if started
        else {}
    )
    return ZoneShift.from_body(
        {
            "metadata": {
                "name": name,
                "labels": {AUTOMATIC_LABEL: "true", MANAGED_BY_LABEL: MANAGED_BY},
            },
            "spec": {"zone": zone, "duration": "1h", "optedInOnly": True},
            "status": status,
        }
    )


def test_a_pod_counts_once_started_and_fails_when_unready_or_restarting() -> None:
    old = NOW - timedelta(minutes=5)
    assert gray.failing(PodInfo("p", node="n", ready=True, created=old), NOW) is False
    assert gray.failing(PodInfo("p", node="n", ready=False, created=old), NOW) is True
    restarted = PodInfo(
        "p", node="n", ready=True, created=old, restarted=NOW - timedelta(seconds=5)
    )
    assert gray.failing(restarted, NOW) is True
    assert gray.failing(PodInfo("p", node="n", ready=False, created=NOW), NOW) is None
    assert gray.failing(PodInfo("p", node="", ready=False, created=old), NOW) is None
    assert gray.failing(PodInfo("p", node="n", deleting=True, created=old), NOW) is None


def test_the_outlier_rule_needs_two_of_three_windows() -> None:
    assert gray.outlier(evidence("a", HEALTHY, HEALTHY, B_BAD)) is None
    assert gray.outlier(evidence("a", HEALTHY, B_BAD, B_BAD)) == "zone-b"
    assert gray.outlier(evidence("a", B_BAD, HEALTHY, B_BAD)) == "zone-b"
    # Others failing too: no outlier.
    assert gray.outlier(evidence("a", *[window((4, 1), (4, 4), (4, 1))] * 3)) is None
    # Half failing in the zone, none elsewhere: an outlier.
    assert gray.outlier(evidence("a", *[window((4, 0), (4, 2), (4, 0))] * 2)) == "zone-b"
    # Under half: not.
    assert gray.outlier(evidence("a", *[window((4, 0), (4, 1), (4, 0))] * 3)) is None


def test_a_zone_on_another_revision_is_not_compared() -> None:
    zones = gray.compared_zones(ZONES, {"zone-a": "r1", "zone-b": "r2", "zone-c": "r1"})
    assert zones == {"zone-a", "zone-c"}
    assert gray.compared_zones(ZONES, {}) == ZONES


def test_two_workloads_make_a_shift_one_does_not() -> None:
    one = gray.judge([evidence("a", B_BAD, B_BAD), evidence("b", HEALTHY, HEALTHY)], [], NOW)
    assert one.zone is None and one.held == ""
    assert one.outliers == {(DEFAULT_TOPOLOGY_KEY, "zone-b"): (("ns", "a"),)}
    two = gray.judge(
        [evidence("a", B_BAD, B_BAD), evidence("b", B_BAD, B_BAD), evidence("c", HEALTHY)],
        [],
        NOW,
    )
    assert two.zone == "zone-b"
    assert "2 of 3 opted-in workloads" in two.evidence
    body = gray.shift_body(two, NOW, "1h")
    assert body["spec"] == {
        "zone": "zone-b",
        "topologyKey": DEFAULT_TOPOLOGY_KEY,
        "duration": "1h",
        "reason": body["spec"]["reason"],
        "optedInOnly": True,
    }
    assert len(body["spec"]["reason"]) <= gray.MAX_REASON_LENGTH
    assert body["spec"]["reason"].startswith("Automatic: gray failure of zone zone-b")
    assert gray.is_automatic(ZoneShift.from_body(body))


def test_two_of_five_is_not_enough() -> None:
    ev = [evidence("a", B_BAD, B_BAD), evidence("b", B_BAD, B_BAD)]
    ev += [evidence(n, HEALTHY, HEALTHY) for n in "cde"]
    assert gray.judge(ev, [], NOW).zone is None


def test_every_zone_bad_holds_the_shift() -> None:
    all_bad = window((4, 4), (4, 4), (4, 4))
    ev = [evidence("a", B_BAD, B_BAD), evidence("b", B_BAD, B_BAD)]
    ev += [evidence(n, all_bad, all_bad) for n in "cd"]
    judged = gray.judge(ev, [], NOW)
    assert judged.zone is None and "every zone looks bad" in judged.held


def test_an_automatic_shift_in_force_holds_another() -> None:
    ev = [evidence("a", B_BAD, B_BAD), evidence("b", B_BAD, B_BAD)]
    assert gray.judge(ev, [automatic("zone-b")], NOW).held == ""
    assert gray.judge(ev, [automatic("zone-b")], NOW).zone is None
    held = gray.judge(ev, [automatic("zone-c", started=False)], NOW)
    assert held.zone is None and "auto-x" in held.held
    # A shift somebody else made (without the labels) holds nothing.
    mine = ZoneShift.from_body(
        {"metadata": {"name": "m"}, "spec": {"zone": "zone-c", "duration": "1h"}}
    )
    assert gray.judge(ev, [mine], NOW).zone == "zone-b"


def test_a_rollout_in_flight_holds_the_shift_of_its_zone() -> None:
    ev = [
        evidence("a", B_BAD, B_BAD),
        evidence("b", B_BAD, B_BAD),
        evidence("c", HEALTHY, in_flight=frozenset({"zone-b"})),
    ]
    judged = gray.judge(ev, [], NOW)
    assert judged.zone is None and "in flight (ns/c)" in judged.held


def test_an_opted_in_only_shift_selects_opted_in_workloads_only() -> None:
    shift = automatic("zone-b")
    body = {"metadata": {"name": "w", "namespace": "ns"}, "spec": {"template": {}}}
    plain = Workload.from_body(body)
    opted = Workload.from_body({**body, "spec": {"template": {}, "autoShift": {"enabled": True}}})
    assert shifting.selecting([shift], plain, {}, {}, NOW) == ()
    assert shifting.selecting([shift], opted, {}, {}, NOW) == (shift,)


def test_expired_automatic_shifts_are_the_operators_to_remove() -> None:
    later = NOW + timedelta(hours=2)
    assert [s.name for s in gray.expired_automatic([automatic("zone-b")], later)] == ["auto-x"]
    assert gray.expired_automatic([automatic("zone-b")], NOW) == []
    assert gray.expired_automatic([automatic("zone-b", started=False)], later) == []


tallies = st.builds(Tally, st.integers(0, 6), st.integers(0, 6)).map(
    lambda t: Tally(t.pods, min(t.failing, t.pods))
)
windows = st.fixed_dictionaries(dict.fromkeys(sorted(ZONES), tallies))
workloads = st.lists(st.lists(windows, min_size=0, max_size=4), min_size=0, max_size=5)


@settings(max_examples=300, deadline=None)
@given(workloads, st.sampled_from([None, "zone-a", "zone-b"]))
def test_properties(history: list[list[dict[str, Tally]]], existing: str | None) -> None:
    ev = [evidence(f"w{i}", *ws) for i, ws in enumerate(history)]
    shifts = [automatic(existing)] if existing else []
    judged = gray.judge(ev, shifts, NOW)
    assert judged == gray.judge(ev, shifts, NOW)  # deterministic
    if judged.zone is None:
        return
    # Never two automatic shifts.
    assert not shifts
    # Never a shift while the other zones are no better: in the last window, the zone's pods
    # fail at least MIN_RATIO times as often as the others', which fail under MAX_OTHERS_SHARE.
    mine = sum((e.windows[-1].get(judged.zone, Tally()) for e in ev if e.windows), Tally())
    others = sum(
        (t for e in ev if e.windows for z, t in e.windows[-1].items() if z != judged.zone),
        Tally(),
    )
    assert others.share < gray.MAX_OTHERS_SHARE
    seeing = judged.outliers[(DEFAULT_TOPOLOGY_KEY, judged.zone)]
    assert len(seeing) >= gray.MIN_WORKLOADS
    for key in seeing:
        e = next(x for x in ev if x.key == key)
        assert sum(gray.window_outlier(w, judged.zone, ZONES) for w in e.windows[-3:]) >= 2
    assert mine.pods > 0
