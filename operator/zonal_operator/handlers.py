"""The kopf layer: start-up and shutdown, credentials, probes, and the ZonalWorkloads' watch
events, which go to the controller's cache and queue, nothing else. (Nodes, Deployments and
pods reach the caches through the controller's own reflectors, see watch.py.)

Only an `on.event` handler is used: it puts no finalizers and writes nothing on the watched
objects, so a ZonalWorkload is deleted (and garbage-collects its Deployments) even when the
operator is not running. Every decision is taken by the controller's reconcile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import kopf
from prometheus_client import start_http_server

from zonal_operator.api import GROUP, PLURAL, VERSION
from zonal_operator.runtime.controller import Controller, Settings
from zonal_operator.runtime.heartbeats import LEASES_PATH
from zonal_operator.runtime.kube import KubeApi, bearer_token, load_client, load_configuration
from zonal_operator.runtime.watch import Deliver, Http, Reflector, Source, read_object

log = logging.getLogger("zonal_operator")


class _NoDiffBase(kopf.DiffBaseStorage):
    """kopf builds a deep copy of every watched object on every event, to diff it against the
    last handled state for on.create/update/field handlers. Only on.event handlers are used
    here, which never look at that diff; with thousands of Deployments the copies were a good
    part of the operator's CPU time. This storage makes the essence empty and remembers none."""

    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        return {}

    def fetch(self, *, body: Any) -> None:
        return None

    def store(self, *, body: Any, patch: Any, essence: Any) -> None:
        return None


@kopf.on.startup()
async def _startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    options = memo.options
    # kopf's own posting of log lines as Kubernetes events would be writes we do not decide.
    settings.posting.enabled = False
    settings.persistence.diffbase_storage = _NoDiffBase()
    settings.watching.server_timeout = options.watch_timeout
    settings.watching.client_timeout = options.watch_timeout + 30
    settings.networking.request_timeout = 60
    memo.configuration = load_configuration(options.kubeconfig)
    # A connection for each reconcile thread and each of the threads that send alongside them.
    pool_size = 2 * options.workers
    api = KubeApi(load_client(memo.configuration, pool_size=pool_size))
    memo.http = http = Http(memo.configuration)

    def reflector(
        source: Source, deliver: Deliver, accept: Callable[[str], bool] | None
    ) -> Reflector:
        return Reflector(
            http, source, deliver, accept_namespace=accept, timeout_seconds=options.watch_timeout
        )

    async def read_lease(node: str) -> dict[str, Any] | None:
        return await read_object(http, f"{LEASES_PATH}/{node}", "leases")

    controller = Controller(
        api,
        Settings(
            workers=options.workers,
            resync_seconds=options.resync_seconds,
            status_delay_seconds=options.status_delay_seconds,
            heartbeats=options.node_heartbeats,
        ),
        reflector=reflector,
        read_lease=read_lease,
    )
    memo.controller = controller
    await controller.sync(options.namespaces)
    controller.start()
    if options.metrics_port:
        start_http_server(options.metrics_port, addr=options.metrics_address)
        log.info("serving metrics on %s:%d/metrics", options.metrics_address, options.metrics_port)


@kopf.on.login()
def _login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    """kopf's watches authenticate exactly as the operator's own client does."""
    configuration = memo.configuration  # loaded at start-up, before any login
    token = bearer_token(configuration)
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        username=configuration.username or None,
        password=configuration.password or None,
        token=token,
    )


@kopf.on.cleanup()
async def _cleanup(memo: kopf.Memo, **_: Any) -> None:
    controller: Controller | None = memo.get("controller")
    if controller is not None:
        await controller.stop()
    http: Http | None = memo.get("http")
    if http is not None:
        await http.close()


@kopf.on.probe(id="seconds_since_last_event")
def _last_event(memo: kopf.Memo, **_: Any) -> float:
    controller: Controller = memo.controller
    return round(time.monotonic() - controller.last_event, 1)


@kopf.on.event(GROUP, VERSION, PLURAL)
async def _workload(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo.controller.on_workload(event.get("type"), event["object"])
