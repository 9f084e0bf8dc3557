"""Prometheus metrics, served on /metrics by `zonal-operator run --metrics-port`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

API_REQUESTS = Counter(
    "zonal_operator_api_requests_total",
    "Requests the operator sent to the API server (watches aside), by verb and resource.",
    ["verb", "resource"],
)
API_ERRORS = Counter(
    "zonal_operator_api_errors_total",
    "Requests the API server refused or failed, by verb, resource and HTTP status.",
    ["verb", "resource", "code"],
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
WORKLOADS = Gauge("zonal_operator_workloads", "ZonalWorkloads the operator watches.")
