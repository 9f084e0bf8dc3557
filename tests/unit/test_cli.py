"""The command line: what each flag accepts."""

from __future__ import annotations

import pytest

from zonal_operator.cli import _parser, main
from zonal_operator.core.headroom_render import DEFAULT_PAUSE_IMAGE


def test_watch_timeout_is_whole_seconds() -> None:
    # The chart passes --watch-timeout=300; the API server refuses timeoutSeconds=300.0.
    args = _parser().parse_args(["run", "--watch-timeout=300"])
    assert args.watch_timeout == 300
    assert isinstance(args.watch_timeout, int)
    assert str(args.watch_timeout) == "300"


@pytest.mark.parametrize("value", ["300.5", "0", "-1", "five"])
def test_watch_timeout_refuses_what_the_api_server_would(value: str) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["run", f"--watch-timeout={value}"])


def test_defaults() -> None:
    args = _parser().parse_args(["run"])
    assert (args.watch_timeout, args.workers) == (300, 32)


def test_leader_election_defaults() -> None:
    args = _parser().parse_args(["run"])
    assert args.leader_elect is True
    assert (args.lease_duration, args.renew_deadline, args.retry_period) == (15, 10, 2)
    assert args.leader_election_name == "zonal-operator"
    assert _parser().parse_args(["run", "--no-leader-elect"]).leader_elect is False


def test_leader_election_timing_that_breaks_fencing_is_refused() -> None:
    with pytest.raises(SystemExit):
        main(["run", "--renew-deadline=15", "--lease-duration=15"])


def test_headroom_image() -> None:
    # The stock pause image by default; clusters without a registry name their nodes' own.
    default = _parser().parse_args(["run"]).headroom_image
    assert default == DEFAULT_PAUSE_IMAGE == "registry.k8s.io/pause:3.10.2"
    args = _parser().parse_args(["run", "--headroom-image=local/pause:3.10.2"])
    assert args.headroom_image == "local/pause:3.10.2"
