"""Which conntrack entries to delete after a sync, as kube-proxy does for UDP. Pure.

A UDP "connection" lives in conntrack until it idles out, so a client that keeps its
source port would keep being DNATed to an endpoint that is gone. After each sync, flows
to endpoints a UDP service port no longer uses are deleted; when a UDP service port gets
endpoints after having none, flows to its addresses are cleared too.
"""
from __future__ import annotations

from skiff.proxy.model import Family
from skiff.proxy.rules import UdpTargets


def stale_flow_commands(previous: dict[str, UdpTargets], current: dict[str, UdpTargets], *,
                        family: Family = Family.IPV4) -> list[list[str]]:
    fam = ["-f", "ipv6"] if family is Family.IPV6 else []
    cmds: list[list[str]] = []
    for key, old in sorted(previous.items()):
        new = current.get(key)
        gone = sorted(old.endpoints - (new.endpoints if new else frozenset()))
        for ip in gone:
            if old.cluster_ip:
                cmds.append(["conntrack", "-D", *fam, "-p", "udp", "--orig-dst", old.cluster_ip, "--dst-nat", ip])
            if old.node_port:
                cmds.append(["conntrack", "-D", *fam, "-p", "udp", "--orig-port-dst", str(old.node_port),
                             "--dst-nat", ip])
            for eip in old.external_ips:
                cmds.append(["conntrack", "-D", *fam, "-p", "udp", "--orig-dst", eip, "--dst-nat", ip])
    for key, new in sorted(current.items()):
        old_eps = previous[key].endpoints if key in previous else frozenset()
        if new.endpoints and not old_eps and key in previous:
            for addr in ([new.cluster_ip] if new.cluster_ip else []) + list(new.external_ips):
                cmds.append(["conntrack", "-D", *fam, "-p", "udp", "--orig-dst", addr])
            if new.node_port:
                cmds.append(["conntrack", "-D", *fam, "-p", "udp", "--orig-port-dst", str(new.node_port)])
    return cmds
