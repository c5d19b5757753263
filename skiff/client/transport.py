"""The asyncio transport: send ``requests.Request``s with aiohttp, return plain dicts.

``ApiClient`` is the one client every Skiff component and skiffctl uses. It builds its
TLS context from a ``ClientConfig`` (CA, client certificate, insecure-skip-tls-verify),
adds the bearer token, and turns non-2xx answers into ``ApiError`` carrying the
server's ``Status`` dict. ``watch`` is an async iterator of ``(type, object)``; a 410
(as an HTTP status or as an ``ERROR`` event) raises ``Gone`` so informers can re-list.
"""
from __future__ import annotations

import base64
import contextlib
import os
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

from skiff.api.resources import Resource

from . import requests as rq
from .kubeconfig import ClientConfig, load

USER_AGENT = "skiff-client/0.1"


class ApiError(Exception):
    """A non-2xx answer. ``status`` is the Kubernetes ``Status`` dict (synthesized if the body was not one)."""

    def __init__(self, status: Mapping[str, Any], *, http_status: int | None = None) -> None:
        self.status: dict[str, Any] = dict(status)
        self.code: int = int(self.status.get("code") or http_status or 0)
        self.reason: str = str(self.status.get("reason") or "")
        self.message: str = str(self.status.get("message") or "")
        super().__init__(f"{self.code} {self.reason}: {self.message}")

    @property
    def details(self) -> dict[str, Any]:
        return dict(self.status.get("details") or {})


class Gone(ApiError):
    """410: the requested resourceVersion is too old; list again and watch from the new one."""


_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
            406: "NotAcceptable", 409: "Conflict", 410: "Expired", 413: "RequestEntityTooLarge",
            415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}


def status_from_response(code: int, body: bytes) -> dict[str, Any]:
    """The ``Status`` in an error body, or one made up as client-go does for other bodies. Pure."""
    try:
        doc = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        return doc
    text = body.decode(errors="replace").strip()
    if code == 404 and not text:
        msg = "the server could not find the requested resource"
    else:
        msg = text or f"the server responded with the status code {code} but did not return more information"
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": msg,
            "reason": _REASONS.get(code, "Unknown" if code < 500 else "InternalError"), "code": code}


def raise_for_status(code: int, body: bytes) -> None:
    if 200 <= code < 300:
        return
    status = status_from_response(code, body)
    raise (Gone if code == 410 else ApiError)(status, http_status=code)


