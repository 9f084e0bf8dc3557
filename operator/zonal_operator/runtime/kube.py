"""The operator's only door to the API server for writes: a thin wrapper over the official
`kubernetes` client that speaks plain dicts (the wire JSON) and counts every request. `Kube` is
what the rest of the runtime needs of it: tests implement it with fakes."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from zonal_operator.api.group import API_VERSION, GROUP, MANAGED_BY, VERSION, format_time
from zonal_operator.api.workload import KIND, PLURAL
from zonal_operator.api.zoneshift import KIND as SHIFT_KIND
from zonal_operator.api.zoneshift import PLURAL as SHIFT_PLURAL
from zonal_operator.runtime import metrics

__all__ = [
    "ApiException",
    "Kube",
    "KubeApi",
    "NotLeader",
    "bearer_token",
    "load_client",
    "load_configuration",
]

# Verbs that change nothing: the write gate lets them through on standbys too.
_READS = frozenset({"get", "list", "watch"})


class NotLeader(Exception):
    """A write refused by the write gate: this replica does not hold the leader lease, or has
    not renewed it within its renew deadline (runtime/leadership.py). Not an API error: the
    reconcile stops, is not retried, and the leader of the moment does the work."""


class Kube(Protocol):
    """The calls the controller and the executor make (blocking: they run in worker threads).
    Writes return the object as the API server answered, as plain dicts; failures raise
    ApiException."""

    def list_namespaces(self) -> list[str]: ...

    def list_workloads(self, namespace: str | None) -> list[dict[str, Any]]: ...

    def create_deployment(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def replace_deployment(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> dict[str, Any]: ...

    def delete_deployment(self, namespace: str, name: str, uid: str) -> None: ...

    def delete_pod(self, namespace: str, name: str, uid: str) -> None: ...

    def evict_pod(self, namespace: str, name: str, uid: str) -> None: ...

    def patch_workload_status(
        self, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]: ...

    def create_event(
        self, namespace: str, name: str, uid: str, *, type_: str, reason: str, message: str
    ) -> None: ...


def load_configuration(kubeconfig: str | None = None) -> client.Configuration:
    """In-cluster credentials when running in a pod, else the kubeconfig: the given path,
    $KUBECONFIG, or ~/.kube/config. kopf's watches and the operator's writes both use it."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, client_configuration=configuration
        )
    return configuration


def bearer_token(configuration: client.Configuration) -> str | None:
    """The configuration's bearer token, refreshed first if it rotates (service accounts'
    projected tokens, exec plugins)."""
    if configuration.refresh_api_key_hook is not None:
        configuration.refresh_api_key_hook(configuration)
    auth = configuration.api_key.get("authorization") or configuration.api_key.get("BearerToken")
    if auth and auth.lower().startswith("bearer "):
        return str(auth.split(" ", 1)[1])
    return str(auth) if auth else None


def load_client(
    configuration: client.Configuration, pool_size: int = 8, user_agent: str = ""
) -> client.ApiClient:
    configuration = copy.copy(configuration)
    configuration.connection_pool_maxsize = pool_size
    api_client = client.ApiClient(configuration)
    if user_agent:
        # The API server's audit log records it: which replica sent each request.
        api_client.user_agent = user_agent
    return api_client


def user_agent(identity: str) -> str:
    """`zonal-operator/<version> (<identity>)`, the User-Agent of every request of a replica."""
    try:
        release = version("zonal-operator")
    except PackageNotFoundError:
        release = "unknown"
    return f"zonal-operator/{release} ({identity})"


