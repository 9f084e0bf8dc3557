"""hack/kind_offline.py: the offline decision of `make kind-up`, against real local HTTP servers."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from kind_offline import API_HEADER, offline, registry_answers, sandbox_image


@contextmanager
def server(status: int, headers: dict[str, str]) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v2/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_registry_answering_401_with_the_api_header_counts() -> None:
    with server(401, {API_HEADER: "registry/2.0"}) as url:
        assert registry_answers(url, timeout=2)


def test_a_registry_answering_200_counts() -> None:
    with server(200, {API_HEADER: "registry/2.0"}) as url:
        assert registry_answers(url, timeout=2)


def test_a_proxy_answering_without_the_header_does_not_count() -> None:
    with server(403, {}) as url:
        assert not registry_answers(url, timeout=2)


def test_nothing_listening_does_not_count() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert not registry_answers(f"http://127.0.0.1:{port}/v2/", timeout=2)


def test_an_unresolvable_host_does_not_count() -> None:
    assert not registry_answers("https://registry.invalid/v2/", timeout=2)


@pytest.mark.parametrize("setting", ["1", "true", "YES"])
def test_the_setting_forces_offline_without_probing(setting: str) -> None:
    def probe() -> bool:
        raise AssertionError("probed")

    assert offline(setting, probe)


@pytest.mark.parametrize("setting", ["0", "false", "no"])
def test_the_setting_forces_online_without_probing(setting: str) -> None:
    def probe() -> bool:
        raise AssertionError("probed")

    assert not offline(setting, probe)


@pytest.mark.parametrize(("answers", "expected"), [(True, False), (False, True)])
def test_unset_asks_the_registry(answers: bool, expected: bool) -> None:
    assert offline(None, lambda: answers) is expected
    assert offline("", lambda: answers) is expected


def test_another_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="KIND_OFFLINE"):
        offline("maybe")


def test_sandbox_image_is_read_from_crictl_info() -> None:
    # containerd 1.x's `crictl info` (the offline node image's); 2.x does not say.
    info = {"status": {}, "config": {"sandboxImage": "zonal-operator/pause:3.10.2"}}
    assert sandbox_image(info) == "zonal-operator/pause:3.10.2"
    assert sandbox_image({"config": {"containerd": {}}}) == ""
    assert sandbox_image({}) == ""
