"""A pod's resolv.conf as the kubelet decides it (dnsPolicy, dnsConfig, hostNetwork)."""
from __future__ import annotations

import pytest

from skiff.nodeagent.kubelet.specs import ClusterDNS, dns_config

DNS = ClusterDNS(("10.96.0.10",), "cluster.local", ("lab.example",))
CLUSTER_SEARCHES = ["web.svc.cluster.local", "svc.cluster.local", "cluster.local", "lab.example"]


def pod(**spec: object) -> dict:
    return {"metadata": {"name": "p", "namespace": "web"}, "spec": spec}


@pytest.mark.parametrize(("spec", "dns", "want"), [
    ({}, DNS, (["10.96.0.10"], CLUSTER_SEARCHES, ["ndots:5"])),
    ({"dnsPolicy": "ClusterFirst", "hostNetwork": True}, DNS, None),
    ({"dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": True}, DNS,
     (["10.96.0.10"], CLUSTER_SEARCHES, ["ndots:5"])),
    ({"dnsPolicy": "Default"}, DNS, None),
    ({}, ClusterDNS(), None),
    ({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.2.3.4"], "searches": ["a.b"],
                                          "options": [{"name": "edns0"}, {"name": "ndots", "value": "2"}]}},
     DNS, (["1.2.3.4"], ["a.b"], ["edns0", "ndots:2"])),
    ({"dnsConfig": {"nameservers": ["1.2.3.4"], "searches": ["svc.cluster.local", "x.y"],
                    "options": [{"name": "ndots", "value": "1"}]}},
     DNS, (["10.96.0.10", "1.2.3.4"], [*CLUSTER_SEARCHES, "x.y"], ["ndots:1"])),
], ids=["cluster-first", "host-network", "host-network-cluster-first", "default", "no-cluster-dns", "none",
        "merged"])
def test_dns_config(spec: dict, dns: ClusterDNS, want: tuple | None) -> None:
    got = dns_config(pod(**spec), dns)
    if want is None:
        assert got is None
    else:
        assert got is not None
        assert (list(got.servers), list(got.searches), list(got.options)) == (want[0], want[1], want[2])
