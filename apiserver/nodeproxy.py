"""Pod log, exec, attach and port-forward: proxied to the node agent's kubelet API.

As kube-apiserver does, the server finds the pod's node, reads the agent's address
from ``status.addresses`` (InternalIP) and ``status.daemonEndpoints.kubeletEndpoint``
(default 10250), and forwards to the kubelet paths ``/containerLogs/NS/POD/CONTAINER``,
``/exec/NS/POD/CONTAINER``, ``/attach/NS/POD/CONTAINER`` and ``/portForward/NS/POD``
over HTTPS with the cluster's bearer token. Logs stream as plain HTTP; exec, attach and
port-forward are relayed as WebSocket streams in the client's subprotocol (kubectl ≥ 1.30
speaks WebSockets for exec and attach, and for port-forward from 1.31 on it tunnels its
SPDY/3.1 session through ``SPDY/3.1+portforward.k8s.io``; the agent's runtime speaks that).
A port-forward that upgrades to SPDY itself (kubectl 1.30 and older by default) gets its
101 here and its raw bytes are carried to the agent in that same WebSocket tunnel, as
kube-apiserver's tunnelling handler does the other way round. SPDY exec and attach are
refused with a clear message.
"""
from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from skiff.api.resources import by_kind
from skiff.machinery.websocket import accept_upgrade, relay, splice

from . import status
from .paths import Target

if TYPE_CHECKING:
    from .handlers import ResourceHandlers

Obj = dict[str, Any]
NODES = by_kind("v1", "Node")
DEFAULT_KUBELET_PORT = 10250
_KUBELET_PATH = {"log": "containerLogs", "exec": "exec", "attach": "attach", "portforward": "portForward"}
SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"
_LOG_PARAMS = ("follow", "previous", "tailLines", "sinceSeconds", "sinceTime", "timestamps", "limitBytes")


