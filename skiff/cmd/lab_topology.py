"""The lab's shape, decided purely: namespaces, addresses, veths, cgroups and the commands that make them.

A lab called NAME is one bridge namespace (``NAME-net``, bridge ``br0``), a server
namespace (``NAME-server``: API server, embedded etcd, image registry) and N node
namespaces (``NAME-node1``…), each joined to the bridge by a veth whose outer end lives
in the bridge namespace. Every command runs with ``ip -n NS`` or ``nsenter --net``: the
host's own interfaces, routes and iptables are never named, so they cannot change.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,11}$")
API_PORT = 6443
SERVICE_CIDR = "10.96.0.0/12"
REGISTRY_PORT = 5000


@dataclass(frozen=True)
class Member:
    role: str  # "server" or "nodeN"
    netns: str
    ip: str
    veth: str  # the outer end, in the bridge namespace


@dataclass(frozen=True)
class Topology:
    name: str
    subnet: str
    bridge_ns: str
    server: Member
    nodes: tuple[Member, ...]

    @property
    def members(self) -> tuple[Member, ...]:
        return (self.server, *self.nodes)

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (self.bridge_ns, *(m.netns for m in self.members))

    @property
    def prefix_len(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    @property
    def api_url(self) -> str:
        return f"https://{self.server.ip}:{API_PORT}"

    @property
    def registry(self) -> str:
        return f"{self.server.ip}:{REGISTRY_PORT}"

    @property
    def cgroup(self) -> str:
        """The lab's cgroup, relative to the launcher's own: every daemon of the lab (and so
        every container, nested under its engine's cgroup) lives below it."""
        return f"skiff-lab-{self.name}"


def plan(name: str, nodes: int, subnet: str = "10.240.0.0/24") -> Topology:
    """The lab for ``name`` with ``nodes`` nodes; errors name the bad value."""
    if not NAME_RE.match(name):
        raise ValueError(f"lab name {name!r}: use 1-12 lower-case letters, digits or '-', starting with a letter")
    net = ipaddress.ip_network(subnet)
    if net.version != 4 or net.num_addresses < 16:
        raise ValueError(f"subnet {subnet!r}: an IPv4 network of at least 16 addresses is needed")
    if not 1 <= nodes <= min(net.num_addresses - 12, 200):
        raise ValueError(f"--nodes {nodes}: between 1 and {min(net.num_addresses - 12, 200)} nodes fit in {subnet}")
    hosts = list(net.hosts())
    server = Member("server", f"{name}-server", str(hosts[1]), "vserver")
    members = tuple(Member(f"node{i}", f"{name}-node{i}", str(hosts[9 + i]), f"vnode{i}") for i in range(1, nodes + 1))
    return Topology(name, str(net), f"{name}-net", server, members)


def network_commands(t: Topology) -> list[list[str]]:
    """Everything ``up`` runs to wire the namespaces, in order (after ``ip netns add`` of each)."""
    b = t.bridge_ns
    cmds = [["ip", "-n", b, "link", "set", "lo", "up"],
            ["ip", "-n", b, "link", "add", "br0", "type", "bridge"],
            ["ip", "-n", b, "link", "set", "br0", "up"]]
    for m in t.members:
        cmds += [
            ["ip", "-n", m.netns, "link", "set", "lo", "up"],
            ["ip", "-n", m.netns, "link", "add", "eth0", "type", "veth", "peer", "name", m.veth, "netns", b],
            ["ip", "-n", b, "link", "set", m.veth, "master", "br0", "up"],
            ["ip", "-n", m.netns, "addr", "add", f"{m.ip}/{t.prefix_len}", "dev", "eth0"],
            ["ip", "-n", m.netns, "link", "set", "eth0", "up"],
        ]
    # a node's own processes reach Services: the proxy DNATs 10.96.0.0/12 before the packet
    # leaves, but the kernel wants a route first (a real node has its default route)
    cmds += [["ip", "-n", m.netns, "route", "add", SERVICE_CIDR, "dev", "eth0"] for m in t.nodes]
    # nodes route their pods' traffic: forwarding on inside each node namespace only
    cmds += [["nsenter", f"--net=/run/netns/{m.netns}", "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]
             for m in t.nodes]
    return cmds


def registry_config(t: Topology, storage: str) -> str:
    """docker-registry (distribution 2.8) configuration for the lab's image registry."""
    return ("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {t.registry}\n")


CLUSTER_DNS_IP = "10.96.0.10"
CLUSTER_CIDR = "10.244.0.0/16"


def dns_manifests(t: Topology) -> str:
    """``kube-system/kube-dns``: the ClusterIP pods resolve through, its endpoint the lab's DNS server.

    The DNS server runs as a daemon of the lab (in the server namespace), not as a pod, so
    the Service has no selector and its Endpoints and EndpointSlice are written here, as
    Kubernetes expects for a Service backed by something outside the cluster's pods."""
    ip = t.server.ip
    ports = [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")]
    svc_ports = "".join(f"  - {{name: {n}, port: {p}, targetPort: {p}, protocol: {proto}}}\n" for n, p, proto in ports)
    ep_ports = "".join(f"    - {{name: {n}, port: {p}, protocol: {proto}}}\n" for n, p, proto in ports)
    slice_ports = "".join(f"- {{name: {n}, port: {p}, protocol: {proto}}}\n" for n, p, proto in ports)
    return (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: kube-dns\n  namespace: kube-system\n"
        "  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}\n"
        f"spec:\n  clusterIP: {CLUSTER_DNS_IP}\n  ports:\n{svc_ports}"
        "---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: kube-dns\n  namespace: kube-system\n"
        f"subsets:\n- addresses: [{{ip: {ip}}}]\n  ports:\n{ep_ports}"
        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: kube-dns-lab\n"
        "  namespace: kube-system\n  labels: {kubernetes.io/service-name: kube-dns, "
        "endpointslice.kubernetes.io/managed-by: skiff-lab}\n"
        f"addressType: IPv4\nendpoints:\n- addresses: [\"{ip}\"]\n  conditions: {{ready: true}}\n"
        f"ports:\n{slice_ports}")


def server_routes(t: Topology, pod_cidrs: dict[str, str]) -> list[list[str]]:
    """Routes in the server namespace back to each node's pods (DNS answers, kubelet calls)."""
    by_role = {m.role: m for m in t.nodes}
    return [["ip", "-n", t.server.netns, "route", "replace", cidr, "via", by_role[role].ip]
            for role, cidr in sorted(pod_cidrs.items()) if role in by_role and cidr]
