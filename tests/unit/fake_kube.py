"""A `Kube` (runtime/kube.py) for tests: each call fails the test unless a fake overrides it."""

from __future__ import annotations

from typing import Any

from zonal_operator.runtime.kube import Kube


class FakeKube(Kube):
    def _unexpected(self, call: str) -> AssertionError:
        return AssertionError(f"{type(self).__name__} was not to be called: {call}")

    def list_namespaces(self) -> list[str]:
        raise self._unexpected("list_namespaces")

    def list_workloads(self, namespace: str | None) -> list[dict[str, Any]]:
        raise self._unexpected("list_workloads")

    def create_deployment(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        raise self._unexpected("create_deployment")

    def replace_deployment(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        raise self._unexpected("replace_deployment")

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        raise self._unexpected("scale_deployment")

    def delete_deployment(self, namespace: str, name: str, uid: str) -> None:
        raise self._unexpected("delete_deployment")

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        raise self._unexpected("delete_pod")

    def evict_pod(self, namespace: str, name: str, uid: str) -> None:
        raise self._unexpected("evict_pod")

    def patch_workload_status(
        self, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        raise self._unexpected("patch_workload_status")

    def create_event(
        self, namespace: str, name: str, uid: str, *, type_: str, reason: str, message: str
    ) -> None:
        raise self._unexpected("create_event")
