"""The CRI streaming server: interactive exec (stdin, tty) behind the URLs ``Exec`` returns.

CRI's ``Exec`` hands the kubelet a one-use URL; the kubelet (the agent) relays the
client's WebSocket to it. This server speaks the same channel protocols as the API server
and the agent (``v5``/``v4.channel.k8s.io``: one leading byte per message names the
stream — 0 stdin, 1 stdout, 2 stderr, 3 error/status, 4 resize, 255 close in v5) and runs
the command with the engine's runtime (``runtime exec``): on a pseudo-terminal for a tty,
else on pipes. Blocking reads and writes run in threads, never on asyncio subprocess
pipes (uvloop closes those under short-lived children).
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


from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
TOKEN_TTL = 60.0


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
    def __init__(self, runtime_cmd: list[str]) -> None:
        self.runtime_cmd = runtime_cmd
        self.base = ""
        self._pending: dict[str, ExecSession] = {}
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1") -> None:
        app = web.Application()
        app.router.add_get("/exec/{token}", self._exec)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def exec_url(self, container_id: str, cmd: list[str], *, tty: bool, stdin: bool) -> str:
        now = time.monotonic()
        for t in [t for t, s in self._pending.items() if now - s.created > TOKEN_TTL]:
            del self._pending[t]
        token = secrets.token_urlsafe(24)
        self._pending[token] = ExecSession([*self.runtime_cmd, "exec", container_id, *cmd], tty, stdin, now)
        return f"{self.base}/exec/{token}"

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        session = self._pending.pop(request.match_info["token"], None)
        if session is None:
            raise web.HTTPNotFound(text="unknown or expired exec session")
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
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or not msg.data:
                    if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                        return
                    continue
                channel, payload = msg.data[0], msg.data[1:]
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


__all__ = ["StreamingServer", "exec_status"]
