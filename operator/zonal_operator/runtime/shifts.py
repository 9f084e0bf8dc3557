"""ZoneShifts in the runtime: the shifts a workload's plan sees (from the cache), the tolerant
start-up list of ZoneShifts and namespaces, and the calls that write a ZoneShift's status
(which runtime/shift_status.py makes).

ZoneShifts and the namespaces' labels reach the cache through reflectors (intake.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from zonal_operator.api.workload import Workload
from zonal_operator.api.zoneshift import ZoneShift
from zonal_operator.core import shifts as shifting
from zonal_operator.runtime.cache import Store

log = logging.getLogger("zonal_operator")


def shifts_selecting(
    store: Store, key: tuple[str, str], wl: Workload, now: datetime
) -> tuple[ZoneShift, ...]:
    """The ZoneShifts in force that select the workload, for its plan."""
    if not store.zoneshifts:
        return ()
    labels = (store.workloads[key].get("metadata") or {}).get("labels") or {}
    within = store.namespaces.get(wl.namespace) or {}
    return shifting.selecting(store.zoneshifts.values(), wl, labels, within, now)


class Listing(Protocol):
    async def list(self) -> None: ...


async def list_shifts(reflectors: Sequence[Listing]) -> None:
    """The start-up lists of ZoneShifts and namespaces. Failing is no reason not to start:
    zone failover does not need them, and their watches retry."""
    for reflector in reflectors:
        try:
            await reflector.list()
        except Exception as exc:
            log.warning(
                "cannot list %s (%s): zone shifts apply once their watch works (is the "
                "ZoneShift CRD installed, and may the operator read it?)",
                getattr(getattr(reflector, "source", None), "resource", "zone shifts"),
                exc,
            )


class ShiftApi(Protocol):
    """The calls the ZoneShift status controller makes (kube.KubeApi; blocking, run in the
    worker threads)."""

    def patch_zoneshift_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]: ...

    def create_zoneshift_event(
        self, name: str, uid: str, *, type_: str, reason: str, message: str
    ) -> None: ...
