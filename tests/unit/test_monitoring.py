"""The alert rules and the Grafana dashboard shipped with the chart (files/monitoring/):
promtool accepts the plain rules file, the PrometheusRule the chart renders from it, and every
dashboard query; both templates are off by default. Their behaviour against real scrapes (and
that the dashboard names only metrics the operator exports) is tests/e2e/test_alerts.py's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml
from tests.kit import promtool

from localcluster import binaries

CHART = promtool.REPO / "charts" / "zonal-operator"


def rendered(tmp: Path, *args: str) -> list[dict[str, Any]]:
    """`helm template` of the chart, with a helm configuration of its own."""
    env = {**os.environ, **{f"HELM_{d}_HOME": str(tmp / d) for d in ("CACHE", "CONFIG", "DATA")}}
    cmd = [str(binaries.find("helm")), "template", "z", str(CHART), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True, timeout=120)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_promtool_accepts_the_rules_file() -> None:
    out = promtool.promtool("check", "rules", str(promtool.ALERTS))
    assert f"SUCCESS: {len(promtool.alert_names())} rules found" in out, out


def test_every_alert_has_a_runbook_line() -> None:
    runbook = (promtool.REPO / "docs" / "alerts.md").read_text()
    for rule in yaml.safe_load(promtool.ALERTS.read_text())["groups"][0]["rules"]:
        anchor = rule["annotations"]["runbook_url"].partition("#")[2]
        assert anchor == rule["alert"].lower()
        assert f"## {rule['alert']}" in runbook


def test_the_prometheus_rule_is_off_by_default_and_holds_the_file(tmp_path: Path) -> None:
    assert "PrometheusRule" not in {d["kind"] for d in rendered(tmp_path)}
    on = rendered(tmp_path, "--set", "metrics.prometheusRule.enabled=true",
                  "--set", "metrics.prometheusRule.labels.release=prometheus")  # fmt: skip
    (rule,) = [d for d in on if d["kind"] == "PrometheusRule"]
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert rule["spec"] == yaml.safe_load(promtool.ALERTS.read_text())
    rules = tmp_path / "rendered-rules.yaml"
    rules.write_text(yaml.safe_dump(rule["spec"]))
    assert "SUCCESS" in promtool.promtool("check", "rules", str(rules))


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    exprs = promtool.dashboard_exprs()
    assert len(exprs) >= 8
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = promtool.promtool("check", "rules", str(path))
    assert f"SUCCESS: {len(exprs)} rules found" in out, out


def test_the_dashboard_configmap_is_off_by_default_and_carries_the_sidecar_label(
    tmp_path: Path,
) -> None:
    assert "ConfigMap" not in {d["kind"] for d in rendered(tmp_path)}
    on = rendered(tmp_path, "--set", "metrics.grafanaDashboard.enabled=true")
    (cm,) = [d for d in on if d["kind"] == "ConfigMap"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "default"
    assert cm["data"]["zonal-operator.json"] == promtool.DASHBOARD.read_text().rstrip("\n")
    custom = rendered(tmp_path, "--set", "metrics.grafanaDashboard.enabled=true",
                      "--set", "metrics.grafanaDashboard.label=dashboards",
                      "--set", "metrics.grafanaDashboard.labelValue=zonal",
                      "--set", "metrics.grafanaDashboard.namespace=monitoring")  # fmt: skip
    (cm,) = [d for d in custom if d["kind"] == "ConfigMap"]
    assert cm["metadata"]["labels"]["dashboards"] == "zonal"
    assert cm["metadata"]["namespace"] == "monitoring"
