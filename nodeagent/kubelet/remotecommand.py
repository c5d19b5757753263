"""exec -i/-t and attach on a runtime that serves its streaming URLs as a kubelet expects them:
SPDY/3.1 upgrades speaking the remote-command protocol ``v4.channel.k8s.io``.

Clients reach the agent over WebSockets (``v5``/``v4.channel.k8s.io``, one leading byte per
message naming the stream); kube-apiserver translates those to SPDY before the kubelet, so
containerd's streaming server knows only SPDY for them. The agent translates here, as the
API server would: one SPDY stream per channel (headers ``streamtype`` error, stdin, stdout,
stderr, resize), WebSocket stdin and resize into their streams, the v5 close of stdin as a
FIN, stdout/stderr back as channel 1/2, and the error stream's Status as channel 3 when it
ends (an empty one is Success). Skiff's own engine takes the WebSocket as it is.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from skiff.machinery import spdy
from skiff.machinery.websocket import channel_frames, open_upgrade

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
SUCCESS = json.dumps({"metadata": {}, "status": "Success"}).encode()


def stream_kinds(*, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> list[str]:
    """The streams the runtime waits for, in the order kubectl creates them."""
    kinds = ["error"]
    kinds += ["stdin"] if stdin else []
    kinds += ["stdout"] if stdout else []
    kinds += ["stderr"] if stderr and not tty else []
    kinds += ["resize"] if tty else []
    return kinds


async def relay_as_spdy(ws: Any, url: str, *, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> None:
    """Serve the client's WebSocket through a SPDY remote-command session on the runtime's ``url``."""
    reader, writer = await open_upgrade(url, {"Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v4.channel.k8s.io"})
    enc, parser = spdy.FrameEncoder(), spdy.FrameParser()
    kinds = stream_kinds(stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)
    ids = {kind: 1 + 2 * i for i, kind in enumerate(kinds)}
    channel_of = {ids.get("stdout"): STDOUT, ids.get("stderr"): STDERR}
    lock = asyncio.Lock()

    async def send(*frames: spdy.Frame) -> None:
        async with lock:  # one header-compression context: frames leave in the order they were encoded
            writer.write(b"".join(enc.encode(f) for f in frames))
            await writer.drain()

    await send(*(spdy.SynStream(sid, {"streamtype": [kind]}) for kind, sid in ids.items()))

    async def from_runtime() -> None:
        status, ended = b"", False
        try:
            while not ended and (chunk := await reader.read(65536)):
                for f in parser.feed(chunk):
                    if isinstance(f, spdy.DataFrame):
                        if f.stream_id == ids["error"]:
                            status += f.data
                            ended = ended or f.fin
                        elif f.data and f.stream_id in channel_of:
                            await ws.send_bytes(bytes([channel_of[f.stream_id]]) + f.data)
                    elif isinstance(f, spdy.RstStream) and f.stream_id == ids["error"]:
                        ended = True
                    elif isinstance(f, spdy.Ping) and f.id % 2 == 0:
                        await send(f)
                    elif isinstance(f, spdy.GoAway):
                        ended = True
        finally:
            # the Status, however the runtime ended the session (FIN, reset, GOAWAY or close)
            if status or ended:
                with contextlib.suppress(ConnectionError):
                    await ws.send_bytes(bytes([ERROR]) + (status or SUCCESS))

    async def from_client() -> None:
        async for channel, payload in channel_frames(ws):
            if channel == STDIN and "stdin" in ids and payload:
                await send(spdy.DataFrame(ids["stdin"], payload))
            elif channel == RESIZE and "resize" in ids:
                await send(spdy.DataFrame(ids["resize"], payload))
            elif channel == CLOSE and payload[:1] == bytes([STDIN]) and "stdin" in ids:
                await send(spdy.DataFrame(ids["stdin"], fin=True))

    tasks = [asyncio.ensure_future(from_runtime()), asyncio.ensure_future(from_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        writer.close()