def kubelet_base(node: Obj) -> str | None:
    """``https://IP:PORT`` of a node's agent, or None when the node reports no address."""
    st = node.get("status") or {}
    addrs = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
    ip = addrs.get("InternalIP") or addrs.get("ExternalIP") or addrs.get("Hostname")
    if not ip:
        return None
    port = ((st.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or DEFAULT_KUBELET_PORT
    host = f"[{ip}]" if ":" in ip else ip
    return f"https://{host}:{port}"


def pick_container(pod: Obj, wanted: str | None, *, name: str) -> str:
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    every = names + [c["name"] for c in spec.get("initContainers") or []] + \
        [c["name"] for c in spec.get("ephemeralContainers") or []]
    if wanted:
        if wanted not in every:
            raise status.bad_request(f"container {wanted} is not valid for pod {name}")
        return wanted
    default = (pod.get("metadata", {}).get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
    if default in names:
        return default
    if len(names) == 1:
        return names[0]
    raise status.bad_request(f"a container name must be specified for pod {name}, choose one of: "
                             f"[{' '.join(names)}]")


class NodeProxy:
    def __init__(self, handlers: "ResourceHandlers", *, token: str | None) -> None:
        self.h = handlers
        self.token = token
        ctx = ssl.create_default_context()
        # Agents serve with certificates they made themselves (as kubelets do by default);
        # the connection is still encrypted and the agent checks our token.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self._ssl = ctx

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def _target(self, t: Target, container: str | None, sub: str) -> tuple[str, Obj]:
        assert t.name is not None and NODES is not None
        pod = await self.h.registry.get(t.resource, t.namespace, t.name)
        # as kube-apiserver's streamLocation: the container is checked before the node
        picked = pick_container(pod, container, name=t.name) if sub != "portforward" else ""
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise status.bad_request(f"pod {t.name} does not have a host assigned")
        node = await self.h.registry.get(NODES, None, node_name)
        base = kubelet_base(node)
        if base is None:
            raise status.StatusError(503, "ServiceUnavailable", f"node {node_name} reports no address for its agent")
        path = f"{base}/{_KUBELET_PATH[sub]}/{t.namespace}/{t.name}"
        if sub != "portforward":
            path += "/" + picked
        return path, pod

    async def log(self, request: web.Request, t: Target) -> web.StreamResponse:
        url, _ = await self._target(t, request.query.get("container"), "log")
        params = {k: v for k, v in request.query.items() if k in _LOG_PARAMS}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                upstream = await session.get(url, params=params, headers=self._headers(), ssl=self._ssl)
            except aiohttp.ClientError as exc:
                raise status.StatusError(502, "BadGateway", f"cannot reach the node agent: {exc}") from exc
            async with upstream:
                if upstream.status != 200:
                    body = await upstream.read()
                    raise status.bad_request(body.decode(errors="replace").strip() or f"agent answered {upstream.status}")
                resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
                resp.enable_chunked_encoding()
                await resp.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)
                return resp

    async def stream(self, request: web.Request, t: Target) -> web.StreamResponse:
        """exec / attach / portforward: relay a WebSocket stream to the agent."""
        sub = t.subresource or ""
        # where the pod runs is checked first, as kube-apiserver does: its errors reach every client
        container = request.query.get("container")
        url, _ = await self._target(t, container, sub)
        upgrade = request.headers.get("Upgrade", "").lower()
        query = [(k, v) for k, v in request.query.items() if k != "container"]
        if upgrade.startswith("spdy/3.1") and sub == "portforward":
            return await self._spdy_portforward(request, url, query)
        if upgrade != "websocket":
            # a client that falls back to SPDY (kubectl) shows this answer: the agent's reason first
            async with aiohttp.ClientSession() as session:
                reason = await self._agent_says(session, url, query)
            if reason:
                raise status.bad_request(reason)
            raise status.bad_request(
                f"pods/{sub} needs a WebSocket upgrade (kubectl 1.30 or newer); "
                f"{'SPDY' if 'spdy' in upgrade else 'a plain request'} is not supported by Skiff")
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        async with aiohttp.ClientSession() as session:
            try:
                upstream = await session.ws_connect(url.replace("https://", "wss://", 1), params=query,
                                                    protocols=protocols, headers=self._headers(), ssl=self._ssl,
                                                    max_msg_size=0)
            except aiohttp.ClientError as exc:
                raise await self._refusal(session, url, query, exc) from exc
            ws = web.WebSocketResponse(protocols=[upstream.protocol] if upstream.protocol else (), max_msg_size=0)
            await ws.prepare(request)
            await relay(ws, upstream)
            return ws

    async def _agent_says(self, session: aiohttp.ClientSession, url: str, query: list[tuple[str, str]]) -> str:
        """What the agent answers a plain GET of the stream's path: it checks the pod, the container
        and the sandbox before any upgrade, so its 4xx text is why an upgrade was (or would be) refused."""
        try:
            async with session.get(url, params=query, headers=self._headers(), ssl=self._ssl) as resp:
                return (await resp.text()).strip() if 400 <= resp.status < 500 else ""
        except aiohttp.ClientError:
            return ""

    async def _refusal(self, session: aiohttp.ClientSession, url: str, query: list[tuple[str, str]],
                       exc: aiohttp.ClientError) -> status.StatusError:
        """The agent's own words when it refused the upgrade (aiohttp drops the body of a refusal)."""
        if isinstance(exc, aiohttp.WSServerHandshakeError) and 400 <= exc.status < 500:
            text = await self._agent_says(session, url, query)
            if text:
                return status.bad_request(text)
        return status.StatusError(502, "BadGateway", f"cannot open the stream on the node agent: {exc}")

    async def _spdy_portforward(self, request: web.Request, url: str, query: list[tuple[str, str]]
                                ) -> web.StreamResponse:
        """A SPDY upgrade from the client: answer 101, then carry its raw bytes to the agent in
        binary messages of a ``SPDY/3.1+portforward.k8s.io`` WebSocket (and back)."""
        async with aiohttp.ClientSession() as session:
            try:
                upstream = await session.ws_connect(url.replace("https://", "wss://", 1), params=query,
                                                    protocols=[SPDY_TUNNEL], headers=self._headers(), ssl=self._ssl,
                                                    max_msg_size=0)
            except aiohttp.ClientError as exc:
                raise await self._refusal(session, url, query, exc) from exc
            raw = await accept_upgrade(request, {"Upgrade": "SPDY/3.1",
                                                 "X-Stream-Protocol-Version": "portforward.k8s.io"})
            try:
                await splice(upstream, raw.read, raw.write)
            finally:
                await upstream.close()
            return raw.response

