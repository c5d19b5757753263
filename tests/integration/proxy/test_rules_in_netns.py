"""The proxy's rules in a real kernel: a node namespace, pod namespaces, real TCP/UDP.

Each test loads rules through ``Proxier`` + ``Applier`` (real ``iptables-restore`` run
with ``nsenter`` in the node namespace) and checks what connections do.
"""
from __future__ import annotations

import collections
import socket
from collections.abc import Iterator

import pytest

from skiff.proxy.iptables import Applier, Backend, SubprocessRunner
from skiff.proxy.model import NodeInfo
from skiff.proxy.proxier import Proxier
from skiff.proxy.rules import JUMPS
from tests.integration.proxy.netlab import NODE_IP, OUTSIDE_IP, POD_GATEWAY, NetLab, ask, in_ns, socket_in
from tests.unit.proxy.builders import endpoint, endpoint_slice, service

pytestmark = pytest.mark.integration

CLUSTER_IP = "10.96.0.20"
NODE_PORT = 30080
REQUESTS = 90  # per check: P(an endpoint of 3 gets none) ~ 3 * (2/3)^90 ~ 1e-16


@pytest.fixture(scope="module")
def lab() -> Iterator[NetLab]:
    lab = NetLab()
    try:
        lab.setup()
        for i, name in enumerate(("pod-a", "pod-b", "pod-c"), start=1):
            lab.serve(lab.add_pod(name, i), 8080)
        lab.add_pod("client", 9)
        yield lab
    finally:
        lab.teardown()


@pytest.fixture(params=[Backend.NFT, Backend.LEGACY], ids=["nft", "legacy"])
def proxier(request: pytest.FixtureRequest, lab: NetLab) -> Iterator[Proxier]:
    applier = Applier(backend=request.param, runner=SubprocessRunner(prefix=("nsenter", f"--net=/run/netns/{lab.node}")))
    p = Proxier(node=NodeInfo("node-a", cluster_cidr="10.244.0.0/16"), appliers=[applier])
    try:
        yield p
    finally:
        applier.cleanup()


def web(lab: NetLab, pods: list[str], **spec) -> tuple[dict, dict]:
    svc = service("web", cluster_ip=CLUSTER_IP, type_="NodePort",
                  ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http",
                          "nodePort": NODE_PORT},
                         {"name": "udp", "port": 81, "protocol": "UDP", "targetPort": 8080, "nodePort": NODE_PORT}],
                  **spec)
    sl = endpoint_slice("web", [endpoint(lab.pods[p].ip) for p in pods],
                        ports=[{"name": "http", "port": 8080, "protocol": "TCP"},
                               {"name": "udp", "port": 8080, "protocol": "UDP"}])
    return svc, sl


def load(p: Proxier, services: list[dict], slices: list[dict], *, full: bool = False):
    p.replace("Service", services)
    p.replace("EndpointSlice", slices)
    return p.sync_once(full=full)


def spread(ns: str, ip: str, port: int, *, proto: str = "tcp", n: int = REQUESTS) -> collections.Counter[str]:
    return collections.Counter(ask(ns, ip, port, proto=proto).split()[0] for _ in range(n))


def test_clusterip_spreads_over_every_endpoint_tcp_and_udp(lab: NetLab, proxier: Proxier) -> None:
    load(proxier, *map(list, zip(web(lab, ["pod-a", "pod-b", "pod-c"]))))
    assert set(spread(lab.pods["client"].ns, CLUSTER_IP, 80)) == {"pod-a", "pod-b", "pod-c"}
    assert set(spread(lab.pods["client"].ns, CLUSTER_IP, 81, proto="udp")) == {"pod-a", "pod-b", "pod-c"}
    # pod-to-pod through the Service is not NATed on the source side: the pod sees the client
    assert ask(lab.pods["client"].ns, CLUSTER_IP, 80).split()[1] == lab.pods["client"].ip


def test_nodeport_from_outside_spreads_and_is_masqueraded(lab: NetLab, proxier: Proxier) -> None:
    load(proxier, *map(list, zip(web(lab, ["pod-a", "pod-b", "pod-c"]))))
    seen = spread(lab.outside, NODE_IP, NODE_PORT)
    assert set(seen) == {"pod-a", "pod-b", "pod-c"}
    assert ask(lab.outside, NODE_IP, NODE_PORT).split()[1] == POD_GATEWAY  # SNAT to the node
    assert set(spread(lab.outside, NODE_IP, NODE_PORT, proto="udp", n=60)) == {"pod-a", "pod-b", "pod-c"}


def test_external_traffic_policy_local_keeps_client_address(lab: NetLab, proxier: Proxier) -> None:
    svc, sl = web(lab, ["pod-a", "pod-b"], externalTrafficPolicy="Local")
    sl["endpoints"][1]["nodeName"] = "node-b"  # pod-b "runs elsewhere": external traffic must not reach it
    load(proxier, [svc], [sl])
    seen = collections.Counter()
    for _ in range(30):
        who, peer = ask(lab.outside, NODE_IP, NODE_PORT).split()
        seen[who] += 1
        assert peer == OUTSIDE_IP
    assert set(seen) == {"pod-a"}


