"""A standby's controller: its caches take every event, its workers reconcile nothing until it
leads (Controller.lead), and a write the gate refuses (NotLeader) ends the reconcile without a
retry, an error or a deferred status."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.kit.fake_kube import StatusApi, status_controller, status_workload
from tests.kit.perzone_sim import ZONES

from zonal_operator.runtime import metrics
from zonal_operator.runtime.leadership import Leadership


class _GatedApi(StatusApi):
    """Every write asks the gate first, as runtime/kube.py's KubeApi does."""

    def __init__(self, leadership: Leadership) -> None:
        super().__init__()
        self.leadership = leadership

    def create_deployment(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self.leadership.check()
        return super().create_deployment(namespace, body)

    def patch_workload_status(
        self, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        self.leadership.check()
        return super().patch_workload_status(namespace, name, status)

    def create_event(self, namespace: str, name: str, uid: str, **event: str) -> None:
        self.leadership.check()
        super().create_event(namespace, name, uid, **event)


def test_a_standby_keeps_its_cache_and_reconciles_only_while_leading() -> None:
    async def scenario() -> None:
        leadership = Leadership(renew_deadline=10)
        api = _GatedApi(leadership)
        controller = status_controller(api, workers=2)
        controller.active.clear()
        controller.start()
        try:
            controller.intake.on_workload("ADDED", status_workload("web"))
            await asyncio.sleep(0.2)
            assert ("shop", "web") in controller.store.workloads  # the cache is current
            assert api.calls == []  # and nothing was reconciled

            leadership.renewed(time.monotonic())
            controller.lead()
            await asyncio.sleep(0.3)
            assert sorted(c for c in api.calls if c[0] == "create") == [
                ("create", f"web-{zone}") for zone in ZONES
            ]

            # Leadership lost: the gate is shut, then the workers stop taking workloads.
            leadership.drop()
            errors = metrics.RECONCILE_ERRORS._value.get()
            controller.intake.on_workload("ADDED", status_workload("api"))
            await asyncio.sleep(0.2)  # the workers may take it before follow(): refused
            controller.follow()
            await asyncio.sleep(0.2)
            assert not [c for c in api.calls if c[1].startswith("api")]
            assert metrics.RECONCILE_ERRORS._value.get() == errors  # no error, no retry
            assert controller.deferred() == []

            # Leading again: every workload is reconciled at once.
            leadership.renewed(time.monotonic())
            controller.lead()
            await asyncio.sleep(0.3)
            assert api.writes("create", "api-zone-a") == 1
        finally:
            await controller.stop(flush_seconds=1)

    asyncio.run(scenario())
