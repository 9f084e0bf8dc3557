"""Which zone is open to voluntary disruptions (core/zone_budgets.py, spec.disruptionBudget),
and the budget each zone's Deployment gets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from zonal_operator.api.budgets import DisruptionBudget
from zonal_operator.api.workload import Workload
from zonal_operator.core.model import NodeInfo, PodInfo
from zonal_operator.core.zone_budgets import (
    ZoneView,
    differs,
    is_open,
    open_zone,
    order,
    owned_by,
    render_budget,
    zone_view,
)

ZONES = ("zone-a", "zone-b", "zone-c")


def _views(*, open_: str | None = None, **flags: dict[str, bool]) -> list[ZoneView]:
    return [ZoneView(z, open=z == open_, **flags.get(z.replace("-", "_"), {})) for z in ZONES]


def test_the_first_zone_opens_when_none_is_and_nothing_moves_in_steady_state() -> None:
    assert open_zone(_views()) == "zone-a"
    assert open_zone(_views(open_="zone-b")) == "zone-b"
    assert open_zone([]) is None


def test_a_disrupted_zone_is_the_open_one() -> None:
    assert open_zone(_views(open_="zone-a", zone_c={"whole": False})) == "zone-c"


def test_the_open_zone_stays_while_not_whole_or_still_draining() -> None:
    views = _views(open_="zone-a", zone_a={"whole": False}, zone_b={"whole": False})
    assert open_zone(views) == "zone-a"
    views = _views(open_="zone-a", zone_a={"draining": True}, zone_b={"draining": True})
    assert open_zone(views) == "zone-a"


def test_once_whole_and_drained_the_next_zone_with_a_drain_waiting_opens() -> None:
    views = _views(open_="zone-b", zone_a={"draining": True}, zone_c={"draining": True})
    assert open_zone(views) == "zone-c"
    views = _views(open_="zone-c", zone_a={"draining": True}, zone_b={"draining": True})
    assert open_zone(views) == "zone-a"  # round the order


def test_a_failed_over_or_shifted_zone_is_the_open_one_even_over_a_drain() -> None:
    views = _views(open_="zone-b", zone_b={"whole": False}, zone_c={"forced": True})
    assert open_zone(views) == "zone-c"


def _view_sets() -> st.SearchStrategy[list[ZoneView]]:
    zone = st.builds(
        ZoneView,
        st.just(""),
        whole=st.booleans(),
        draining=st.booleans(),
        forced=st.booleans(),
        open=st.booleans(),
    )
    return st.lists(zone, min_size=1, max_size=5).map(
        lambda vs: [
            ZoneView(f"z{i}", v.whole, v.draining, v.forced, v.open) for i, v in enumerate(vs)
        ]
    )


@given(_view_sets())
def test_exactly_one_zone_is_open_and_the_answer_is_the_same_each_time(
    views: list[ZoneView],
) -> None:
    chosen = open_zone(views)
    assert chosen in {v.zone for v in views}
    assert open_zone(list(views)) == chosen


@given(_view_sets())
def test_a_disruption_in_progress_is_closed_only_for_a_failed_over_or_shifted_zone(
    views: list[ZoneView],
) -> None:
    chosen = open_zone(views)
    if any(v.open and not v.whole for v in views) and not any(
        v.zone == chosen and v.open for v in views
    ):
        assert any(v.zone == chosen and v.forced for v in views)


@given(_view_sets())
def test_replanning_the_budgets_written_moves_nothing(views: list[ZoneView]) -> None:
    """The zone chosen, once its budget is the one open, is chosen again: level-triggered."""
    chosen = open_zone(views)
    written = [ZoneView(v.zone, v.whole, v.draining, v.forced, v.zone == chosen) for v in views]
    assert open_zone(written) == chosen


def _workload(**spec: object) -> Workload:
    body = {
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}}}, **spec},
    }
    return Workload.from_body(body)


def test_the_stable_order_is_spec_zones_then_by_name() -> None:
    assert order(_workload(), ["zone-c", "zone-a"]) == ["zone-a", "zone-c"]
    assert order(_workload(zones=["zone-c", "zone-b"]), ZONES) == ["zone-c", "zone-b", "zone-a"]


def test_the_budgets_select_their_zone_and_open_with_the_users_budget() -> None:
    wl = _workload(disruptionBudget={"maxUnavailable": "50%"})
    assert wl.disruption_budget == DisruptionBudget("50%")
    assert _workload().disruption_budget is None
    assert _workload(disruptionBudget={}).disruption_budget == DisruptionBudget(1)
    closed = render_budget(wl, "zone-b", DisruptionBudget("50%"), False)
    opened = render_budget(wl, "zone-b", DisruptionBudget("50%"), True)
    assert closed["spec"]["maxUnavailable"] == 0 and not is_open(closed)
    assert opened["spec"]["maxUnavailable"] == "50%" and is_open(opened)
    labels = closed["spec"]["selector"]["matchLabels"]
    assert labels == {"zonal.dev/workload": "web", "zonal.dev/zone": "zone-b"}
    assert owned_by(closed, wl)
    assert not owned_by({"metadata": {"name": "web-zone-b"}}, wl)  # somebody else's
    assert differs(opened, closed) and not differs(closed, closed)


def test_a_zone_is_whole_only_with_every_pod_ready_and_its_budget_healthy() -> None:
    deployment = {"spec": {"replicas": 2}, "status": {"replicas": 2, "readyReplicas": 2}}
    pods = (PodInfo("a", node="n1", ready=True), PodInfo("b", node="n2", ready=True))
    nodes = {"n1": NodeInfo("n1"), "n2": NodeInfo("n2", unschedulable=True)}
    view = zone_view("z", deployment, pods, nodes=nodes, budget=None, state="Healthy")
    assert view.whole and view.draining and not view.forced and not view.open
    budget = {
        "metadata": {"generation": 1},
        "spec": {"maxUnavailable": 1},
        "status": {"observedGeneration": 1, "currentHealthy": 1, "expectedPods": 2},
    }
    view = zone_view("z", deployment, pods, nodes=nodes, budget=budget, state="Unhealthy")
    assert not view.whole and view.open and view.forced
    one_ready = (pods[0], PodInfo("b", node="n2", ready=False))
    assert not zone_view("z", deployment, one_ready, nodes=nodes, budget=None, state=None).whole
