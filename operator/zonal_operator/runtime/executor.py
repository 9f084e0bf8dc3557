"""Carrying out a plan: its actions, then the status write and the events, and what the API
server's refusals mean for the reconcile (blocking: the controller runs it in a worker thread).

`act` sends the plan's writes and gathers what they brought back in an `Outcome`; `compose`
turns the planned status and the outcome into the `StatusWrite` to make (the Deployment
generations the writes produced, what was rejected or blocked, and the events); `write` makes
it, the events posted alongside.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zonal_operator.api.status import WorkloadStatus
from zonal_operator.api.workload import Workload
from zonal_operator.core.plan import Action, Create, Delete, DeletePod, Evict, Plan, Replace, Scale
from zonal_operator.core.status import mark_blocked, mark_rejected, record_generations
from zonal_operator.core.status_diff import status_change
from zonal_operator.runtime import metrics
from zonal_operator.runtime.kube import ApiException, Kube, NotLeader, merge_patch

log = logging.getLogger("zonal_operator")


@dataclass
class Outcome:
    """What a reconcile's actions brought back."""

    deployments: list[dict[str, Any]] = field(default_factory=list)
    generations: dict[str, int] = field(default_factory=dict)  # Deployment name -> generation
    rejected: list[str] = field(default_factory=list)  # what the API server refused, and why
    # Reconcile again this many seconds later: a write met a conflict, an eviction was blocked.
    requeue_after: float | None = None
    namespace_terminating: bool = False
    blocked: str = ""  # why an eviction was refused


@dataclass(frozen=True)
class StatusWrite:
    """A workload's status as the operator decided it, and the events that tell of it."""

    uid: str
    status: WorkloadStatus
    events: tuple[tuple[str, str, str], ...] = ()  # type, reason, message
    deferred_since: float = 0.0  # monotonic time it was first deferred (see controller.py)
    # Held back until then (Plan.status_hold_until), if nothing else is to be written sooner.
    hold_until: datetime | None = None


