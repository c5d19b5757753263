"""Endpoint selection, load-balancing weights and incremental restore text."""
from __future__ import annotations

import re

import pytest

from skiff.proxy.model import NodeInfo, categorize, endpoints_for, service_ports
from skiff.proxy.restore import restore_text
from skiff.proxy.rules import JUMPS, render, svc_chain
from tests.unit.proxy.builders import endpoint, endpoint_slice, service

NODE = NodeInfo("node-a", cluster_cidr="10.244.0.0/16")


@pytest.mark.parametrize("eps,internal_local,want_cluster,want_local", [
    ([endpoint("10.244.0.5"), endpoint("10.244.1.5", node="node-b")], False,
     ["10.244.0.5", "10.244.1.5"], ["10.244.0.5"]),
    ([endpoint("10.244.0.5", ready=False), endpoint("10.244.1.5", node="node-b")], False, ["10.244.1.5"], []),
    # no ready endpoint: serving+terminating ones drain the Service
    ([endpoint("10.244.0.5", ready=False, serving=True, terminating=True),
      endpoint("10.244.0.6", ready=False, serving=False, terminating=True)], False, ["10.244.0.5"], ["10.244.0.5"]),
    # a ready endpoint wins over terminating ones
    ([endpoint("10.244.0.5", ready=False, serving=True, terminating=True), endpoint("10.244.1.5", node="node-b")],
     False, ["10.244.1.5"], ["10.244.0.5"]),
    # ready missing means ready (the API's nil)
    ([endpoint("10.244.0.5", ready=None)], False, ["10.244.0.5"], ["10.244.0.5"]),
], ids=["ready", "unready-skipped", "terminating-drain", "ready-wins", "nil-ready"])
def test_categorize(eps, internal_local, want_cluster, want_local) -> None:
    svc = service("web", internalTrafficPolicy="Local" if internal_local else "Cluster")
    sp = service_ports(svc)[0]
    cat = categorize(sp, endpoints_for(sp, [endpoint_slice("web", eps)]), node_name="node-a")
    assert [e.ip for e in cat.cluster] == want_cluster
    assert [e.ip for e in cat.local] == want_local


def test_named_target_port_resolved_by_slice_port_name() -> None:
    svc = service("web", ports=[{"name": "http", "port": 80, "targetPort": "web"},
                                {"name": "metrics", "port": 9090, "targetPort": "metrics"}])
    sl = endpoint_slice("web", [endpoint("10.244.0.5")], ports=[{"name": "metrics", "port": 9100},
                                                                {"name": "http", "port": 8080}])
    got = {sp.port_name: [e.port for e in endpoints_for(sp, [sl])] for sp in service_ports(svc)}
    assert got == {"http": [8080], "metrics": [9100]}


def test_headless_and_external_name_have_no_ports() -> None:
    assert service_ports(service("db", cluster_ip="None")) == []
    assert service_ports(service("ext", cluster_ip=None, type_="ExternalName", externalName="example.org")) == []


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10])
def test_each_endpoint_gets_one_nth(n: int) -> None:
    eps = [endpoint(f"10.244.0.{i + 2}") for i in range(n)]
    rs = render([service("web")], [endpoint_slice("web", eps)], NODE)
    rules = [r for r in rs.tables["nat"][svc_chain(service_ports(service("web"))[0])] if "SKIFF-SEP-" in r]
    assert len(rules) == n
    remaining, shares = 1.0, []
    for rule in rules:
        m = re.search(r"--probability (\S+)", rule)
        p = float(m.group(1)) if m else 1.0
        shares.append(remaining * p)
        remaining -= remaining * p
    assert shares == pytest.approx([1.0 / n] * n, abs=1e-8)
    assert remaining == pytest.approx(0.0, abs=1e-8)


