"""Reading the API server's audit log (`ClusterConfig(audit_log=True)`: one JSON event per line,
at the Metadata level): who sent which request, when."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class Request:
    verb: str
    user_agent: str
    resource: str  # with its subresource: "deployments", "zonalworkloads/status"
    namespace: str
    name: str
    code: int
    received: datetime  # the API server's requestReceivedTimestamp (wall clock, UTC)

    @property
    def write(self) -> bool:
        return self.verb in WRITE_VERBS


def requests(path: Path) -> Iterator[Request]:
    """Every completed request of the log (ResponseComplete stage), in the log's order."""
    with path.open() as log:
        for line in log:
            event = json.loads(line)
            if event.get("stage") != "ResponseComplete":
                continue
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", "")
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            yield Request(
                verb=event.get("verb", ""),
                user_agent=event.get("userAgent", ""),
                resource=resource,
                namespace=ref.get("namespace", ""),
                name=ref.get("name", ""),
                code=int((event.get("responseStatus") or {}).get("code") or 0),
                received=datetime.fromisoformat(
                    event["requestReceivedTimestamp"].replace("Z", "+00:00")
                ),
            )


def writes_by(path: Path, fragment: str, since: datetime | None = None) -> list[Request]:
    """The writes whose User-Agent contains `fragment`, received at or after `since`."""
    return [
        r
        for r in requests(path)
        if r.write and fragment in r.user_agent and (since is None or r.received >= since)
    ]
