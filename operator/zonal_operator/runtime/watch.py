"""Reflectors: list, then watch, what the controller caches (nodes, Deployments, the workloads'
pods), as client-go's informers do, handing every change to a controller callback.

kopf watches the ZonalWorkloads, the operator's own resource. These three kinds are the bulk of
the events (a thousand workloads make tens of thousands of Deployment and pod updates within
minutes) and only need to reach the caches; kopf's per-event processing (a worker task per
object, its patch and memory machinery) cost more CPU than everything else the operator did.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson
from kubernetes import client

from zonal_operator.runtime import metrics
from zonal_operator.runtime.kube import bearer_token

log = logging.getLogger("zonal_operator")

# Called with the event type (ADDED, MODIFIED, DELETED; None for an object of a full list) and
# the object, a fresh dict the callee may keep.
Deliver = Callable[[str | None, dict[str, Any]], None]
ObjectKey = tuple[str, str]  # (namespace, name); namespace "" when cluster-scoped


class Expired(Exception):
    """410 Gone: the resourceVersion is older than the API server keeps; list again."""


@dataclass(frozen=True)
class Source:
    resource: str  # the plural, for logs and metrics
    path: str  # the collection, e.g. /apis/apps/v1/namespaces/shop/deployments
    label_selector: str = ""
    field_selector: str = ""  # e.g. metadata.name=x: one object (RBAC may limit it by name)


class Http:
    """One aiohttp session with the operator's credentials (those of its kubernetes client
    configuration: in-cluster service account or kubeconfig)."""

    def __init__(
        self, configuration: client.Configuration, user_agent: str = "zonal-operator"
    ) -> None:
        self.configuration = configuration
        self.user_agent = user_agent  # names the replica in the API server's audit log
        self.host = configuration.host.rstrip("/")
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if not configuration.verify_ssl:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file)
        self._ssl = context if self.host.startswith("https:") else False
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=0),
                json_serialize=lambda obj: orjson.dumps(obj).decode(),
            )
        return self._session

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        token = bearer_token(self.configuration)  # refreshed when the token rotates
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class Reflector:
    """Keeps one collection flowing into `deliver`: list (in pages), then watch from the list's
    resourceVersion, renewing the watch when the server ends it, and listing again when the
    server no longer has that version (410 Gone). Objects that vanished while nobody watched are
    delivered as DELETED after such a list, so the caches never keep a ghost."""

    def __init__(
        self,
        http: Http,
        source: Source,
        deliver: Deliver,
        *,
        accept_namespace: Callable[[str], bool] | None = None,
        timeout_seconds: int = 300,
        page_size: int = 500,
    ) -> None:
        self.http, self.source, self.deliver = http, source, deliver
        self.accept_namespace = accept_namespace
        self.timeout_seconds, self.page_size = timeout_seconds, page_size
        self.resource_version = ""
        # What was delivered and not deleted since: enough of each to deliver its deletion.
        self._known: dict[ObjectKey, dict[str, Any]] = {}

    async def list(self) -> None:
        """Deliver every object of the collection, and the deletion of any known object that is
        gone; then watch from here."""
        seen: set[ObjectKey] = set()
        token = ""
        while True:
            params = {"limit": str(self.page_size)}
            if token:
                params["continue"] = token
            try:
                page = await self._get(params, "list")
            except Expired:  # the continue token outlived the snapshot: start over
                seen.clear()
                token = ""
                continue
            for item in page.get("items") or []:
                key = self._accept(item)
                if key is not None:
                    seen.add(key)
                    self.deliver(None, item)
            meta = page.get("metadata") or {}
            token = meta.get("continue") or ""
            if not token:
                self.resource_version = meta.get("resourceVersion") or ""
                break
        for key in set(self._known) - seen:
            self.deliver("DELETED", self._known.pop(key))

    async def run(self) -> None:
        """Watch forever (cancel to stop)."""
        delay = 1.0
        while True:
            try:
                await self._watch()
                delay = 1.0
            except Expired:
                log.info("watch of %s expired; listing again", self.source.resource)
                await self._relist()
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                log.warning(
                    "watch of %s failed (%s); retrying in %.0fs",
                    self.source.resource,
                    exc or type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _relist(self) -> None:
        delay = 1.0
        while True:
            try:
                await self.list()
                return
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                log.warning("listing %s failed (%s); retrying", self.source.resource, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _watch(self) -> None:
        params = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.resource_version,
            "timeoutSeconds": str(self.timeout_seconds),
        }
        timeout = aiohttp.ClientTimeout(total=None, sock_read=self.timeout_seconds + 30)
        async with self._request(params, "watch", timeout) as response:
            await _check(response, "watch", self.source.resource)
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        self.handle(orjson.loads(line))

    def handle(self, event: dict[str, Any]) -> None:
        """One watch event: deliver it, and remember where the stream is."""
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Expired(obj.get("message", ""))
            raise ValueError(f"watch error: {obj.get('message') or obj}")
        meta = obj.get("metadata") or {}
        self.resource_version = meta.get("resourceVersion") or self.resource_version
        if kind == "BOOKMARK":
            return
        key = self._accept(obj)
        if key is None:
            return
        if kind == "DELETED":
            self._known.pop(key, None)
        self.deliver(kind, obj)

    def _accept(self, obj: dict[str, Any]) -> ObjectKey | None:
        """The object's key, if it is in scope; it is then remembered as known."""
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace", "")
        if self.accept_namespace is not None and not self.accept_namespace(namespace):
            return None
        key = (namespace, meta.get("name", ""))
        self._known[key] = {
            "metadata": {k: meta[k] for k in ("name", "namespace", "labels", "uid") if k in meta}
        }
        return key

    async def _get(self, params: dict[str, str], verb: str) -> dict[str, Any]:
        async with self._request(params, verb, aiohttp.ClientTimeout(total=120)) as response:
            await _check(response, verb, self.source.resource)
            page: dict[str, Any] = orjson.loads(await response.read())
            return page

    def _request(
        self, params: dict[str, str], verb: str, timeout: aiohttp.ClientTimeout
    ) -> Any:  # aiohttp's request context manager
        if self.source.label_selector:
            params["labelSelector"] = self.source.label_selector
        if self.source.field_selector:
            params["fieldSelector"] = self.source.field_selector
        metrics.API_REQUESTS.labels(verb=verb, resource=self.source.resource).inc()
        return self.http.session.get(
            self.http.host + self.source.path,
            params=params,
            headers=self.http.headers(),
            timeout=timeout,
        )