def test_incremental_text_rewrites_only_changed_chains_and_deletes_stale() -> None:
    web = service("web")
    api = service("api", cluster_ip="10.96.0.21")
    before = render([web, api], [endpoint_slice("web", [endpoint("10.244.0.5"), endpoint("10.244.0.6")]),
                                 endpoint_slice("api", [endpoint("10.244.0.9")])], NODE)
    after = render([web, api], [endpoint_slice("web", [endpoint("10.244.0.5")]),
                                endpoint_slice("api", [endpoint("10.244.0.9")])], NODE)
    text = restore_text(after, previous=before)
    declared = re.findall(r"^:(\S+)", text, re.M)
    deleted = re.findall(r"^-X (\S+)", text, re.M)
    web_svc = svc_chain(service_ports(web)[0])
    api_svc = svc_chain(service_ports(api)[0])
    assert web_svc in declared and api_svc not in declared
    assert len(deleted) == 1 and deleted[0].startswith("SKIFF-SEP-") and deleted[0] in declared
    # the -X comes after every rule that could reference the chain
    assert text.index(f"-X {deleted[0]}") > max(m.start() for m in re.finditer(r"^-A ", text, re.M))
    assert restore_text(after, previous=after) == ""


def test_missing_jumps_inserted_in_order_and_builtins_never_declared() -> None:
    rs = render([], [], NODE)
    text = restore_text(rs, missing_jumps=JUMPS)
    assert not re.search(r"^:(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) ", text, re.M)
    fwd = [line for line in text.splitlines() if line.startswith("-I FORWARD")]
    # inserted at position 1 in reverse, so they end up in JUMPS order
    want = [j.target for j in JUMPS if j.chain == "FORWARD"]
    assert [line.rsplit(" ", 1)[1] for line in reversed(fwd)] == want


def test_stale_chains_only_with_our_prefix() -> None:
    rs = render([], [], NODE)
    text = restore_text(rs, stale={"nat": ["SKIFF-SVC-OLD", "KUBE-SVC-X", "SKIFF-SERVICES"]})
    assert "-X SKIFF-SVC-OLD" in text
    assert "KUBE-SVC-X" not in text
    assert "-X SKIFF-SERVICES" not in text


def test_render_cache_gives_the_same_ruleset_and_follows_changes() -> None:
    services = [service(f"s{i}", cluster_ip=f"10.96.0.{i + 1}", sessionAffinity="ClientIP" if i % 2 else "None")
                for i in range(6)]
    slices = [endpoint_slice(f"s{i}", [endpoint(f"10.244.{i}.{k}") for k in range(1, 4)]) for i in range(6)]
    cache: dict = {}
    first = render(services, slices, NODE, cache=cache)
    assert first.tables == render(services, slices, NODE).tables
    slices[2] = endpoint_slice("s2", [endpoint("10.244.9.9")])
    services[1] = service("s1", cluster_ip="10.96.0.99")
    again = render(services[:5], slices, NODE, cache=cache)
    assert again.tables == render(services[:5], slices, NODE).tables
    assert len(cache) == 5  # s5 dropped from the cache with its Service


def test_stale_udp_flows_cleared_for_removed_endpoints_and_first_endpoints() -> None:
    from skiff.proxy.conntrack import stale_flow_commands

    dns_svc = service("dns", cluster_ip="10.96.0.10", type_="NodePort",
                      ports=[{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53, "nodePort": 30053}])
    ports = [{"name": "dns", "port": 53, "protocol": "UDP"}]
    two = render([dns_svc], [endpoint_slice("dns", [endpoint("10.244.0.5"), endpoint("10.244.0.6")], ports=ports)],
                 NODE)
    one = render([dns_svc], [endpoint_slice("dns", [endpoint("10.244.0.5")], ports=ports)], NODE)
    none = render([dns_svc], [], NODE)
    assert stale_flow_commands(two.udp, one.udp) == [
        ["conntrack", "-D", "-p", "udp", "--orig-dst", "10.96.0.10", "--dst-nat", "10.244.0.6"],
        ["conntrack", "-D", "-p", "udp", "--orig-port-dst", "30053", "--dst-nat", "10.244.0.6"]]
    assert stale_flow_commands(one.udp, one.udp) == []
    assert stale_flow_commands(none.udp, one.udp) == [
        ["conntrack", "-D", "-p", "udp", "--orig-dst", "10.96.0.10"],
        ["conntrack", "-D", "-p", "udp", "--orig-port-dst", "30053"]]
    assert stale_flow_commands({}, one.udp) == []  # nothing known before: nothing to clear
    assert len(stale_flow_commands(one.udp, {})) == 2  # Service deleted
