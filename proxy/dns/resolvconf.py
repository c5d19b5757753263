"""The ``/etc/resolv.conf`` the node agent writes into a pod, as the kubelet does. Pure.

``dnsPolicy``: ClusterFirst (the default; with hostNetwork it behaves as Default unless
ClusterFirstWithHostNet), Default (the node's resolv.conf), None (only ``dnsConfig``).
``dnsConfig`` nameservers and searches are appended, options override by name. Limits
as the kubelet: 3 nameservers, 32 search domains, 2048 characters of search line.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_NAMESERVERS = 3
MAX_SEARCHES = 32
MAX_SEARCH_CHARS = 2048


def parse_resolv_conf(text: str) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, searches, options) of a resolv.conf."""
    ns: list[str] = []
    search: list[str] = []
    opts: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            ns.append(fields[1])
        elif fields[0] in ("search", "domain"):
            search = fields[1:]
        elif fields[0] == "options":
            opts.extend(fields[1:])
    return ns, search, opts


def _merge_options(base: Sequence[str], extra: Sequence[Mapping[str, Any]]) -> list[str]:
    merged: dict[str, str | None] = {}
    for opt in base:
        name, _, value = opt.partition(":")
        merged[name] = value or None
    for item in extra:
        merged[item["name"]] = None if item.get("value") in (None, "") else str(item["value"])
    return [k if v is None else f"{k}:{v}" for k, v in merged.items()]


def pod_resolv_conf(pod: Mapping[str, Any], *, cluster_dns: Sequence[str] = ("10.96.0.10",),
                    cluster_domain: str = "cluster.local", host_resolv_conf: str = "") -> str:
    spec = pod.get("spec") or {}
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirst" and spec.get("hostNetwork"):
        policy = "Default"
    host_ns, host_search, host_opts = parse_resolv_conf(host_resolv_conf)
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        nameservers = list(cluster_dns)
        searches = [f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain, *host_search]
        options = ["ndots:5"]
    elif policy == "Default":
        nameservers, searches, options = host_ns, host_search, host_opts
    else:  # "None"
        nameservers, searches, options = [], [], []
    cfg = spec.get("dnsConfig") or {}
    nameservers = [*nameservers, *(cfg.get("nameservers") or ())]
    searches = [*searches, *(s for s in (cfg.get("searches") or ()) if s not in searches)]
    options = _merge_options(options, cfg.get("options") or ())
    nameservers = nameservers[:MAX_NAMESERVERS]
    kept: list[str] = []
    for s in searches[:MAX_SEARCHES]:
        if len(" ".join([*kept, s])) > MAX_SEARCH_CHARS:
            break
        kept.append(s)
    lines = [f"search {' '.join(kept)}"] if kept else []
    lines += [f"nameserver {n}" for n in nameservers]
    if options:
        lines.append(f"options {' '.join(options)}")
    return "\n".join(lines) + "\n"
