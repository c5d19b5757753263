"""Relaying streams, both ways, until either side ends: one WebSocket to another, and a
WebSocket tunnel to a connection upgraded to SPDY/3.1.

The API server (pods/exec, attach, portforward to the agent) and the agent's kubelet API
(to the runtime's streaming server) both splice a client's stream onto an upstream one.
A SPDY port-forward reaches kube-style servers as an HTTP upgrade and Skiff's hops as the
``SPDY/3.1+portforward.k8s.io`` WebSocket tunnel; :func:`accept_upgrade`,
:func:`open_upgrade` and :func:`splice` join the two.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web


async def channel_frames(ws: Any) -> AsyncIterator[tuple[int, bytes]]:
    """The (channel, payload) frames of a v4/v5 channel WebSocket (client or server side),
    until it closes; empty and non-binary messages are skipped."""
    async for msg in ws:
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
            return
        if msg.type == aiohttp.WSMsgType.BINARY and msg.data:
            yield msg.data[0], msg.data[1:]


async def relay(a: Any, b: Any) -> None:
    """Copy text and binary frames a->b and b->a; when one direction ends, close the other."""
    async def pump(src: Any, dst: Any) -> None:
        async for msg in src:
            if msg.type == aiohttp.WSMsgType.BINARY:
                await dst.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                await dst.send_str(msg.data)
            else:
                break
        await dst.close()

    tasks = [asyncio.ensure_future(pump(a, b)), asyncio.ensure_future(pump(b, a))]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# -- raw upgrades (SPDY/3.1): one side a WebSocket tunnel, the other the connection's bytes ----

class _RawBytes:
    """A payload parser for an upgraded connection that hands every byte on, unparsed."""

    def __init__(self, queue: "asyncio.Queue[bytes | None]") -> None:
        self.queue = queue

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(None)


class Upgraded:
    """The server side of a connection switched away from HTTP (aiohttp has no API for it:
    the bytes are taken as aiohttp's own WebSocketResponse takes them)."""

    def __init__(self, response: web.StreamResponse, incoming: "asyncio.Queue[bytes | None]") -> None:
        self.response = response
        self._incoming = incoming

    async def read(self) -> bytes:
        """The next bytes from the client; b'' once it has gone."""
        data = await self._incoming.get()
        return data or b""

    async def write(self, data: bytes) -> None:
        await self.response.write(data)


async def accept_upgrade(request: web.Request, headers: dict[str, str]) -> Upgraded:
    """Answer ``101 Switching Protocols`` with ``headers`` and take over the connection."""
    incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
    # take the bytes before the 101 goes out: the client may start at once
    request.protocol.set_parser(_RawBytes(incoming))  # type: ignore[arg-type]
    resp = web.StreamResponse(status=101, headers={"Connection": "Upgrade", **headers})
    resp._length_check = False  # raw bytes follow, neither chunked nor sized (as WebSocketResponse)
    resp.force_close()
    await resp.prepare(request)
    return Upgraded(resp, incoming)


class UpgradeRefused(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"upgrade refused with {status}: {body}")
        self.status = status
        self.body = body


async def open_upgrade(url: str, headers: dict[str, str], *, timeout: float = 30.0
                       ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A plain-HTTP upgrade request (``Upgrade`` in ``headers``); the connection once it got its 101."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    if u.scheme != "http" or not u.hostname:
        raise ValueError(f"open_upgrade: only http:// URLs, not {url!r}")
    reader, writer = await asyncio.wait_for(asyncio.open_connection(u.hostname, u.port or 80), timeout)
    target = u.path + (f"?{u.query}" if u.query else "")
    lines = [f"POST {target} HTTP/1.1", f"Host: {u.netloc}", "Connection: Upgrade", "Content-Length: 0",
             *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError) as exc:
        writer.close()
        raise UpgradeRefused(0, f"no answer to the upgrade: {exc!r}") from None
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = status_line.split(" ", 2)
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    if code != 101:
        body = b""
        with contextlib.suppress(asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            body = await asyncio.wait_for(reader.read(4096), 2)
        writer.close()
        raise UpgradeRefused(code, body.decode(errors="replace").strip() or status_line)
    return reader, writer


async def splice(ws: Any, read: Any, write: Any) -> None:
    """Binary WebSocket messages <-> a byte stream (``read()`` -> b'' at its end), both ways, until
    either ends: the tunnel of ``SPDY/3.1+portforward.k8s.io`` onto a SPDY connection."""
    async def from_ws() -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                await write(msg.data)
            elif msg.type != aiohttp.WSMsgType.TEXT:
                break

    async def to_ws() -> None:
        while data := await read():
            await ws.send_bytes(data)

    tasks = [asyncio.ensure_future(from_ws()), asyncio.ensure_future(to_ws())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
