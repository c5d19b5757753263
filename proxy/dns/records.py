"""The answer logic of cluster DNS, pure: an index of records built from Services and
EndpointSlices, and ``lookup`` deciding the rcode and records for one question.

Follows the Kubernetes DNS specification (as CoreDNS's kubernetes plugin serves it):

* ``<svc>.<ns>.svc.<zone>``: A/AAAA of the ClusterIP(s); for a headless Service, one
  record per ready endpoint (every endpoint with ``publishNotReadyAddresses``);
  ExternalName Services are a CNAME.
* ``<hostname>.<svc>.<ns>.svc.<zone>`` for endpoints with a hostname (StatefulSet pods
  behind their governing headless Service: ``web-0.web.ns.svc.cluster.local``).
* ``_<port>._<proto>.<svc>.<ns>.svc.<zone>`` SRV for named ports: the Service name for
  a ClusterIP Service, one target per endpoint (its hostname, or its dashed IP) when
  headless.
* ``a-b-c-d.<ns>.pod.<zone>`` A (CoreDNS's ``pods insecure``) and PTR for ClusterIPs and
  hostnamed endpoints.
* A name in the zone that does not exist is NXDOMAIN; a name that exists (or has names
  below it) without records of the asked type is NOERROR with no answer.

It never does I/O and knows nothing of sockets or upstreams (``server.py`` does).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from skiff.proxy.model import SERVICE_NAME_LABEL

DEFAULT_ZONE = "cluster.local"
DEFAULT_TTL = 5


class Rcode(str, Enum):
    NOERROR = "NOERROR"
    NXDOMAIN = "NXDOMAIN"
    NOTOURS = "NOTOURS"  # outside the cluster's names: forward it


@dataclass(frozen=True)
class Record:
    name: str  # absolute, lower case, with the trailing dot
    rdtype: str  # "A", "AAAA", "SRV", "PTR", "CNAME"
    rdata: str  # zone-file presentation of the data


@dataclass(frozen=True)
class Answer:
    rcode: Rcode
    records: tuple[Record, ...] = ()


def _ptr_name(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer + "."


def _dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def _rtype(ip: str) -> str:
    return "AAAA" if ":" in ip else "A"


@dataclass
class Index:
    zone: str = DEFAULT_ZONE
    records: dict[tuple[str, str], list[Record]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # every owner name and every name above one, in the zone

    def add(self, name: str, rdtype: str, rdata: str) -> None:
        name = name.lower()
        bucket = self.records.setdefault((name, rdtype), [])
        rec = Record(name, rdtype, rdata)
        if rec not in bucket:
            bucket.append(rec)
        suffix = f"{self.zone}."
        while name.endswith(suffix) and name not in self.names:
            self.names.add(name)
            name = name.split(".", 1)[1]


def build_index(services: Iterable[Mapping[str, Any]], slices: Iterable[Mapping[str, Any]], *,
                zone: str = DEFAULT_ZONE) -> Index:
    idx = Index(zone=zone.strip(".").lower())
    by_service: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for sl in slices:
        meta = sl.get("metadata") or {}
        svc_name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if svc_name:
            by_service.setdefault((meta.get("namespace") or "default", svc_name), []).append(sl)
    for svc in services:
        meta = svc.get("metadata") or {}
        ns, name = meta.get("namespace") or "default", meta["name"]
        _service(idx, svc, by_service.get((ns, name), []), f"{name}.{ns}.svc.{idx.zone}.")
    return idx


def _service(idx: Index, svc: Mapping[str, Any], slices: list[Mapping[str, Any]], fqdn: str) -> None:
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        if spec.get("externalName"):
            idx.add(fqdn, "CNAME", spec["externalName"].rstrip(".") + ".")
        return
    headless = spec.get("clusterIP") == "None"
    if not headless:
        ips = list(spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []))
        for ip in ips:
            idx.add(fqdn, _rtype(ip), ip)
            idx.add(_ptr_name(ip), "PTR", fqdn)
        for p in spec.get("ports") or ():
            if p.get("name"):
                srv = f"_{p['name']}._{(p.get('protocol') or 'TCP').lower()}.{fqdn}"
                idx.add(srv, "SRV", f"0 100 {p['port']} {fqdn}")
        return
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    for sl in slices:
        for ep in sl.get("endpoints") or ():
            ready = (ep.get("conditions") or {}).get("ready")
            if not (publish_not_ready or ready is None or ready):
                continue
            hostname = ep.get("hostname")
            for ip in ep.get("addresses") or ():
                idx.add(fqdn, _rtype(ip), ip)
                host = f"{hostname or _dashed(ip)}.{fqdn}"
                idx.add(host, _rtype(ip), ip)
                if hostname:
                    idx.add(_ptr_name(ip), "PTR", host)
                for p in sl.get("ports") or ():
                    if p.get("name") and p.get("port"):
                        srv = f"_{p['name']}._{(p.get('protocol') or 'TCP').lower()}.{fqdn}"
                        idx.add(srv, "SRV", f"0 100 {p['port']} {host}")


def _pod_record(idx: Index, name: str, rdtype: str) -> Answer | None:
    """``1-2-3-4.<ns>.pod.<zone>``: answered from the name itself, as CoreDNS's ``pods insecure``."""
    labels = name[: -len(f".{idx.zone}.")].split(".")
    if len(labels) != 3 or labels[2] != "pod":
        return None
    dashed = labels[0]
    try:
        ip = ipaddress.ip_address(dashed.replace("-", ".") if dashed.count("-") == 3 else dashed.replace("-", ":"))
    except ValueError:
        return Answer(Rcode.NXDOMAIN)
    want = "AAAA" if ip.version == 6 else "A"
    return Answer(Rcode.NOERROR, (Record(name, want, str(ip)),) if rdtype in (want, "ANY") else ())


def lookup(idx: Index, qname: str, rdtype: str) -> Answer:
    """The answer for one question; ``qname`` absolute or not, any case."""
    name = qname.lower() if qname.endswith(".") else qname.lower() + "."
    zone = f"{idx.zone}."
    if name.endswith(".in-addr.arpa.") or name.endswith(".ip6.arpa."):
        recs = idx.records.get((name, "PTR"))
        if recs is None:
            return Answer(Rcode.NOTOURS)
        return Answer(Rcode.NOERROR, tuple(recs) if rdtype in ("PTR", "ANY") else ())
    if name != zone and not name.endswith("." + zone):
        return Answer(Rcode.NOTOURS)
    pod = _pod_record(idx, name, rdtype)
    if pod is not None:
        return pod
    if rdtype == "ANY":
        found = tuple(r for (n, _), recs in idx.records.items() if n == name for r in recs)
        return Answer(Rcode.NOERROR if found or name in idx.names or name == zone else Rcode.NXDOMAIN, found)
    recs = idx.records.get((name, rdtype))
    if recs:
        return Answer(Rcode.NOERROR, tuple(recs))
    cname = idx.records.get((name, "CNAME"))
    if cname:
        return Answer(Rcode.NOERROR, tuple(cname))
    if name in idx.names or name == zone or name in (f"svc.{zone}", f"pod.{zone}"):
        return Answer(Rcode.NOERROR)
    return Answer(Rcode.NXDOMAIN)
