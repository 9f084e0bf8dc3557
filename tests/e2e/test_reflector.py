"""The operator's reflectors against the real API server: a list, a watch that goes on from it,
and the list that follows a lost watch (410 Gone, unit-tested in tests/unit/test_watch.py),
which delivers the deletion of whatever vanished meanwhile. (Everything else they do is
exercised by every other end-to-end test.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from localcluster import LocalCluster
from zonal_operator.runtime.kube import load_configuration
from zonal_operator.runtime.watch import Http, Reflector, Source

pytestmark = pytest.mark.e2e


def _deployment(name: str) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: c, image: registry.k8s.io/pause:3.10}}]}}
"""


def test_watch_goes_on_from_the_list_and_a_new_list_drops_what_vanished(
    cluster: LocalCluster, namespace: str
) -> None:
    for name in ("kept", "watched", "missed"):
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=_deployment(name))
    got: list[tuple[str | None, str]] = []

    async def run() -> None:
        http = Http(load_configuration(str(cluster.kubeconfig)))
        source = Source("deployments", f"/apis/apps/v1/namespaces/{namespace}/deployments")
        reflector = Reflector(
            http, source, lambda kind, obj: got.append((kind, _name(obj))), timeout_seconds=5
        )
        try:
            await reflector.list()
            assert sorted(got) == [(None, "kept"), (None, "missed"), (None, "watched")]
            listed_at = reflector.resource_version
            got.clear()
            # Watching (the server ends the stream after 5 s): a deletion arrives as one.
            watch = asyncio.create_task(reflector._watch())
            await asyncio.to_thread(
                cluster.kubectl, "delete", "deployment", "watched", "-n", namespace
            )
            await watch
            assert ("DELETED", "watched") in got
            assert int(reflector.resource_version) > int(listed_at)
            # Not watching: a deletion is missed, and the next list delivers it.
            cluster.kubectl("delete", "deployment", "missed", "-n", namespace)
            got.clear()
            await reflector.list()
            assert got == [(None, "kept"), ("DELETED", "missed")]
        finally:
            await http.close()

    asyncio.run(run())


def _name(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])
