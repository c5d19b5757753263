"""hostPort (DNAT from the node's addresses to the pod) and SNAT of pod traffic leaving the
cluster, end to end: the rules live in the node's network namespace only. An "outside"
namespace the test makes is joined to the node by a veth and has no route to the pods.
Fixtures of test_agent_pods.
"""
from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.agent.test_agent_pods import NODE_ADDR, Cluster, cluster, pod_manifest, ready_node  # noqa: F401
from tests.integration.agent.test_agent_volumes import delete_pod, kubelet_events, phase
from tests.support.engine import stop_process

pytestmark = pytest.mark.integration
NODE_SIDE, OUTSIDE = "10.250.0.1", "10.250.0.2"
HOST_PORT = 18080
OUTSIDE_PORT = 18090


@dataclass
class Outside:
    netns: str
    http_log: Path

    def fetch(self, url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nsenter", f"--net=/run/netns/{self.netns}", sys.executable, "-c",
                               f"import urllib.request as u; print(u.urlopen('{url}', timeout=5).read().decode())"],
                              capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def outside(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outside]:
    name = f"skiffout-{uuid.uuid4().hex[:8]}"
    work = tmp_path_factory.mktemp("outside")
    (work / "hello").write_text("from outside\n")
    node = ["nsenter", f"--net=/run/netns/{cluster.netns}"]
    out = ["nsenter", f"--net=/run/netns/{name}"]
    subprocess.run(["ip", "netns", "add", name], check=True)
    server = None
    try:
        for cmd in ([*node, "ip", "link", "add", "xn0", "type", "veth", "peer", "name", "xo0", "netns", name],
                    [*node, "ip", "addr", "add", f"{NODE_SIDE}/24", "dev", "xn0"], [*node, "ip", "link", "set", "xn0", "up"],
                    [*out, "ip", "addr", "add", f"{OUTSIDE}/24", "dev", "xo0"], [*out, "ip", "link", "set", "xo0", "up"],
                    [*out, "ip", "link", "set", "lo", "up"]):
            subprocess.run(cmd, check=True, capture_output=True)
        log = work / "http.log"
        with open(log, "wb") as f:
            server = subprocess.Popen([*out, sys.executable, "-u", "-m", "http.server", str(OUTSIDE_PORT), "--bind",
                                       OUTSIDE, "--directory", str(work)], stdout=f, stderr=subprocess.STDOUT)
        cluster.wait(lambda: "Serving HTTP" in log.read_text(), "the outside HTTP server")
        yield Outside(name, log)
    finally:
        if server is not None:
            stop_process(server, 10)
        subprocess.run(["ip", "netns", "del", name], check=False)  # takes the veth pair with it


def node_iptables(cluster: Cluster) -> str:
    return subprocess.run(["nsenter", f"--net=/run/netns/{cluster.netns}", "iptables", "-w", "-t", "nat", "-S"],
                          capture_output=True, text=True, check=True).stdout


def test_host_port_reaches_the_pod_from_outside_the_node_and_from_pods(cluster: Cluster, outside: Outside) -> None:
    name = f"hp-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, containers=[
        {"name": "web", "image": cluster.image, "ports": [{"containerPort": 8080, "hostPort": HOST_PORT}],
         "command": ["sh", "-c", f"mkdir -p /www && echo page-of-{name} > /www/index.html && "
                     "exec httpd -f -p 8080 -h /www"]}]))
    cluster.wait(lambda: phase(cluster, name) == "Running", "hostPort pod Running")
    page = f"page-of-{name}\n"
    # from another machine, to the node's address on that link
    cluster.wait(lambda: outside.fetch(f"http://{NODE_SIDE}:{HOST_PORT}/").stdout == page + "\n",
                 "the page through the node's hostPort from outside")
    # from the node itself, to its own address
    node = subprocess.run(["nsenter", f"--net=/run/netns/{cluster.netns}", sys.executable, "-c",
                           f"import urllib.request as u; print(u.urlopen('http://{NODE_ADDR}:{HOST_PORT}/').read().decode())"],
                          capture_output=True, text=True, timeout=30)
    assert node.stdout == page + "\n", node.stderr
    # from a neighbour pod on the same bridge, and from the pod itself (hairpin)
    client = f"hpc-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(client, cluster.image, containers=[
        {"name": "main", "image": cluster.image, "command": ["sleep", "3600"]}]))
    cluster.wait(lambda: phase(cluster, client) == "Running", "client pod Running")
    got = cluster.kubectl("exec", client, "--", "timeout", "10", "wget", "-qO-", f"http://{NODE_ADDR}:{HOST_PORT}/",
                          check=False)
    assert got.stdout == page, got.stderr
    hairpin = cluster.kubectl("exec", name, "--", "timeout", "10", "wget", "-qO-", f"http://{NODE_ADDR}:{HOST_PORT}/",
                              check=False)
    assert hairpin.stdout == page, hairpin.stderr
    # a second pod wanting the same port on this node gets no sandbox, and says why
    clash = f"hpclash-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(clash, cluster.image, nodeName="node-a", containers=[
        {"name": "web", "image": cluster.image, "ports": [{"containerPort": 80, "hostPort": HOST_PORT}],
         "command": ["sleep", "3600"]}]))
    want = f"host port {HOST_PORT}/TCP is already used by pod default/{name}"
    cluster.wait(lambda: any(r == "FailedCreatePodSandBox" and m.startswith("Failed to create pod sandbox: ")
                             and want in m for r, m in kubelet_events(cluster, clash)), "the clash reported")
    assert phase(cluster, clash) == "Pending"
    delete_pod(cluster, clash)
    rules = node_iptables(cluster)
    assert f"--dport {HOST_PORT}" in rules and "SKIFFNODE-HOSTPORTS" in rules
    # the rules are in the node's namespace, not the machine's (read only)
    host = subprocess.run(["iptables", "-w", "-t", "nat", "-S", "SKIFFNODE-HOSTPORTS"], capture_output=True, text=True)
    assert host.returncode != 0 or f"--dport {HOST_PORT}" not in host.stdout

    delete_pod(cluster, name)
    assert f"--dport {HOST_PORT}" not in node_iptables(cluster)
    gone = outside.fetch(f"http://{NODE_SIDE}:{HOST_PORT}/")
    assert gone.returncode != 0
    delete_pod(cluster, client)


def test_pod_traffic_leaving_the_cluster_is_masqueraded(cluster: Cluster, outside: Outside) -> None:
    name = f"snat-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, containers=[
        {"name": "main", "image": cluster.image, "command": ["sleep", "3600"]}]))
    cluster.wait(lambda: phase(cluster, name) == "Running", "pod Running")
    # the outside has no route to the pods: only a masqueraded connection gets an answer
    got = cluster.kubectl("exec", name, "--", "timeout", "10", "wget", "-qO-", f"http://{OUTSIDE}:{OUTSIDE_PORT}/hello",
                          check=False)
    assert got.stdout == "from outside\n", got.stderr
    seen = [line for line in outside.http_log.read_text().splitlines() if "GET /hello" in line]
    assert seen and all(line.startswith(f"{NODE_SIDE} ") for line in seen), seen
    rules = node_iptables(cluster)
    pod_cidr = cluster.get("node", "node-a")["spec"]["podCIDR"]
    assert f"-A SKIFFNODE-POD-MASQ -d {pod_cidr} -j RETURN" in rules
    delete_pod(cluster, name)
