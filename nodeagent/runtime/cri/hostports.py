"""A pod's ``hostPort``s: DNAT from the node's addresses to the pod, in the node's namespace.

The CRI sandbox config carries the port mappings; the engine keeps them in the sandbox
record and rebuilds its whole ruleset from every ready sandbox with one
``iptables-restore --noflush`` that only touches its own chains (the engine's ``-p``
publishing does the same with ``SKIFF-DNAT``):

- ``SKIFFNODE-HOSTPORTS`` (nat, from PREROUTING and OUTPUT for local destinations): one DNAT
  per mapping, limited to its ``hostIP`` when given;
- ``SKIFFNODE-HOSTPORTS-MASQ`` (nat POSTROUTING): DNATed connections that came from a pod of
  this node (the pod itself — hairpin — or a neighbour on the bridge) are masqueraded, or
  the reply would skip the translation.

When the CNI config lists a plugin with the ``portMappings`` capability (Debian's
``portmap``), the mappings go to it as ``runtimeConfig`` instead, as containerd does, and
these chains stay empty. :func:`ruleset` and :func:`conflicts` are pure.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

CHAIN = "SKIFFNODE-HOSTPORTS"
MASQ_CHAIN = "SKIFFNODE-HOSTPORTS-MASQ"
HOOKS = (("PREROUTING", f"-m addrtype --dst-type LOCAL -j {CHAIN}"),
         ("OUTPUT", f"-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j {CHAIN}"),
         ("POSTROUTING", f"-j {MASQ_CHAIN}"))
PROTOCOLS = {0: "tcp", 1: "udp", 2: "sctp"}  # CRI's Protocol enum


class HostPortError(Exception):
    pass


@dataclass(frozen=True)
class Mapping:
    protocol: str  # tcp | udp | sctp
    host_port: int
    container_port: int
    host_ip: str = ""

    def key(self) -> tuple[str, int, str]:
        return (self.protocol, self.host_port, self.host_ip)

    def as_cni(self) -> dict[str, object]:
        out: dict[str, object] = {"hostPort": self.host_port, "containerPort": self.container_port,
                                  "protocol": self.protocol}
        if self.host_ip:
            out["hostIP"] = self.host_ip
        return out


@dataclass(frozen=True)
class PodPorts:
    pod: str  # namespace/name, for messages
    ip: str
    mappings: tuple[Mapping, ...]


def overlaps(a: Mapping, b: Mapping) -> bool:
    return a.protocol == b.protocol and a.host_port == b.host_port and (
        not a.host_ip or not b.host_ip or a.host_ip == b.host_ip)


def conflicts(new: PodPorts, existing: Iterable[PodPorts]) -> str | None:
    """Why ``new`` cannot have its ports (another pod holds one), or None."""
    for other in existing:
        for m in new.mappings:
            for o in other.mappings:
                if overlaps(m, o):
                    where = f"{m.host_ip}:" if m.host_ip else ""
                    return f"host port {where}{m.host_port}/{m.protocol.upper()} is already used by pod {other.pod}"
    return None


def ruleset(pods: Iterable[PodPorts], *, pod_cidr: str = "") -> str:
    """The nat table part of the chains, for ``iptables-restore --noflush``."""
    lines = ["*nat", f":{CHAIN} - [0:0]", f":{MASQ_CHAIN} - [0:0]"]
    for p in sorted(pods, key=lambda x: x.pod):
        if not p.ip:
            continue
        for m in p.mappings:
            dst = f" -d {m.host_ip}/32" if m.host_ip and m.host_ip != "0.0.0.0" else ""
            proto = f"-p {m.protocol} -m {m.protocol}"
            lines.append(f"-A {CHAIN}{dst} {proto} --dport {m.host_port} -m comment --comment {p.pod} "
                         f"-j DNAT --to-destination {p.ip}:{m.container_port}")
            src = pod_cidr or f"{p.ip}/32"
            lines.append(f"-A {MASQ_CHAIN} -s {src} -d {p.ip}/32 {proto} --dport {m.container_port} "
                         "-m conntrack --ctstate DNAT -j MASQUERADE")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _run(argv: list[str], stdin: str | None = None) -> None:
    r = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise HostPortError(f"{' '.join(argv[:3])}: {r.stderr.strip()}")


def apply(pods: Iterable[PodPorts], *, pod_cidr: str = "") -> None:
    """Write the chains whole, then make sure the built-in chains jump to them."""
    _run(["iptables-restore", "-w", "--noflush"], ruleset(pods, pod_cidr=pod_cidr))
    for chain, rule in HOOKS:
        if subprocess.run(["iptables", "-w", "-t", "nat", "-C", chain, *rule.split()],
                          capture_output=True).returncode != 0:
            _run(["iptables", "-w", "-t", "nat", "-A", chain, *rule.split()])
