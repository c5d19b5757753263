"""Cluster DNS served over real UDP and TCP inside namespaces the test created.

The DNS server listens in the "node" namespace on the pods' gateway address; a fake
upstream resolver (the node's resolver, for forwarded names) runs in the "outside"
namespace; clients ask from a pod namespace. No packet leaves these namespaces.
"""
from __future__ import annotations

import socket
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from skiff.proxy.dns.server import ClusterDNS, serve
from tests.integration.proxy.netlab import OUTSIDE_IP, POD_GATEWAY, NetLab, NetnsLoop, socket_in
from tests.unit.proxy.builders import endpoint, endpoint_slice, service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab() -> Iterator[NetLab]:
    lab = NetLab()
    try:
        lab.setup()
        lab.add_pod("client", 1)
        yield lab
    finally:
        lab.teardown()


class FakeUpstream(ClusterDNS):
    """Answers example.test (and a big TXT set that does not fit UDP); NXDOMAIN otherwise."""

    asked = 0

    def local_answer(self, query: dns.message.Message) -> dns.message.Message:
        self.asked += 1
        resp = dns.message.make_response(query)
        q = query.question[0]
        if q.name.to_text() == "www.example.test." and q.rdtype == dns.rdatatype.A:
            resp.answer.append(dns.rrset.from_text(q.name, 60, "IN", "A", "192.0.2.55"))
        elif q.name.to_text() == "big.example.test.":
            resp.answer.append(dns.rrset.from_text_list(q.name, 60, "IN", "TXT", [f'"{i:03d}{"x" * 200}"'
                                                                                   for i in range(20)]))
        else:
            resp.set_rcode(dns.rcode.NXDOMAIN)
        return resp


@pytest.fixture
def servers(lab: NetLab) -> Iterator[tuple[ClusterDNS, FakeUpstream]]:
    """Both servers run on loops whose threads live in the lab's namespaces, so the
    cluster DNS's forwarding sockets are in the node namespace too (no route out)."""
    upstream = FakeUpstream()
    cluster = ClusterDNS(upstreams=[(OUTSIDE_IP, 53)])
    cluster.replace("Service", [
        service("web"),
        service("web", ns="shop", cluster_ip=None, clusterIP="None",
                ports=[{"name": "http", "port": 80, "protocol": "TCP"}]),
    ])
    cluster.replace("EndpointSlice", [endpoint_slice("web", [
        endpoint("10.244.0.7", hostname="web-0"), endpoint("10.244.1.7", hostname="web-1")], ns="shop")])
    loops: list[tuple[NetnsLoop, object]] = []
    try:
        for ns, srv, ip in ((lab.outside, upstream, OUTSIDE_IP), (lab.node, cluster, POD_GATEWAY)):
            loop = NetnsLoop(ns)
            loops.append((loop, None))
            loops[-1] = (loop, loop.call(serve(srv, ip, 53)))
        yield cluster, upstream
    finally:
        for loop, stop in loops:
            if stop is not None:
                loop.call(stop())
            loop.close()


def query(lab: NetLab, name: str, rdtype: str, *, tcp: bool = False) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, use_edns=0)
    if tcp:
        with socket_in(lab.pods["client"].ns, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            s.connect((POD_GATEWAY, 53))
            s.setblocking(False)
            return dns.query.tcp(q, POD_GATEWAY, timeout=3, sock=s)
    with socket_in(lab.pods["client"].ns, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        return dns.query.udp(q, POD_GATEWAY, timeout=3, sock=s)


def addresses(resp: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in resp.answer for rd in rrset)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_cluster_names_and_forwarding(lab: NetLab, servers, tcp: bool) -> None:
    cluster, upstream = servers

    def ask(name: str, rdtype: str) -> dns.message.Message:
        return query(lab, name, rdtype, tcp=tcp)
    resp = ask("web.default.svc.cluster.local", "A")
    assert addresses(resp) == ["10.96.0.20"] and resp.flags & dns.flags.AA
    assert addresses(ask("web.shop.svc.cluster.local", "A")) == ["10.244.0.7", "10.244.1.7"]
    assert addresses(ask("web-1.web.shop.svc.cluster.local", "A")) == ["10.244.1.7"]
    srv = ask("_http._tcp.web.shop.svc.cluster.local", "SRV")
    assert addresses(srv) == ["0 100 8080 web-0.web.shop.svc.cluster.local.",
                              "0 100 8080 web-1.web.shop.svc.cluster.local."]
    assert (ask("nope.default.svc.cluster.local", "A")).rcode() == dns.rcode.NXDOMAIN
    assert addresses(ask("20.0.96.10.in-addr.arpa", "PTR")) == ["web.default.svc.cluster.local."]
    # other names go to the upstream
    before = upstream.asked
    assert addresses(ask("www.example.test", "A")) == ["192.0.2.55"]
    assert (ask("missing.example.test", "A")).rcode() == dns.rcode.NXDOMAIN
    assert upstream.asked == before + 2


def test_big_forwarded_answer_truncated_over_udp_complete_over_tcp(lab: NetLab, servers) -> None:
    udp = query(lab, "big.example.test", "TXT")
    assert udp.flags & dns.flags.TC
    tcp = query(lab, "big.example.test", "TXT", tcp=True)
    assert len(addresses(tcp)) == 20
