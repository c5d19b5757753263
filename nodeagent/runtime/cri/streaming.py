"""The CRI streaming server: exec, attach and port-forward behind the URLs CRI returns.

CRI's ``Exec``, ``Attach`` and ``PortForward`` hand the kubelet (the agent) a one-use URL;
the agent relays the client's WebSocket to it.

* exec and attach speak the channel protocols of the API server and the agent
  (``v5``/``v4.channel.k8s.io``: one leading byte per message names the stream — 0 stdin,
  1 stdout, 2 stderr, 3 error/status, 4 resize, 255 close in v5). Exec runs the command
  with the engine's runtime (``runtime exec``): on a pseudo-terminal for a tty, else on
  pipes; blocking reads and writes run in threads, never on asyncio subprocess pipes
  (uvloop closes those under short-lived children). Attach joins the container's shim
  (its attach socket and its control fifo) through :class:`Attacher`.
* port-forward is :mod:`.portforward`: SPDY/3.1 as an HTTP upgrade (what a kubelet sends a
  runtime) or tunnelled in a WebSocket, and v4 channels for the Python client, dialling
  inside the sandbox's network namespace.
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import secrets
import struct
import subprocess
import termios
import time
from dataclasses import dataclass
from typing import Any, Protocol, Union

from aiohttp import web

from skiff.machinery.websocket import accept_upgrade, channel_frames
from skiff.nodeagent.runtime.cri import portforward

log = logging.getLogger(__name__)
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
TOKEN_TTL = 60.0


def failure(message: str) -> bytes:
    return json.dumps({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError"}).encode()


def exec_status(code: int) -> bytes:
    if code == 0:
        return json.dumps({"metadata": {}, "status": "Success"}).encode()
    return json.dumps({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                       "message": f"command terminated with non-zero exit code: exit status {code}",
                       "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}).encode()


@dataclass
class ExecSession:
    argv: list[str]
    tty: bool
    stdin: bool
    created: float


@dataclass
class AttachSession:
    container_id: str
    tty: bool
    stdin: bool
    stdout: bool
    stderr: bool
    created: float


@dataclass
class PortForwardSession:
    sandbox_id: str
    netns: str  # '' for a host-network sandbox
    ports: list[int]
    created: float


Session = Union[ExecSession, AttachSession, PortForwardSession]


class Attacher(Protocol):
    """What attach needs of the engine's container manager."""

    async def open(self, container_id: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the container's shim: its output (multiplexed unless tty), our input to its stdin."""

    def resize(self, container_id: str, rows: int, cols: int) -> None: ...

    def close_stdin(self, container_id: str) -> None:
        """Close the container's stdin if it is ``stdinOnce`` (as a runtime does when the attacher ends)."""


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO on a pty whose other side is gone
        return b""


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


class StreamingServer:
    def __init__(self, runtime_cmd: list[str], *, attacher: Attacher | None = None) -> None:
        self.runtime_cmd = runtime_cmd
        self.attacher = attacher
        self.base = ""
        self._pending: dict[str, Session] = {}
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1") -> None:
        app = web.Application()
        app.router.add_get("/exec/{token}", self._exec)
        app.router.add_get("/attach/{token}", self._attach)
        app.router.add_route("*", "/portforward/{token}", self._portforward)  # GET or POST, as the kubelet's
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _url(self, kind: str, session: Session) -> str:
        now = time.monotonic()
        for t in [t for t, s in self._pending.items() if now - s.created > TOKEN_TTL]:
            del self._pending[t]
        token = secrets.token_urlsafe(24)
        self._pending[token] = session
        return f"{self.base}/{kind}/{token}"

    def _take(self, request: web.Request, kind: type) -> Any:
        session = self._pending.get(request.match_info["token"])
        if not isinstance(session, kind) or time.monotonic() - session.created > TOKEN_TTL:
            raise web.HTTPNotFound(text="unknown or expired streaming session")
        del self._pending[request.match_info["token"]]
        return session

    def exec_url(self, container_id: str, cmd: list[str], *, tty: bool, stdin: bool) -> str:
        return self._url("exec", ExecSession([*self.runtime_cmd, "exec", container_id, *cmd], tty, stdin,
                                             time.monotonic()))

    def attach_url(self, container_id: str, *, tty: bool, stdin: bool, stdout: bool, stderr: bool) -> str:
        return self._url("attach", AttachSession(container_id, tty, stdin, stdout, stderr, time.monotonic()))

    def portforward_url(self, sandbox_id: str, netns: str, ports: list[int]) -> str:
        return self._url("portforward", PortForwardSession(sandbox_id, netns, ports, time.monotonic()))

    # -- port-forward -------------------------------------------------------------------------
    async def _portforward(self, request: web.Request) -> web.StreamResponse:
        session: PortForwardSession = self._take(request, PortForwardSession)

        async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await portforward.dial_in_netns(session.netns, port, what=session.sandbox_id)

        if request.headers.get("Upgrade", "").lower().startswith("spdy/3.1"):
            raw = await accept_upgrade(request, {"Upgrade": "SPDY/3.1",
                                                 "X-Stream-Protocol-Version": "portforward.k8s.io"})
            await portforward.serve_spdy_bytes(raw.read, raw.write, dial, pod=session.sandbox_id)
            return raw.response
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        ports = session.ports
        if portforward.SPDY_PROTOCOL not in offered:
            try:
                ports = portforward.parse_ports(request.query.getall("ports", [])) or ports
            except ValueError as exc:
                raise web.HTTPBadRequest(text=str(exc)) from None
            if not ports:
                raise web.HTTPBadRequest(text="at least one port must be given (the ports query parameter)")
        ws = web.WebSocketResponse(protocols=(portforward.SPDY_PROTOCOL, *portforward.CHANNEL_PROTOCOLS),
                                   max_msg_size=0)
        await ws.prepare(request)
        try:
            if ws.ws_protocol == portforward.SPDY_PROTOCOL:
                await portforward.serve_spdy(ws, dial, pod=session.sandbox_id)
            else:
                await portforward.serve_channels(ws, ports, dial, pod=session.sandbox_id)
        finally:
            await ws.close()
        return ws

    # -- attach -------------------------------------------------------------------------------
    async def _attach(self, request: web.Request) -> web.StreamResponse:
        session: AttachSession = self._take(request, AttachSession)
        if self.attacher is None:
            raise web.HTTPNotImplemented(text="attach is not available on this runtime")
        ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        cid = session.container_id
        try:
            reader, writer = await self.attacher.open(cid)
        except (asyncio.CancelledError, Exception) as exc:  # noqa: BLE001 - told to the client
            with contextlib.suppress(ConnectionResetError):
                await ws.send_bytes(bytes([ERROR]) + failure(f"error attaching to container: {exc}"))
            await ws.close()
            return ws

        async def pump_out() -> None:
            while True:
                if session.tty:
                    data = await reader.read(65536)
                    if not data:
                        return
                    channel = STDOUT
                else:
                    try:
                        head = await reader.readexactly(8)
                        data = await reader.readexactly(int.from_bytes(head[4:], "big"))
                    except asyncio.IncompleteReadError:
                        return
                    channel = STDERR if head[0] == 2 else STDOUT
                if (channel == STDOUT and session.stdout) or (channel == STDERR and session.stderr):
                    await ws.send_bytes(bytes([channel]) + data)

        async def pump_in() -> None:
            async for channel, payload in channel_frames(ws):
                if channel == STDIN and session.stdin and payload:
                    writer.write(payload)
                    await writer.drain()
                elif channel == RESIZE and session.tty:
                    size = json.loads(payload or b"{}")
                    self.attacher.resize(cid, int(size.get("Height", 24)), int(size.get("Width", 80)))  # type: ignore[union-attr]
                elif channel == CLOSE and payload[:1] == bytes([STDIN]) and session.stdin:
                    self.attacher.close_stdin(cid)  # type: ignore[union-attr]

        out_task = asyncio.ensure_future(pump_out())
        in_task = asyncio.ensure_future(pump_in())
        try:
            done, _ = await asyncio.wait({out_task, in_task}, return_when=asyncio.FIRST_COMPLETED)
            if out_task in done:  # the container ended: the attach ends with a Success status
                with contextlib.suppress(ConnectionResetError):
                    await ws.send_bytes(bytes([ERROR]) + exec_status(0))
        except ConnectionResetError:
            pass
        finally:
            for t in (out_task, in_task):
                t.cancel()
            await asyncio.gather(out_task, in_task, return_exceptions=True)
            writer.close()  # our connection only: the container keeps running
            await ws.close()
        return ws

    # -- exec ---------------------------------------------------------------------------------
    async def _exec(self, request: web.Request) -> web.StreamResponse:
        session: ExecSession = self._take(request, ExecSession)
        ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        loop = asyncio.get_running_loop()
        master = None
        if session.tty:
            master, slave = os.openpty()
            proc = subprocess.Popen(session.argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
            os.close(slave)
            outs = [(master, STDOUT)]
            stdin_fd: int | None = master
        else:
            proc = subprocess.Popen(session.argv, stdin=subprocess.PIPE if session.stdin else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert proc.stdout is not None and proc.stderr is not None
            outs = [(proc.stdout.fileno(), STDOUT), (proc.stderr.fileno(), STDERR)]
            stdin_fd = proc.stdin.fileno() if proc.stdin is not None else None

        async def pump_out(fd: int, channel: int) -> None:
            while True:
                data = await loop.run_in_executor(None, _read, fd)
                if not data:
                    return
                with contextlib.suppress(ConnectionResetError):
                    await ws.send_bytes(bytes([channel]) + data)

        async def pump_in() -> None:
            async for channel, payload in channel_frames(ws):
                if channel == STDIN and stdin_fd is not None and payload:
                    await loop.run_in_executor(None, _write_all, stdin_fd, payload)
                elif channel == RESIZE and master is not None:
                    size = json.loads(payload or b"{}")
                    fcntl.ioctl(master, termios.TIOCSWINSZ,
                                struct.pack("HHHH", int(size.get("Height", 24)), int(size.get("Width", 80)), 0, 0))
                elif channel == CLOSE and payload[:1] == bytes([STDIN]) and proc.stdin is not None:
                    proc.stdin.close()

        readers = [asyncio.ensure_future(pump_out(fd, ch)) for fd, ch in outs]
        writer = asyncio.ensure_future(pump_in())
        try:
            code = await loop.run_in_executor(None, proc.wait)
            await asyncio.wait(readers, timeout=5)
            with contextlib.suppress(ConnectionResetError):
                await ws.send_bytes(bytes([ERROR]) + exec_status(code))
        finally:
            for t in (*readers, writer):
                t.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if master is not None:
                os.close(master)
            for f in (proc.stdin, proc.stdout, proc.stderr):
                if f is not None:
                    with contextlib.suppress(OSError):
                        f.close()
            await ws.close()
        return ws


__all__ = ["Attacher", "StreamingServer", "exec_status"]
