"""The alert rules shipped with the chart (files/monitoring/alerts.yaml): promtool accepts the
plain file and the PrometheusRule the chart renders from it, which is off by default. Their
behaviour against real scrapes is tests/e2e/test_alerts.py's."""

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
