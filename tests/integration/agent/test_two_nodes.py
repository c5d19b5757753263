"""Two nodes, each a network namespace with its own engine and agent, on one L2 link: each
agent routes the other node's podCIDR through its address, so a pod on one node reaches a
pod on the other by its IP, and the server sees the client pod's own address (no NAT).
"""
from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from tests.integration.agent.test_agent_pods import Cluster, node_ready, pod_manifest
from tests.support.cri import remove_everything, unmount_all
from tests.support.engine import docker_registry, free_port, network_namespace, push_test_images, skiff_daemon, \
    stop_process, wait_for
from tests.support.server import skiff_server

pytestmark = pytest.mark.integration
LINK = "10.216.0.0/24"
IPS = {"node-a": "10.216.0.1", "node-b": "10.216.0.2"}


@dataclass
class TwoNodes:
    a: Cluster  # kubectl runs in node-a's namespace, where the server is
    netns: dict[str, str]


def _ns(name: str, *argv: str) -> None:
    subprocess.run(["nsenter", f"--net=/run/netns/{name}", *argv], check=True, capture_output=True)


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoNodes]:
    work = tmp_path_factory.mktemp("two")
    ns_b = f"skiff-b-{uuid.uuid4().hex[:8]}"
    with network_namespace("10.217.0.1/24") as ns_a:
        subprocess.run(["ip", "netns", "add", ns_b], check=True)
        agents: list[subprocess.Popen[bytes]] = []
        try:
            _ns(ns_b, "ip", "link", "set", "lo", "up")
            _ns(ns_a, "ip", "link", "add", "la", "type", "veth", "peer", "name", "lb", "netns", ns_b)
            _ns(ns_a, "ip", "addr", "add", f"{IPS['node-a']}/24", "dev", "la")
            _ns(ns_a, "ip", "link", "set", "la", "up")
            _ns(ns_b, "ip", "addr", "add", f"{IPS['node-b']}/24", "dev", "lb")
            _ns(ns_b, "ip", "link", "set", "lb", "up")
            with ExitStack() as stack:
                reg = stack.enter_context(docker_registry(work / "registry", netns=ns_a, bind=IPS["node-a"]))
                push_test_images(reg, only="busybox")
                server = stack.enter_context(skiff_server(
                    work / "server", netns=ns_a, args=("--listen", f"{IPS['node-a']}:{free_port()}")))
                token = (server.data_dir / "token").read_text().strip()
                clusters = {}
                for node, ns in (("node-a", ns_a), ("node-b", ns_b)):
                    sock = work / node / "cri.sock"
                    d = stack.enter_context(skiff_daemon(work / node / "engine", netns=ns, args=(
                        "--cri", f"unix://{sock}", "--insecure-registry", LINK)))
                    stack.callback(remove_everything, sock, d)
                    wait_for(sock.exists, timeout=20, what="CRI socket", proc=d.process, log=d.log)
                    log = work / node / "agent.log"
                    with open(log, "ab") as out:
                        agents.append(subprocess.Popen(
                            ["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-m", "skiff.cmd.main", "agent",
                             "--server", server.url, "--token", token, "--node-name", node,
                             "--root", str(work / node / "agent"), "--runtime-endpoint", f"unix://{sock}",
                             "--ca-file", str(server.data_dir / "pki" / "ca.crt"), "--node-ip", IPS[node]],
                            stdout=out, stderr=subprocess.STDOUT))
                    clusters[node] = Cluster(ns, server, d, sock, f"{reg.host}/busybox:latest", log)
                # agents stop before their engines are emptied (callbacks run last-in first-out)
                stack.callback(lambda: [stop_process(a, 20) for a in agents])
                a = clusters["node-a"]
                for node in IPS:
                    a.wait(lambda n=node: (o := a.get("node", n)) and node_ready(o)
                           and (o.get("spec") or {}).get("podCIDR"), f"{node} Ready")
                stack.callback(a.close)
                yield TwoNodes(a, {"node-a": ns_a, "node-b": ns_b})
        finally:
            for p in agents:
                stop_process(p, 20)
            unmount_all(work)
            subprocess.run(["ip", "netns", "del", ns_b], check=False)


def routes(ns: str) -> str:
    return subprocess.run(["nsenter", f"--net=/run/netns/{ns}", "ip", "-4", "route", "show", "proto", "177"],
                          capture_output=True, text=True).stdout


def test_each_node_routes_the_other_podcidr(two: TwoNodes) -> None:
    cidr = {n: two.a.get("node", n)["spec"]["podCIDR"] for n in IPS}
    two.a.wait(lambda: f"{cidr['node-b']} via {IPS['node-b']}" in routes(two.netns["node-a"]), "route on node-a")
    two.a.wait(lambda: f"{cidr['node-a']} via {IPS['node-a']}" in routes(two.netns["node-b"]), "route on node-b")


def test_pod_to_pod_across_nodes_without_nat(two: TwoNodes) -> None:
    k = two.a
    # httpd -v logs each request's client address: the server pod sees the client pod's own IP
    script = "mkdir -p /www && echo pong > /www/index.html && exec httpd -f -vv -p 8080 -h /www"
    k.kubectl("apply", "-f", "-", input=pod_manifest("server", k.image, nodeName="node-a", containers=[
        {"name": "httpd", "image": k.image, "command": ["sh", "-c", script]}]))
    k.kubectl("apply", "-f", "-", input=pod_manifest("client", k.image, nodeName="node-b", containers=[
        {"name": "sh", "image": k.image, "command": ["sleep", "3600"]}]))
    pods = {}
    for name in ("server", "client"):
        pods[name] = k.wait(lambda n=name: (p := k.get("pod", n)) and (p.get("status") or {}).get("phase") == "Running" and p,
                            f"{name} Running")
    server_ip, client_ip = pods["server"]["status"]["podIP"], pods["client"]["status"]["podIP"]
    cidrs = {n: ipaddress.ip_network(k.get("node", n)["spec"]["podCIDR"]) for n in IPS}
    assert ipaddress.ip_address(server_ip) in cidrs["node-a"]
    assert ipaddress.ip_address(client_ip) in cidrs["node-b"]
    assert pods["client"]["status"]["hostIP"] == IPS["node-b"]
    url = f"http://{server_ip}:8080/"
    r = k.wait(lambda: (r := k.kubectl("exec", "client", "--", "wget", "-qO-", url, check=False)).returncode == 0
               and r, "client reaching the server pod across nodes")
    assert r.stdout == "pong\n"
    own_ip = re.compile(rf"(?<![\d.]){re.escape(client_ip)}(?![\d.])")
    k.wait(lambda: own_ip.search(k.kubectl("logs", "server").stdout),
           f"the client's own address in httpd's log: {k.kubectl('logs', 'server').stdout!r}")
    for name in ("server", "client"):
        k.kubectl("delete", "pod", name, "--wait=false")
    for name in ("server", "client"):
        k.wait(lambda n=name: k.get("pod", n) is None, f"{name} gone")
