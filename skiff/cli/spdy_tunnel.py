"""The client side of a port-forward SPDY/3.1 session, as kubectl runs it: one WebSocket
(``SPDY/3.1+portforward.k8s.io``) for all forwarded connections, each connection a pair of
streams (error, data) with the headers ``streamtype``, ``port`` and ``requestid``.

The end of the local side's input is a FIN on the data stream, so the pod's server sees
the half-close (an upload followed by a read works); the pod's FIN ends the connection
once the error stream has ended too, as kubectl does.
"""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from skiff.machinery import spdy

PROTOCOL = "SPDY/3.1+portforward.k8s.io"
CHUNK = 32 * 1024


@dataclass
class _Stream:
    data: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)


class Tunnel:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._enc, self._parser = spdy.FrameEncoder(), spdy.FrameParser()
        self._lock = asyncio.Lock()
        self._streams: dict[int, _Stream] = {}
        self._next_id = 1
        self._next_request = 0
        self.lost = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    async def _send(self, *frames: spdy.Frame) -> None:
        async with self._lock:  # the header compressor's state follows the wire order
            await self.ws.send_bytes(b"".join(self._enc.encode(f) for f in frames))

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.BINARY:
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                        break
                    continue
                for f in self._parser.feed(msg.data):
                    if isinstance(f, spdy.DataFrame) and f.stream_id in self._streams:
                        q = self._streams[f.stream_id].data
                        if f.data:
                            q.put_nowait(f.data)
                        if f.fin:
                            q.put_nowait(None)
                    elif isinstance(f, spdy.RstStream) and f.stream_id in self._streams:
                        self._streams[f.stream_id].data.put_nowait(None)
                    elif isinstance(f, spdy.Ping) and f.id % 2 == 0:
                        await self._send(f)
                    elif isinstance(f, spdy.GoAway):
                        return
        except (spdy.SpdyError, ConnectionError, aiohttp.ClientError):
            pass
        finally:
            for s in self._streams.values():
                s.data.put_nowait(None)
            self.lost.set()

    async def forward(self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        """Carry one local connection to ``port``; returns the error the server reported ('' if none)."""
        request, self._next_request = str(self._next_request), self._next_request + 1
        error_id, data_id = self._next_id, self._next_id + 2
        self._next_id += 4
        error, data = _Stream(), _Stream()
        self._streams[error_id], self._streams[data_id] = error, data
        headers = {"port": [str(port)], "requestid": [request]}
        await self._send(spdy.SynStream(error_id, {"streamtype": ["error"], **headers}),
                         spdy.DataFrame(error_id, fin=True),  # nothing to say on it
                         spdy.SynStream(data_id, {"streamtype": ["data"], **headers}))

        async def local_to_pod() -> None:
            while chunk := await reader.read(CHUNK):
                await self._send(spdy.DataFrame(data_id, chunk))
            await self._send(spdy.DataFrame(data_id, fin=True))

        async def pod_to_local() -> None:
            while (chunk := await data.data.get()) is not None:
                writer.write(chunk)
                await writer.drain()

        async def error_text() -> str:
            parts = []
            while (chunk := await error.data.get()) is not None:
                parts.append(chunk)
            return b"".join(parts).decode(errors="replace")

        upload = asyncio.ensure_future(local_to_pod())
        try:
            with contextlib.suppress(ConnectionError):
                await pod_to_local()
            return await error_text()
        finally:
            upload.cancel()
            await asyncio.gather(upload, return_exceptions=True)
            self._streams.pop(error_id, None)
            self._streams.pop(data_id, None)
            writer.close()

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.ws.close()
