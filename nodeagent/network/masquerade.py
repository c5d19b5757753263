"""SNAT for pod traffic leaving the cluster, in the node's network namespace only.

Pods reach each other across nodes by their own addresses (no NAT); a packet from this
node's podCIDR to anywhere outside every node's podCIDR is masqueraded to the node's
address, so the world answers the node. :func:`ruleset` is pure over this node's podCIDR
and the cluster's; :func:`apply` writes chain ``SKIFFNODE-POD-MASQ`` whole with one
``iptables-restore --noflush`` (nothing else is touched) and hooks it into POSTROUTING once.
"""
from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any

CHAIN = "SKIFFNODE-POD-MASQ"
HOOK = ("POSTROUTING", f"-m comment --comment skiff-pod-masquerade -j {CHAIN}")


def cluster_cidrs(nodes: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every node's IPv4 podCIDR (the pod network is their union)."""
    out = set()
    for n in nodes:
        cidr = (n.get("spec") or {}).get("podCIDR") or ""
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        if net.version == 4:
            out.add(str(net))
    return sorted(out)


def ruleset(pod_cidr: str, cidrs: Iterable[str]) -> str:
    lines = ["*nat", f":{CHAIN} - [0:0]"]
    if pod_cidr:
        lines.append(f"-A {CHAIN} ! -s {pod_cidr} -j RETURN")
        for c in sorted({*cidrs, pod_cidr}):
            lines.append(f"-A {CHAIN} -d {c} -j RETURN")
        lines.append(f"-A {CHAIN} -m addrtype ! --dst-type LOCAL -j MASQUERADE")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def apply(pod_cidr: str, cidrs: Iterable[str]) -> None:
    r = subprocess.run(["iptables-restore", "-w", "--noflush"], input=ruleset(pod_cidr, cidrs),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"iptables-restore: {r.stderr.strip()}")
    chain, rule = HOOK
    if subprocess.run(["iptables", "-w", "-t", "nat", "-C", chain, *rule.split()], capture_output=True).returncode:
        r = subprocess.run(["iptables", "-w", "-t", "nat", "-A", chain, *rule.split()], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"iptables -A {chain}: {r.stderr.strip()}")
