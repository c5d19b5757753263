"""Cluster DNS answers (pure) and the pod resolv.conf the node agent writes."""
from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from skiff.proxy.dns.records import Rcode, build_index, lookup
from skiff.proxy.dns.resolvconf import pod_resolv_conf
from skiff.proxy.dns.server import ClusterDNS
from tests.unit.proxy.builders import endpoint, endpoint_slice, service

SERVICES = [
    service("web", ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]),
    service("dual", cluster_ip="10.96.0.21", clusterIPs=["10.96.0.21", "fd00:10:96::21"]),
    service("web", ns="shop", cluster_ip=None, clusterIP="None",
            ports=[{"name": "http", "port": 80, "protocol": "TCP"}]),
    service("raw", cluster_ip=None, clusterIP="None", publishNotReadyAddresses=True),
    service("ext", cluster_ip=None, type_="ExternalName", externalName="db.example.org"),
]
SLICES = [
    endpoint_slice("web", [endpoint("10.244.0.5"), endpoint("10.244.1.5")]),
    endpoint_slice("web", [endpoint("10.244.0.7", hostname="web-0"), endpoint("10.244.1.7", hostname="web-1"),
                           endpoint("10.244.2.7", hostname="web-2", ready=False)], ns="shop",
                   ports=[{"name": "http", "port": 8080, "protocol": "TCP"}]),
    endpoint_slice("raw", [endpoint("10.244.0.8", ready=False)]),
]
IDX = build_index(SERVICES, SLICES)

CASES = [
    ("web.default.svc.cluster.local", "A", Rcode.NOERROR, ["10.96.0.20"]),
    ("WEB.Default.svc.cluster.local.", "A", Rcode.NOERROR, ["10.96.0.20"]),
    ("web.default.svc.cluster.local", "AAAA", Rcode.NOERROR, []),  # exists, no IPv6: NODATA
    ("dual.default.svc.cluster.local", "AAAA", Rcode.NOERROR, ["fd00:10:96::21"]),
    ("_http._tcp.web.default.svc.cluster.local", "SRV", Rcode.NOERROR, ["0 100 80 web.default.svc.cluster.local."]),
    ("_http._udp.web.default.svc.cluster.local", "SRV", Rcode.NXDOMAIN, []),
    # headless: ready endpoints only, one record each; StatefulSet pod names
    ("web.shop.svc.cluster.local", "A", Rcode.NOERROR, ["10.244.0.7", "10.244.1.7"]),
    ("web-0.web.shop.svc.cluster.local", "A", Rcode.NOERROR, ["10.244.0.7"]),
    ("web-2.web.shop.svc.cluster.local", "A", Rcode.NXDOMAIN, []),
    ("_http._tcp.web.shop.svc.cluster.local", "SRV", Rcode.NOERROR,
     ["0 100 8080 web-0.web.shop.svc.cluster.local.", "0 100 8080 web-1.web.shop.svc.cluster.local."]),
    ("raw.default.svc.cluster.local", "A", Rcode.NOERROR, ["10.244.0.8"]),  # publishNotReadyAddresses
    ("10-244-0-8.raw.default.svc.cluster.local", "A", Rcode.NOERROR, ["10.244.0.8"]),
    ("ext.default.svc.cluster.local", "A", Rcode.NOERROR, ["db.example.org."]),  # CNAME
    ("nope.default.svc.cluster.local", "A", Rcode.NXDOMAIN, []),
    ("web.nons.svc.cluster.local", "A", Rcode.NXDOMAIN, []),
    ("default.svc.cluster.local", "A", Rcode.NOERROR, []),  # a name with names below it
    ("10-244-3-4.default.pod.cluster.local", "A", Rcode.NOERROR, ["10.244.3.4"]),
    ("20.0.96.10.in-addr.arpa", "PTR", Rcode.NOERROR, ["web.default.svc.cluster.local."]),
    ("7.0.244.10.in-addr.arpa", "PTR", Rcode.NOERROR, ["web-0.web.shop.svc.cluster.local."]),
    ("9.9.9.10.in-addr.arpa", "PTR", Rcode.NOTOURS, []),
    ("example.org", "A", Rcode.NOTOURS, []),
    ("cluster.local.example.org", "A", Rcode.NOTOURS, []),
]


@pytest.mark.parametrize("qname,rdtype,rcode,want", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_lookup(qname: str, rdtype: str, rcode: Rcode, want: list[str]) -> None:
    ans = lookup(IDX, qname, rdtype)
    assert ans.rcode is rcode
    assert sorted(r.rdata for r in ans.records) == sorted(want)


def test_wire_answer_is_authoritative_with_soa_on_nxdomain() -> None:
    d = ClusterDNS()
    d.replace("Service", SERVICES)
    d.replace("EndpointSlice", SLICES)
    resp = d.local_answer(dns.message.make_query("nope.default.svc.cluster.local", "A"))
    assert resp is not None and resp.rcode() == dns.rcode.NXDOMAIN and resp.flags & dns.flags.AA
    assert resp.authority and resp.authority[0].rdtype == dns.rdatatype.SOA
    assert d.local_answer(dns.message.make_query("example.org", "A")) is None
    # an update is seen by the next question
    d.on_event("Service", "DELETED", SERVICES[0])
    resp = d.local_answer(dns.message.make_query("web.default.svc.cluster.local", "A"))
    assert resp is not None and resp.rcode() == dns.rcode.NXDOMAIN


RESOLV_CASES = [
    ({"metadata": {"namespace": "shop"}, "spec": {}}, "nameserver 10.0.2.3\nsearch corp.example\n",
     "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
     "nameserver 10.96.0.10\noptions ndots:5\n"),
    ({"metadata": {"namespace": "shop"}, "spec": {"hostNetwork": True}},
     "nameserver 10.0.2.3\nsearch corp.example\noptions edns0\n",
     "search corp.example\nnameserver 10.0.2.3\noptions edns0\n"),
    ({"metadata": {"namespace": "a"}, "spec": {"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"}}, "",
     "search a.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"),
    ({"metadata": {"namespace": "a"}, "spec": {"dnsPolicy": "None", "dnsConfig": {
        "nameservers": ["192.0.2.1"], "searches": ["x.example"], "options": [{"name": "ndots", "value": "2"}]}}}, "",
     "search x.example\nnameserver 192.0.2.1\noptions ndots:2\n"),
    ({"metadata": {"namespace": "a"}, "spec": {"dnsConfig": {"options": [{"name": "ndots", "value": "1"},
                                                                          {"name": "edns0"}]}}}, "",
     "search a.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:1 edns0\n"),
]


@pytest.mark.parametrize("pod,host,want", RESOLV_CASES,
                         ids=["cluster-first", "host-network", "with-host-net", "none", "options-merge"])
def test_pod_resolv_conf(pod, host, want) -> None:
    assert pod_resolv_conf(pod, host_resolv_conf=host) == want
