"""Routes to the other nodes' podCIDRs through their node addresses: one flat pod network
without NAT when nodes share an L2.

:func:`desired_routes` is pure over the Node objects; :func:`diff` says which routes to
add, change and delete; :class:`RouteTable` applies them with ``ip route`` in the agent's
network namespace, touching only routes marked with its own protocol number
(:data:`PROTO`), so routes anyone else made are never changed.
"""
from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any

PROTO = 177  # "skiff" in ip-route's protocol field


def node_ip(node: Mapping[str, Any]) -> str:
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            return str(a.get("address") or "")
    return ""


def desired_routes(nodes: Iterable[Mapping[str, Any]], *, me: str) -> dict[str, str]:
    """podCIDR -> next hop for every other node that has both (IPv4 only)."""
    out: dict[str, str] = {}
    for n in nodes:
        name = (n.get("metadata") or {}).get("name")
        cidr = (n.get("spec") or {}).get("podCIDR") or ""
        ip = node_ip(n)
        if name == me or not cidr or not ip:
            continue
        try:
            net = ipaddress.ip_network(cidr, strict=False)
            ipaddress.IPv4Address(ip)
        except ValueError:
            continue
        if net.version == 4:
            out[str(net)] = ip
    return out


def diff(current: Mapping[str, str], desired: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """(routes to add or replace, destinations to delete)."""
    put = {d: via for d, via in desired.items() if current.get(d) != via}
    gone = sorted(d for d in current if d not in desired)
    return put, gone


class RouteTable:
    """The routes this agent owns in its network namespace."""

    def _ip(self, *args: str) -> str:
        proc = subprocess.run(["ip", *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def current(self) -> dict[str, str]:
        out = self._ip("-j", "-4", "route", "show", "proto", str(PROTO))
        routes = json.loads(out or "[]")
        return {str(ipaddress.ip_network(r["dst"], strict=False)): r.get("gateway", "") for r in routes
                if r.get("dst") and r.get("dst") != "default"}

    def sync(self, desired: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
        put, gone = diff(self.current(), desired)
        for dst, via in put.items():
            self._ip("route", "replace", dst, "via", via, "proto", str(PROTO))
        for dst in gone:
            self._ip("route", "del", dst, "proto", str(PROTO))
        return put, gone