async def read_object(http: Http, path: str, resource: str) -> dict[str, Any] | None:
    """GET one object straight from the API server (never a cache); None when it is not
    there."""
    metrics.API_REQUESTS.labels(verb="get", resource=resource).inc()
    timeout = aiohttp.ClientTimeout(total=10)
    async with http.session.get(
        http.host + path, headers=http.headers(), timeout=timeout
    ) as response:
        if response.status == 404:
            return None
        await _check(response, "get", resource)
        found: dict[str, Any] = orjson.loads(await response.read())
        return found


async def _check(response: aiohttp.ClientResponse, verb: str, resource: str) -> None:
    if response.status == 200:
        return
    metrics.API_ERRORS.labels(verb=verb, resource=resource, code=str(response.status)).inc()
    body = (await response.text())[:300]
    if response.status == 410:
        raise Expired(body)
    raise aiohttp.ClientResponseError(
        response.request_info, (), status=response.status, message=body
    )


def tee(*delivers: Deliver) -> Deliver:
    """One watch's events to several consumers."""

    def deliver(event_type: str | None, body: dict[str, Any]) -> None:
        for each in delivers:
            each(event_type, body)

    return deliver


class Listing(Protocol):
    async def list(self) -> None: ...


async def list_until_done(reflector: Listing) -> None:
    """A reflector's first list at start-up, retried until it succeeds."""
    while True:
        try:
            await reflector.list()
            return
        except Exception as exc:
            log.warning("listing at start-up failed (%s); retrying in 5s", exc)
            await asyncio.sleep(5)
