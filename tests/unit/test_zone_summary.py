"""status.zonesNotHealthy (core/zone_summary.py): the zones `kubectl get zw` names, read from the
zones' health alone, so that it adds no status write of its own."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tests.kit.perzone_sim import (
    NOW,
    ZONES,
    Sim,
    cluster_nodes,
    fail_zone,
    workload_body,
    zone_nodes,
)

from zonal_operator.api.status import ZoneState, ZoneStatus
from zonal_operator.core.status_diff import status_change
from zonal_operator.core.zone_summary import not_healthy


def test_names_the_zones_not_healthy_by_name() -> None:
    zones: list[ZoneStatus] = [
        {"name": "zone-c", "health": "Recovering"},
        {"name": "zone-a", "health": "Healthy"},
        {"name": "zone-b", "health": "Unhealthy"},
    ]
    assert not_healthy(zones) == "zone-b=Unhealthy,zone-c=Recovering"
    assert not_healthy([{"name": "zone-a", "health": "Healthy"}]) is None
    assert not_healthy([]) is None


_entry = st.fixed_dictionaries(
    {"name": st.sampled_from(ZONES), "health": st.sampled_from(list(ZoneState))},
    optional={
        "readyReplicas": st.integers(0, 9),
        "readyNodes": st.integers(0, 9),
        "desiredReplicas": st.integers(0, 9),
    },
)


@given(st.lists(_entry, max_size=3, unique_by=lambda z: z["name"]))
def test_reads_nothing_but_each_zones_health(zones: list[Any]) -> None:
    bare = [{"name": z["name"], "health": z["health"]} for z in reversed(zones)]
    assert not_healthy(zones) == not_healthy(bare)


def test_through_a_failover_and_back_it_changes_only_with_a_zones_health() -> None:
    sim = Sim(workload_body(9, failover={"failbackDelaySeconds": 60}), cluster_nodes())
    sim.converge()
    assert "zonesNotHealthy" not in sim.status
    seen: list[str | None] = []
    statuses = [sim.status]

    def run(rounds: int) -> None:
        for _ in range(rounds):
            result = sim.step()
            sim.settle()
            if result.status is not None:
                statuses.append(result.status)
                value = result.status.get("zonesNotHealthy")
                if not seen or seen[-1] != value:
                    seen.append(value)
            sim.now += timedelta(seconds=15)

    fail_zone(sim, "zone-a", sim.now)
    run(12)
    sim.nodes = [n for n in sim.nodes if not n.name.startswith("zone-a")] + zone_nodes(
        "zone-a", since=sim.now
    )
    run(30)
    assert seen == ["zone-a=Degraded", "zone-a=Unhealthy", "zone-a=Recovering", None]
    assert sim.now > NOW
    for before, after in itertools.pairwise(statuses):
        if before.get("zonesNotHealthy") != after.get("zonesNotHealthy"):
            assert status_change(before, after) in ("generation", "conditions", "zones")
            health = [(z["name"], z.get("health")) for z in before["zones"]]
            assert health != [(z["name"], z.get("health")) for z in after["zones"]]
