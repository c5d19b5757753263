"""The agent's WebSocket -> SPDY remote-command translation, against a loopback server that
answers as containerd's streaming server does (frames as recorded from containerd 1.6: the
Status on the error stream without a FIN, then RST_STREAM and GOAWAY)."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from skiff.machinery import spdy
from skiff.nodeagent.kubelet.remotecommand import relay_as_spdy, stream_kinds

STATUS = json.dumps({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                     "details": {"causes": [{"reason": "ExitCode", "message": "4"}]}}).encode()


@pytest.mark.parametrize("flags,kinds", [
    ({"stdin": True, "stdout": True, "stderr": True, "tty": False}, ["error", "stdin", "stdout", "stderr"]),
    ({"stdin": True, "stdout": True, "stderr": True, "tty": True}, ["error", "stdin", "stdout", "resize"]),
    ({"stdin": False, "stdout": True, "stderr": False, "tty": False}, ["error", "stdout"]),
])
def test_stream_kinds(flags: dict[str, bool], kinds: list[str]) -> None:
    assert stream_kinds(**flags) == kinds


async def containerd_like(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[Any]) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    seen.append(head)
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                 b"X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n")
    enc, parser = spdy.FrameEncoder(), spdy.FrameParser()
    kinds: dict[str, int] = {}
    stdin = b""
    while True:
        for f in parser.feed(await reader.read(65536)):
            seen.append(f)
            if isinstance(f, spdy.SynStream):
                kinds[f.headers["streamtype"][0]] = f.stream_id
                writer.write(enc.encode(spdy.SynReply(f.stream_id)))
            elif isinstance(f, spdy.DataFrame) and f.stream_id == kinds.get("stdin"):
                stdin += f.data
                if f.fin:
                    writer.write(enc.encode(spdy.DataFrame(kinds["stdout"], stdin.upper())) +
                                 enc.encode(spdy.DataFrame(kinds["stderr"], b"err\n")) +
                                 enc.encode(spdy.DataFrame(kinds["stdout"], fin=True)) +
                                 enc.encode(spdy.DataFrame(kinds["error"], STATUS)) +
                                 enc.encode(spdy.RstStream(kinds["error"], spdy.CANCEL)) +
                                 enc.encode(spdy.GoAway(7)))
                    await writer.drain()
                    writer.close()
                    return


def test_websocket_channels_become_spdy_streams_and_the_status_comes_back() -> None:
    async def run() -> dict[int, bytes]:
        seen: list[Any] = []
        runtime = await asyncio.start_server(lambda r, w: containerd_like(r, w, seen), "127.0.0.1", 0)
        url = f"http://127.0.0.1:{runtime.sockets[0].getsockname()[1]}/exec/tok"

        async def agent(request: aiohttp.web.Request) -> aiohttp.web.WebSocketResponse:
            ws = aiohttp.web.WebSocketResponse(protocols=("v5.channel.k8s.io",))
            await ws.prepare(request)
            await relay_as_spdy(ws, url, stdin=True, stdout=True, stderr=True, tty=False)
            await ws.close()
            return ws

        app = aiohttp.web.Application()
        app.router.add_get("/", agent)
        from aiohttp.test_utils import TestClient, TestServer

        got: dict[int, bytes] = {}
        async with TestClient(TestServer(app)) as client:
            ws = await client.ws_connect("/", protocols=("v5.channel.k8s.io",))
            await ws.send_bytes(b"\x00piped in\n")
            await ws.send_bytes(b"\xff\x00")
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    got[msg.data[0]] = got.get(msg.data[0], b"") + msg.data[1:]
        runtime.close()
        assert b"Upgrade: SPDY/3.1" in seen[0] and b"X-Stream-Protocol-Version: v4.channel.k8s.io" in seen[0]
        assert [f.headers["streamtype"] for f in seen if isinstance(f, spdy.SynStream)] == \
            [["error"], ["stdin"], ["stdout"], ["stderr"]]
        return got

    got = asyncio.run(asyncio.wait_for(run(), 20))
    assert got == {1: b"PIPED IN\n", 2: b"err\n", 3: STATUS}
