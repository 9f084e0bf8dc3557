"""The status is typed (zonal_operator/api/status.py): mypy strict refuses a misspelt key, which
the API server would otherwise prune without a word."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

from zonal_operator.api.status import ZoneStatus, keys

OPERATOR = Path(__file__).resolve().parents[2] / "operator"


def _mypy(snippet: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n", encoding="utf-8")
    monkeypatch.setenv("MYPYPATH", str(OPERATOR))
    cache = str(tmp_path / "cache")
    args = ["--strict", "--config-file", str(config), "--cache-dir", cache, "--no-error-summary"]
    out, err, status = api.run([*args, "-c", snippet])
    return out + err, status


def test_a_misspelt_status_key_fails_mypy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snippet = (
        "from zonal_operator.api.status import WorkloadStatus, ZoneStatus\n"
        "entry: ZoneStatus = {'name': 'zone-a', 'readyReplicas': 1}\n"
        "entry['readyReplica'] = 1\n"
        "status: WorkloadStatus = {'observedGeneration': 1, 'zone': [entry]}\n"
    )
    out, status = _mypy(snippet, tmp_path, monkeypatch)
    assert status == 1, out
    assert 'TypedDict "ZoneStatus" has no key "readyReplica"' in out, out
    assert 'Extra key "zone" for TypedDict "WorkloadStatus"' in out, out


def test_the_status_keys_as_spelt_pass_mypy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snippet = (
        "from zonal_operator.api.status import WorkloadStatus, ZoneStatus\n"
        "entry: ZoneStatus = {'name': 'zone-a', 'readyReplicas': 1}\n"
        "status: WorkloadStatus = {'observedGeneration': 1, 'zones': [entry]}\n"
    )
    out, status = _mypy(snippet, tmp_path, monkeypatch)
    assert status == 0, out


def test_a_misspelt_key_in_a_group_of_keys_fails_at_once() -> None:
    assert keys(ZoneStatus, "readyReplicas", "revision") == {"readyReplicas", "revision"}
    with pytest.raises(KeyError, match="readyReplica"):
        keys(ZoneStatus, "readyReplica")
