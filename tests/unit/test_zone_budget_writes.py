"""The zone budgets' writes (runtime/zone_budgets.py): one budget per zone Deployment, closes
before the open one, nothing opened when a close is refused, nothing written in steady state,
a budget the operator did not make left alone."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from zonal_operator.api.group import MANAGED_BY, MANAGED_BY_LABEL
from zonal_operator.api.workload import Workload
from zonal_operator.core.model import NodeInfo, PodInfo
from zonal_operator.core.render import owner_reference, zone_labels
from zonal_operator.runtime.cache import Store
from zonal_operator.runtime.kube import ApiException
from zonal_operator.runtime.workqueue import WorkQueue
from zonal_operator.runtime.zone_budgets import ZoneBudgets

ZONES = ("zone-a", "zone-b", "zone-c")


class Api:
    def __init__(self) -> None:
        self.writes: list[tuple[str, str, Any]] = []
        self.refuse_replace = False
        self.version = 0

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        return {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}}

    def create_budget(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(("create", body["metadata"]["name"], body["spec"]["maxUnavailable"]))
        return self._answer(body)

    def replace_budget(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.refuse_replace:
            raise ApiException(status=409, reason="Conflict")
        self.writes.append(("update", body["metadata"]["name"], body["spec"]["maxUnavailable"]))
        return self._answer(body)

    def delete_budget(self, namespace: str, name: str, uid: str) -> None:
        self.writes.append(("delete", name, uid))

    def create_event(self, namespace: str, name: str, uid: str, **event: str) -> None:
        self.writes.append(("event", event["reason"], event["message"]))


def _workload() -> Workload:
    return Workload.from_body(
        {
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
            "spec": {
                "template": {"metadata": {"labels": {"app": "web"}}},
                "disruptionBudget": {"maxUnavailable": 1},
            },
        }
    )


def _store(wl: Workload, ready: dict[str, int]) -> Store:
    store = Store()
    for zone in ZONES:
        store.put_node(NodeInfo(f"n-{zone}", labels={"topology.kubernetes.io/zone": zone}))
        store.put_deployment(
            {
                "metadata": {
                    "name": f"web-{zone}",
                    "namespace": "shop",
                    "labels": {MANAGED_BY_LABEL: MANAGED_BY, **zone_labels(wl, zone)},
                    "ownerReferences": [owner_reference(wl)],
                },
                "spec": {"replicas": 1},
                "status": {"replicas": 1, "readyReplicas": ready.get(zone, 1)},
            }
        )
        pod = PodInfo(f"web-{zone}-1", node=f"n-{zone}", ready=ready.get(zone, 1) == 1)
        store.place(wl.key, zone, pod.name, pod)
    return store


def _run(budgets: ZoneBudgets, wl: Workload, store: Store) -> None:
    asyncio.run(budgets.reconcile(wl, store, wl.status))


def test_one_budget_per_zone_the_first_open_and_steady_state_writes_nothing() -> None:
    wl, api = _workload(), Api()
    budgets = ZoneBudgets(api, WorkQueue(), ThreadPoolExecutor(1))
    store = _store(wl, {})
    _run(budgets, wl, store)
    assert api.writes[:3] == [
        ("create", "web-zone-b", 0),
        ("create", "web-zone-c", 0),
        ("create", "web-zone-a", 1),
    ]
    api.writes.clear()
    _run(budgets, wl, store)
    assert api.writes == []


def test_a_disrupted_zone_opens_after_the_open_one_closes_and_a_refused_close_opens_none() -> None:
    wl, api = _workload(), Api()
    budgets = ZoneBudgets(api, WorkQueue(), ThreadPoolExecutor(1))
    _run(budgets, wl, _store(wl, {}))
    api.writes.clear()
    api.refuse_replace = True  # an eviction changed zone-a's budget since it was read
    _run(budgets, wl, _store(wl, {"zone-b": 0}))
    assert api.writes == []
    api.refuse_replace = False
    _run(budgets, wl, _store(wl, {"zone-b": 0}))
    assert api.writes[:2] == [("update", "web-zone-a", 0), ("update", "web-zone-b", 1)]
    assert api.writes[2][:2] == ("event", "ZoneBudgetOpened")


def test_a_budget_the_operator_did_not_make_is_never_touched() -> None:
    wl, api = _workload(), Api()
    budgets = ZoneBudgets(api, WorkQueue(), ThreadPoolExecutor(1))
    theirs = {
        "metadata": {"name": "web-all", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"maxUnavailable": 1},
    }
    budgets.on_budget("ADDED", theirs)
    no_budget = Workload.from_body(
        {"metadata": {"name": "web", "namespace": "shop", "uid": "u1"}, "spec": {"template": {}}}
    )
    _run(budgets, no_budget, _store(wl, {}))
    assert api.writes == []
