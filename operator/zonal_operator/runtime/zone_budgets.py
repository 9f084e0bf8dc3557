"""Zone disruption budgets' part of a PerZone workload's reconcile (spec.disruptionBudget): the
operator's PodDisruptionBudgets as its reflector delivers them, and the writes that bring them
to what core/zone_budgets.py decides, through runtime/kube.py's gate (only the leader writes),
only where they differ (steady state writes nothing). Writes that close go first, each with the
resourceVersion read; the one that opens goes only once they all succeeded, so that two zones
are never open at once. A budget the operator did not make is never touched.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from zonal_operator.api.group import MANAGED_BY, MANAGED_BY_LABEL, WORKLOAD_LABEL
from zonal_operator.api.status import Reason, WorkloadStatus
from zonal_operator.api.workload import Workload
from zonal_operator.core import zone_budgets as core
from zonal_operator.core.deployment import owned_zone
from zonal_operator.runtime.cache import Store
from zonal_operator.runtime.kube import ApiException
from zonal_operator.runtime.watch import Source
from zonal_operator.runtime.workqueue import WorkQueue

log = logging.getLogger("zonal_operator")
SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
_Write = tuple[dict[str, Any], Mapping[str, Any] | None]  # the budget wanted, the live one
RETRY_SECONDS = 1.0  # after a close refused by a change since it was read


def source(within: str) -> Source:
    """The operator's own PodDisruptionBudgets in one scope ("" or /namespaces/<ns>)."""
    return Source("poddisruptionbudgets", f"/apis/policy/v1{within}/poddisruptionbudgets", SELECTOR)


class BudgetApi(Protocol):
    """The calls the budgets need (runtime/kube.py's KubeApi has them, behind its gate)."""

    def create_budget(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def replace_budget(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def delete_budget(self, namespace: str, name: str, uid: str) -> None: ...

    def create_event(
        self, namespace: str, name: str, uid: str, *, type_: str, reason: str, message: str
    ) -> None: ...


class ZoneBudgets:
    """The budgets' cache (namespace -> name -> body) and their reconcile."""

    def __init__(self, api: BudgetApi | None, queue: WorkQueue, pool: ThreadPoolExecutor) -> None:
        self.api, self.queue, self.pool = api, queue, pool
        self.budgets: dict[str, dict[str, dict[str, Any]]] = {}
        self._written: dict[tuple[str, str], str] = {}  # our last write's resourceVersion

    def on_budget(self, event_type: str | None, body: dict[str, Any]) -> None:
        """A watch event: kept, and its workload queued unless it is our own write's echo."""
        meta = body.get("metadata") or {}
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        if event_type == "DELETED":
            self.budgets.get(ns, {}).pop(name, None)
        else:
            self.budgets.setdefault(ns, {})[name] = body
        echo = self._written.pop((ns, name), None) == meta.get("resourceVersion")
        workload = (meta.get("labels") or {}).get(WORKLOAD_LABEL)
        if workload and not (echo and event_type != "DELETED"):
            self.queue.add((ns, workload))

    def _keep(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        self.budgets.setdefault(meta["namespace"], {})[meta["name"]] = body
        self._written[(meta["namespace"], meta["name"])] = str(meta.get("resourceVersion"))

    async def reconcile(
        self,
        wl: Workload,
        store: Store,
        status: WorkloadStatus | None,
    ) -> None:
        if self.api is None:
            return
        live = {
            name: body
            for name, body in self.budgets.get(wl.namespace, {}).items()
            if core.owned_by(body, wl)
        }
        if wl.disruption_budget is None and not live:
            return  # the common case: nothing to read further, nothing to write
        deployments = store.deployments_for(wl)
        placed = store.placed.get(wl.key, {})
        nodes = store.node_snapshot()
        by_zone: dict[str, Mapping[str, Any]] = {}
        if wl.disruption_budget is not None:
            for body in deployments.values():
                if (zone := owned_zone(body, wl)) is not None:
                    by_zone[zone] = body
        loop = asyncio.get_running_loop()
        states = {z.get("name"): z.get("health") for z in (status or {}).get("zones") or []}
        node_map = {n.name: n for n in nodes}
        views = []
        for zone in core.order(wl, by_zone):
            name = by_zone[zone]["metadata"]["name"]
            pods = tuple((placed.get(zone) or {}).values())
            views.append(
                core.zone_view(
                    zone,
                    by_zone[zone],
                    pods,
                    nodes=node_map,
                    budget=live.get(name),
                    state=states.get(zone),
                )
            )
        target = core.open_zone(views)
        closes: list[_Write] = []
        opens: list[_Write] = []
        for view in views:
            name = by_zone[view.zone]["metadata"]["name"]
            assert wl.disruption_budget is not None
            want = core.render_budget(wl, view.zone, wl.disruption_budget, view.zone == target)
            current = live.get(name)
            if current is None or core.differs(want, current):
                (opens if view.zone == target else closes).append((want, current))
        wanted = {by_zone[v.zone]["metadata"]["name"] for v in views}
        for name, body in live.items():
            if name not in wanted:  # its zone's Deployment is gone, or the budget switched off
                uid = body["metadata"].get("uid", "")
                await loop.run_in_executor(
                    self.pool, self.api.delete_budget, wl.namespace, name, uid
                )
        try:
            for want, have in closes:
                await self._write(loop, want, have)
            for want, have in opens:
                await self._write(loop, want, have)
        except ApiException as exc:
            if exc.status not in (409, 404):
                raise
            # An eviction granted since the read changed the budget: read again shortly, not
            # after a reconcile's backoff (a drain waits on it).
            log.info("zone budget of %s/%s changed since read; again shortly", *wl.key)
            self.queue.add_after(wl.key, RETRY_SECONDS)
            return
        if opens:  # one zone at most
            was = next((v.zone for v in views if v.open), None)
            message = f"zone {target} is open to voluntary disruptions" + (
                f" (was {was})" if was else ""
            )
            log.info("%s/%s: %s", *wl.key, message)
            event = functools.partial(
                self.api.create_event,
                wl.namespace,
                wl.name,
                wl.uid,
                type_="Normal",
                reason=Reason.ZONE_BUDGET_OPENED,
                message=message,
            )
            await loop.run_in_executor(self.pool, event)

    async def _write(
        self,
        loop: asyncio.AbstractEventLoop,
        want: dict[str, Any],
        have: Mapping[str, Any] | None,
    ) -> None:
        assert self.api is not None
        ns = want["metadata"]["namespace"]
        if have is None:
            done = await loop.run_in_executor(self.pool, self.api.create_budget, ns, want)
        else:
            # The resourceVersion read: an eviction granted since (it writes the budget's
            # status) makes this fail rather than close a zone in the middle of one.
            meta = have["metadata"]
            want["metadata"]["resourceVersion"] = meta.get("resourceVersion")
            done = await loop.run_in_executor(self.pool, self.api.replace_budget, ns, want)
        self._keep(done)
