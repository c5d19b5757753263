"""The ruleset: Services + EndpointSlices + node -> iptables chains, as data.

A pure function, modelled on kube-proxy's iptables proxier (``syncProxyRules``), with
every chain prefixed ``SKIFF-``. ``render`` returns a ``Ruleset`` (tables -> chains ->
rule strings, plus the jumps from the built-in chains); ``proxy.restore`` turns it into
``iptables-restore`` text, whole or as the difference from the last ruleset applied.
It must not read the system: what it knows of the node is ``NodeInfo``.

Per service port (ns/name:port, protocol), as in kube-proxy:

* nat ``SKIFF-SERVICES``: ClusterIP -> ``SKIFF-SVC-<h>`` (or ``SKIFF-SVL-<h>`` with
  internalTrafficPolicy Local), externalIPs -> ``SKIFF-EXT-<h>``; the last rule sends
  local destinations to ``SKIFF-NODEPORTS`` (nodePort -> ``SKIFF-EXT-<h>``).
* ``SKIFF-SVC-<h>``/``SKIFF-SVL-<h>``: masquerade off-cluster sources, then ClientIP
  affinity (``recent --rcheck``), then one ``statistic --mode random`` rule per endpoint
  with probability 1/(n-i), so every endpoint gets 1/n.
* ``SKIFF-SEP-<h>``: mark hairpin traffic (an endpoint reaching itself) for SNAT, DNAT.
* ``SKIFF-EXT-<h>``: external traffic is masqueraded unless externalTrafficPolicy is
  Local (source kept, local endpoints only; pods and the node itself still reach every
  endpoint).
* filter: REJECT (no endpoints at all) or DROP (none on this node for a Local policy)
  for destinations that were not DNATed, plus ``SKIFF-FORWARD`` accepting marked and
  established traffic.
"""
from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from skiff.proxy.model import (Categorized, Endpoint, Family, NodeInfo, ServicePort, categorize,
                               endpoints_for, service_ports, slice_service_key)

PREFIX = "SKIFF-"
SERVICES = "SKIFF-SERVICES"
EXTERNAL_SERVICES = "SKIFF-EXTERNAL-SERVICES"
NODEPORTS = "SKIFF-NODEPORTS"
POSTROUTING = "SKIFF-POSTROUTING"
MARK_MASQ = "SKIFF-MARK-MASQ"
FORWARD = "SKIFF-FORWARD"


@dataclass(frozen=True)
class Jump:
    """A rule in a built-in chain that leads into ours; installed once, never duplicated."""

    table: str
    chain: str
    target: str
    match: str  # the rule spec before ``-j``

    @property
    def rule(self) -> str:
        return f"{self.match} -j {self.target}".strip()


JUMPS: tuple[Jump, ...] = (
    Jump("filter", "INPUT", EXTERNAL_SERVICES,
         '-m comment --comment "skiff externally-visible service portals" -m conntrack --ctstate NEW'),
    Jump("filter", "FORWARD", SERVICES, '-m comment --comment "skiff service portals" -m conntrack --ctstate NEW'),
    Jump("filter", "FORWARD", EXTERNAL_SERVICES,
         '-m comment --comment "skiff externally-visible service portals" -m conntrack --ctstate NEW'),
    Jump("filter", "FORWARD", FORWARD, '-m comment --comment "skiff forwarding rules"'),
    Jump("filter", "OUTPUT", SERVICES, '-m comment --comment "skiff service portals" -m conntrack --ctstate NEW'),
    Jump("nat", "PREROUTING", SERVICES, '-m comment --comment "skiff service portals"'),
    Jump("nat", "OUTPUT", SERVICES, '-m comment --comment "skiff service portals"'),
    Jump("nat", "POSTROUTING", POSTROUTING, '-m comment --comment "skiff postrouting rules"'),
)

TABLES = ("filter", "nat")


@dataclass(frozen=True)
class UdpTargets:
    """Where a UDP service port's traffic goes; conntrack must forget flows to endpoints that left."""

    cluster_ip: str | None
    node_port: int | None
    external_ips: tuple[str, ...]
    endpoints: frozenset[str]


