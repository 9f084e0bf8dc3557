"""Prometheus metrics, served on /metrics by `zonal-operator run --metrics-port`, and the
per-workload series a reconcile keeps current (`WorkloadSeries`)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from zonal_operator.api.group import parse_time
from zonal_operator.api.status import Reason, ZoneState
from zonal_operator.api.workload import Workload
from zonal_operator.core.plan import Plan

API_REQUESTS = Counter(
    "zonal_operator_api_requests_total",
    "Requests the operator sent to the API server (watches aside), by verb and resource.",
    ["verb", "resource"],
)
API_SECONDS = Histogram(
    "zonal_operator_api_request_duration_seconds",
    "Time from sending a request (watches and the reflectors' lists aside) to its whole "
    "response, by verb and resource; it runs in a worker thread, so it includes waiting for "
    "the interpreter.",
    ["verb", "resource"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
API_ERRORS = Counter(
    "zonal_operator_api_errors_total",
    "Requests the API server refused or failed, by verb, resource and HTTP status.",
    ["verb", "resource", "code"],
)
STATUS_WRITES = Counter(
    "zonal_operator_status_writes_total",
    "Status writes of ZonalWorkloads, by the most significant kind of change each carried "
    "(generation, conditions, zones, deployments, replicas, nodes, other; see status_diff.py).",
    ["change"],
)
RECONCILE_SECONDS = Histogram(
    "zonal_operator_reconcile_duration_seconds",
    "Time of one reconcile of one ZonalWorkload, writes included.",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RECONCILE_ERRORS = Counter(
    "zonal_operator_reconcile_errors_total",
    "Reconciles that failed and were retried with backoff.",
)
QUEUE_DEPTH = Gauge("zonal_operator_queue_depth", "ZonalWorkloads waiting to be reconciled.")
STATUSES_DEFERRED = Gauge(
    "zonal_operator_statuses_deferred",
    "ZonalWorkloads whose new status write is deferred while a backlog of other workloads is "
    "reconciled (--status-delay-seconds).",
)
NODE_CHANGE_REQUEUES = Counter(
    "zonal_operator_node_change_requeues_total",
    "ZonalWorkloads re-queued for a batch of node changes: `now`, or `later` when every change "
    "is a node failing in a zone the workload has failed over already (core/node_changes.py).",
    ["when"],
)
WORKLOADS = Gauge("zonal_operator_workloads", "ZonalWorkloads the operator watches.")
LEADER = Gauge(
    "zonal_operator_leader",
    "1 while this replica holds the leader lease and reconciles, 0 while it stands by "
    "(always 1 with --no-leader-elect).",
)
LEADERSHIP_CHANGES = Counter(
    "zonal_operator_leadership_changes_total",
    "Times this replica became the leader or stopped being it.",
)

# The heartbeat verdict (runtime/heartbeats.py, core/heartbeat.py).
LEASE_RENEWALS = Counter(
    "zonal_operator_node_lease_renewals_total",
    "Renewals of node Leases (kube-node-lease) the operator's watch delivered.",
)
LEASE_READS = Counter(
    "zonal_operator_node_lease_reads_total",
    "Reads of a quiet node's Lease from the API server, by what they found: silent (no "
    "renewal since the last one seen), renewed (the watch had missed it), gone, error.",
    ["result"],
)
SILENCES_RESUMED = Counter(
    "zonal_operator_silences_resumed_total",
    "Nodes whose silence, as recorded in the workloads' status by a previous leader, a new "
    "leader checked against a fresh read of their Lease: resumed (no renewal since the "
    "record) or discarded (renewed since, or no Lease).",
    ["result"],
)
SILENT_NODES = Gauge(
    "zonal_operator_silent_nodes",
    "Nodes whose Lease renewals have stopped, as confirmed by a read from the API server.",
)
HEARTBEATS_TRUSTED = Gauge(
    "zonal_operator_heartbeats_trusted",
    "1 while the node Lease signal is trusted; 0 while it is distrusted (the Lease watch "
    "delivers nothing, or every zone looks silent) and zones are judged by Ready alone.",
)
HEARTBEATS_DISTRUSTED = Counter(
    "zonal_operator_heartbeats_distrusted_total",
    "Times the node Lease signal was distrusted, by reason (watch-quiet, all-zones-silent).",
    ["reason"],
)
ZONE_VERDICTS = Counter(
    "zonal_operator_zone_verdicts_total",
    "Zones judged failed and failed over, per workload, by what failed them: Heartbeat (the "
    "nodes' Lease renewals stopped) or NotReady (their Ready condition).",
    ["source"],
)

# Zone shifts (runtime/shift_status.py).
ZONESHIFTS_ACTIVE = Gauge(
    "zonal_operator_zoneshifts_active", "ZoneShifts in force (started, not expired)."
)
ZONESHIFT_WORKLOADS = Gauge(
    "zonal_operator_zoneshift_workloads",
    "ZonalWorkloads each ZoneShift in force selects, by outcome: applied (their replicas leave "
    "the zone) or refused (it would leave them no zone to run in).",
    ["zoneshift", "outcome"],
)
# Zone drills (runtime/drills.py), counted by the leader when it records a run's end.
DRILL_RUNS = Counter(
    "zonal_operator_drill_runs_total",
    "Runs of each drill (a ZoneShift with spec.schedule) by outcome: passed, failed (Ready "
    "fell below spec.replicas, or capacity was not back outside the zone by the run's end), "
    "skipped (a zone failing, a workload short of Ready replicas, another shift in force, or "
    "missed).",
    ["zoneshift", "outcome"],
)
DRILL_CAPACITY_BACK = Histogram(
    "zonal_operator_drill_capacity_back_seconds",
    "Per drilled ZonalWorkload and run: seconds from the run's start until its Ready replicas "
    "outside the zone reached spec.replicas.",
    ["zoneshift"],
    buckets=(1, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
DRILL_LOWEST_READY_MARGIN = Gauge(
    "zonal_operator_drill_lowest_ready_margin",
    "Of each drill's last run that ended: the lowest Ready count seen minus spec.replicas, the "
    "worst over its workloads (negative: Ready fell below spec.replicas).",
    ["zoneshift"],
)

# Per workload and zone. Series of a deleted workload are removed.
WORKLOAD_REPLICAS = Gauge(
    "zonal_operator_workload_replicas",
    "spec.replicas of a workload (what its zones' Ready replicas are compared with).",
    ["namespace", "workload"],
)
ZONE_STATE = Gauge(
    "zonal_operator_zone_state",
    "1 for the state each zone is in for a workload (Healthy, Degraded, Unhealthy, Recovering).",
    ["namespace", "workload", "zone", "state"],
)
ZONE_DESIRED = Gauge(
    "zonal_operator_zone_desired_replicas",
    "Replicas a zone is to run for a workload once moves in progress are done.",
    ["namespace", "workload", "zone"],
)
ZONE_READY = Gauge(
    "zonal_operator_zone_ready_replicas",
    "Ready replicas of a workload in a zone.",
    ["namespace", "workload", "zone"],
)
ZONE_LOSS_SHORTFALL = Gauge(
    "zonal_operator_zone_loss_shortfall_replicas",
    "The zone-loss forecast: replicas of a workload that would find no room in the other "
    "zones if this zone were lost now (status.zones[].lossShortfall).",
    ["namespace", "workload", "zone"],
)
FAILOVERS = Counter(
    "zonal_operator_failovers_total",
    "Zones judged unhealthy whose replicas were moved to other zones.",
    ["namespace", "workload", "zone"],
)
FAILBACKS = Counter(
    "zonal_operator_failbacks_total",
    "Recovered zones whose replicas were returned.",
    ["namespace", "workload", "zone"],
)
# Zone-by-zone rollouts (core/waves.py).
ROLLOUT_HALTED = Gauge(
    "zonal_operator_rollout_halted",
    "1 while a workload's zone-by-zone rollout is halted (Progressing=False, RolloutHalted), "
    "until a new change of its template; only workloads with mode ZoneByZone have the series.",
    ["namespace", "workload"],
)
ROLLOUT_HALTS = Counter(
    "zonal_operator_rollout_halts_total",
    "Zone-by-zone rollouts halted, by the zone that failed.",
    ["namespace", "workload", "zone"],
)
RESTORE_SECONDS = Histogram(
    "zonal_operator_capacity_restore_seconds",
    "From a zone starting to fail (its nodes going NotReady) to the workload having its "
    "requested Ready replicas again in the other zones.",
    buckets=(5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600),
)


@dataclass
class WorkloadSeries:
    """The per-zone series of one workload, and the start of the failover whose capacity
    restore is being timed."""

    zones: set[str] = field(default_factory=set)  # zones with series
    restoring: datetime | None = None  # failover start, until capacity is back

    def observe(self, wl: Workload, plan: Plan, now: datetime) -> None:
        """Keep the per-zone metrics and the failover counters and timings current."""
        status = next(s for s in (plan.computed, plan.status, wl.status) if s is not None)
        labels = (wl.namespace, wl.name)
        zones = status.get("zones") or []
        WORKLOAD_REPLICAS.labels(*labels).set(wl.replicas)
        for gone in self.zones - {z["name"] for z in zones}:
            _forget_zone(*labels, gone)
        self.zones = {z["name"] for z in zones}
        for zone in zones:
            for state in ZoneState:
                value = 1 if zone.get("health") == state.value else 0
                ZONE_STATE.labels(*labels, zone["name"], state.value).set(value)
            # Spread placement has no per-zone target: the pods the zone runs stand for it.
            desired = zone.get("desiredReplicas", zone.get("replicas", 0))
            ZONE_DESIRED.labels(*labels, zone["name"]).set(desired)
            ZONE_READY.labels(*labels, zone["name"]).set(zone.get("readyReplicas", 0))
            if "lossShortfall" in zone:
                ZONE_LOSS_SHORTFALL.labels(*labels, zone["name"]).set(zone["lossShortfall"])
            else:
                with contextlib.suppress(KeyError):
                    ZONE_LOSS_SHORTFALL.remove(*labels, zone["name"])
        for event in plan.events:
            if event.reason == "ZoneUnhealthy":
                FAILOVERS.labels(*labels, event.zone).inc()
                entry: Mapping[str, Any] = next((z for z in zones if z["name"] == event.zone), {})
                started = parse_time(entry.get("unhealthySince")) or now
                self.restoring = min(self.restoring or started, started)
            elif event.reason == "ReplicasReturned":
                FAILBACKS.labels(*labels, event.zone).inc()
            elif event.reason == Reason.ROLLOUT_HALTED:
                ROLLOUT_HALTS.labels(*labels, event.zone).inc()
        wave = status.get("zoneRollout")
        if wave is not None:
            ROLLOUT_HALTED.labels(*labels).set(1 if wave.get("halted") else 0)
        else:
            with contextlib.suppress(KeyError):
                ROLLOUT_HALTED.remove(*labels)
        if self.restoring is not None and int(status.get("readyReplicas") or 0) >= wl.replicas:
            RESTORE_SECONDS.observe((now - self.restoring).total_seconds())
            self.restoring = None

    def forget(self, namespace: str, workload: str) -> None:
        """The workload is gone: remove its series."""
        for zone in self.zones:
            _forget_zone(namespace, workload, zone)
        self.zones = set()
        for gauge in (ROLLOUT_HALTED, WORKLOAD_REPLICAS):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, workload)


def _forget_zone(namespace: str, workload: str, zone: str) -> None:
    for state in ZoneState:
        with contextlib.suppress(KeyError):
            ZONE_STATE.remove(namespace, workload, zone, state.value)
    for gauge in (ZONE_DESIRED, ZONE_READY, ZONE_LOSS_SHORTFALL):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, workload, zone)