class KubeApi:
    """`Kube` over the official client. `gate`, when given, is called before every request
    that is not a read, and refuses it by raising `NotLeader` (the write gate of leader
    election: runtime/leadership.py)."""

    def __init__(
        self,
        api_client: client.ApiClient,
        field_manager: str = "zonal-operator",
        gate: Callable[[], None] | None = None,
        instance: str = "zonal-operator",
    ):
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.policy = client.PolicyV1Api(api_client)
        self.field_manager = field_manager
        self.gate = gate
        self.instance = instance  # the replica's identity, in its events' reportingInstance

    def _call(self, verb: str, resource: str, fn: Callable[..., Any], *args: Any) -> Any:
        if self.gate is not None and verb not in _READS:
            self.gate()  # raises NotLeader: nothing is sent
        metrics.API_REQUESTS.labels(verb=verb, resource=resource).inc()
        with metrics.API_SECONDS.labels(verb=verb, resource=resource).time():
            try:
                response = fn(*args, _preload_content=False)
            except ApiException as exc:
                code = str(exc.status)
                metrics.API_ERRORS.labels(verb=verb, resource=resource, code=code).inc()
                raise
            data = response.data
        return json.loads(data) if data else {}

    def _list(self, resource: str, fn: Callable[..., Any], *args: Any) -> list[Any]:
        """Every item, fetched in pages so that a big cluster is never one huge response."""
        items: list[Any] = []
        token = None
        while True:
            page = self._call("list", resource, _with(fn, limit=500, _continue=token), *args)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    # -- Reads for the start-up sync (kopf's watch keeps the workloads current afterwards) ---
    def list_namespaces(self) -> list[str]:
        return [n["metadata"]["name"] for n in self._list("namespaces", self.core.list_namespace)]

    def list_workloads(self, namespace: str | None) -> list[dict[str, Any]]:
        if namespace is None:
            everywhere = self.custom.list_cluster_custom_object
            return self._list(PLURAL, everywhere, GROUP, VERSION, PLURAL)
        within = self.custom.list_namespaced_custom_object
        return self._list(PLURAL, within, GROUP, VERSION, namespace, PLURAL)

    # -- Deployments ---------------------------------------------------------------------------
    def create_deployment(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        fn = self.apps.create_namespaced_deployment
        return dict(
            self._call(
                "create",
                "deployments",
                _with(fn, field_manager=self.field_manager),
                namespace,
                body,
            )
        )

    def replace_deployment(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        fn = _with(self.apps.replace_namespaced_deployment, field_manager=self.field_manager)
        return dict(
            self._call("update", "deployments", fn, body["metadata"]["name"], namespace, body)
        )

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        fn = _with(self.apps.patch_namespaced_deployment, field_manager=self.field_manager)
        patch = {"spec": {"replicas": replicas}}
        return dict(self._call("patch", "deployments", fn, name, namespace, patch))

    def delete_deployment(self, namespace: str, name: str, uid: str) -> None:
        options = client.V1DeleteOptions(
            propagation_policy="Background",
            # Never delete a namesake that replaced ours since we looked.
            preconditions=client.V1Preconditions(uid=uid) if uid else None,
        )
        fn = _with(self.apps.delete_namespaced_deployment, body=options)
        self._call("delete", "deployments", fn, name, namespace)

    # -- Pods (Spread placement) ---------------------------------------------------------------
    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
        fn = _with(self.core.delete_namespaced_pod, body=options)
        self._call("delete", "pods", fn, name, namespace)

    def evict_pod(self, namespace: str, name: str, uid: str) -> None:
        """The Eviction API: refused with 429 while a PodDisruptionBudget allows no disruption."""
        body = client.V1Eviction(
            metadata=client.V1ObjectMeta(name=name, namespace=namespace),
            delete_options=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid)),
        )
        fn = self.core.create_namespaced_pod_eviction
        self._call("create", "pods/eviction", fn, name, namespace, body)

    # -- PodDisruptionBudgets (runtime/zone_budgets.py) ---------------------------------------
    def create_budget(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        fn = _with(
            self.policy.create_namespaced_pod_disruption_budget, field_manager=self.field_manager
        )
        return dict(self._call("create", "poddisruptionbudgets", fn, namespace, body))

    def replace_budget(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        fn = _with(
            self.policy.replace_namespaced_pod_disruption_budget, field_manager=self.field_manager
        )
        name = body["metadata"]["name"]
        return dict(self._call("update", "poddisruptionbudgets", fn, name, namespace, body))

    def delete_budget(self, namespace: str, name: str, uid: str) -> None:
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
        fn = _with(self.policy.delete_namespaced_pod_disruption_budget, body=options)
        self._call("delete", "poddisruptionbudgets", fn, name, namespace)

    # -- ZonalWorkloads ------------------------------------------------------------------------
    def patch_workload_status(
        self, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        fn = _with(
            self.custom.patch_namespaced_custom_object_status, field_manager=self.field_manager
        )
        args = (GROUP, VERSION, namespace, PLURAL, name, {"status": status})
        return dict(self._call("patch", "zonalworkloads/status", fn, *args))

    # -- ZoneShifts (cluster-scoped; people write them, the operator their status and its own) -
    def patch_zoneshift_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]:
        fn = _with(self.custom.patch_cluster_custom_object_status, field_manager=self.field_manager)
        args = (GROUP, VERSION, SHIFT_PLURAL, name, {"status": status})
        return dict(self._call("patch", "zoneshifts/status", fn, *args))

    def create_zoneshift(self, body: dict[str, Any]) -> dict[str, Any]:
        """An automatic ZoneShift (runtime/gray_failure.py)."""
        fn = _with(self.custom.create_cluster_custom_object, field_manager=self.field_manager)
        return dict(self._call("create", "zoneshifts", fn, GROUP, VERSION, SHIFT_PLURAL, body))

    def delete_zoneshift(self, name: str, uid: str) -> None:
        """An automatic ZoneShift that has ended; the uid precondition spares a namesake."""
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
        fn = _with(self.custom.delete_cluster_custom_object, body=options)
        self._call("delete", "zoneshifts", fn, GROUP, VERSION, SHIFT_PLURAL, name)

    def create_zoneshift_event(
        self, name: str, uid: str, *, type_: str, reason: str, message: str
    ) -> None:
        """An event about a ZoneShift. The API server keeps the events of cluster-scoped
        objects in `default` (as the kubelet does for Nodes); `kubectl describe zoneshift`
        finds them there."""
        self.create_event(
            "default",
            name,
            uid,
            type_=type_,
            reason=reason,
            message=message,
            involved=(API_VERSION, SHIFT_KIND),
            involved_namespace="",
        )

    # -- Leases (leader election: runtime/leadership.py; its own KubeApi, with no gate) -------
    def get_lease(self, namespace: str, name: str, timeout: float) -> dict[str, Any] | None:
        """The Lease, or None if there is none."""
        fn = _with(self.coordination.read_namespaced_lease, _request_timeout=timeout)
        try:
            return dict(self._call("get", "leases", fn, name, namespace))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create_lease(self, namespace: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        fn = _with(
            self.coordination.create_namespaced_lease,
            field_manager=self.field_manager,
            _request_timeout=timeout,
        )
        return dict(self._call("create", "leases", fn, namespace, body))

    def replace_lease(self, namespace: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """PUT with the resourceVersion read: refused with 409 if anyone wrote it since."""
        fn = _with(
            self.coordination.replace_namespaced_lease,
            field_manager=self.field_manager,
            _request_timeout=timeout,
        )
        return dict(self._call("update", "leases", fn, body["metadata"]["name"], namespace, body))

    # -- Events --------------------------------------------------------------------------------
    def create_event(
        self,
        namespace: str,
        name: str,
        uid: str,
        *,
        type_: str,
        reason: str,
        message: str,
        involved: tuple[str, str] = (API_VERSION, KIND),
        involved_namespace: str | None = None,
    ) -> None:
        """An event about an object of the operator: a ZonalWorkload unless `involved` (its
        apiVersion, kind) says otherwise; in `namespace`, and so is the object unless
        `involved_namespace` says otherwise ("" for a cluster-scoped one)."""
        now = datetime.now(UTC)
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{name}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved[0],
                "kind": involved[1],
                "name": name,
                "namespace": namespace if involved_namespace is None else involved_namespace,
                "uid": uid,
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": MANAGED_BY},
            "reportingComponent": f"{GROUP}/{MANAGED_BY}",
            "reportingInstance": self.instance,
            "firstTimestamp": format_time(now),
            "lastTimestamp": format_time(now),
            "count": 1,
        }
        self._call("create", "events", self.core.create_namespaced_event, namespace, body)


def _with(fn: Callable[..., Any], **kwargs: Any) -> Callable[..., Any]:
    def call(*args: Any, **more: Any) -> Any:
        return fn(*args, **kwargs, **more)

    return call


def merge_patch(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """`after` as a JSON merge patch (RFC 7396) over `before`: a merge patch keeps every field
    it does not mention, so each field `after` drops is sent as null; lists replace whole."""
    patch = dict(after)
    for key, old in before.items():
        if key not in after:
            patch[key] = None
        elif isinstance(old, Mapping) and isinstance(after[key], Mapping):
            patch[key] = merge_patch(old, after[key])
    return patch
