"""Hijacked connections (attach, exec start): the HTTP connection becomes a raw stream.

Docker clients send ``Upgrade: tcp``; the server answers ``101 UPGRADED`` (or 200
for old clients) and then both sides speak raw bytes: the container's output
(multiplexed frames unless it has a tty) one way, stdin the other. Input is read
by a protocol of our own set on the transport; output is written straight to it.
"""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

RAW = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


class _RawProtocol(asyncio.Protocol):
    """Takes the transport over from aiohttp after the upgrade.

    Clients half-close their side when they have no stdin (``CloseWrite``); aiohttp's
    protocol would let the transport close then, losing the output still to come,
    so ``eof_received`` keeps it open for writing.
    """

    def __init__(self, queue: asyncio.Queue[bytes | None]) -> None:
        self.queue = queue
        self.ended = False

    def data_received(self, data: bytes) -> None:
        if data:
            self.queue.put_nowait(bytes(data))

    def eof_received(self) -> bool:
        self._end()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(None)


class Hijacked:
    def __init__(self, request: web.Request, *, tty: bool) -> None:
        self.request = request
        self.tty = tty
        self.input: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.transport: asyncio.Transport | None = None

    async def start(self) -> None:
        req = self.request
        upgrade = req.headers.get("Upgrade", "").lower() == "tcp"
        ctype = RAW if self.tty else MULTIPLEXED
        transport = req.transport
        assert transport is not None
        if upgrade:
            head = (f"HTTP/1.1 101 UPGRADED\r\nContent-Type: {ctype}\r\nConnection: Upgrade\r\n"
                    "Upgrade: tcp\r\n\r\n")
        else:
            head = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n\r\n"
        transport.write(head.encode())
        self.transport = transport  # type: ignore[assignment]
        transport.set_protocol(_RawProtocol(self.input))

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close_write(self) -> None:
        if self.transport is not None and self.transport.can_write_eof():
            try:
                self.transport.write_eof()
            except OSError:
                pass

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def response(self) -> web.StreamResponse:
        """What the handler returns: aiohttp must not write anything more."""
        resp = _Done()
        return resp


class _Done(web.StreamResponse):
    """A response that was already written by hand on the hijacked transport."""

    async def prepare(self, request: web.BaseRequest) -> Any:  # type: ignore[override]
        return None

    async def write_eof(self, data: bytes = b"") -> None:  # type: ignore[override]
        return None
