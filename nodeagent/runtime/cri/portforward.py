"""Port-forward sessions of the CRI streaming server: bytes between a client and a pod's port.

Two wire protocols reach the URL CRI ``PortForward`` returns:

* SPDY/3.1 (kubectl), as an HTTP upgrade (what the agent sends, as a kubelet does) or
  inside the binary messages of a ``SPDY/3.1+portforward.k8s.io`` WebSocket. Per forwarded connection the client opens an *error* and a *data* stream with
  the headers ``streamtype``, ``port`` and ``requestid``; every stream gets a SYN_REPLY, and
  once both streams of a request are there the server dials the port and copies bytes
  between the TCP connection and the data stream. A dial failure is written on the error
  stream. The end of the pod's side half-closes both streams (FIN), as the kubelet does.
* ``v4.channel.k8s.io`` (the kubernetes Python client; ports from the ``ports`` query):
  channel 2·i carries port i's data, 2·i+1 its errors, and each channel's first message is
  the port, little-endian. One connection per port; the WebSocket closes when all end.

Dialling is injected (:data:`Dial`): the streaming server dials 127.0.0.1 (then ::1) inside
the sandbox's network namespace from a thread of its own (:func:`connect_in_netns`), so
the engine's own threads never change namespace.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from skiff.machinery import spdy

log = logging.getLogger(__name__)
SPDY_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
CHANNEL_PROTOCOLS = ("v4.channel.k8s.io",)
CHUNK = 32 * 1024
CLONE_NEWNET = 0x40000000
Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
Send = Callable[[bytes], Awaitable[None]]


# -- dialling inside a network namespace ------------------------------------------------------

def _setns(fd: int, nstype: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def connect_in_netns(netns: str, port: int, *, what: str, timeout: float = 10.0) -> socket.socket:
    """A TCP connection to localhost:PORT in the namespace file ``netns`` ('' = this one).

    Call it in a thread that ends afterwards: setns(2) moves only the calling thread, and
    the socket stays in the namespace it was made in."""
    if netns:
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(fd, CLONE_NEWNET)
        finally:
            os.close(fd)
    errors = []
    for family, host, label in ((socket.AF_INET, "127.0.0.1", "IPv4: dial tcp4 127.0.0.1"),
                                (socket.AF_INET6, "::1", "IPv6 dial tcp6 [::1]")):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect((host, port))
        except OSError as exc:
            s.close()
            errors.append(f"{label}:{port}: connect: {(exc.strerror or str(exc)).lower()}")
            continue
        s.setblocking(False)
        return s
    raise OSError(f"failed to connect to localhost:{port} inside namespace {what!r}, " + " ".join(errors))


async def dial_in_netns(netns: str, port: int, *, what: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """:func:`connect_in_netns` in a fresh thread, then an asyncio stream over the socket."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[socket.socket] = loop.create_future()

    def run() -> None:
        try:
            s = connect_in_netns(netns, port, what=what)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
            loop.call_soon_threadsafe(lambda err=exc: done.done() or done.set_exception(err))
        else:
            def hand_over() -> None:
                if done.done():  # the session went away meanwhile
                    s.close()
                else:
                    done.set_result(s)
            loop.call_soon_threadsafe(hand_over)

    threading.Thread(target=run, name=f"portforward-dial-{port}", daemon=True).start()
    sock = await done
    return await asyncio.open_connection(sock=sock, limit=CHUNK * 4)


def forward_error(port: int, pod: str, exc: BaseException) -> str:
    """The kubelet's message on the error stream when a dial fails."""
    return f"error forwarding port {port} to pod {pod}, uid : {exc}"


# -- SPDY ------------------------------------------------------------------------------------

@dataclass
class _Stream:
    id: int
    kind: str
    port: int
    request: str
    pending: list[bytes] = field(default_factory=list)
    writer: asyncio.StreamWriter | None = None
    remote_fin: bool = False


