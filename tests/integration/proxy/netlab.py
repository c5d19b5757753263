"""A node and its pods as network namespaces, for testing proxy rules with real packets.

Topology (all inside namespaces this module creates; the host's network is never
touched): a "node" namespace routes to each "pod" namespace over its own veth pair
(pod /32 address, default route via 10.244.0.1, as a routed CNI does), to an "outside"
namespace on 10.250.0.0/24 (the node's address there is ``NODE_IP``), and has a dummy
veth holding the route to the Service range, so unmatched Service traffic is
forwarded (and then REJECTed by the proxy's filter rules) instead of unroutable.

Pods run ``echo_server.py`` (TCP and UDP, replying "<name> <peer address>"). Clients
open sockets inside a namespace from a short-lived thread that ``setns()``es first.
"""
from __future__ import annotations

import ctypes
import os
import secrets
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNET = 0x40000000
NODE_IP = "10.250.0.1"
OUTSIDE_IP = "10.250.0.2"
POD_GATEWAY = "10.244.0.1"
ECHO = Path(__file__).with_name("echo_server.py")
_libc = ctypes.CDLL(None, use_errno=True)


def sh(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc.stdout


def in_ns(ns: str, *argv: str) -> str:
    return sh("nsenter", f"--net=/run/netns/{ns}", *argv)


def socket_in(ns: str, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket living in namespace ``ns`` (network namespaces are per thread; the socket keeps its own)."""
    result: list[socket.socket | BaseException] = []

    def make() -> None:
        try:
            enter_netns(ns)
            result.append(socket.socket(socket.AF_INET, kind))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            result.append(exc)

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def ask(ns: str, ip: str, port: int, *, proto: str = "tcp", timeout: float = 2.0) -> str:
    """One request from namespace ``ns``; returns the reply line. Raises ConnectionRefusedError etc."""
    if proto == "udp":
        with socket_in(ns, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(b"who\n", (ip, port))
            return s.recv(512).decode().strip()
    with socket_in(ns) as s:
        s.settimeout(timeout)
        s.connect((ip, port))
        s.sendall(b"who\n")
        return s.makefile().readline().strip()


@dataclass
class Pod:
    name: str
    ns: str
    ip: str
    proc: subprocess.Popen[str] | None = None


@dataclass
class NetLab:
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    pods: dict[str, Pod] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)

    @property
    def node(self) -> str:
        return f"skn-{self.tag}"

    @property
    def outside(self) -> str:
        return f"sko-{self.tag}"

    def _add_ns(self, name: str) -> None:
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def setup(self) -> None:
        self._add_ns(self.node)
        in_ns(self.node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # A veth pair with both ends in the node (no dummy module here): a place the route can point at.
        sh("ip", "-n", self.node, "link", "add", "svc0", "type", "veth", "peer", "name", "svc1")
        sh("ip", "-n", self.node, "link", "set", "svc1", "up")
        sh("ip", "-n", self.node, "link", "set", "svc0", "up")
        sh("ip", "-n", self.node, "route", "add", "10.96.0.0/12", "dev", "svc0")
        self._add_ns(self.outside)
        sh("ip", "link", "add", f"so{self.tag}", "netns", self.node, "type", "veth", "peer", "name", "eth0",
           "netns", self.outside)
        sh("ip", "-n", self.node, "addr", "add", f"{NODE_IP}/24", "dev", f"so{self.tag}")
        sh("ip", "-n", self.node, "link", "set", f"so{self.tag}", "up")
        sh("ip", "-n", self.outside, "addr", "add", f"{OUTSIDE_IP}/24", "dev", "eth0")
        sh("ip", "-n", self.outside, "link", "set", "eth0", "up")

    def add_pod(self, name: str, index: int) -> Pod:
        ns = f"skp-{self.tag}-{index}"
        ip = f"10.244.0.{10 + index}"
        self._add_ns(ns)
        host_if = f"sp{self.tag}{index}"
        sh("ip", "link", "add", host_if, "netns", self.node, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "-n", self.node, "addr", "add", f"{POD_GATEWAY}/32", "dev", host_if)
        sh("ip", "-n", self.node, "link", "set", host_if, "up")
        sh("ip", "-n", self.node, "route", "add", f"{ip}/32", "dev", host_if)
        sh("ip", "-n", ns, "addr", "add", f"{ip}/32", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "route", "add", POD_GATEWAY, "dev", "eth0")
        sh("ip", "-n", ns, "route", "add", "default", "via", POD_GATEWAY)
        pod = Pod(name, ns, ip)
        self.pods[name] = pod
        return pod

    def serve(self, pod: Pod, port: int) -> None:
        """Start the echo server in ``pod`` and wait until it listens."""
        pod.proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{pod.ns}", sys.executable, str(ECHO), pod.name,
                                     str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert pod.proc.stdout is not None
        line = pod.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"echo server in {pod.name} did not start: {line} {pod.proc.stderr.read()}")

    def teardown(self) -> None:
        for pod in self.pods.values():
            if pod.proc is not None and pod.proc.poll() is None:
                pod.proc.kill()
                pod.proc.wait()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def enter_netns(ns: str) -> None:
    """Move the calling thread into namespace ``ns`` (for good: use a thread of its own)."""
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns}")
    finally:
        os.close(fd)


class NetnsLoop:
    """An asyncio loop on a thread living in namespace ``ns``: every socket it opens
    (listening or outgoing, e.g. a DNS server's forwarding) is inside that namespace."""

    def __init__(self, ns: str) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        self._error: list[BaseException] = []
        started = threading.Event()

        def main() -> None:
            try:
                enter_netns(ns)
            except BaseException as exc:  # noqa: BLE001
                self._error.append(exc)
                started.set()
                return
            asyncio.set_event_loop(self.loop)
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        started.wait()
        if self._error:
            raise self._error[0]

    def call(self, coro, timeout: float = 30.0):  # type: ignore[no-untyped-def]
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