def test_session_affinity_sticks_to_one_endpoint(lab: NetLab, proxier: Proxier) -> None:
    load(proxier, *map(list, zip(web(lab, ["pod-a", "pod-b", "pod-c"], sessionAffinity="ClientIP",
                                     sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}))))
    assert len(spread(lab.pods["client"].ns, CLUSTER_IP, 80, n=40)) == 1
    assert len(spread(lab.outside, NODE_IP, NODE_PORT, n=40)) == 1


def test_removed_endpoint_stops_receiving_with_an_incremental_sync(lab: NetLab, proxier: Proxier) -> None:
    load(proxier, *map(list, zip(web(lab, ["pod-a", "pod-b", "pod-c"]))))
    assert "pod-c" in spread(lab.pods["client"].ns, CLUSTER_IP, 80)
    svc, sl = web(lab, ["pod-a", "pod-b"])
    proxier.on_event("EndpointSlice", "MODIFIED", sl)
    stats = proxier.sync_once()
    assert not stats[0].full
    seen = spread(lab.pods["client"].ns, CLUSTER_IP, 80)
    assert set(seen) == {"pod-a", "pod-b"}
    # and the endpoint's chain is gone from the kernel
    save = in_ns(lab.node, proxier.appliers[0].backend.command(proxier.appliers[0].family, "save"), "-t", "nat")
    assert lab.pods["pod-c"].ip not in save and lab.pods["pod-a"].ip in save


def test_udp_flow_to_a_removed_endpoint_is_forgotten(lab: NetLab, proxier: Proxier) -> None:
    load(proxier, *map(list, zip(web(lab, ["pod-a", "pod-b"]))))
    with socket_in(lab.pods["client"].ns, socket.SOCK_DGRAM) as s:
        s.settimeout(2)

        def who() -> str:
            s.sendto(b"who\n", (CLUSTER_IP, 81))
            return s.recv(512).decode().split()[0]

        first = who()
        assert {who() for _ in range(10)} == {first}  # one source port: one conntrack entry, one endpoint
        other = "pod-b" if first == "pod-a" else "pod-a"
        proxier.on_event("EndpointSlice", "MODIFIED", web(lab, [other])[1])
        proxier.sync_once()
        # the removed pod still runs: only a cleared conntrack entry moves the flow
        assert who() == other


def test_service_without_endpoints_refuses(lab: NetLab, proxier: Proxier) -> None:
    svc, sl = web(lab, [])
    load(proxier, [svc], [sl])
    with pytest.raises(ConnectionRefusedError):
        ask(lab.pods["client"].ns, CLUSTER_IP, 80)
    with pytest.raises(ConnectionRefusedError):
        ask(lab.outside, NODE_IP, NODE_PORT)
    # endpoints appear: the same address now answers
    proxier.on_event("EndpointSlice", "MODIFIED", web(lab, ["pod-b"])[1])
    proxier.sync_once()
    assert ask(lab.pods["client"].ns, CLUSTER_IP, 80).split()[0] == "pod-b"


def test_hairpin_an_endpoint_reaching_its_own_service(lab: NetLab, proxier: Proxier) -> None:
    load(proxier, *map(list, zip(web(lab, ["pod-a"]))))
    who, peer = ask(lab.pods["pod-a"].ns, CLUSTER_IP, 80).split()
    assert who == "pod-a" and peer == POD_GATEWAY  # masqueraded, or the reply would never leave the pod


def test_only_skiff_chains_touched_and_jumps_never_duplicated(lab: NetLab, proxier: Proxier) -> None:
    applier = proxier.appliers[0]
    ipt = applier.backend.command(applier.family, "restore").replace("-restore", "")
    foreign = ("-t", "nat", "-A", "POSTROUTING", "-s", "10.99.0.0/16", "-j", "RETURN")
    in_ns(lab.node, ipt, *foreign)
    in_ns(lab.node, ipt, "-t", "nat", "-N", "OTHER-CHAIN")
    in_ns(lab.node, ipt, "-t", "nat", "-N", "SKIFF-SVC-LEFTOVER")  # from an earlier run: must go
    try:
        load(proxier, *map(list, zip(web(lab, ["pod-a", "pod-b"]))))
        load(proxier, *map(list, zip(web(lab, ["pod-a"]))), full=True)
        load(proxier, *map(list, zip(web(lab, ["pod-b"]))))
        save = in_ns(lab.node, applier.backend.command(applier.family, "save"))
        assert "-A POSTROUTING -s 10.99.0.0/16 -j RETURN" in save
        assert ":OTHER-CHAIN" in save
        assert "SKIFF-SVC-LEFTOVER" not in save
        for jump in JUMPS:
            table = save.split(f"*{jump.table}\n", 1)[1].split("COMMIT", 1)[0]
            assert sum(1 for line in table.splitlines()
                       if line.startswith(f"-A {jump.chain} ") and line.endswith(f"-j {jump.target}")) == 1, jump
        assert ask(lab.pods["client"].ns, CLUSTER_IP, 80).split()[0] == "pod-b"
    finally:
        in_ns(lab.node, ipt, *[("-D" if a == "-A" else a) for a in foreign])
        in_ns(lab.node, ipt, "-t", "nat", "-X", "OTHER-CHAIN")