class SpdyPortForward:
    """The server side of one SPDY port-forward session (feed it the client's bytes)."""

    def __init__(self, send: Send, dial: Dial, *, pod: str) -> None:
        self._send_raw = send
        self._dial = dial
        self.pod = pod
        self._encoder = spdy.FrameEncoder()
        self._parser = spdy.FrameParser()
        self._lock = asyncio.Lock()
        self._streams: dict[int, _Stream] = {}
        self._requests: dict[str, dict[str, _Stream]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_id = 0
        self.closed = False

    async def send(self, frame: spdy.Frame) -> None:
        # encode under the lock: the header compressor's state must follow the wire order
        async with self._lock:
            if not self.closed:
                await self._send_raw(self._encoder.encode(frame))

    async def feed(self, data: bytes) -> bool:
        """Handle the client's bytes; False once the session is over (GOAWAY or a protocol error)."""
        try:
            frames = self._parser.feed(data)
        except spdy.SpdyError as exc:
            log.warning("port-forward %s: %s", self.pod, exc)
            await self.send(spdy.GoAway(self._last_id, spdy.GOAWAY_PROTOCOL_ERROR))
            return False
        for frame in frames:
            if not await self._handle(frame):
                return False
        return True

    async def _handle(self, frame: spdy.Frame) -> bool:
        if isinstance(frame, spdy.SynStream):
            await self._syn_stream(frame)
        elif isinstance(frame, spdy.DataFrame):
            await self._data(frame)
        elif isinstance(frame, spdy.RstStream):
            s = self._streams.pop(frame.stream_id, None)
            if s is not None and s.writer is not None:
                s.writer.close()
        elif isinstance(frame, spdy.Ping):
            if frame.id % 2 == 1:  # the client's ping (ours would be even): answer with the same id
                await self.send(frame)
        elif isinstance(frame, spdy.GoAway):
            return False
        # SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do (no flow control, as spdystream)
        return True

    async def _syn_stream(self, f: spdy.SynStream) -> None:
        if f.stream_id in self._streams or f.stream_id % 2 == 0 or f.stream_id <= self._last_id:
            await self.send(spdy.RstStream(f.stream_id, spdy.PROTOCOL_ERROR))
            return
        self._last_id = f.stream_id
        kind = spdy.header(f.headers, "streamtype")
        port_text = spdy.header(f.headers, "port")
        request = spdy.header(f.headers, "requestid")
        if not request:  # clients before requestid: the error stream's id names the pair
            request = str(f.stream_id if kind == "error" else f.stream_id - 2)
        if kind not in ("data", "error") or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            log.info("port-forward %s: stream %d refused (streamtype %r, port %r)", self.pod, f.stream_id, kind,
                     port_text)
            await self.send(spdy.RstStream(f.stream_id, spdy.REFUSED_STREAM))
            return
        s = _Stream(f.stream_id, kind, int(port_text), request, remote_fin=f.fin)
        self._streams[s.id] = s
        await self.send(spdy.SynReply(s.id))
        pair = self._requests.setdefault(request, {})
        pair[kind] = s
        if len(pair) == 2:
            del self._requests[request]
            task = asyncio.ensure_future(self._forward(pair["data"], pair["error"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _data(self, f: spdy.DataFrame) -> None:
        s = self._streams.get(f.stream_id)
        if s is None:
            await self.send(spdy.RstStream(f.stream_id, spdy.INVALID_STREAM))
            return
        if s.kind == "data" and f.data:
            if s.writer is None:
                s.pending.append(f.data)
            else:
                s.writer.write(f.data)
                with contextlib.suppress(ConnectionError):
                    await s.writer.drain()
        if f.fin:
            s.remote_fin = True
            if s.writer is not None and s.writer.can_write_eof():
                with contextlib.suppress(OSError):
                    s.writer.write_eof()

    async def _forward(self, data: _Stream, error: _Stream) -> None:
        try:
            reader, writer = await self._dial(data.port)
        except OSError as exc:
            await self.send(spdy.DataFrame(error.id, forward_error(data.port, self.pod, exc).encode()))
            await self._finish(data, error)
            return
        data.writer = writer
        try:
            for chunk in data.pending:
                writer.write(chunk)
            data.pending.clear()
            if data.remote_fin and writer.can_write_eof():
                writer.write_eof()
            while chunk := await reader.read(CHUNK):
                await self.send(spdy.DataFrame(data.id, chunk))
        except ConnectionError:
            pass
        finally:
            writer.close()
        await self._finish(data, error)

    async def _finish(self, data: _Stream, error: _Stream) -> None:
        """Half-close both streams; the client closes its side (or resets)."""
        with contextlib.suppress(ConnectionError):
            await self.send(spdy.DataFrame(data.id, fin=True))
            await self.send(spdy.DataFrame(error.id, fin=True))
        self._streams.pop(data.id, None)
        self._streams.pop(error.id, None)

    async def close(self) -> None:
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for s in self._streams.values():
            if s.writer is not None:
                s.writer.close()
        self._streams.clear()


async def serve_spdy(ws: Any, dial: Dial, *, pod: str) -> None:
    """Run a SPDY port-forward session on an aiohttp WebSocket until either side ends."""
    from aiohttp import WSMsgType

    session = SpdyPortForward(ws.send_bytes, dial, pod=pod)
    try:
        with contextlib.suppress(ConnectionError):  # the client went away
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    if not await session.feed(msg.data):
                        break
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
    finally:
        await session.close()


async def serve_spdy_bytes(read: Callable[[], Awaitable[bytes]], send: Send, dial: Dial, *, pod: str) -> None:
    """The same session on an upgraded connection's bytes (``read()`` -> b'' at the end)."""
    session = SpdyPortForward(send, dial, pod=pod)
    try:
        with contextlib.suppress(ConnectionError):  # the client went away
            while data := await read():
                if not await session.feed(data):
                    break
    finally:
        await session.close()


# -- v4 channels -----------------------------------------------------------------------------

def parse_ports(values: list[str]) -> list[int]:
    """``ports`` query values (each may hold a comma list) -> ports; bad ones raise ValueError."""
    ports = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part.isdigit() or not 0 < int(part) < 65536:
                raise ValueError(f"invalid port {part!r}: ports must be numbers from 1 to 65535")
            ports.append(int(part))
    return ports


def port_prefix(port: int) -> bytes:
    return port.to_bytes(2, "little")


async def serve_channels(ws: Any, ports: list[int], dial: Dial, *, pod: str) -> None:
    """The v4 channel protocol: one connection per port, ended when all of them end."""
    from aiohttp import WSMsgType

    writers: list[asyncio.StreamWriter | None] = [None] * len(ports)
    pending: list[list[bytes]] = [[] for _ in ports]
    for i, port in enumerate(ports):
        await ws.send_bytes(bytes([2 * i]) + port_prefix(port))
        await ws.send_bytes(bytes([2 * i + 1]) + port_prefix(port))

    async def forward(i: int, port: int) -> None:
        try:
            reader, writer = await dial(port)
        except OSError as exc:
            await ws.send_bytes(bytes([2 * i + 1]) + forward_error(port, pod, exc).encode())
            return
        writers[i] = writer
        try:
            for chunk in pending[i]:
                writer.write(chunk)
            pending[i].clear()
            while chunk := await reader.read(CHUNK):
                await ws.send_bytes(bytes([2 * i]) + chunk)
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def pump_in() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or len(msg.data) < 2:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    return
                continue
            channel, payload = msg.data[0], msg.data[1:]
            i = channel // 2
            if channel % 2 or i >= len(ports):
                continue
            w = writers[i]
            if w is None:
                pending[i].append(payload)
            elif not w.is_closing():
                w.write(payload)
                with contextlib.suppress(ConnectionError):
                    await w.drain()

    forwards = asyncio.gather(*(forward(i, p) for i, p in enumerate(ports)), return_exceptions=True)
    reader_task = asyncio.ensure_future(pump_in())
    try:
        await asyncio.wait([forwards, reader_task], return_when=asyncio.FIRST_COMPLETED)
    finally:
        reader_task.cancel()
        forwards.cancel()
        await asyncio.gather(reader_task, forwards, return_exceptions=True)
        for w in writers:
            if w is not None:
                w.close()