@dataclass
class Ruleset:
    """Chains in order of declaration, each a list of rule specs (without ``-A CHAIN``)."""

    family: Family = Family.IPV4
    tables: dict[str, dict[str, list[str]]] = field(default_factory=lambda: {t: {} for t in TABLES})
    jumps: tuple[Jump, ...] = JUMPS
    udp: dict[str, UdpTargets] = field(default_factory=dict)  # by service port key

    def chain(self, table: str, name: str) -> list[str]:
        return self.tables[table].setdefault(name, [])

    def rule_count(self) -> int:
        return sum(len(rules) for chains in self.tables.values() for rules in chains.values())


@functools.lru_cache(maxsize=65536)
def _hash(text: str) -> str:
    # kube-proxy's: base32 of sha256, 16 characters (which only the first 10 bytes decide)
    return base64.b32encode(hashlib.sha256(text.encode()).digest()[:10]).decode()


def svc_chain(sp: ServicePort) -> str:
    return f"{PREFIX}SVC-{_hash(sp.key + sp.protocol.lower())}"


def svl_chain(sp: ServicePort) -> str:
    return f"{PREFIX}SVL-{_hash(sp.key + sp.protocol.lower())}"


def ext_chain(sp: ServicePort) -> str:
    return f"{PREFIX}EXT-{_hash(sp.key + sp.protocol.lower())}"


def sep_chain(sp: ServicePort, ep: Endpoint) -> str:
    return f"{PREFIX}SEP-{_hash(sp.key + sp.protocol.lower() + ep.address)}"


def _comment(text: str) -> str:
    text = text.replace('"', "")[:255]
    return f'-m comment --comment "{text}"' if " " in text else f"-m comment --comment {text}"


def _host(ip: str, family: Family) -> str:
    return f"{ip}/{128 if family is Family.IPV6 else 32}"


def _proto(sp: ServicePort) -> str:
    p = sp.protocol.lower()
    return f"-p {p} -m {p}"


def _reject(sp: ServicePort) -> str:
    return "REJECT --reject-with " + ("icmp6-port-unreachable" if sp.family is Family.IPV6
                                      else "icmp-port-unreachable")


def _loopback(family: Family) -> str:
    return "::1/128" if family is Family.IPV6 else "127.0.0.0/8"


Fragment = list[tuple[str, str, str | None]]  # (table, chain, rule or None: chain declared) in order


class _Recorder:
    """Stands in for a ``Ruleset`` while one service port renders, so its rules can be replayed."""

    def __init__(self) -> None:
        self.fragment: Fragment = []

    def chain(self, table: str, name: str) -> _RecordingChain:
        self.fragment.append((table, name, None))
        return _RecordingChain(self.fragment, table, name)


class _RecordingChain:
    def __init__(self, fragment: Fragment, table: str, name: str) -> None:
        self.fragment, self.table, self.name = fragment, table, name

    def append(self, rule: str) -> None:
        self.fragment.append((self.table, self.name, rule))

    def extend(self, rules: Iterable[str]) -> None:
        for rule in rules:
            self.append(rule)


def render(services: Iterable[Mapping[str, Any]], slices: Iterable[Mapping[str, Any]], node: NodeInfo, *,
           family: Family = Family.IPV4, cache: RenderCache | None = None) -> Ruleset:
    """The whole ruleset for one IP family (``iptables`` for IPv4, ``ip6tables`` for IPv6).

    ``cache``: per Service, the rules rendered last time and the very objects (Service and
    its EndpointSlices) they came from; reused while those objects are the same ones (a
    watch replaces an object when it changes, never edits it), then replaced in place by
    what this render used. Services are rendered in (namespace, name) order.
    """
    by_service: dict[str, list[Mapping[str, Any]]] = {}
    for sl in slices:
        key = slice_service_key(sl)
        if key:
            by_service.setdefault(key, []).append(sl)
    keyed = sorted(((_service_key(svc), svc) for svc in services), key=lambda kv: kv[0])

    rs = Ruleset(family=family)
    for name in (SERVICES, EXTERNAL_SERVICES, FORWARD):
        rs.chain("filter", name)
    for name in (SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ):
        rs.chain("nat", name)
    _fixed_chains(rs, node)
    used: RenderCache = {}
    tables = rs.tables
    for skey, svc in keyed:
        own = by_service.get(skey, [])
        entry = cache.get(skey) if cache is not None else None
        if entry is None or not entry.matches(svc, own, node):
            entry = _render_service(svc, own, node, family)
        used[skey] = entry
        rs.udp.update(entry.udp)
        for table, chain, rule in entry.fragment:
            rules = tables[table].setdefault(chain, [])
            if rule is not None:
                rules.append(rule)
    if cache is not None:
        cache.clear()
        cache.update(used)
    rs.chain("nat", SERVICES).append(
        f'{_comment("skiff service nodeports; NOTE: this must be the last rule in this chain")} '
        f"-m addrtype --dst-type LOCAL ! -d {_loopback(family)} -j {NODEPORTS}")
    return rs


