"""The lab's topology: names, addresses and the commands that wire it, decided purely."""
from __future__ import annotations

import pytest

from skiff.cmd.lab_topology import dns_manifests, network_commands, plan, registry_config, server_routes


def test_plan_names_and_addresses() -> None:
    t = plan("demo", 3)
    assert t.namespaces == ("demo-net", "demo-server", "demo-node1", "demo-node2", "demo-node3")
    assert [m.ip for m in t.members] == ["10.240.0.2", "10.240.0.11", "10.240.0.12", "10.240.0.13"]
    assert [m.role for m in t.nodes] == ["node1", "node2", "node3"]
    assert (t.api_url, t.registry, t.cgroup) == ("https://10.240.0.2:6443", "10.240.0.2:5000", "skiff-lab-demo")


@pytest.mark.parametrize(("name", "nodes", "subnet", "message"), [
    ("Bad_Name", 1, "10.240.0.0/24", "lab name"),
    ("waytoolongname", 1, "10.240.0.0/24", "lab name"),
    ("ok", 0, "10.240.0.0/24", "--nodes 0"),
    ("ok", 300, "10.240.0.0/24", "--nodes 300"),
    ("ok", 1, "10.240.0.0/30", "subnet"),
    ("ok", 1, "fd00::/64", "subnet"),
], ids=["upper-case", "too-long", "no-nodes", "too-many", "tiny-subnet", "ipv6"])
def test_plan_refuses(name: str, nodes: int, subnet: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan(name, nodes, subnet)


def test_every_command_names_a_lab_namespace() -> None:
    """Nothing may run in the host's own network namespace: each command targets one of the lab's."""
    t = plan("x", 2)
    for cmd in network_commands(t):
        if cmd[0] == "ip":
            assert cmd[1] == "-n" and cmd[2] in t.namespaces, cmd
        else:
            assert cmd[0] == "nsenter" and cmd[1].removeprefix("--net=/run/netns/") in t.namespaces, cmd
    veths = [c for c in network_commands(t) if "veth" in c]
    assert [c[c.index("netns") + 1] for c in veths] == ["x-net"] * 3


def test_registry_listens_on_the_server_address() -> None:
    assert "addr: 10.240.0.2:5000" in registry_config(plan("x", 1), "/data")


def test_dns_manifests_parse_and_point_at_the_server() -> None:
    import yaml

    docs = list(yaml.safe_load_all(dns_manifests(plan("x", 2))))
    assert [d["kind"] for d in docs] == ["Service", "Endpoints", "EndpointSlice"]
    assert docs[0]["spec"]["clusterIP"] == "10.96.0.10" and "selector" not in docs[0]["spec"]
    assert docs[1]["subsets"][0]["addresses"] == [{"ip": "10.240.0.2"}]
    assert docs[2]["endpoints"][0]["addresses"] == ["10.240.0.2"]
    assert {p["protocol"] for p in docs[2]["ports"]} == {"UDP", "TCP"}


def test_server_routes_go_through_each_node() -> None:
    t = plan("x", 2)
    assert server_routes(t, {"node2": "10.244.1.0/24", "node1": "10.244.0.0/24", "ghost": "10.244.9.0/24"}) == [
        ["ip", "-n", "x-server", "route", "replace", "10.244.0.0/24", "via", "10.240.0.11"],
        ["ip", "-n", "x-server", "route", "replace", "10.244.1.0/24", "via", "10.240.0.12"],
    ]
