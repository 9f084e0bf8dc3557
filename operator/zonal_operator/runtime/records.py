"""What the controller keeps of each workload between its reconciles (runtime/controller.py):
one `Record` per workload, dropped with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from zonal_operator.api.workload import Workload
from zonal_operator.runtime import metrics
from zonal_operator.runtime.executor import StatusWrite

# core/plan.MatchMemo, kept and updated here.
MatchMemo = dict[tuple[str, str, str], bool]


@dataclass
class Record:
    """What the controller keeps of one workload between its reconciles (dropped, all of it,
    when the workload is deleted)."""

    # Since when its status has coalesced a change (core/coalesce.py).
    coalesced_since: datetime | None = None
    # Its status (and events) decided but not written yet: deferred behind a backlog.
    deferred: StatusWrite | None = None
    # The matches_live memo for one spec (uid, generation) of it.
    spec: tuple[str, int] = ("", 0)
    match_memo: MatchMemo = field(default_factory=dict)
    # The uid of it whose namespace is being deleted: the namespace controller deletes it
    # too, and recreating its Deployments meanwhile would only fight that.
    terminating: str = ""
    series: metrics.WorkloadSeries = field(default_factory=metrics.WorkloadSeries)

    def deferred_for(self, wl: Workload) -> StatusWrite | None:
        """The deferred status write of the workload, unless it was for an earlier namesake."""
        deferred = self.deferred
        return deferred if deferred is not None and deferred.uid == wl.uid else None

    def memo_for(self, wl: Workload) -> MatchMemo:
        """The memo of matches_live results for the workload's current spec."""
        if self.spec != (wl.uid, wl.generation) or len(self.match_memo) > 64:
            self.spec, self.match_memo = (wl.uid, wl.generation), {}
        return self.match_memo
