"""What the proxy needs from Services and EndpointSlices, read from plain API dicts.

Pure: no I/O, no clocks. ``service_ports`` flattens a Service into one ``ServicePort``
per (port, IP family); ``endpoints_for`` finds its endpoints in EndpointSlices (port
matched by name, as kube-proxy does: the EndpointSlice controller already resolved a
named ``targetPort`` per pod); ``categorize`` picks which endpoints serve cluster and
external traffic, following kube-proxy's ``topology.CategorizeEndpoints``: ready
endpoints only, and if none is ready, the serving-but-terminating ones (so a rolling
update drains instead of refusing), and only this node's for a ``Local`` policy.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_AFFINITY_TIMEOUT = 10800  # seconds, the API default for ClientIP affinity


class Family(str, Enum):
    IPV4 = "IPv4"
    IPV6 = "IPv6"


@dataclass(frozen=True)
class NodeInfo:
    """The node the rules are for."""

    name: str
    #: the pod network of the cluster; traffic to a ClusterIP from outside it is masqueraded
    cluster_cidr: str | None = None
    #: bit of the packet mark that asks for SNAT (kube-proxy's --iptables-masquerade-bit)
    masquerade_bit: int = 14

    @property
    def masq_mark(self) -> str:
        return hex(1 << self.masquerade_bit)


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, for one IP family."""

    namespace: str
    name: str
    port_name: str
    protocol: str  # "TCP" | "UDP" | "SCTP"
    port: int
    target_port: int | str
    cluster_ip: str | None
    node_port: int | None = None
    external_ips: tuple[str, ...] = ()
    affinity_timeout: int | None = None  # seconds; None = no session affinity
    internal_local: bool = False
    external_local: bool = False
    family: Family = Family.IPV4

    @property
    def key(self) -> str:
        """kube-proxy's ServicePortName spelling: ``ns/name`` or ``ns/name:port``."""
        base = f"{self.namespace}/{self.name}"
        return f"{base}:{self.port_name}" if self.port_name else base

    @property
    def service_key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.external_ips)


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    node_name: str | None = None
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    hostname: str | None = None

    @property
    def address(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class Categorized:
    """Endpoints for each kind of traffic of one ServicePort."""

    all_endpoints: tuple[Endpoint, ...]
    cluster: tuple[Endpoint, ...]  # used by the SVC chain (cluster policy)
    local: tuple[Endpoint, ...]  # used by the SVL chain (Local policy)
    internal: tuple[Endpoint, ...] = field(default=())  # what ClusterIP traffic reaches
    external: tuple[Endpoint, ...] = field(default=())  # what NodePort/externalIP traffic reaches


def family_of(ip: str) -> Family:
    return Family.IPV6 if ipaddress.ip_address(ip).version == 6 else Family.IPV4


def is_headless(service: Mapping[str, Any]) -> bool:
    spec = service.get("spec") or {}
    return spec.get("clusterIP") == "None" or spec.get("type") == "ExternalName"


def service_ports(service: Mapping[str, Any]) -> list[ServicePort]:
    """The ports the proxy programs for a Service; none for headless or ExternalName."""
    if is_headless(service):
        return []
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    ips = list(spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []))
    if not ips:
        return []  # not allocated yet
    affinity = None
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        affinity = int(cfg.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    external_ips = tuple(spec.get("externalIPs") or ())
    svc_type = spec.get("type") or "ClusterIP"
    out = []
    for ip in ips:
        fam = family_of(ip)
        for p in spec.get("ports") or ():
            out.append(ServicePort(
                namespace=meta.get("namespace") or "default", name=meta["name"],
                port_name=p.get("name") or "", protocol=p.get("protocol") or "TCP", port=int(p["port"]),
                target_port=p.get("targetPort", p["port"]), cluster_ip=ip,
                node_port=int(p["nodePort"]) if p.get("nodePort") and svc_type in ("NodePort", "LoadBalancer")
                else None,
                external_ips=tuple(e for e in external_ips if family_of(e) == fam),
                affinity_timeout=affinity,
                internal_local=spec.get("internalTrafficPolicy") == "Local",
                external_local=spec.get("externalTrafficPolicy") == "Local"
                and svc_type in ("NodePort", "LoadBalancer"),
                family=fam))
    return out


def _condition(conditions: Mapping[str, Any], name: str, default: bool) -> bool:
    value = conditions.get(name)
    return default if value is None else bool(value)


def slice_service_key(slice_: Mapping[str, Any]) -> str | None:
    meta = slice_.get("metadata") or {}
    svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return f"{meta.get('namespace') or 'default'}/{svc}" if svc else None


def endpoints_for(sp: ServicePort, slices: Iterable[Mapping[str, Any]]) -> list[Endpoint]:
    """Endpoints of ``sp`` in ``slices`` (already those of its Service), deduplicated, sorted."""
    found: dict[tuple[str, int], Endpoint] = {}
    for sl in slices:
        if sl.get("addressType", "IPv4") != sp.family.value:
            continue
        port = None
        for p in sl.get("ports") or ():
            if (p.get("name") or "") == sp.port_name and (p.get("protocol") or "TCP") == sp.protocol:
                port = p.get("port")
                break
        if port is None:
            # A slice written by hand may omit the port; a numeric targetPort still says where to go.
            if isinstance(sp.target_port, int) and not (sl.get("ports") or ()):
                port = sp.target_port
            else:
                continue
        for ep in sl.get("endpoints") or ():
            cond = ep.get("conditions") or {}
            ready = _condition(cond, "ready", True)
            for ip in (ep.get("addresses") or ())[:1]:  # kube-proxy uses the first address only
                e = Endpoint(ip=ip, port=int(port), node_name=ep.get("nodeName"), ready=ready,
                             serving=_condition(cond, "serving", ready),
                             terminating=_condition(cond, "terminating", False), hostname=ep.get("hostname"))
                prev = found.get((ip, e.port))
                if prev is None or (e.ready and not prev.ready):
                    found[(ip, e.port)] = e
    return sorted(found.values(), key=_endpoint_order)


def _endpoint_order(e: Endpoint) -> tuple[int, bytes, int]:
    try:
        packed = socket.inet_pton(socket.AF_INET6 if ":" in e.ip else socket.AF_INET, e.ip)
    except OSError:
        return (2, e.ip.encode(), e.port)
    return (len(packed), packed, e.port)


def _usable(eps: list[Endpoint]) -> list[Endpoint]:
    ready = [e for e in eps if e.ready]
    if ready:
        return ready
    return [e for e in eps if e.serving and e.terminating]


def categorize(sp: ServicePort, endpoints: list[Endpoint], *, node_name: str) -> Categorized:
    cluster = _usable(endpoints)
    local = _usable([e for e in endpoints if e.node_name == node_name])
    return Categorized(
        all_endpoints=tuple(endpoints), cluster=tuple(cluster), local=tuple(local),
        internal=tuple(local if sp.internal_local else cluster),
        external=tuple(local if sp.external_local else cluster))
