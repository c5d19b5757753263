"""Admission: defaults, validation and the kind-specific rules applied before a write.

Order, as in Kubernetes: the server's strategy has set system metadata; then
defaults, then kind-specific mutation (a pod's service account and its token volume, a Service's
ClusterIP and NodePorts), then validation. Allocations are recorded as etcd keys
created with compare-and-swap, so concurrent creates never get the same IP or port.
"""
from __future__ import annotations

import ipaddress
import random
from typing import TYPE_CHECKING, Any

from skiff.api import fielderrors, validation
from skiff.api.defaults import add_default_tolerations
from skiff.api.resources import Resource

from . import saadmission, status

if TYPE_CHECKING:
    from .registry import Registry, WriteOptions

Obj = dict[str, Any]

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
NODE_PORT_RANGE = (30000, 32767)
IP_KEY = "/registry/ranges/serviceips/"
PORT_KEY = "/registry/ranges/servicenodeports/"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def _raise_invalid(res: Resource, obj: Obj, errors: list[fielderrors.FieldError]) -> None:
    if errors:
        raise status.invalid(res, obj.get("metadata", {}).get("name", ""), errors)


async def admit_create(reg: "Registry", res: Resource, obj: Obj, opts: "WriteOptions") -> Obj:
    if res.kind == "Pod" and isinstance(obj.get("spec"), dict):
        # before the defaults, which add Kubernetes' 300 s only where nothing tolerates the taints
        not_ready, unreachable = reg.default_toleration_seconds
        add_default_tolerations(obj["spec"], not_ready_seconds=not_ready, unreachable_seconds=unreachable)
    validation.apply_defaults(res, obj)
    if res.kind == "Namespace":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif res.kind == "Pod":
        spec = obj.setdefault("spec", {})
        if not spec.get("serviceAccountName"):
            spec["serviceAccountName"] = spec.get("serviceAccount") or "default"
        await _service_account_token(reg, obj)
        obj.setdefault("status", {}).setdefault("phase", "Pending")
    _raise_invalid(res, obj, validation.validate(res, obj))
    if res.kind == "Service" and not opts.dry_run:
        await _allocate_service(reg, res, obj, None)
    return obj


async def _service_account_token(reg: "Registry", pod: Obj) -> None:
    """The ServiceAccount plugin's ``kube-api-access-*`` volume (not for mirror pods). An account
    that does not exist (yet) counts as one that automounts: Skiff does not refuse such pods
    (kube-apiserver does, with 403), since the ServiceAccount controller may not have made a
    new namespace's ``default`` account yet."""
    from skiff.api.resources import find

    meta = pod.get("metadata") or {}
    if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
        return
    spec = pod["spec"]
    account = None
    if spec.get("automountServiceAccountToken") is None:
        try:
            account = await reg.get(find("serviceaccounts"), meta.get("namespace") or "default",
                                    str(spec["serviceAccountName"]))
        except status.StatusError as exc:
            if exc.code != 404:
                raise
    if saadmission.should_automount(spec, account):
        saadmission.mount_token(spec, suffix=saadmission.random_suffix())


async def admit_update(reg: "Registry", res: Resource, obj: Obj, old: Obj, opts: "WriteOptions", *,
                       subresource: str | None) -> Obj:
    validation.apply_defaults(res, obj)
    if subresource == "binding":
        # Binding is the one way to set a pod's nodeName; validate the rest as an update.
        old = {**old, "spec": {**old.get("spec", {}), "nodeName": obj.get("spec", {}).get("nodeName")}}
    _raise_invalid(res, obj, validation.validate(res, obj, old=old))
    if res.kind == "Service" and subresource is None and not opts.dry_run:
        await _allocate_service(reg, res, obj, old)
    return obj


async def after_create(reg: "Registry", res: Resource, obj: Obj) -> None:
    """Hook for side effects of a create (none yet: namespaces' default ServiceAccount is the
    ServiceAccount controller's job, as in Kubernetes)."""


async def after_delete(reg: "Registry", res: Resource, obj: Obj) -> None:
    if res.kind == "Service":
        await release_service(reg, obj)


async def release_service(reg: "Registry", obj: Obj) -> None:
    spec = obj.get("spec", {})
    for ip in spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []):
        await _release(reg, IP_KEY + ip)
    for port in spec.get("ports") or []:
        if port.get("nodePort"):
            await _release(reg, PORT_KEY + str(port["nodePort"]))


async def _release(reg: "Registry", key: str) -> None:
    kv = await reg.store.get(key)
    if kv is not None:
        try:
            await reg.store.delete(key, expected_revision=kv.mod_revision)
        except Exception:  # noqa: BLE001 - someone else released it
            pass


async def _claim(reg: "Registry", key: str, owner: str) -> bool:
    from .etcd.store import KeyExists

    try:
        await reg.store.create(key, {"owner": owner})
        return True
    except KeyExists:
        kv = await reg.store.get(key)
        return kv is not None and kv.value.get("owner") == owner


async def _allocate_service(reg: "Registry", res: Resource, obj: Obj, old: Obj | None) -> None:
    spec = obj.setdefault("spec", {})
    meta = obj["metadata"]
    owner = f'{meta.get("namespace")}/{meta["name"]}'
    svc_type = spec.get("type", "ClusterIP")
    if svc_type != "ExternalName":
        ip = spec.get("clusterIP")
        if ip in (None, ""):
            for _ in range(64):
                candidate = str(SERVICE_CIDR[random.randint(2, SERVICE_CIDR.num_addresses - 2)])
                if await _claim(reg, IP_KEY + candidate, owner):
                    spec["clusterIP"] = candidate
                    break
            else:
                raise status.StatusError(500, "InternalError", "no ClusterIP available in 10.96.0.0/12")
        elif ip != "None" and (old is None or old.get("spec", {}).get("clusterIP") != ip):
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                addr = None
            if addr is None or addr not in SERVICE_CIDR:
                _raise_invalid(res, obj, [fielderrors.invalid(
                    "spec.clusterIPs[0]", ip,
                    f"provided IP is not in the valid range. The range of valid IPs is {SERVICE_CIDR}")])
            if not await _claim(reg, IP_KEY + ip, owner):
                _raise_invalid(res, obj, [fielderrors.invalid(
                    "spec.clusterIPs", [ip], f"failed to allocate IP {ip}: provided IP is already allocated")])
        spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    if svc_type in ("NodePort", "LoadBalancer"):
        old_ports = {p.get("nodePort") for p in (old or {}).get("spec", {}).get("ports") or []}
        for i, port in enumerate(spec.get("ports") or []):
            wanted = port.get("nodePort")
            if wanted:
                if wanted in old_ports:
                    continue
                lo, hi = NODE_PORT_RANGE
                if not lo <= int(wanted) <= hi or not await _claim(reg, PORT_KEY + str(wanted), owner):
                    why = ("provided port is already allocated" if lo <= int(wanted) <= hi
                           else f"provided port is not in the valid range. The range of valid ports is {lo}-{hi}")
                    _raise_invalid(res, obj, [fielderrors.invalid(
                        f"spec.ports[{i}].nodePort", wanted, why)])
                continue
            for _ in range(256):
                candidate = random.randint(*NODE_PORT_RANGE)
                if await _claim(reg, PORT_KEY + str(candidate), owner):
                    port["nodePort"] = candidate
                    break
