"""The alert rules (charts/zonal-operator/files/monitoring/alerts.yaml) against what the
operator really exports: /metrics scraped every few seconds while a zone is lost and comes
back, replayed through `promtool test rules`. The zone alert fires during the failover, and no
alert fires before or after. The same scrapes hold every metric the Grafana dashboard
(files/monitoring/dashboard.json) queries."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from localcluster import LocalCluster
from testkit.operator_process import OperatorProcess
from tests.kit import promtool
from tests.kit.e2e import (
    EVEN,
    apply,
    failover_workload,
    nodes_not_ready,
    wait_converged,
    wait_for,
    zone_health,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.usefixtures("running_operator", "restore_zones"),
]

SCRAPE_SECONDS = 2


class Scraper(threading.Thread):
    """Scrapes the operator every SCRAPE_SECONDS, on the beat, as Prometheus does."""

    def __init__(self, operator: OperatorProcess) -> None:
        super().__init__(daemon=True)
        self.operator = operator
        self.scrapes: list[dict[str, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        while not self.done.is_set():
            self.scrapes.append(promtool.samples(self.operator.scrape()))
            beat = start + len(self.scrapes) * SCRAPE_SECONDS
            self.done.wait(max(0.0, beat - time.monotonic()))

    def now(self) -> float:
        """Seconds from the first scrape to the latest."""
        return (len(self.scrapes) - 1) * SCRAPE_SECONDS


def test_the_zone_alert_fires_during_a_failover_and_no_alert_before_or_after(
    cluster: LocalCluster, namespace: str, running_operator: OperatorProcess, tmp_path: Path
) -> None:
    apply(cluster, failover_workload(namespace))
    wait_converged(cluster, namespace, "web", EVEN)
    scraper = Scraper(running_operator)
    scraper.start()
    try:
        time.sleep(3 * SCRAPE_SECONDS)
        before = scraper.now()
        cluster.zone_down("zone-a")
        wait_for(nodes_not_ready(cluster, "zone-a"), timeout=60, what="zone-a NotReady")
        wait_converged(cluster, namespace, "web", {"zone-a": 0, "zone-b": 5, "zone-c": 4})
        assert zone_health(cluster, namespace)["zone-a"] == "Unhealthy"
        time.sleep(2 * SCRAPE_SECONDS)
        during = scraper.now()
        cluster.zone_up("zone-a")
        wait_converged(cluster, namespace, "web", EVEN, timeout=120)
        wait_for(
            lambda: zone_health(cluster, namespace).get("zone-a") == "Healthy",
            timeout=30,
            what="zone-a Healthy",
        )
        time.sleep(2 * SCRAPE_SECONDS)
    finally:
        scraper.done.set()
        scraper.join()
    after = scraper.now()
    # Other tests' workloads share the operator: only this test's series are replayed.
    ours = [
        {k: v for k, v in s.items() if "namespace=" not in k or f'namespace="{namespace}"' in k}
        for s in scraper.scrapes
    ]
    failed_over = {
        "exp_labels": {"zone": "zone-a", "severity": "warning"},
        "exp_annotations": {
            "summary": "Zone zone-a has failed over: the share of 1 ZonalWorkloads runs in "
            "other zones",
            "runbook_url": "docs/alerts.md#zonalzonefailedover",
        },
    }
    out = promtool.run_rule_tests(
        tmp_path,
        promtool.input_series(ours),
        SCRAPE_SECONDS,
        {before: {}, during: {"ZonalZoneFailedOver": [failed_over]}, after: {}},
    )
    assert "SUCCESS" in out, out
    # The dashboard names only metrics the operator exports.
    exported = promtool.exported(running_operator.scrape())
    named = set().union(*map(promtool.metric_names, promtool.dashboard_exprs()))
    assert named and named <= exported, sorted(named - exported)
