"""Prometheus tooling for the alert rules and the dashboard (charts/zonal-operator/files/
monitoring/): scrapes of the operator's /metrics turned into `promtool test rules` input series,
and promtool runs that fail the test with promtool's own words."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from localcluster import binaries

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "charts" / "zonal-operator" / "files" / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
DASHBOARD = MONITORING / "dashboard.json"
# What a scrape config adds to every series of the target.
TARGET = {"job": "zonal-operator", "instance": "operator:8080"}


def promtool(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(binaries.find("promtool")), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def samples(text: str) -> dict[str, float]:
    """A scrape as `name{label="value",...}` -> value (target labels added, sorted)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = {**sample.labels, **TARGET}
            inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            out[f"{sample.name}{{{inner}}}"] = float(sample.value)
    return out


def input_series(scrapes: Sequence[Mapping[str, float]]) -> list[dict[str, str]]:
    """promtool's input_series: one value per scrape, `_` where a scrape lacked the series."""
    names = sorted({name for scrape in scrapes for name in scrape})
    return [
        {
            "series": name,
            "values": " ".join(
                _number(scrape[name]) if name in scrape else "_" for scrape in scrapes
            ),
        }
        for name in names
    ]


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def alert_names(rules: Path = ALERTS) -> list[str]:
    groups = yaml.safe_load(rules.read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def run_rule_tests(
    tmp: Path,
    series: list[dict[str, str]],
    interval_seconds: float,
    expected: Mapping[float, Mapping[str, list[dict[str, Any]]]],
    rules: Path = ALERTS,
) -> str:
    """Run `promtool test rules`: at each eval time (seconds from the first scrape), every alert
    of `rules` fires exactly as `expected` lists it (not listed: quiet)."""
    alert_tests = [
        {"eval_time": f"{int(at)}s", "alertname": name, "exp_alerts": want.get(name, [])}
        for at, want in expected.items()
        for name in alert_names(rules)
    ]
    test = {
        "rule_files": [str(rules)],
        "evaluation_interval": f"{int(interval_seconds)}s",
        "tests": [
            {
                "interval": f"{int(interval_seconds)}s",
                "input_series": series,
                "alert_rule_test": alert_tests,
            }
        ],
    }
    path = tmp / "alerts-test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    return promtool("test", "rules", str(path))


def dashboard_exprs() -> list[str]:
    """Every query of the Grafana dashboard."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def metric_names(expr: str) -> set[str]:
    """The operator's metrics a query names."""
    return set(re.findall(r"\bzonal_operator_[a-z_]+", expr))


def exported(text: str) -> set[str]:
    """The metric names a scrape declares (# TYPE, also of metrics without series yet) and
    the names of its samples (a histogram's _bucket, _count, _sum; a counter's _total)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names
