"""The cluster's PriorityClasses and their values, kept from a watch: what a headroom
setting's check reads (core/headroom_plan.problem). A change re-plans the workloads that keep
placeholders, so a PriorityClass created after them is taken up at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zonal_operator.api.workload import Workload
from zonal_operator.runtime.cache import Store
from zonal_operator.runtime.watch import Source
from zonal_operator.runtime.workqueue import WorkQueue

SOURCE = Source("priorityclasses", "/apis/scheduling.k8s.io/v1/priorityclasses")


class PriorityClasses:
    def __init__(self, store: Store, queue: WorkQueue) -> None:
        self.store, self.queue = store, queue
        # None until the first event: not known, so placeholders wait (a cluster always has
        # the system-* classes, so the watch's first list brings some).
        self.values: dict[str, int] | None = None

    def on_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        name = str((body.get("metadata") or {}).get("name", ""))
        values = dict(self.values or {})
        if event_type == "DELETED":
            values.pop(name, None)
        else:
            values[name] = int(body.get("value") or 0)
        changed = values != self.values
        self.values = values
        if not changed:
            return
        for key, raw in self.store.workloads.items():
            if Workload.from_body(raw).failover.headroom.placeholders:
                self.queue.add(key)