class Executor:
    def __init__(self, api: Kube, workers: int) -> None:
        self.api = api
        # Requests a reconcile sends alongside its own, so that they cost it one round trip:
        # its events, posted with its status write, and the writes it may send at once
        # (Plan.together). In a failover each would be one more of every workload's round
        # trips. Nothing that runs here waits on anything else.
        self.alongside = ThreadPoolExecutor(workers, thread_name_prefix="alongside")

    def shutdown(self) -> None:
        self.alongside.shutdown(wait=False)

    def act(self, wl: Workload, plan: Plan, outcome: Outcome | None = None) -> Outcome:
        """Carry out the plan's actions: the first group at once, the rest one by one. What
        they bring back goes into `outcome` (a new one if None), as far as they got."""
        outcome = outcome if outcome is not None else Outcome()
        together, rest = plan.actions[: plan.together], plan.actions[plan.together :]
        groups = [together] if together else []
        groups += [[action] for action in rest]
        for group in groups:
            conflict = False
            for action, result in zip(group, self._send(wl, group, outcome), strict=True):
                if isinstance(result, ApiException):
                    exc = result
                    if exc.status == 409:  # changed under us, or already there: requeue
                        outcome.requeue_after = outcome.requeue_after or 1.0
                        conflict = True
                        continue
                    deleting = isinstance(action, Delete | DeletePod)
                    if exc.status == 404 and deleting:
                        continue
                    if _namespace_terminating(exc):
                        outcome.namespace_terminating = True
                        return outcome
                    if exc.status in (400, 403, 422):
                        outcome.rejected.append(_describe_rejection(action, exc))
                        continue
                if isinstance(result, BaseException):
                    raise result
                if result is not None:
                    outcome.deployments.append(result)
                    meta = result.get("metadata") or {}
                    outcome.generations[meta["name"]] = int(meta.get("generation") or 0)
            if conflict:
                break
        return outcome

    @staticmethod
    def compose(
        wl: Workload,
        plan: Plan,
        deferred: StatusWrite | None,
        outcome: Outcome,
        now: datetime,
    ) -> StatusWrite:
        """The status to write, with the Deployment generations the writes produced and what
        was refused, and the events to post with it (those of a deferred write included)."""
        status = plan.status
        generations = {} if wl.spread else outcome.generations  # Spread: nothing to record
        if generations or outcome.rejected or outcome.blocked:
            status = copy.deepcopy(status if status is not None else wl.status)
            record_generations(status, generations)
            if outcome.rejected:
                mark_rejected(status, wl, "; ".join(outcome.rejected), now)
            if outcome.blocked:
                mark_blocked(status, wl, outcome.blocked, now)
        events = [
            *(deferred.events if deferred is not None else ()),
            *((e.type, e.reason, e.message) for e in plan.events),
            *(("Warning", "DeploymentRejected", message) for message in outcome.rejected),
        ]
        return StatusWrite(wl.uid, status if status is not None else wl.status, tuple(events))

    def write(
        self, wl: Workload, written: WorkloadStatus, status_write: StatusWrite
    ) -> dict[str, Any] | None:
        """Write the status if it differs from the one the workload has, and post the events
        alongside; returns the workload as written. The reconcile ends only once both are done:
        nothing piles up behind a busy API server, and an operator that stops after a
        reconcile has told of everything that reconcile recorded."""
        posting = [self.alongside.submit(self._event, wl, *e) for e in status_write.events]
        try:
            if status_write.status == written:
                return None
            metrics.STATUS_WRITES.labels(status_change(written, status_write.status)).inc()
            patch = merge_patch(written, status_write.status)
            return self.api.patch_workload_status(wl.namespace, wl.name, patch)
        finally:
            for future in posting:
                future.result()

    def _send(
        self, wl: Workload, group: list[Action], outcome: Outcome
    ) -> list[dict[str, Any] | BaseException | None]:
        """Carry out the actions of a group at once (the first in this thread), each one's
        response or exception in their order."""

        def send(action: Action) -> dict[str, Any] | BaseException | None:
            try:
                if isinstance(action, Evict):
                    return self._evict(wl, action, outcome)
                return self._apply(wl, action)
            except Exception as exc:
                return exc

        others = [self.alongside.submit(send, action) for action in group[1:]]
        return [send(group[0]), *(future.result() for future in others)]

    def _apply(self, wl: Workload, action: Action) -> dict[str, Any] | None:
        ns = wl.namespace
        if isinstance(action, Create):
            log.info("creating Deployment %s/%s", ns, action.body["metadata"]["name"])
            return self.api.create_deployment(ns, action.body)
        if isinstance(action, Replace):
            log.info("updating Deployment %s/%s", ns, action.body["metadata"]["name"])
            return self.api.replace_deployment(ns, action.body)
        if isinstance(action, Scale):
            log.info("scaling Deployment %s/%s to %d", ns, action.name, action.replicas)
            return self.api.scale_deployment(ns, action.name, action.replicas)
        if isinstance(action, DeletePod):
            log.info("deleting pod %s/%s on a failed node", ns, action.name)
            self.api.delete_pod(ns, action.name, action.uid)
            return None
        assert isinstance(action, Delete)
        log.info("deleting Deployment %s/%s", ns, action.name)
        self.api.delete_deployment(ns, action.name, action.uid)
        return None

    def _evict(self, wl: Workload, action: Evict, outcome: Outcome) -> dict[str, Any] | None:
        """Evict the pods one by one, then shrink the Deployment by as many as went. Should the
        ReplicaSet replace an evicted pod before the shrink lands, the shrink removes the
        replacement: a ReplicaSet scales down unscheduled and not-ready pods first."""
        ns, evicted = wl.namespace, 0
        for name, uid in action.pods:
            try:
                self.api.evict_pod(ns, name, uid)
            except ApiException as exc:
                if exc.status == 429:  # a PodDisruptionBudget says not now
                    if not evicted:  # no progress at all: say so, and ask again shortly
                        outcome.blocked = _api_message(exc)
                        outcome.requeue_after = 5.0
                    break
                if exc.status in (404, 409):  # gone already, or replaced by a namesake
                    continue
                raise
            log.info("evicted pod %s/%s to rebalance zones", ns, name)
            evicted += 1
        if not evicted:
            return None
        replicas = action.replicas - evicted
        log.info("scaling Deployment %s/%s to %d", ns, action.deployment, replicas)
        return self.api.scale_deployment(ns, action.deployment, replicas)

    def _event(self, wl: Workload, type_: str, reason: str, message: str) -> None:
        try:
            self.api.create_event(
                wl.namespace, wl.name, wl.uid, type_=type_, reason=reason, message=message
            )
        except NotLeader:
            return  # the leader of the moment tells what it does
        except Exception as exc:  # an event is worth a log line, never a failed reconcile
            why = exc.reason if isinstance(exc, ApiException) else exc
            log.warning("could not record event %s for %s/%s: %s", reason, *wl.key, why)


def _namespace_terminating(exc: ApiException) -> bool:
    if exc.status != 403 or not exc.body:
        return False
    try:
        causes = (json.loads(exc.body).get("details") or {}).get("causes") or []
    except ValueError:
        return False
    return any(c.get("reason") == "NamespaceTerminating" for c in causes)


def _describe_rejection(action: Action, exc: ApiException) -> str:
    if isinstance(action, Create | Replace):
        what = f"Deployment {action.body['metadata']['name']}"
    elif isinstance(action, Evict):
        what = f"Deployment {action.deployment}"
    elif isinstance(action, DeletePod):
        what = f"Pod {action.name}"
    else:
        what = f"Deployment {action.name}"
    return f"{what}: {_api_message(exc)}"


def _api_message(exc: ApiException) -> str:
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return str(json.loads(exc.body or "").get("message") or exc.reason)
    return str(exc.reason)


def held_until(plan: Plan, deferred: StatusWrite | None) -> datetime | None:
    """Until when a status may be held back: the plan's hold, or the one it was held under
    before when the plan changes nothing more (a newer change that may not wait ends it)."""
    before = deferred.hold_until if deferred is not None else None
    if plan.status is None and not plan.actions and not plan.events:
        return before
    if plan.status_hold_until is None:
        return None
    return plan.status_hold_until if before is None else min(before, plan.status_hold_until)