def _service_key(svc: Mapping[str, Any]) -> str:
    meta = svc.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


@dataclass
class _Entry:
    service: Mapping[str, Any]
    slices: list[Mapping[str, Any]]
    node: NodeInfo
    fragment: Fragment
    udp: dict[str, UdpTargets]

    def matches(self, svc: Mapping[str, Any], slices: list[Mapping[str, Any]], node: NodeInfo) -> bool:
        return (self.service is svc and self.node == node and len(self.slices) == len(slices)
                and all(a is b for a, b in zip(self.slices, slices)))


RenderCache = dict[str, _Entry]


def _render_service(svc: Mapping[str, Any], slices: list[Mapping[str, Any]], node: NodeInfo,
                    family: Family) -> _Entry:
    rec = _Recorder()
    udp: dict[str, UdpTargets] = {}
    ports = sorted((sp for sp in service_ports(svc) if sp.family is family), key=lambda sp: (sp.key, sp.protocol))
    for sp in ports:
        eps = categorize(sp, endpoints_for(sp, slices), node_name=node.name)
        _service_port(rec, sp, eps, node)  # type: ignore[arg-type]
        if sp.protocol == "UDP":
            udp[sp.key] = UdpTargets(sp.cluster_ip, sp.node_port, sp.external_ips,
                                     frozenset(e.ip for e in eps.cluster + eps.local))
    return _Entry(svc, list(slices), node, rec.fragment, udp)


