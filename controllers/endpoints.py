"""Endpoints and EndpointSlice controllers for Services with a selector.

The pure part turns (service, pods) into endpoint groups: one group per distinct set of
resolved ports (a named ``targetPort`` resolves per pod, so pods may differ), each
endpoint with Kubernetes' ready/serving/terminating conditions. ``desired_endpoints``
renders the legacy Endpoints object, ``desired_slices`` the EndpointSlices (named
deterministically per port set, owned by the Service). The controllers compare with
what exists and write only differences.
"""
from __future__ import annotations

import hashlib
from typing import Any

from skiff.api.resources import find
from skiff.api.selectors import from_label_selector
from skiff.client import ApiError
from skiff.machinery.objects import (Obj, is_deleting, is_pod_ready, is_pod_terminal, key_of, labels_of, meta,
                                     node_name, owner_ref)

from .base import Controller

SERVICES = find("services")
PODS = find("pods")
ENDPOINTS = find("endpoints")
SLICES = find("endpointslices.discovery.k8s.io")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"

PortKey = tuple[tuple[str, int, str, str | None], ...]


def service_selects(svc: Obj) -> bool:
    spec = svc.get("spec") or {}
    return bool(spec.get("selector")) and spec.get("type") != "ExternalName"


def resolve_port(port: Obj, pod: Obj) -> int | None:
    target = port.get("targetPort")
    if target is None or target == "":
        return int(port.get("port") or 0)
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    proto = port.get("protocol") or "TCP"
    for c in (pod.get("spec") or {}).get("containers") or []:
        for cp in c.get("ports") or []:
            if cp.get("name") == target and (cp.get("protocol") or "TCP") == proto:
                return int(cp["containerPort"])
    return None


def selected_pods(svc: Obj, pods: list[Obj]) -> list[Obj]:
    sel = from_label_selector({"matchLabels": (svc.get("spec") or {}).get("selector") or {}})
    ns = meta(svc).get("namespace")
    return [p for p in pods if meta(p).get("namespace") == ns and sel.matches(labels_of(p))
            and not is_pod_terminal(p) and (p.get("status") or {}).get("podIP")]


def endpoint_groups(svc: Obj, pods: list[Obj]) -> dict[PortKey, list[Obj]]:
    """Pods grouped by their resolved port set (pods resolving no port are left out)."""
    ports = (svc.get("spec") or {}).get("ports") or []
    groups: dict[PortKey, list[Obj]] = {}
    for pod in selected_pods(svc, pods):
        key: list[tuple[str, int, str, str | None]] = []
        for p in ports:
            n = resolve_port(p, pod)
            if n is not None:
                key.append((p.get("name") or "", n, p.get("protocol") or "TCP", p.get("appProtocol")))
        if ports and not key:
            continue
        groups.setdefault(tuple(key), []).append(pod)
    return groups


def _target_ref(pod: Obj) -> Obj:
    m = meta(pod)
    return {"kind": "Pod", "name": m.get("name"), "namespace": m.get("namespace"), "uid": m.get("uid")}


def _port_list(key: PortKey) -> list[Obj]:
    out = []
    for name, port, proto, app in key:
        p: Obj = {"port": port, "protocol": proto}
        if name:
            p["name"] = name
        if app:
            p["appProtocol"] = app
        out.append(p)
    return out


def published_hostname(svc: Obj, pod: Obj) -> str | None:
    """A pod's ``spec.hostname`` when its ``subdomain`` is this Service (as a StatefulSet's pods are):
    what DNS publishes as ``<hostname>.<service>.<ns>.svc``. Kubernetes' rule, pure."""
    spec = pod.get("spec") or {}
    hostname, subdomain = spec.get("hostname"), spec.get("subdomain")
    if hostname and subdomain == meta(svc).get("name") and meta(pod).get("namespace") == meta(svc).get("namespace"):
        return str(hostname)
    return None


def desired_endpoints(svc: Obj, pods: list[Obj]) -> Obj:
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    subsets = []
    for key, group in sorted(endpoint_groups(svc, pods).items()):
        ready, not_ready = [], []
        for pod in sorted(group, key=lambda p: p["status"]["podIP"]):
            if is_deleting(pod) and not publish:
                continue
            addr: Obj = {"ip": pod["status"]["podIP"], "targetRef": _target_ref(pod)}
            if hostname := published_hostname(svc, pod):
                addr["hostname"] = hostname
            if node_name(pod):
                addr["nodeName"] = node_name(pod)
            (ready if (publish or is_pod_ready(pod)) else not_ready).append(addr)
        if not ready and not not_ready:
            continue
        subset: Obj = {"ports": _port_list(key)}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        subsets.append(subset)
    m = meta(svc)
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": m["name"], "namespace": m.get("namespace"), "labels": dict(m.get("labels") or {})},
            "subsets": subsets}


def slice_name(svc: Obj, key: PortKey) -> str:
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:5]
    return f"{meta(svc)['name'][:56]}-{digest}"


