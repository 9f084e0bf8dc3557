"""The kopf layer: start-up and shutdown, credentials, probes, and the ZonalWorkloads' watch
events, which go to the controller's cache and queue, nothing else. (Nodes, Deployments and
pods reach the caches through the controller's own reflectors, see watch.py.)

With leader election (the default), start-up fills the caches and starts the workers as a
standby, then stands for the Lease (runtime/leadership.py); cleanup writes the deferred
statuses and releases the Lease, so a standby leads at once.

Only an `on.event` handler is used: it puts no finalizers and writes nothing on the watched
objects, so a ZonalWorkload is deleted (and garbage-collects its Deployments) even when the
operator is not running. Every decision is taken by the controller's reconcile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import kopf
from prometheus_client import start_http_server

from zonal_operator.api.group import GROUP, SILENCES_ANNOTATION, VERSION
from zonal_operator.api.workload import PLURAL
from zonal_operator.runtime import metrics
from zonal_operator.runtime.controller import Controller, Settings
from zonal_operator.runtime.gray_failure import GrayFailure
from zonal_operator.runtime.heartbeats import LEASES_PATH
from zonal_operator.runtime.kube import (
    KubeApi,
    bearer_token,
    load_client,
    load_configuration,
    user_agent,
)
from zonal_operator.runtime.leadership import (
    ElectionSettings,
    LeaderElector,
    Leadership,
    default_identity,
    default_namespace,
)
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
    identity = options.identity or default_identity()
    agent = user_agent(identity)
    leadership = None
    if options.leader_elect:
        election = ElectionSettings(
            namespace=options.leader_election_namespace or default_namespace(),
            name=options.leader_election_name,
            identity=identity,
            lease_duration=options.lease_duration,
            renew_deadline=options.renew_deadline,
            retry_period=options.retry_period,
        )
        leadership = Leadership(election.renew_deadline)
    # A connection for each reconcile thread and each of the threads that send alongside them.
    pool_size = 2 * options.workers
    api = KubeApi(
        load_client(memo.configuration, pool_size=pool_size, user_agent=agent),
        gate=None if leadership is None else leadership.check,
        instance=identity,
    )
    memo.http = http = Http(memo.configuration, user_agent=agent)

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
            zone_loss_forecast=options.zone_loss_forecast,
            forecast_seconds=options.zone_loss_forecast_seconds,
            headroom_image=options.headroom_image,
        ),
        reflector=reflector,
        read_lease=read_lease,
        shift_api=api,
        budget_api=api,
    )
    memo.controller = controller
    if leadership is not None:
        controller.active.clear()  # a standby until the lease is won
    await controller.sync(options.namespaces)
    controller.start()
    if options.auto_shift:
        shifter = GrayFailure(
            controller.store, api, controller.pool, controller.active,
            controller.intake.on_zoneshift, duration=options.auto_shift_duration,
        )  # fmt: skip
        memo.autoshift = asyncio.create_task(shifter.run(), name="zonal-autoshift")
    if leadership is not None:
        # Stands for the lease only once the caches are full: a new leader plans from them.
        lease_api = KubeApi(load_client(memo.configuration, pool_size=2, user_agent=agent))
        memo.elector = elector = LeaderElector(
            lease_api,
            election,
            leadership,
            # A new leader resumes the silences its predecessor recorded on the Lease.
            on_started=lambda: controller.lead(elector.inherited.get(SILENCES_ANNOTATION, "")),
            on_stopped=controller.follow,
            events=api,
            # What the renewals record of the node silences this leader has proven.
            record=controller.lease_record,
        )
        # A watch of the one Lease wakes a standby when it changes (released, or renewed).
        lease_watch = reflector(
            Source(
                "leases",
                f"/apis/coordination.k8s.io/v1/namespaces/{election.namespace}/leases",
                field_selector=f"metadata.name={election.name}",
            ),
            lambda _type, _lease: elector.nudge(),
            None,
        )
        memo.election_tasks = [
            asyncio.create_task(elector.run(), name="leader-election"),
            asyncio.create_task(lease_watch.run(), name="leader-lease-watch"),
        ]
    else:
        metrics.LEADER.set(1)
        log.info("leader election disabled (--no-leader-elect): writing as the only replica")
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
    tasks: list[asyncio.Task[None]] = [*(memo.get("election_tasks") or [])]
    tasks += [memo.autoshift] if memo.get("autoshift") else []
    for task in tasks:
        task.cancel()  # no renewal from here on: the lease is released below
    await asyncio.gather(*tasks, return_exceptions=True)
    controller: Controller | None = memo.get("controller")
    if controller is not None:
        await controller.stop()  # writes the deferred statuses while still leading
    elector: LeaderElector | None = memo.get("elector")
    if elector is not None:
        await elector.release()
    http: Http | None = memo.get("http")
    if http is not None:
        await http.close()


@kopf.on.probe(id="seconds_since_last_event")
def _last_event(memo: kopf.Memo, **_: Any) -> float:
    controller: Controller = memo.controller
    return round(time.monotonic() - controller.intake.last_event, 1)


@kopf.on.probe(id="leader_election")
def _election(memo: kopf.Memo, **_: Any) -> str:
    """The election's state; a Lease that cannot be read or written (RBAC, API server down)
    fails the probe, hence readiness. Such a replica writes nothing: the gate stays shut."""
    elector: LeaderElector | None = memo.get("elector")
    if elector is None:
        return "disabled" if not memo.options.leader_elect else "starting"
    if elector.error:
        raise kopf.PermanentError(f"leader election failed: {elector.error}")
    return "leader" if elector.leading else "standby"


@kopf.on.event(GROUP, VERSION, PLURAL)
async def _workload(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo.controller.intake.on_workload(event.get("type"), event["object"])
