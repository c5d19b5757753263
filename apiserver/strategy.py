"""What the server itself sets on objects: system metadata, generation, status rules.

Pure functions: they take the incoming and stored objects (and ``now``/``uid``
injected) and return the object to store. They never touch etcd.
"""
from __future__ import annotations

import copy
import datetime as dt
import secrets
import uuid
from typing import Any

from skiff.api.resources import Resource

Obj = dict[str, Any]

#: fields of metadata only the server may set; a client's values are replaced
SYSTEM_META = ("uid", "creationTimestamp", "resourceVersion", "generation", "deletionTimestamp",
               "deletionGracePeriodSeconds", "selfLink")

_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' utilrand alphabet: no vowels, no 0/1/3


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_name(prefix: str) -> str:
    return prefix[: 63 - 5] + "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))


def has_status_subresource(res: Resource) -> bool:
    return "status" in res.subresources


def spec_of(res: Resource, obj: Obj) -> dict[str, Any]:
    """What counts as "spec" for generation: every top-level field but metadata/status/kind."""
    if res.spec_fields == ("spec",):
        return {"spec": obj.get("spec")}
    skip = {"metadata", "status", "kind", "apiVersion"}
    return {k: v for k, v in obj.items() if k not in skip}


def prepare_create(res: Resource, obj: Obj, *, namespace: str | None, now: dt.datetime, uid: str) -> Obj:
    out = copy.deepcopy(obj)
    out["apiVersion"] = res.api_version
    out["kind"] = res.kind
    meta = out.setdefault("metadata", {})
    for f in SYSTEM_META:
        meta.pop(f, None)
    if res.namespaced:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = generate_name(meta["generateName"])
    meta["uid"] = uid
    meta["creationTimestamp"] = rfc3339(now)
    if res.spec_fields:
        meta["generation"] = 1
    if has_status_subresource(res) and res.kind not in ("Namespace",):
        # Status is written through /status; what a create carries is kept only
        # where Kubernetes keeps it (it resets status for workloads, pods and nodes).
        if res.kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"):
            out.pop("status", None)
    return out


def prepare_update(res: Resource, new: Obj, old: Obj, *, subresource: str | None) -> Obj:
    """The object to store when ``new`` replaces ``old`` (both without resourceVersion)."""
    out = copy.deepcopy(new)
    out["apiVersion"] = res.api_version
    out["kind"] = res.kind
    meta = out.setdefault("metadata", {})
    old_meta = old.get("metadata", {})
    for f in SYSTEM_META:
        if f in old_meta:
            meta[f] = old_meta[f]
        else:
            meta.pop(f, None)
    meta["name"] = old_meta.get("name")
    if res.namespaced:
        meta["namespace"] = old_meta.get("namespace")
    if subresource == "status":
        # Only status changes through /status (metadata too, as Kubernetes allows labels etc.).
        kept = {k: v for k, v in old.items() if k not in ("status", "metadata")}
        kept["metadata"] = meta
        if "status" in out:
            kept["status"] = out["status"]
        else:
            kept.pop("status", None)
        return kept
    # a binding writes nodeName and the PodScheduled condition in one update, as kube-apiserver's does
    if has_status_subresource(res) and res.kind != "Namespace" and subresource != "binding":
        if "status" in old:
            out["status"] = copy.deepcopy(old["status"])
        else:
            out.pop("status", None)
    if res.spec_fields and spec_of(res, out) != spec_of(res, old):
        meta["generation"] = int(old_meta.get("generation", 1)) + 1
    return out


def new_uid() -> str:
    return str(uuid.uuid4())

