"""Discovery documents: /api, /apis, each group-version's resources, aggregated discovery.

Built once from ``skiff.api.resources``; pure data, no I/O.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from skiff.api.resources import RESOURCES, Resource, group_versions

Obj = dict[str, Any]

_SUB_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "binding": ["create"],
    "eviction": ["create"],
    "log": ["get"],
    "exec": ["create", "get"],
    "attach": ["create", "get"],
    "portforward": ["create", "get"],
    "proxy": ["create", "delete", "get", "patch", "update"],
    "finalize": ["update"],
    "token": ["create"],
}
_SUB_KIND = {"scale": ("autoscaling", "v1", "Scale"), "binding": ("", "v1", "Binding"),
             "eviction": ("policy", "v1", "Eviction"), "token": ("authentication.k8s.io", "v1", "TokenRequest")}


def _resource_entries(res: Resource) -> list[Obj]:
    main: Obj = {
        "name": res.plural, "singularName": res.singular, "namespaced": res.namespaced, "kind": res.kind,
        "verbs": list(res.verbs), "storageVersionHash": "",
    }
    if res.short_names:
        main["shortNames"] = list(res.short_names)
    if res.categories:
        main["categories"] = list(res.categories)
    out = [main]
    for sub in res.subresources:
        entry: Obj = {"name": f"{res.plural}/{sub}", "singularName": "", "namespaced": res.namespaced,
                      "kind": res.kind, "verbs": _SUB_VERBS.get(sub, ["get"])}
        if sub in _SUB_KIND:
            g, v, k = _SUB_KIND[sub]
            entry.update(kind=k, **({"group": g} if g else {}), version=v)
        out.append(entry)
    return out


@lru_cache(maxsize=None)
def resource_list(group: str, version: str) -> Obj | None:
    items = [e for r in RESOURCES if (r.group, r.version) == (group, version) for e in _resource_entries(r)]
    if not items:
        return None
    if (group, version) == ("", "v1"):
        items.append({"name": "bindings", "singularName": "binding", "namespaced": True, "kind": "Binding",
                      "verbs": ["create"]})
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": items}


def core_versions(server_address: str) -> Obj:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(group: str) -> Obj:
    versions = [v for g, v in group_versions() if g == group]
    gv = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gv, "preferredVersion": gv[0]}


def group_list() -> Obj:
    groups = [g for g in dict.fromkeys(g for g, _ in group_versions()) if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g) for g in groups]}


def group(name: str) -> Obj | None:
    if not any(g == name for g, _ in group_versions()):
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def aggregated(core: bool, *, api_version: str) -> Obj:
    """``apidiscovery.k8s.io`` APIGroupDiscoveryList for /api (core) or /apis."""
    groups = [g for g in dict.fromkeys(g for g, _ in group_versions()) if (g == "") == core]
    items = []
    for g in groups:
        versions = []
        for gg, v in group_versions():
            if gg != g:
                continue
            resources = []
            for r in RESOURCES:
                if (r.group, r.version) != (g, v):
                    continue
                entry: Obj = {
                    "resource": r.plural, "responseKind": {"group": g, "version": v, "kind": r.kind},
                    "scope": "Namespaced" if r.namespaced else "Cluster", "singularResource": r.singular,
                    "verbs": list(r.verbs),
                }
                if r.short_names:
                    entry["shortNames"] = list(r.short_names)
                if r.categories:
                    entry["categories"] = list(r.categories)
                subs = []
                for sub in r.subresources:
                    sg, sv, sk = _SUB_KIND.get(sub, (g, v, r.kind))
                    subs.append({"subresource": sub, "responseKind": {"group": sg, "version": sv, "kind": sk},
                                 "verbs": _SUB_VERBS.get(sub, ["get"])})
                if subs:
                    entry["subresources"] = subs
                resources.append(entry)
            versions.append({"version": v, "resources": resources, "freshness": "Current"})
        items.append({"metadata": {"name": g, "creationTimestamp": None}, "versions": versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}