def _fixed_chains(rs: Ruleset, node: NodeInfo) -> None:
    mark = node.masq_mark
    rs.chain("nat", POSTROUTING).extend([
        f"-m mark ! --mark {mark}/{mark} -j RETURN",
        # The mark is cleared so a packet re-entering the stack (e.g. through a tunnel) is not SNATed twice.
        f"-j MARK --xor-mark {mark}",
        f'{_comment("skiff service traffic requiring SNAT")} -j MASQUERADE --random-fully',
    ])
    rs.chain("nat", MARK_MASQ).append(f"-j MARK --or-mark {mark}")
    rs.chain("filter", FORWARD).extend([
        f'{_comment("skiff forwarding rules")} -m mark --mark {mark}/{mark} -j ACCEPT',
        f'{_comment("skiff forwarding conntrack rule")} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    ])


def _service_port(rs: Ruleset, sp: ServicePort, eps: Categorized, node: NodeInfo) -> None:
    has_endpoints = bool(eps.cluster or eps.local)
    uses_ext = has_endpoints and sp.externally_accessible
    # SVC serves cluster-policy traffic; an EXT chain also uses it for pods and the node itself.
    uses_svc = bool(eps.cluster) and (not sp.internal_local or uses_ext)
    uses_svl = bool(eps.local) and (sp.internal_local or (sp.external_local and uses_ext))
    internal_chain = svl_chain(sp) if sp.internal_local else svc_chain(sp)
    external_chain = svl_chain(sp) if sp.external_local else svc_chain(sp)
    proto = _proto(sp)
    fam = sp.family
    no_eps_target = _reject(sp)

    # ClusterIP
    cip = f"-d {_host(sp.cluster_ip, fam)} {proto} --dport {sp.port}" if sp.cluster_ip else ""
    if cip:
        comment = _comment(f"{sp.key} cluster IP")
        if eps.internal:
            rs.chain("nat", SERVICES).append(f"{comment} {cip} -j {internal_chain}")
        else:
            target = "DROP" if has_endpoints else no_eps_target
            why = "has no local endpoints" if has_endpoints else "has no endpoints"
            rs.chain("filter", SERVICES).append(f'{_comment(f"{sp.key} {why}")} {cip} -j {target}')

    # externalIPs and NodePort: via SKIFF-EXT-<h>, or rejected/dropped in the filter table.
    ext_target = "DROP" if has_endpoints else no_eps_target
    ext_why = "has no local endpoints" if has_endpoints else "has no endpoints"
    for eip in sp.external_ips:
        match = f"-d {_host(eip, fam)} {proto} --dport {sp.port}"
        if uses_ext:
            rs.chain("nat", SERVICES).append(f'{_comment(f"{sp.key} external IP")} {match} -j {ext_chain(sp)}')
        if not eps.external:
            rs.chain("filter", EXTERNAL_SERVICES).append(f'{_comment(f"{sp.key} {ext_why}")} {match} -j {ext_target}')
    if sp.node_port:
        if uses_ext:
            rs.chain("nat", NODEPORTS).append(f"{_comment(sp.key)} {proto} --dport {sp.node_port} -j {ext_chain(sp)}")
        if not eps.external:
            rs.chain("filter", EXTERNAL_SERVICES).append(
                f'{_comment(f"{sp.key} {ext_why}")} -m addrtype --dst-type LOCAL {proto} --dport {sp.node_port} '
                f"-j {ext_target}")

    if uses_ext:
        _ext_chain(rs, sp, eps, node, external_chain)
    if uses_svc:
        _lb_chain(rs, sp, svc_chain(sp), eps.cluster, node, masq=cip and not sp.internal_local)
    if uses_svl:
        _lb_chain(rs, sp, svl_chain(sp), eps.local, node, masq=cip and sp.internal_local)
    seps = {ep for ep in (eps.cluster if uses_svc else ()) + (eps.local if uses_svl else ())}
    for ep in sorted(seps, key=lambda e: sep_chain(sp, e)):
        _sep_chain(rs, sp, ep)


def _ext_chain(rs: Ruleset, sp: ServicePort, eps: Categorized, node: NodeInfo, external_chain: str) -> None:
    chain = rs.chain("nat", ext_chain(sp))
    if sp.external_local:
        if node.cluster_cidr and eps.cluster:
            # Pods reaching the Service through a node port still get any endpoint (kube-proxy does this too).
            chain.append(f'{_comment(f"pod traffic for {sp.key} external destinations")} '
                         f"-s {node.cluster_cidr} -j {svc_chain(sp)}")
        if eps.cluster:
            chain.append(f'{_comment(f"masquerade LOCAL traffic for {sp.key} external destinations")} '
                         f"-m addrtype --src-type LOCAL -j {MARK_MASQ}")
            chain.append(f'{_comment(f"route LOCAL traffic for {sp.key} external destinations")} '
                         f"-m addrtype --src-type LOCAL -j {svc_chain(sp)}")
        if eps.local:
            chain.append(f"-j {external_chain}")
    else:
        chain.append(f'{_comment(f"masquerade traffic for {sp.key} external destinations")} -j {MARK_MASQ}')
        chain.append(f"-j {external_chain}")


def _lb_chain(rs: Ruleset, sp: ServicePort, name: str, endpoints: tuple[Endpoint, ...], node: NodeInfo, *,
              masq: bool | str) -> None:
    chain = rs.chain("nat", name)
    if masq and node.cluster_cidr:
        # Off-cluster traffic to a ClusterIP (a route to the Service range via this node) may leave again: SNAT it.
        chain.append(f'{_comment(f"{sp.key} cluster IP")} ! -s {node.cluster_cidr} '
                     f"-d {_host(sp.cluster_ip or '', sp.family)} {_proto(sp)} --dport {sp.port} -j {MARK_MASQ}")
    if sp.affinity_timeout is not None:
        for ep in endpoints:
            sep = sep_chain(sp, ep)
            chain.append(f'{_comment(f"{sp.key} -> {ep.address}")} -m recent --name {sep} --rcheck '
                         f"--seconds {sp.affinity_timeout} --reap -j {sep}")
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        sep = sep_chain(sp, ep)
        stat = "" if i == n - 1 else f"-m statistic --mode random --probability {1.0 / (n - i):0.10f} "
        chain.append(f'{_comment(f"{sp.key} -> {ep.address}")} {stat}-j {sep}')


def _sep_chain(rs: Ruleset, sp: ServicePort, ep: Endpoint) -> None:
    name = sep_chain(sp, ep)
    chain = rs.chain("nat", name)
    comment = _comment(sp.key)
    chain.append(f"{comment} -s {_host(ep.ip, sp.family)} -j {MARK_MASQ}")
    recent = f"-m recent --name {name} --set " if sp.affinity_timeout is not None else ""
    chain.append(f"{comment} {recent}{_proto(sp)} -j DNAT --to-destination {ep.address}")
