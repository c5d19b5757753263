"""skiffctl's SPDY port-forward client against the streaming server's session, in memory:
an upload half-closed then its answer, two connections at once, a refused port's error."""
from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

import aiohttp

from skiff.cli.spdy_tunnel import Tunnel
from skiff.nodeagent.runtime.cri.portforward import SpdyPortForward


@dataclass
class Msg:
    data: bytes
    type: Any = aiohttp.WSMsgType.BINARY


class FakeWs:
    """The client's end of a WebSocket whose server end is a SpdyPortForward session."""

    def __init__(self, dial: Any) -> None:
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.server = SpdyPortForward(self._to_client, dial, pod="sb1")

    async def _to_client(self, data: bytes) -> None:
        self.inbox.put_nowait(data)

    async def send_bytes(self, data: bytes) -> None:
        await self.server.feed(data)

    def __aiter__(self) -> "FakeWs":
        return self

    async def __anext__(self) -> Msg:
        data = await self.inbox.get()
        if data is None:
            raise StopAsyncIteration
        return Msg(data)

    async def close(self) -> None:
        self.inbox.put_nowait(None)
        await self.server.close()


async def summer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The pod: answers with the md5 of everything it got, once the client's side ends."""
    writer.write(hashlib.md5(await reader.read()).hexdigest().encode())
    await writer.drain()
    writer.close()


def test_uploads_half_close_and_a_refused_port_is_reported() -> None:
    async def run() -> None:
        server = await asyncio.start_server(summer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        async def dial(p: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_connection("127.0.0.1", p)

        tunnel = Tunnel(FakeWs(dial))
        local_answers: list[bytes] = []

        async def local(p: int, blob: bytes) -> str:
            """A local connection's two ends: the user's socket and what the listener accepted."""
            accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = \
                asyncio.get_running_loop().create_future()
            listener = await asyncio.start_server(lambda r, w: accepted.set_result((r, w)), "127.0.0.1", 0)
            user_r, user_w = await asyncio.open_connection("127.0.0.1", listener.sockets[0].getsockname()[1])
            r, w = await accepted
            forwarding = asyncio.ensure_future(tunnel.forward(p, r, w))
            user_w.write(blob)
            user_w.write_eof()
            local_answers.append(await user_r.read())
            user_w.close()
            listener.close()
            return await forwarding

        blobs = [b"a" * 300_000, b"b" * 70_000]
        errors = await asyncio.wait_for(asyncio.gather(*(local(port, b) for b in blobs)), 20)
        assert errors == ["", ""]
        assert sorted(local_answers) == sorted(hashlib.md5(b).hexdigest().encode() for b in blobs)
        refused = await asyncio.wait_for(local(1, b"x"), 20)
        assert refused.startswith("error forwarding port 1 to pod sb1, uid : ") and "('127.0.0.1', 1)" in refused
        assert not tunnel.lost.is_set()
        await tunnel.close()
        assert tunnel.lost.is_set()
        server.close()
        await server.wait_closed()

    asyncio.run(run())
