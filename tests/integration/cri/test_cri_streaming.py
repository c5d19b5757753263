"""CRI ``PortForward`` and ``Attach``: the URLs the engine returns, driven as the kubelet's
clients drive them — a SPDY/3.1 session (kubectl's tunnel) and v4 channels (the Python
client) to a port that listens only on the pod's loopback, and a v5 attach to a container
reading stdin. The streaming server listens on the engine's loopback, inside the test's
namespace, so the clients run in a thread that entered it.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import aiohttp
import grpc
import pytest

from skiff.machinery import spdy
from skiff.nodeagent.runtime.cri import api_pb2 as pb
from tests.integration.cri.conftest import Cri
from tests.integration.cri.test_cri_server import container_config, network, run_container, sandbox_config
from tests.support.engine import wait_for
from tests.support.netns_api import enter_netns

pytestmark = pytest.mark.integration
__all__ = ["network"]  # the module fixture, shared
T = TypeVar("T")
REQUEST = b"GET / HTTP/1.0\r\n\r\n"


def in_netns(cri: Cri, talk: Callable[[], Awaitable[T]]) -> T:
    with ThreadPoolExecutor(1, initializer=enter_netns, initargs=(cri.netns,)) as pool:
        return pool.submit(lambda: asyncio.run(asyncio.wait_for(talk(), 60))).result()


async def spdy_forward(url: str, port: int) -> tuple[bytes, bytes]:
    """kubectl's way: error stream, data stream, the request, then read to the data stream's FIN."""
    enc, parser = spdy.FrameEncoder(), spdy.FrameParser()
    data, error, fins = b"", b"", set()
    async with aiohttp.ClientSession() as s, s.ws_connect(url, protocols=("SPDY/3.1+portforward.k8s.io",)) as ws:
        assert ws.protocol == "SPDY/3.1+portforward.k8s.io"
        h = {"port": [str(port)], "requestid": ["0"]}
        await ws.send_bytes(enc.encode(spdy.SynStream(1, {"streamtype": ["error"], **h})) +
                            enc.encode(spdy.DataFrame(1, fin=True)) + enc.encode(spdy.Ping(1)) +
                            enc.encode(spdy.SynStream(3, {"streamtype": ["data"], **h})) +
                            enc.encode(spdy.DataFrame(3, REQUEST)))
        replies, pong = set(), False
        async for msg in ws:
            for f in parser.feed(msg.data):
                if isinstance(f, spdy.SynReply):
                    replies.add(f.stream_id)
                elif isinstance(f, spdy.Ping):
                    pong = f.id == 1
                elif isinstance(f, spdy.DataFrame):
                    if f.stream_id == 3:
                        data += f.data
                    else:
                        error += f.data
                    if f.fin:
                        fins.add(f.stream_id)
            if fins == {1, 3}:
                break
        assert replies == {1, 3} and pong
    return data, error


async def spdy_upgraded_forward(url: str, port: int) -> tuple[bytes, bytes]:
    """What the agent (as a kubelet) sends a runtime: the same session over a plain SPDY upgrade."""
    from skiff.machinery.websocket import open_upgrade

    reader, writer = await open_upgrade(url, {"Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "portforward.k8s.io"})
    enc, parser = spdy.FrameEncoder(), spdy.FrameParser()
    h = {"port": [str(port)], "requestid": ["7"]}
    writer.write(enc.encode(spdy.SynStream(1, {"streamtype": ["error"], **h})) + enc.encode(spdy.DataFrame(1, fin=True))
                 + enc.encode(spdy.SynStream(3, {"streamtype": ["data"], **h})) + enc.encode(spdy.DataFrame(3, REQUEST))
                 + enc.encode(spdy.DataFrame(3, fin=True)))
    data, error, fins = b"", b"", set()
    while fins != {1, 3} and (chunk := await reader.read(65536)):
        for f in parser.feed(chunk):
            if isinstance(f, spdy.DataFrame):
                if f.stream_id == 3:
                    data += f.data
                else:
                    error += f.data
                if f.fin:
                    fins.add(f.stream_id)
    writer.close()
    return data, error


async def channel_forward(url: str, ports: list[int]) -> dict[int, bytes]:
    """The Python client's way: v4 channels, each channel's first message the port."""
    got: dict[int, bytes] = {}
    async with aiohttp.ClientSession() as s, s.ws_connect(url, protocols=("v4.channel.k8s.io",)) as ws:
        for i in range(len(ports)):
            await ws.send_bytes(bytes([2 * i]) + REQUEST)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                got[msg.data[0]] = got.get(msg.data[0], b"") + msg.data[1:]
    return got


def test_port_forward_reaches_the_pods_loopback(network: Cri, tmp_path: Path) -> None:
    cri = network
    sconf = sandbox_config("pf", tmp_path / "logs")
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sconf), timeout=60).pod_sandbox_id
    try:
        cid = run_container(cri, sid, sconf, container_config(
            "httpd", cri, "mkdir -p /www && echo hello-from-loopback > /www/index.html && "
                          "exec httpd -f -p 127.0.0.1:8080 -h /www"))
        wait_for(lambda: cri.runtime.ExecSync(pb.ExecSyncRequest(
            container_id=cid, cmd=["sh", "-c", "echo | nc -w 2 127.0.0.1 8080"], timeout=5), timeout=10).exit_code == 0,
            timeout=30, what="httpd listening")

        def url(*ports: int) -> str:
            return cri.runtime.PortForward(pb.PortForwardRequest(pod_sandbox_id=sid, port=list(ports)), timeout=10).url

        data, error = in_netns(cri, lambda: spdy_forward(url(), 8080))
        assert data.startswith(b"HTTP/1.") and data.endswith(b"hello-from-loopback\n") and error == b""
        data, error = in_netns(cri, lambda: spdy_upgraded_forward(url(), 8080))
        assert data.endswith(b"hello-from-loopback\n") and error == b""
        data, error = in_netns(cri, lambda: spdy_forward(url(), 8081))
        assert data == b"" and error.decode().startswith(f"error forwarding port 8081 to pod {sid}, uid : ")
        assert "IPv4: dial tcp4 127.0.0.1:8081: connect: connection refused" in error.decode()

        got = in_netns(cri, lambda: channel_forward(url(8080, 8081), [8080, 8081]))
        assert got[0][:2] == (8080).to_bytes(2, "little") and got[0].endswith(b"hello-from-loopback\n")
        assert got[1] == (8080).to_bytes(2, "little")  # only the port: no error on port 8080
        assert got[2] == (8081).to_bytes(2, "little")
        assert b"connect: connection refused" in got[3]

        once = url(8080)
        in_netns(cri, lambda: channel_forward(once, [8080]))

        async def again() -> int:
            async with aiohttp.ClientSession() as s:
                try:
                    await s.ws_connect(once, protocols=("v4.channel.k8s.io",))
                except aiohttp.WSServerHandshakeError as exc:
                    return exc.status
            return 101
        assert in_netns(cri, again) == 404  # a URL serves one session

        for req, code in ((pb.PortForwardRequest(pod_sandbox_id="nosuch"), grpc.StatusCode.NOT_FOUND),
                          (pb.PortForwardRequest(pod_sandbox_id=sid, port=[70000]), grpc.StatusCode.INVALID_ARGUMENT)):
            with pytest.raises(grpc.RpcError) as err:
                cri.runtime.PortForward(req, timeout=10)
            assert err.value.code() == code, err.value.details()
    finally:
        cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60)
        cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)


def test_attach_joins_the_containers_own_stdio(network: Cri, tmp_path: Path) -> None:
    cri = network
    sconf = sandbox_config("att", tmp_path / "logs")
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sconf), timeout=60).pod_sandbox_id
    try:
        conf = container_config("reader", cri, "tr a-z A-Z; echo closed >&2")
        conf.stdin, conf.stdin_once = True, True
        cid = run_container(cri, sid, sconf, conf)
        url = cri.runtime.Attach(pb.AttachRequest(container_id=cid, stdin=True, stdout=True, stderr=True),
                                 timeout=10).url

        async def talk() -> dict[int, bytes]:
            got: dict[int, bytes] = {}
            async with aiohttp.ClientSession() as s, s.ws_connect(url, protocols=("v5.channel.k8s.io",)) as ws:
                await ws.send_bytes(b"\x00attached\n")
                await ws.send_bytes(b"\xff\x00")  # v5: the end of stdin; stdinOnce closes the container's
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        got[msg.data[0]] = got.get(msg.data[0], b"") + msg.data[1:]
            return got

        got = in_netns(cri, talk)
        assert (got[1], got[2]) == (b"ATTACHED\n", b"closed\n")
        assert json.loads(got[3])["status"] == "Success"
        wait_for(lambda: cri.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=cid), timeout=10)
                 .status.state == pb.CONTAINER_EXITED, timeout=30, what="the reader to end")
        with pytest.raises(grpc.RpcError) as err:
            cri.runtime.Attach(pb.AttachRequest(container_id=cid, stdout=True), timeout=10)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "is not running" in err.value.details()
    finally:
        cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60)
        cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)
