"""hostPort rules, their conflicts, CNI capability args, and the pod SNAT chain (pure)."""
from __future__ import annotations

import json

import pytest

from skiff.nodeagent.kubelet import specs
from skiff.nodeagent.network import masquerade
from skiff.nodeagent.runtime.cri import api_pb2 as pb
from skiff.nodeagent.runtime.cri import cni
from skiff.nodeagent.runtime.cri.hostports import Mapping, PodPorts, conflicts, ruleset
from skiff.nodeagent.runtime.cri.runtime import CriError, port_mappings

WEB = PodPorts("default/web", "10.244.0.5", (Mapping("tcp", 8080, 80), Mapping("udp", 53, 5353, "10.0.0.1")))


def test_ruleset() -> None:
    assert ruleset([WEB], pod_cidr="10.244.0.0/24").splitlines() == [
        "*nat", ":SKIFFNODE-HOSTPORTS - [0:0]", ":SKIFFNODE-HOSTPORTS-MASQ - [0:0]",
        "-A SKIFFNODE-HOSTPORTS -p tcp -m tcp --dport 8080 -m comment --comment default/web "
        "-j DNAT --to-destination 10.244.0.5:80",
        "-A SKIFFNODE-HOSTPORTS-MASQ -s 10.244.0.0/24 -d 10.244.0.5/32 -p tcp -m tcp --dport 80 "
        "-m conntrack --ctstate DNAT -j MASQUERADE",
        "-A SKIFFNODE-HOSTPORTS -d 10.0.0.1/32 -p udp -m udp --dport 53 -m comment --comment default/web "
        "-j DNAT --to-destination 10.244.0.5:5353",
        "-A SKIFFNODE-HOSTPORTS-MASQ -s 10.244.0.0/24 -d 10.244.0.5/32 -p udp -m udp --dport 5353 "
        "-m conntrack --ctstate DNAT -j MASQUERADE",
        "COMMIT"]


def test_empty_ruleset_flushes_the_chains() -> None:
    assert ruleset([]) == "*nat\n:SKIFFNODE-HOSTPORTS - [0:0]\n:SKIFFNODE-HOSTPORTS-MASQ - [0:0]\nCOMMIT\n"


@pytest.mark.parametrize("mapping,clash", [
    (Mapping("tcp", 8080, 1), "host port 8080/TCP is already used by pod default/web"),
    (Mapping("udp", 8080, 1), None),
    (Mapping("udp", 53, 1, "10.0.0.2"), None),
    (Mapping("udp", 53, 1), "host port 53/UDP is already used by pod default/web"),
    (Mapping("tcp", 8080, 1, "10.0.0.9"), "host port 10.0.0.9:8080/TCP is already used by pod default/web"),
], ids=["same", "other-protocol", "other-ip", "any-ip-vs-one", "one-vs-any"])
def test_conflicts(mapping: Mapping, clash: str | None) -> None:
    assert conflicts(PodPorts("default/new", "", (mapping,)), [WEB]) == clash


def test_pod_spec_to_sandbox_port_mappings() -> None:
    pod = {"metadata": {"name": "p", "uid": "u"}, "spec": {"containers": [
        {"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 9090},
                                {"containerPort": 53, "protocol": "UDP", "hostPort": 53, "hostIP": "10.0.0.1"}]}]}}
    conf = specs.sandbox_config(pod, attempt=0, logs_root="/l")
    assert [(m.protocol, m.container_port, m.host_port, m.host_ip) for m in conf.port_mappings] == [
        (pb.TCP, 80, 8080, ""), (pb.UDP, 53, 53, "10.0.0.1")]
    assert port_mappings(conf) == [Mapping("tcp", 8080, 80), Mapping("udp", 53, 53, "10.0.0.1")]
    conf.port_mappings.append(pb.PortMapping(container_port=0, host_port=1))
    with pytest.raises(CriError, match="port_mappings"):
        port_mappings(conf)


def test_runtime_config_only_for_plugins_that_ask() -> None:
    conflist = {"cniVersion": "1.0.0", "name": "n", "plugins": [
        {"type": "bridge"}, {"type": "portmap", "capabilities": {"portMappings": True}}]}
    rc = {"portMappings": [Mapping("tcp", 8080, 80).as_cni()]}
    assert "runtimeConfig" not in json.loads(cni.plugin_config(conflist, conflist["plugins"][0], None, rc))
    assert json.loads(cni.plugin_config(conflist, conflist["plugins"][1], None, rc))["runtimeConfig"] == {
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}
    assert cni.Cni(conflist, []).handles("portMappings")
    assert not cni.Cni(cni.default_conflist("10.244.0.0/24", data_dir="/d"), []).handles("portMappings")


def test_masquerade_ruleset() -> None:
    nodes = [{"spec": {"podCIDR": "10.244.1.0/24"}}, {"spec": {"podCIDR": "10.244.0.0/24"}}, {"spec": {}}]
    cidrs = masquerade.cluster_cidrs(nodes)
    assert cidrs == ["10.244.0.0/24", "10.244.1.0/24"]
    assert masquerade.ruleset("10.244.0.0/24", cidrs).splitlines() == [
        "*nat", ":SKIFFNODE-POD-MASQ - [0:0]", "-A SKIFFNODE-POD-MASQ ! -s 10.244.0.0/24 -j RETURN",
        "-A SKIFFNODE-POD-MASQ -d 10.244.0.0/24 -j RETURN", "-A SKIFFNODE-POD-MASQ -d 10.244.1.0/24 -j RETURN",
        "-A SKIFFNODE-POD-MASQ -m addrtype ! --dst-type LOCAL -j MASQUERADE", "COMMIT"]
    assert masquerade.ruleset("", cidrs) == "*nat\n:SKIFFNODE-POD-MASQ - [0:0]\nCOMMIT\n"


def test_node_chains_stay_out_of_the_proxys_prefix() -> None:
    """The proxy deletes every chain with its prefix that it did not render (kube-proxy's habit)."""
    from skiff.nodeagent.runtime.cri import hostports as hp
    from skiff.proxy.rules import PREFIX
    for chain in (hp.CHAIN, hp.MASQ_CHAIN, masquerade.CHAIN):
        assert not chain.startswith(PREFIX), chain
