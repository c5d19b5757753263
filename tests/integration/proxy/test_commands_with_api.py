"""``skiff proxy`` and ``skiff dns`` against a real ``skiff server``: objects created
through the API become rules in a node namespace, and names in the DNS server.

The proxy runs in the host namespace (to reach the API on loopback) with
``--iptables-netns`` pointing at the test's node namespace; DNS listens on loopback,
with a fake upstream on loopback too.
"""
from __future__ import annotations

import asyncio
import collections
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest

from skiff.client.transport import ApiClient
from skiff.proxy.watch import ENDPOINT_SLICES, SERVICES
from tests.integration.proxy.netlab import NetLab, ask, in_ns
from tests.support.server import RunningServer, free_port

pytestmark = pytest.mark.integration
SKIFF = [sys.executable, "-m", "skiff.cmd.main"]


def wait_for(cond: Callable[[], Any], what: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: process exited with {proc.returncode}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def api(server: RunningServer, fn) -> Any:  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with ApiClient.from_kubeconfig(str(server.kubeconfig)) as c:
            return await fn(c)
    return asyncio.run(go())


def svc_body(name: str, **spec: Any) -> dict[str, Any]:
    # No selector: the EndpointSlice controller leaves it alone and we write its slices, as Kubernetes allows.
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}], **spec}}


def slice_body(svc: str, ips: list[str], *, hostnames: bool = False) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": f"{svc}-1", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": svc}},
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": "node-a",
                           **({"hostname": f"{svc}-{i}"} if hostnames else {})} for i, ip in enumerate(ips)]}


@pytest.fixture(scope="module")
def lab() -> Iterator[NetLab]:
    lab = NetLab()
    try:
        lab.setup()
        for i, name in enumerate(("pod-a", "pod-b"), start=1):
            lab.serve(lab.add_pod(name, i), 8080)
        lab.add_pod("client", 9)
        yield lab
    finally:
        lab.teardown()


def start(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_proxy_programs_services_created_through_the_api(skiff_server_session: RunningServer, lab: NetLab,
                                                          unique_name: str) -> None:
    server = skiff_server_session
    name = unique_name[:50].strip("-")
    proxy = start([*SKIFF, "proxy", "--kubeconfig", str(server.kubeconfig), "--node-name", "node-a",
                   "--cluster-cidr", "10.244.0.0/16", "--iptables-netns", f"/run/netns/{lab.node}",
                   "--min-sync-period", "0.1"])
    try:
        svc = api(server, lambda c: c.create(SERVICES, svc_body(name)))
        cluster_ip = svc["spec"]["clusterIP"]
        assert cluster_ip.startswith("10.")
        client = lab.pods["client"].ns

        def save() -> str:
            return in_ns(lab.node, "iptables-save", "-t", "nat")

        # no endpoints yet: refused (REJECT), once the proxy has synced the Service
        wait_for(lambda: cluster_ip in in_ns(lab.node, "iptables-save", "-t", "filter"), "REJECT rule", proc=proxy)
        with pytest.raises(ConnectionRefusedError):
            ask(client, cluster_ip, 80)

        api(server, lambda c: c.create(ENDPOINT_SLICES, slice_body(name, [lab.pods["pod-a"].ip,
                                                                         lab.pods["pod-b"].ip])))
        wait_for(lambda: lab.pods["pod-b"].ip in save(), "DNAT rules for both pods", proc=proxy)
        seen = collections.Counter(ask(client, cluster_ip, 80).split()[0] for _ in range(60))
        assert set(seen) == {"pod-a", "pod-b"}

        current = api(server, lambda c: c.get(ENDPOINT_SLICES, f"{name}-1", namespace="default"))
        current["endpoints"] = slice_body(name, [lab.pods["pod-a"].ip])["endpoints"]
        api(server, lambda c: c.update(ENDPOINT_SLICES, current))
        wait_for(lambda: lab.pods["pod-b"].ip not in save(), "pod-b's rules gone", proc=proxy)
        assert {ask(client, cluster_ip, 80).split()[0] for _ in range(30)} == {"pod-a"}

        api(server, lambda c: c.delete(SERVICES, name, namespace="default"))
        wait_for(lambda: cluster_ip not in save(), "the Service's rules gone", proc=proxy)
    finally:
        stop(proxy)
        api(server, lambda c: c.delete_collection(ENDPOINT_SLICES, namespace="default",
                                                  label_selector=f"kubernetes.io/service-name={name}"))


def test_dns_answers_services_created_through_the_api(skiff_server_session: RunningServer,
                                                       unique_name: str) -> None:
    server = skiff_server_session
    name = unique_name[:40].strip("-")
    port = free_port()
    # the "node's resolver": a port on loopback where nothing listens answers nothing; cluster names must not need it
    dns_proc = start([*SKIFF, "dns", "--kubeconfig", str(server.kubeconfig), "--listen", f"127.0.0.1:{port}",
                      "--upstream", f"127.0.0.1:{free_port()}"])
    try:
        svc = api(server, lambda c: c.create(SERVICES, svc_body(name)))
        api(server, lambda c: c.create(SERVICES, svc_body(f"{name}-h", clusterIP="None")))
        api(server, lambda c: c.create(ENDPOINT_SLICES, slice_body(f"{name}-h", ["10.244.0.11", "10.244.0.12"],
                                                                   hostnames=True)))

        def a(qname: str) -> list[str] | None:
            try:
                resp = dns.query.udp(dns.message.make_query(qname, "A"), "127.0.0.1", port=port, timeout=1)
            except (dns.exception.Timeout, OSError):
                return None
            if resp.rcode() != dns.rcode.NOERROR:
                return None
            return sorted(rd.to_text() for rrset in resp.answer for rd in rrset)

        assert wait_for(lambda: a(f"{name}.default.svc.cluster.local"), "the Service's A record",
                        proc=dns_proc) == [svc["spec"]["clusterIP"]]
        assert wait_for(lambda: a(f"{name}-h.default.svc.cluster.local"), "headless A records",
                        proc=dns_proc) == ["10.244.0.11", "10.244.0.12"]
        assert a(f"{name}-h-1.{name}-h.default.svc.cluster.local") == ["10.244.0.12"]
        api(server, lambda c: c.delete(SERVICES, name, namespace="default"))
        wait_for(lambda: a(f"{name}.default.svc.cluster.local") is None, "NXDOMAIN after delete", proc=dns_proc)
    finally:
        stop(dns_proc)
        for n in (name, f"{name}-h"):
            try:
                api(server, lambda c: c.delete(SERVICES, n, namespace="default"))
            except Exception:  # noqa: BLE001 - already gone
                pass
        api(server, lambda c: c.delete_collection(ENDPOINT_SLICES, namespace="default",
                                                  label_selector=f"kubernetes.io/service-name={name}-h"))
