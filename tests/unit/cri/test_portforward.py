"""The port-forward session of the CRI streaming server, driven the way kubectl drives it
(error stream, data stream, bytes, FIN) through an in-memory transport; the "pod" is an
asyncio server on loopback reached through the injected dial."""
from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from skiff.machinery import spdy
from skiff.nodeagent.runtime.cri import portforward


class Client:
    """The kubectl side: encodes its frames, decodes the server's."""

    def __init__(self) -> None:
        self.enc, self.parser = spdy.FrameEncoder(), spdy.FrameParser()
        self.got: list[spdy.Frame] = []
        self.arrived = asyncio.Event()

    async def receive(self, data: bytes) -> None:
        self.got += self.parser.feed(data)
        self.arrived.set()

    def wire(self, *frames: spdy.Frame) -> bytes:
        return b"".join(self.enc.encode(f) for f in frames)

    async def wait_for(self, pred: Callable[[list[spdy.Frame]], bool]) -> None:
        async def loop() -> None:
            while not pred(self.got):
                self.arrived.clear()
                await self.arrived.wait()
        await asyncio.wait_for(loop(), 10)

    def data(self, sid: int) -> bytes:
        return b"".join(f.data for f in self.got if isinstance(f, spdy.DataFrame) and f.stream_id == sid)

    def fin(self, sid: int) -> bool:
        return any(isinstance(f, spdy.DataFrame) and f.stream_id == sid and f.fin for f in self.got)


def streams(port: int, request: str, error_id: int, data_id: int) -> list[spdy.Frame]:
    h = {"port": [str(port)], "requestid": [request]}
    return [spdy.SynStream(error_id, {"streamtype": ["error"], **h}), spdy.DataFrame(error_id, fin=True),
            spdy.SynStream(data_id, {"streamtype": ["data"], **h})]


async def with_pod(body: Callable[[int, portforward.Dial], Awaitable[None]]) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.read(1000)
        writer.write(b"pod says: " + request.upper())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def dial(p: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", p)

    try:
        await body(port, dial)
    finally:
        server.close()
        await server.wait_closed()


def test_two_connections_are_forwarded_and_half_closed() -> None:
    async def body(port: int, dial: portforward.Dial) -> None:
        c = Client()
        s = portforward.SpdyPortForward(c.receive, dial, pod="sb1")
        assert await s.feed(c.wire(*streams(port, "0", 1, 3), *streams(port, "1", 5, 7)))
        await c.wait_for(lambda got: sum(isinstance(f, spdy.SynReply) for f in got) == 4)
        assert await s.feed(c.wire(spdy.DataFrame(3, b"hello"), spdy.DataFrame(7, b"again")))
        await c.wait_for(lambda got: c.fin(3) and c.fin(7) and c.fin(1) and c.fin(5))
        assert (c.data(3), c.data(7)) == (b"pod says: HELLO", b"pod says: AGAIN")
        assert c.data(1) == c.data(5) == b""  # no error
        await s.close()
    asyncio.run(with_pod(body))


def test_data_sent_in_one_chunk_with_the_syn_arrives_after_the_dial() -> None:
    async def body(port: int, dial: portforward.Dial) -> None:
        c = Client()
        s = portforward.SpdyPortForward(c.receive, dial, pod="sb1")
        wire = c.wire(*streams(port, "9", 1, 3), spdy.DataFrame(3, b"early"))
        for i in range(0, len(wire), 7):  # WebSocket messages cut anywhere
            assert await s.feed(wire[i:i + 7])
        await c.wait_for(lambda got: c.fin(3))
        assert c.data(3) == b"pod says: EARLY"
        await s.close()
    asyncio.run(with_pod(body))


def test_a_refused_dial_is_reported_on_the_error_stream() -> None:
    async def body(port: int, dial: portforward.Dial) -> None:
        async def refuse(p: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            raise OSError(f"failed to connect to localhost:{p} inside namespace 'sb1', connection refused")
        c = Client()
        s = portforward.SpdyPortForward(c.receive, refuse, pod="sb1")
        assert await s.feed(c.wire(*streams(81, "0", 1, 3)))
        await c.wait_for(lambda got: c.fin(1) and c.fin(3))
        assert c.data(1).decode() == ("error forwarding port 81 to pod sb1, uid : failed to connect to "
                                      "localhost:81 inside namespace 'sb1', connection refused")
        await s.close()
    asyncio.run(with_pod(body))


def test_pings_are_answered_and_bad_streams_refused() -> None:
    async def body(port: int, dial: portforward.Dial) -> None:
        c = Client()
        s = portforward.SpdyPortForward(c.receive, dial, pod="sb1")
        assert await s.feed(c.wire(spdy.Ping(1), spdy.Ping(2), spdy.Settings([(0, 4, 100)]),
                                   spdy.SynStream(1, {"streamtype": ["data"], "port": ["x"]}),
                                   spdy.SynStream(3, {"streamtype": ["bogus"], "port": ["80"]}),
                                   spdy.DataFrame(99, b"nobody")))
        await c.wait_for(lambda got: len(got) == 4)
        assert c.got == [spdy.Ping(1), spdy.RstStream(1, spdy.REFUSED_STREAM), spdy.RstStream(3, spdy.REFUSED_STREAM),
                         spdy.RstStream(99, spdy.INVALID_STREAM)]
        assert not await s.feed(c.wire(spdy.GoAway(3)))
        await s.close()
    asyncio.run(with_pod(body))


def test_garbage_ends_the_session_with_goaway() -> None:
    async def body(port: int, dial: portforward.Dial) -> None:
        c = Client()
        s = portforward.SpdyPortForward(c.receive, dial, pod="sb1")
        assert not await s.feed(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")
        await c.wait_for(lambda got: len(got) == 1)
        assert c.got == [spdy.GoAway(0, spdy.GOAWAY_PROTOCOL_ERROR)]
    asyncio.run(with_pod(body))


@pytest.mark.parametrize("values,ports", [(["80"], [80]), (["80,8080", "443"], [80, 8080, 443]), ([], [])])
def test_ports_query(values: list[str], ports: list[int]) -> None:
    assert portforward.parse_ports(values) == ports


@pytest.mark.parametrize("values", [["0"], ["65536"], ["http"], ["80,"]])
def test_bad_ports_query(values: list[str]) -> None:
    with pytest.raises(ValueError, match="invalid port"):
        portforward.parse_ports(values)


def test_port_prefix_is_little_endian() -> None:
    assert portforward.port_prefix(8080) == bytes([0x90, 0x1F])


def test_dial_in_this_namespace_connects_or_names_both_families() -> None:
    """No netns file: the dial runs in a thread of its own in this namespace (loopback only)."""
    async def body(port: int, dial: portforward.Dial) -> None:
        reader, writer = await portforward.dial_in_netns("", port, what="sb1")
        writer.write(b"hi")
        assert await reader.read() == b"pod says: HI"
        writer.close()
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        with pytest.raises(OSError, match=f"failed to connect to localhost:{closed} inside namespace 'sb1', "
                                          f"IPv4: dial tcp4 127.0.0.1:{closed}: connect: connection refused"):
            await portforward.dial_in_netns("", closed, what="sb1")
    asyncio.run(with_pod(body))
