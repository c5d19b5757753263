"""Hijacked connections (attach, exec start): the HTTP connection becomes a raw stream.

Docker clients send ``Upgrade: tcp``; the server answers ``101 UPGRADED`` (or 200
for old clients) and then both sides speak raw bytes: the container's output
(multiplexed frames unless it has a tty) one way, stdin the other. Input is read
by a protocol of our own set on the transport; output is written straight to it.
``DetachMatcher`` finds the detach keys (``^P^Q`` unless ``detachKeys``) in a
tty's input, as dockerd's escape proxy does.
"""
from __future__ import annotations

import asyncio
import select
import socket
from typing import Any

from aiohttp import web

RAW = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q
_CTRL_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


class DetachKeysError(ValueError):
    pass


def parse_detach_keys(text: str) -> bytes:
    """Docker's ``--detach-keys`` syntax: ``ctrl-<a-z@[\\]^_>`` or one character, comma separated."""
    out = bytearray()
    for part in text.split(","):
        part = part.strip()
        if part.startswith("ctrl-") and len(part) == 6:
            c = part[5].lower()
            if c in _CTRL_SPECIAL:
                out.append(_CTRL_SPECIAL[c])
            elif "a" <= c <= "z":
                out.append(ord(c) - 96)
            else:
                raise DetachKeysError(f"Invalid detach keys ({text}) provided")
        elif len(part) == 1:
            out.append(ord(part))
        else:
            raise DetachKeysError(f"Invalid detach keys ({text}) provided")
    return bytes(out)


class DetachMatcher:
    """Looks for the detach sequence across input chunks.

    ``feed`` answers what to forward now and whether the sequence was typed. Bytes that
    may be the start of the sequence are held back until the next chunk decides (the
    sequence itself never reaches the container); what precedes it is forwarded.
    """

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self.keys:
            return data, False
        buf = self.held + data
        self.held = b""
        at = buf.find(self.keys)
        if at >= 0:
            return buf[:at], True
        for n in range(min(len(self.keys) - 1, len(buf)), 0, -1):
            if buf.endswith(self.keys[:n]):
                self.held = buf[-n:]
                return buf[:-n], False
        return buf, False


class _RawProtocol(asyncio.Protocol):
    """Takes the transport over from aiohttp after the upgrade.

    Clients half-close their side when they have no stdin (``CloseWrite``); aiohttp's
    protocol would let the transport close then, losing the output still to come,
    so ``eof_received`` keeps it open for writing.
    """

    def __init__(self, queue: asyncio.Queue[bytes | None], lost: asyncio.Event, transport: asyncio.BaseTransport) -> None:
        self.queue = queue
        self.lost = lost
        self.transport = transport
        self.ended = False

    def data_received(self, data: bytes) -> None:
        if data:
            self.queue.put_nowait(bytes(data))

    def eof_received(self) -> bool:
        # A unix socket whose peer closed both ways polls HUP; a half-close does not.
        sock = self.transport.get_extra_info("socket")
        if sock is not None and sock.family == socket.AF_UNIX:
            p = select.poll()
            p.register(sock.fileno(), select.POLLHUP)
            if any(ev & select.POLLHUP for _, ev in p.poll(0)):
                self.lost.set()
        self._end()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()
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
        self.lost = asyncio.Event()  # the client is gone (not just done sending)
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
        transport.set_protocol(_RawProtocol(self.input, self.lost, transport))

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
