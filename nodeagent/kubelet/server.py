"""The agent's kubelet API over TLS: what the API server proxies ``pods/log``,
``pods/exec``, ``pods/attach`` and ``pods/portforward`` to.

* ``GET /containerLogs/NS/POD/CONTAINER`` reads the CRI log file of the container's
  current (or, with ``previous``, last) attempt and follows it while the container runs.
* ``/exec/NS/POD/CONTAINER`` speaks the WebSocket channel protocols kubectl ≥ 1.30 and the
  Python client use (``v5``/``v4.channel.k8s.io``): a command without stdin or tty runs
  through CRI ``ExecSync`` (output arrives when it ends); with stdin or a tty the stream
  is relayed to the URL CRI ``Exec`` returns (the runtime's streaming server).
* ``/attach/NS/POD/CONTAINER`` (the same channel protocols) is relayed to the URL CRI
  ``Attach`` returns: the container's own stdio.
* ``/portForward/NS/POD`` goes to the URL CRI ``PortForward`` returns for the pod's sandbox:
  a ``SPDY/3.1+portforward.k8s.io`` tunnel (kubectl's SPDY session) becomes a SPDY upgrade
  of that URL, as a kubelet hands it to any runtime; ``v4.channel.k8s.io`` with a ``ports``
  query (the Python client) is relayed as a WebSocket.

A stream request without the WebSocket upgrade only runs the checks (204 when they pass).
Every request must carry the cluster's bearer token (the one the API server presents).
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from skiff.machinery.websocket import UpgradeRefused, open_upgrade, relay, splice
from skiff.nodeagent.runtime.cri import api_pb2 as pb

from . import logs as logmod
from . import remotecommand
from .cri import CriClient, rpc_message
from .observed import CState
from .specs import log_directory

log = logging.getLogger(__name__)
CHANNEL_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"
PORTFORWARD_PROTOCOLS = (SPDY_TUNNEL, "v4.channel.k8s.io")
STDOUT, STDERR, ERROR = 1, 2, 3
FOLLOW_POLL = 0.1


def _upgrading(request: web.Request) -> bool:
    """A stream request without the WebSocket upgrade only runs the checks (204 when they pass):
    the API server asks so, to tell a client that cannot upgrade what is wrong first."""
    return request.headers.get("Upgrade", "").lower() == "websocket"


def exec_status(exit_code: int, error: str = "") -> bytes:
    """The Status the channel protocols carry on the error channel at the end of an exec."""
    if error:
        body: dict[str, Any] = {"metadata": {}, "status": "Failure", "message": error, "reason": "InternalError"}
    elif exit_code == 0:
        body = {"metadata": {}, "status": "Success"}
    else:
        body = {"metadata": {}, "status": "Failure",
                "message": f"command terminated with non-zero exit code: exit status {exit_code}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}}
    return json.dumps(body).encode()


class KubeletApi:
    def __init__(self, *, pods: Callable[[str], dict[str, Any] | None], cri: CriClient, logs_root: str,
                 token: str) -> None:
        self.pods = pods
        self.cri = cri
        self.logs_root = logs_root
        self.token = token
        self._runtime_name = ""

    async def _speaks_websockets(self) -> bool:
        """Skiff's engine takes the channel protocols as WebSockets; other runtimes (containerd)
        serve exec/attach as a kubelet expects: SPDY upgrades (:mod:`.remotecommand`)."""
        if not self._runtime_name:
            self._runtime_name = (await self.cri.version()).runtime_name or "?"
        return self._runtime_name == "skiff"

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self.container_logs)
        app.router.add_route("*", "/exec/{ns}/{pod}/{container}", self.exec)
        app.router.add_route("*", "/attach/{ns}/{pod}/{container}", self.attach)
        app.router.add_route("*", "/portForward/{ns}/{pod}", self.port_forward)
        return app

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path != "/healthz":
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return web.Response(status=401, text="Unauthorized")
        return await handler(request)  # type: ignore[no-any-return]

    def _pod(self, request: web.Request) -> dict[str, Any]:
        ns, name = request.match_info["ns"], request.match_info["pod"]
        pod = self.pods(f"{ns}/{name}")
        if pod is None:
            raise web.HTTPNotFound(text=f'pods "{name}" not found')
        return pod

    async def _container(self, pod: dict[str, Any], name: str, *, previous: bool) -> Any:
        obs = await self.cri.observe(str(pod["metadata"]["uid"]))
        pname = pod["metadata"]["name"]
        c = obs.previous(name) if previous else obs.latest(name)
        if c is None:
            if previous:
                raise web.HTTPBadRequest(text=f'previous terminated container "{name}" in pod "{pname}" not found')
            raise web.HTTPBadRequest(text=f'container "{name}" in pod "{pname}" is waiting to start: '
                                          "ContainerCreating")
        return c

    # -- logs ------------------------------------------------------------------
    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        pod = self._pod(request)
        try:
            q = logmod.query_from(dict(request.query), now=time.time())
        except logmod.LogQueryError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        name = request.match_info["container"]
        c = await self._container(pod, name, previous=q.previous)
        path = os.path.join(log_directory(pod, self.logs_root), name, f"{c.attempt}.log")
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        budget = q.limit_bytes
        offset = 0
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        end = data.rfind(b"\n") + 1
        offset = end
        for rec in logmod.select(logmod.parse(data[:end].splitlines()), q):
            budget = await self._write(resp, logmod.render(rec, q), budget)
            if budget == 0:
                return resp
        if q.follow and c.state is CState.RUNNING:
            await self._follow(resp, path, offset, c.id, q, budget)
        await resp.write_eof()
        return resp

    @staticmethod
    async def _write(resp: web.StreamResponse, chunk: bytes, budget: int | None) -> int | None:
        if budget is not None:
            chunk = chunk[:budget]
            budget -= len(chunk)
        await resp.write(chunk)
        return budget

    async def _follow(self, resp: web.StreamResponse, path: str, offset: int, cid: str, q: logmod.Query,
                      budget: int | None) -> None:
        follow_q = logmod.Query(timestamps=q.timestamps)
        last_check = 0.0
        while True:
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    data = f.read()
            except FileNotFoundError:
                data = b""
            end = data.rfind(b"\n") + 1
            if end:
                offset += end
                for rec in logmod.parse(data[:end].splitlines()):
                    budget = await self._write(resp, logmod.render(rec, follow_q), budget)
                    if budget == 0:
                        return
                continue
            now = time.monotonic()
            if now - last_check > 1.0:
                last_check = now
                try:
                    st = await self.cri.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=cid),
                                                                timeout=10)
                    if st.status.state != pb.CONTAINER_RUNNING:
                        return
                except Exception:  # noqa: BLE001 - removed under us
                    return
            await asyncio.sleep(FOLLOW_POLL)

    # -- exec ------------------------------------------------------------------
    async def _stream_exec(self, ws: web.WebSocketResponse, cid: str, command: list[str], *, tty: bool) -> None:
        """Interactive exec: CRI ``Exec`` gives the runtime's streaming URL; relay the stream to it."""
        try:
            resp = await self.cri.runtime.Exec(pb.ExecRequest(container_id=cid, cmd=command, tty=tty, stdin=True,
                                                              stdout=True, stderr=not tty), timeout=30)
        except Exception as exc:  # noqa: BLE001 - the runtime's message is the answer
            await ws.send_bytes(bytes([ERROR]) + exec_status(0, rpc_message(exc)))
            return
        if await self._speaks_websockets():
            await self._relay(ws, resp.url)
        else:
            await remotecommand.relay_as_spdy(ws, resp.url, stdin=True, stdout=True, stderr=not tty, tty=tty)

    @staticmethod
    async def _relay(ws: web.WebSocketResponse, url: str, params: Any = None,
                     default: tuple[str, ...] = CHANNEL_PROTOCOLS) -> None:
        """Splice the client's WebSocket onto the runtime's streaming URL, in the same subprotocol."""
        protocols = (ws.ws_protocol,) if ws.ws_protocol else default
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, params=params, protocols=protocols, max_msg_size=0) as upstream:
                await relay(ws, upstream)

    async def exec(self, request: web.Request) -> web.StreamResponse:
        pod = self._pod(request)
        name = request.match_info["container"]
        c = await self._container(pod, name, previous=False)
        command = request.query.getall("command", [])
        if not _upgrading(request):
            return web.Response(status=204)
        ws = web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        try:
            if not command:
                await ws.send_bytes(bytes([ERROR]) + exec_status(0, "you must specify at least one command"))
            elif request.query.get("tty") in ("1", "true") or request.query.get("stdin") in ("1", "true"):
                await self._stream_exec(ws, c.id, command, tty=request.query.get("tty") in ("1", "true"))
            else:
                try:
                    res = await self.cri.runtime.ExecSync(pb.ExecSyncRequest(container_id=c.id, cmd=command),
                                                          timeout=3600)
                except Exception as exc:  # noqa: BLE001 - the runtime's message is the answer
                    await ws.send_bytes(bytes([ERROR]) + exec_status(0, rpc_message(exc)))
                else:
                    if res.stdout:
                        await ws.send_bytes(bytes([STDOUT]) + res.stdout)
                    if res.stderr:
                        await ws.send_bytes(bytes([STDERR]) + res.stderr)
                    await ws.send_bytes(bytes([ERROR]) + exec_status(res.exit_code))
        except (OSError, UpgradeRefused, aiohttp.ClientError):
            pass
        await ws.close()
        return ws


    # -- attach ----------------------------------------------------------------------------------
    async def attach(self, request: web.Request) -> web.StreamResponse:
        pod = self._pod(request)
        name = request.match_info["container"]
        c = await self._container(pod, name, previous=False)
        if c.state is not CState.RUNNING:
            raise web.HTTPBadRequest(text=f'container "{name}" in pod "{pod["metadata"]["name"]}" is not running')

        def flag(key: str) -> bool:
            return request.query.get(key) in ("1", "true", "True")

        if not _upgrading(request):
            return web.Response(status=204)
        ws = web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        try:
            try:
                resp = await self.cri.runtime.Attach(pb.AttachRequest(
                    container_id=c.id, stdin=flag("stdin"), tty=flag("tty"), stdout=flag("stdout"),
                    stderr=flag("stderr")), timeout=30)
            except Exception as exc:  # noqa: BLE001 - the runtime's message is the answer
                await ws.send_bytes(bytes([ERROR]) + exec_status(0, rpc_message(exc)))
            else:
                if await self._speaks_websockets():
                    await self._relay(ws, resp.url)
                else:
                    await remotecommand.relay_as_spdy(ws, resp.url, stdin=flag("stdin"), stdout=flag("stdout"),
                                                      stderr=flag("stderr"), tty=flag("tty"))
        except (OSError, UpgradeRefused, aiohttp.ClientError):
            pass
        await ws.close()
        return ws

    # -- port-forward ------------------------------------------------------------------------
    @staticmethod
    async def _spdy_upgrade(ws: web.WebSocketResponse, url: str) -> None:
        """The client's SPDY tunnel onto a SPDY upgrade of the runtime's URL: what a kubelet hands a
        runtime (containerd's streaming server knows no tunnel), bytes copied both ways."""
        try:
            reader, writer = await open_upgrade(url, {"Upgrade": "SPDY/3.1",
                                                      "X-Stream-Protocol-Version": "portforward.k8s.io"})
        except (OSError, UpgradeRefused) as exc:
            log.warning("port-forward: the runtime refused the SPDY upgrade: %s", exc)
            return

        async def write(data: bytes) -> None:
            writer.write(data)
            await writer.drain()

        try:
            await splice(ws, lambda: reader.read(65536), write)
        finally:
            writer.close()

    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        pod = self._pod(request)
        ports: list[int] = []
        for value in request.query.getall("ports", []):
            for part in value.split(","):
                if not part.strip().isdigit() or not 0 < int(part) < 65536:
                    raise web.HTTPBadRequest(text=f"invalid port {part.strip()!r} in ports: "
                                                  "ports must be numbers from 1 to 65535")
                ports.append(int(part))
        sandbox = (await self.cri.observe(str(pod["metadata"]["uid"]))).sandbox()
        if sandbox is None:
            raise web.HTTPBadRequest(text=f'pod "{pod["metadata"]["name"]}" has no running sandbox yet')
        if not _upgrading(request):
            return web.Response(status=204)
        try:
            resp = await self.cri.runtime.PortForward(pb.PortForwardRequest(pod_sandbox_id=sandbox.id, port=ports),
                                                      timeout=30)
        except Exception as exc:  # noqa: BLE001 - the runtime's message is the answer
            raise web.HTTPBadRequest(text=rpc_message(exc)) from None
        ws = web.WebSocketResponse(protocols=PORTFORWARD_PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        try:
            if ws.ws_protocol == SPDY_TUNNEL:
                await self._spdy_upgrade(ws, resp.url)
            else:
                await self._relay(ws, resp.url, params=[("ports", str(p)) for p in ports], default=())
        except (OSError, UpgradeRefused, aiohttp.ClientError):
            pass
        await ws.close()
        return ws


async def serve(api: KubeletApi, *, host: str, port: int, ssl_ctx: Any) -> web.AppRunner:
    runner = web.AppRunner(api.app(), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=ssl_ctx).start()
    log.info("kubelet API serving on https://%s:%d", host or "0.0.0.0", port)
    return runner
