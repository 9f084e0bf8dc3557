"""A minimal client of the local cluster's API, as plain HTTP: for benchmarks that poll
thousands of objects, where kubectl's start-up and full objects would cost more than the
operator being measured."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import threading
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from testkit import HarnessError

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


class ApiError(HarnessError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


class Api:
    """A client for a local cluster's kubeconfig (a bearer token and a CA): one keep-alive
    connection per thread, JSON in and out."""

    def __init__(self, kubeconfig: Path, user_agent: str = "zonal-testkit") -> None:
        cfg = json.loads(kubeconfig.read_text())
        cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
        server = urllib.parse.urlsplit(cluster["server"])
        self.host, self.port = server.hostname or "127.0.0.1", server.port or 443
        self.context = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
        self.headers = {"Authorization": f"Bearer {user['token']}", "User-Agent": user_agent}
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPSConnection:
        conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                self.host, self.port, context=self.context, timeout=120
            )
            self._local.conn = conn
        return conn

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        *,
        body: Any = None,
        accept: str = "application/json",
        content_type: str = "application/json",
    ) -> Any:
        url = path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {**self.headers, "Accept": accept}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, url, body=payload, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
                continue
            if response.status >= 400:
                raise ApiError(response.status, data.decode(errors="replace"))
            return json.loads(data) if data else {}
        raise AssertionError("unreachable")

    def table(self, path: str, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """A list as the server-side Table kubectl prints: column name -> cell, per row."""
        data = self.request("GET", path, {**query, "includeObject": "None"}, accept=TABLE)
        columns = [c["name"] for c in data.get("columnDefinitions") or []]
        return [dict(zip(columns, row["cells"], strict=False)) for row in data.get("rows") or []]