def ssl_context(config: ClientConfig) -> ssl.SSLContext | bool:
    """The TLS settings for ``config``; ``False`` disables verification (insecure-skip-tls-verify)."""
    if not config.server.startswith("https://"):
        return False
    ctx = ssl.create_default_context()
    if config.insecure_skip_tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif config.ca_data:
        ctx.load_verify_locations(cadata=config.ca_data.decode())
    if config.client_cert_data and config.client_key_data:
        # the ssl module loads key pairs only from files: write them to a private temp dir
        with tempfile.TemporaryDirectory() as d:
            cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
            for path, data in ((cert, config.client_cert_data), (key, config.client_key_data)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            ctx.load_cert_chain(cert, key)
    return ctx


def auth_headers(config: ClientConfig) -> dict[str, str]:
    if config.token:
        return {"Authorization": f"Bearer {config.token}"}
    if config.username is not None and config.password is not None:
        basic = base64.b64encode(f"{config.username}:{config.password}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}
    return {}


class ApiClient:
    """An async Kubernetes API client returning plain dicts. Use as ``async with``, or call ``close()``.

    ``warnings`` collects the ``Warning`` headers of the last request (kubectl prints them).
    """

    def __init__(self, config: ClientConfig, *, user_agent: str = USER_AGENT,
                 timeout: float | None = 60.0) -> None:
        self.config = config
        self.user_agent = user_agent
        self.timeout = timeout
        self.warnings: list[str] = []
        self._session: aiohttp.ClientSession | None = None
        self._ssl = ssl_context(config)

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, *, context: str | None = None,
                        namespace: str | None = None, **kwargs: Any) -> ApiClient:
        """Load ``--kubeconfig``/``$KUBECONFIG``/``~/.kube/config`` and use its (or the given) context."""
        return cls(load(path).resolve(context=context, namespace=namespace), **kwargs)

    @property
    def namespace(self) -> str:
        """The context's namespace (``default`` when it names none)."""
        return self.config.namespace

    def _session_or_new(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                base_url=None, headers={"User-Agent": self.user_agent, **auth_headers(self.config)},
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=64),
                json_serialize=lambda o: orjson.dumps(o).decode())
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _url(self, req: rq.Request) -> str:
        return self.config.server + req.path

    # -- sending -------------------------------------------------------------------------

    async def send_raw(self, req: rq.Request) -> tuple[int, bytes, Mapping[str, str]]:
        """Send and return (status, body, headers) without interpreting them."""
        session = self._session_or_new()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with session.request(req.method, self._url(req), params=list(req.query) or None,
                                   headers=dict(req.headers), data=req.body, timeout=timeout,
                                   server_hostname=self.config.tls_server_name) as resp:
            body = await resp.read()
            self.warnings = _warnings(resp.headers.getall("Warning", []))
            return resp.status, body, resp.headers

    async def send(self, req: rq.Request) -> Any:
        """Send; return the decoded JSON body (``None`` when empty); raise ``ApiError`` on failure."""
        code, body, _ = await self.send_raw(req)
        raise_for_status(code, body)
        return orjson.loads(body) if body else None

    # -- verbs ---------------------------------------------------------------------------

    async def get(self, resource: Resource, name: str, *, namespace: str | None = None,
                  subresource: str | None = None, accept: str = rq.JSON) -> dict[str, Any]:
        return await self.send(rq.get(resource, name, namespace=self._ns(resource, namespace),
                                      subresource=subresource, accept=accept))

    async def list(self, resource: Resource, *, namespace: str | None = None, all_namespaces: bool = False,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None, accept: str = rq.JSON) -> dict[str, Any]:
        """One page (or everything when ``limit`` is None). ``all_namespaces`` lists across namespaces."""
        ns = None if all_namespaces else self._ns(resource, namespace)
        return await self.send(rq.list_(resource, namespace=ns, label_selector=label_selector,
                                        field_selector=field_selector, limit=limit, continue_=continue_,
                                        resource_version=resource_version, accept=accept))

    async def create(self, resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None,
                     dry_run: bool = False, field_manager: str | None = None,
                     field_validation: str | None = None) -> dict[str, Any]:
        ns = self._ns(resource, namespace or (body.get("metadata") or {}).get("namespace"))
        return await self.send(rq.create(resource, body, namespace=ns, dry_run=dry_run,
                                         field_manager=field_manager, field_validation=field_validation))

    async def update(self, resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None,
                     dry_run: bool = False, field_manager: str | None = None,
                     field_validation: str | None = None) -> dict[str, Any]:
        ns = self._ns(resource, namespace or (body.get("metadata") or {}).get("namespace"))
        return await self.send(rq.update(resource, body, namespace=ns, dry_run=dry_run,
                                         field_manager=field_manager, field_validation=field_validation))

    async def update_status(self, resource: Resource, body: Mapping[str, Any], *,
                            namespace: str | None = None) -> dict[str, Any]:
        ns = self._ns(resource, namespace or (body.get("metadata") or {}).get("namespace"))
        return await self.send(rq.update(resource, body, namespace=ns, subresource="status"))

    async def patch(self, resource: Resource, name: str, body: Any, *,
                    patch_type: rq.PatchType | str = rq.PatchType.MERGE, namespace: str | None = None,
                    subresource: str | None = None, dry_run: bool = False, field_manager: str | None = None,
                    force: bool | None = None, field_validation: str | None = None) -> dict[str, Any]:
        return await self.send(rq.patch(resource, name, body, patch_type=patch_type,
                                        namespace=self._ns(resource, namespace), subresource=subresource,
                                        dry_run=dry_run, field_manager=field_manager, force=force,
                                        field_validation=field_validation))

    async def delete(self, resource: Resource, name: str, *, namespace: str | None = None,
                     propagation_policy: str | None = None, grace_period_seconds: int | None = None,
                     preconditions: Mapping[str, str] | None = None, dry_run: bool = False) -> dict[str, Any]:
        """Returns the object (still present, with deletionTimestamp) or a success ``Status``."""
        return await self.send(rq.delete(resource, name, namespace=self._ns(resource, namespace),
                                         propagation_policy=propagation_policy,
                                         grace_period_seconds=grace_period_seconds,
                                         preconditions=preconditions, dry_run=dry_run))

    async def delete_collection(self, resource: Resource, *, namespace: str | None = None,
                                label_selector: str | None = None, field_selector: str | None = None,
                                propagation_policy: str | None = None,
                                grace_period_seconds: int | None = None) -> dict[str, Any]:
        return await self.send(rq.delete_collection(resource, namespace=self._ns(resource, namespace),
                                                    label_selector=label_selector, field_selector=field_selector,
                                                    propagation_policy=propagation_policy,
                                                    grace_period_seconds=grace_period_seconds))

    async def watch(self, resource: Resource, *, namespace: str | None = None, all_namespaces: bool = False,
                    label_selector: str | None = None, field_selector: str | None = None,
                    resource_version: str | None = None, allow_bookmarks: bool = True,
                    timeout_seconds: int | None = None, accept: str = rq.JSON,
                    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield ``(type, object)`` for ADDED/MODIFIED/DELETED/BOOKMARK/ERROR events until the server ends
        the stream. Raises ``Gone`` on 410 (HTTP or an ERROR event carrying code 410)."""
        ns = None if all_namespaces else self._ns(resource, namespace)
        req = rq.watch(resource, namespace=ns, label_selector=label_selector, field_selector=field_selector,
                       resource_version=resource_version, allow_bookmarks=allow_bookmarks,
                       timeout_seconds=timeout_seconds, accept=accept)
        async for event in self.stream(req):
            yield event

    async def stream(self, req: rq.Request) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Send a watch request and decode its newline-delimited JSON events."""
        buf = b""
        # closing this generator early (a watcher that stops) closes the response at once
        async with contextlib.aclosing(self.stream_bytes(req)) as chunks:
            async for chunk in chunks:
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield decode_event(line)
        if buf.strip():
            yield decode_event(buf)

    async def stream_bytes(self, req: rq.Request) -> AsyncIterator[bytes]:
        """Send and yield the body as it arrives (``pods/log?follow=true``); raise ``ApiError`` on failure."""
        session = self._session_or_new()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout)
        async with session.request(req.method, self._url(req), params=list(req.query) or None,
                                   headers=dict(req.headers), timeout=timeout,
                                   server_hostname=self.config.tls_server_name) as resp:
            if resp.status >= 300:
                raise_for_status(resp.status, await resp.read())
            async for chunk in resp.content.iter_any():
                yield chunk

    async def websocket(self, req: rq.Request, *, protocols: tuple[str, ...]) -> aiohttp.ClientWebSocketResponse:
        """Open a WebSocket (exec, attach): a refused upgrade raises ``ApiError`` with the server's Status."""
        session = self._session_or_new()
        try:
            return await session.ws_connect(self._url(req), params=list(req.query) or None, protocols=protocols,
                                            headers=dict(req.headers), server_hostname=self.config.tls_server_name,
                                            timeout=aiohttp.ClientWSTimeout(ws_close=5.0), autoping=True,
                                            max_msg_size=0)
        except aiohttp.WSServerHandshakeError as e:
            # aiohttp drops the refusal's body; ask again without the upgrade to read the Status
            code, body, _ = await self.send_raw(rq.Request("GET", req.path, req.query, {"Accept": rq.JSON}))
            raise_for_status(code if code >= 300 else e.status, body)
            raise ApiError({"kind": "Status", "code": e.status, "message": e.message}) from e

    async def raw(self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                  accept: str = rq.JSON) -> Any:
        """GET ``/version``, ``/apis``… Returns JSON as dict, or text for non-JSON answers."""
        code, body, headers = await self.send_raw(rq.raw(method, path, query=query, accept=accept))
        raise_for_status(code, body)
        if "json" in headers.get("Content-Type", ""):
            return orjson.loads(body)
        return body.decode(errors="replace")

    def _ns(self, resource: Resource, namespace: str | None) -> str | None:
        if not resource.namespaced:
            return None
        return namespace or self.config.namespace


def decode_event(line: bytes) -> tuple[str, dict[str, Any]]:
    """One watch line -> ``(type, object)``; an ERROR with code 410 raises ``Gone``. Pure."""
    try:
        ev = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise ApiError({"kind": "Status", "code": 500, "reason": "InternalError",
                        "message": f"watch: undecodable event: {e}"}) from e
    etype, obj = str(ev.get("type", "")), ev.get("object") or {}
    if etype == "ERROR" and obj.get("kind") == "Status" and int(obj.get("code") or 0) == 410:
        raise Gone(obj)
    return etype, obj


def _warnings(values: list[str]) -> list[str]:
    """``Warning: 299 - "text"`` headers -> the texts."""
    out = []
    for v in values:
        parts = v.split(" ", 2)
        text = parts[2] if len(parts) == 3 and parts[0].isdigit() else v
        if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
            text = text[1:-1].replace('\\"', '"')
        out.append(text)
    return out