def desired_slices(svc: Obj, pods: list[Obj]) -> dict[str, Obj]:
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    out: dict[str, Obj] = {}
    groups = endpoint_groups(svc, pods)
    if not groups:
        key: PortKey = tuple((p.get("name") or "", int(p.get("targetPort") if isinstance(p.get("targetPort"), int)
                                                          else p.get("port") or 0), p.get("protocol") or "TCP", None)
                             for p in (svc.get("spec") or {}).get("ports") or [])
        groups = {key: []}
    for key, group in sorted(groups.items()):
        endpoints = []
        for pod in sorted(group, key=lambda p: p["status"]["podIP"]):
            terminating = is_deleting(pod)
            ready = is_pod_ready(pod)
            ep: Obj = {"addresses": [pod["status"]["podIP"]],
                       "conditions": {"ready": (ready and not terminating) or publish, "serving": ready,
                                      "terminating": terminating},
                       "targetRef": _target_ref(pod)}
            if hostname := published_hostname(svc, pod):
                ep["hostname"] = hostname
            if node_name(pod):
                ep["nodeName"] = node_name(pod)
            endpoints.append(ep)
        name = slice_name(svc, key)
        out[name] = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                     "metadata": {"name": name, "namespace": meta(svc).get("namespace"),
                                  "labels": {SERVICE_NAME_LABEL: meta(svc)["name"], MANAGED_BY_LABEL: MANAGED_BY},
                                  "ownerReferences": [owner_ref(svc)]},
                     "addressType": "IPv4", "endpoints": endpoints, "ports": _port_list(key)}
    return out


class _ServiceController(Controller):
    def __init__(self, client: Any, factory: Any, *, recorder: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.services = factory.informer(SERVICES)
        self.pods = factory.informer(PODS)
        self.services.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n), on_delete=self.enqueue)
        self.pods.add_handler(on_add=self._pod, on_update=self._pod_update, on_delete=self._pod)

    def _pod(self, pod: Obj) -> None:
        for svc in self.services.store.by_index("namespace", meta(pod).get("namespace") or ""):
            sel = (svc.get("spec") or {}).get("selector")
            if sel and all(labels_of(pod).get(k) == v for k, v in sel.items()):
                self.enqueue(svc)

    def _pod_update(self, old: Obj, new: Obj) -> None:
        if (labels_of(old) != labels_of(new) or old.get("status") != new.get("status")
                or meta(old).get("deletionTimestamp") != meta(new).get("deletionTimestamp")):
            self._pod(new)
            if labels_of(old) != labels_of(new):
                self._pod(old)

    def pods_of(self, svc: Obj) -> list[Obj]:
        return self.pods.store.by_index("namespace", meta(svc).get("namespace") or "")


class EndpointsController(_ServiceController):
    name = "endpoints"

    def __init__(self, client: Any, factory: Any, *, recorder: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.endpoints = factory.informer(ENDPOINTS)

    async def sync(self, key: str) -> None:
        svc = self.services.store.get(key)
        existing = self.endpoints.store.get(key)
        ns = key.partition("/")[0]
        if svc is None or not service_selects(svc):
            if svc is None and existing is not None:
                try:
                    await self.client.delete(ENDPOINTS, meta(existing)["name"], namespace=ns)
                except ApiError as e:
                    if e.code != 404:
                        raise
            return
        want = desired_endpoints(svc, self.pods_of(svc))
        if existing is None:
            try:
                await self.client.create(ENDPOINTS, want, namespace=ns)
            except ApiError as e:
                if e.code != 409:
                    raise
                self.queue.add_after(key, 0.5)
            return
        if (existing.get("subsets") or []) != want["subsets"] or labels_of(existing) != labels_of(want):
            body = {**existing, "subsets": want["subsets"],
                    "metadata": {**meta(existing), "labels": want["metadata"]["labels"]}}
            await self.client.update(ENDPOINTS, body, namespace=ns)


def _slice_meaning(s: Obj) -> Any:
    return (s.get("endpoints") or [], s.get("ports") or [], labels_of(s))


class EndpointSliceController(_ServiceController):
    name = "endpointslice"

    def __init__(self, client: Any, factory: Any, *, recorder: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.slices = factory.informer(SLICES, indexers={"service": _slice_service})
        self.slices.add_handler(on_delete=self._slice_gone)

    def _slice_gone(self, s: Obj) -> None:
        for v in _slice_service(s):
            self.enqueue_key(v)

    async def sync(self, key: str) -> None:
        svc = self.services.store.get(key)
        ns = key.partition("/")[0]
        existing = {meta(s)["name"]: s for s in self.slices.store.by_index("service", key)}
        want = desired_slices(svc, self.pods_of(svc)) if svc is not None and service_selects(svc) else {}
        for name, body in want.items():
            cur = existing.get(name)
            if cur is None:
                try:
                    await self.client.create(SLICES, body, namespace=ns)
                except ApiError as e:
                    if e.code != 409:
                        raise
                    self.queue.add_after(key, 0.5)
            elif _slice_meaning(cur) != _slice_meaning(body):
                await self.client.update(SLICES, {**cur, "endpoints": body["endpoints"], "ports": body["ports"],
                                                  "metadata": {**meta(cur), "labels": body["metadata"]["labels"]}},
                                         namespace=ns)
        for name in existing.keys() - want.keys():
            try:
                await self.client.delete(SLICES, name, namespace=ns)
            except ApiError as e:
                if e.code != 404:
                    raise


def _slice_service(s: Obj) -> list[str]:
    labels = labels_of(s)
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or SERVICE_NAME_LABEL not in labels:
        return []
    return [f"{meta(s).get('namespace')}/{labels[SERVICE_NAME_LABEL]}"]


_ = key_of
