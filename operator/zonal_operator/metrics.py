"""Prometheus metrics, served on /metrics by `zonal-operator run --metrics-port`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
    "(generation, conditions, zones, deployments, replicas, nodes, other; see status_change.py).",
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
STATUS_WAITING = Gauge(
    "zonal_operator_statuses_waiting",
    "ZonalWorkloads whose new status is kept back while other workloads are reconciled "
    "(--status-delay-seconds).",
)
WORKLOADS = Gauge("zonal_operator_workloads", "ZonalWorkloads the operator watches.")

# Per workload and zone. Series of a deleted workload are removed.
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
RESTORE_SECONDS = Histogram(
    "zonal_operator_capacity_restore_seconds",
    "From a zone starting to fail (its nodes going NotReady) to the workload having its "
    "requested Ready replicas again in the other zones.",
    buckets=(5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600),
)
