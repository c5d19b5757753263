"""The rendered ruleset for a table of Service shapes, against reviewed golden files.

Regenerate after an intended change with ``SKIFF_UPDATE_GOLDEN=1`` and review the diff.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from skiff.proxy.model import Family, NodeInfo
from skiff.proxy.restore import restore_text
from skiff.proxy.rules import render
from tests.unit.proxy.builders import endpoint, endpoint_slice, service

GOLDEN = Path(__file__).parent / "golden"
NODE = NodeInfo("node-a", cluster_cidr="10.244.0.0/16")
TWO = [endpoint("10.244.0.5"), endpoint("10.244.1.5", node="node-b")]
DNS_PORTS = [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
             {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]
DNS_SLICE_PORTS = [{"name": "dns", "port": 5353, "protocol": "UDP"}, {"name": "dns-tcp", "port": 5353, "protocol": "TCP"}]

# id -> (services, slices, node, family)
CASES: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]], NodeInfo, Family]] = {
    "clusterip-two-endpoints": ([service("web")], [endpoint_slice("web", TWO)], NODE, Family.IPV4),
    "clusterip-three-endpoints": ([service("web")], [endpoint_slice("web", [
        endpoint("10.244.0.5"), endpoint("10.244.0.6"), endpoint("10.244.1.5", node="node-b")])], NODE, Family.IPV4),
    "named-target-port": ([service("web", ports=[{"name": "http", "port": 80, "protocol": "TCP",
                                                  "targetPort": "web"}])],
                          [endpoint_slice("web", TWO, ports=[{"name": "http", "port": 9376, "protocol": "TCP"}])],
                          NODE, Family.IPV4),
    "udp-and-tcp-ports": ([service("kube-dns", ns="kube-system", cluster_ip="10.96.0.10", ports=DNS_PORTS)],
                          [endpoint_slice("kube-dns", [endpoint("10.244.0.9")], ns="kube-system",
                                          ports=DNS_SLICE_PORTS)], NODE, Family.IPV4),
    "nodeport": ([service("web", type_="NodePort", ports=[{"name": "http", "port": 80, "protocol": "TCP",
                                                             "targetPort": 8080, "nodePort": 30080}])],
                 [endpoint_slice("web", TWO)], NODE, Family.IPV4),
    "external-ips": ([service("web", externalIPs=["192.0.2.10"])], [endpoint_slice("web", TWO)], NODE, Family.IPV4),
    "session-affinity": ([service("web", sessionAffinity="ClientIP",
                                  sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}})],
                         [endpoint_slice("web", TWO)], NODE, Family.IPV4),
    "no-endpoints": ([service("web", type_="NodePort", externalIPs=["192.0.2.10"],
                              ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080,
                                      "nodePort": 30080}])], [], NODE, Family.IPV4),
    "only-unready-endpoints": ([service("web")], [endpoint_slice("web", [
        endpoint("10.244.0.5", ready=False), endpoint("10.244.0.6", ready=False, serving=False, terminating=True)])],
        NODE, Family.IPV4),
    "ready-and-terminating": ([service("web")], [endpoint_slice("web", [
        endpoint("10.244.0.5"), endpoint("10.244.0.6", ready=False, serving=True, terminating=True)])],
        NODE, Family.IPV4),
    "all-terminating-drain": ([service("web")], [endpoint_slice("web", [
        endpoint("10.244.0.5", ready=False, serving=True, terminating=True),
        endpoint("10.244.0.6", ready=False, serving=False, terminating=True)])], NODE, Family.IPV4),
    "internal-local": ([service("web", internalTrafficPolicy="Local")], [endpoint_slice("web", TWO)], NODE,
                       Family.IPV4),
    "internal-local-none-here": ([service("web", internalTrafficPolicy="Local")],
                                 [endpoint_slice("web", [endpoint("10.244.1.5", node="node-b")])], NODE, Family.IPV4),
    "external-local": ([service("web", type_="NodePort", externalTrafficPolicy="Local",
                                ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080,
                                        "nodePort": 30080}])], [endpoint_slice("web", TWO)], NODE, Family.IPV4),
    "external-local-none-here": ([service("web", type_="NodePort", externalTrafficPolicy="Local",
                                          ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080,
                                                  "nodePort": 30080}])],
                                 [endpoint_slice("web", [endpoint("10.244.1.5", node="node-b")])], NODE, Family.IPV4),
    "headless-skipped": ([service("db", cluster_ip="None")], [endpoint_slice("db", TWO)], NODE, Family.IPV4),
    "two-slices-duplicate-endpoint": ([service("web")], [
        endpoint_slice("web", [endpoint("10.244.0.5")], name="web-1"),
        endpoint_slice("web", [endpoint("10.244.0.5"), endpoint("10.244.0.7")], name="web-2")], NODE, Family.IPV4),
    "unnamed-port-no-cluster-cidr": ([service("web", ports=[{"port": 80, "protocol": "TCP", "targetPort": 8080}])],
                                     [endpoint_slice("web", TWO, ports=[{"port": 8080, "protocol": "TCP"}])],
                                     NodeInfo("node-a"), Family.IPV4),
    "ipv6": ([service("web", cluster_ip="fd00:10:96::20")], [endpoint_slice("web", [
        endpoint("fd00:10:244::5")], address_type="IPv6")], NodeInfo("node-a", cluster_cidr="fd00:10:244::/56"),
        Family.IPV6),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_ruleset_matches_golden(case: str) -> None:
    services, slices, node, family = CASES[case]
    text = restore_text(render(services, slices, node, family=family))
    path = GOLDEN / f"{case}.txt"
    if os.environ.get("SKIFF_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}; run with SKIFF_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text()
