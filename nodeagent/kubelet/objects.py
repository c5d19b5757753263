"""The ConfigMaps and Secrets the node's pods read, watched so their changes reach the pods.

:func:`pod_references` (pure) names what a pod reads — env, envFrom, configMap/secret
volumes and projected sources. :class:`PodObjects` answers reads from informer caches
(falling back to a GET for an object the cache has not seen yet, so a ConfigMap created
just before its pod is found) and, when one of them changes, calls ``on_change`` for each
pod of the node that reads it: the pod's sync then rewrites its volumes, as the kubelet's
watch-based ConfigMap and Secret managers make it.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from skiff.api.resources import find
from skiff.client import ApiError
from skiff.machinery.informer import Informer

from .envvars import references

log = logging.getLogger(__name__)
Obj = dict[str, Any]
CONFIGMAPS = find("configmaps")
SECRETS = find("secrets")
SERVICES = find("services")
KINDS = {"configMap": CONFIGMAPS, "secret": SECRETS}


def volume_references(volume: Obj) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    if "configMap" in volume:
        out.add(("configMap", str((volume["configMap"] or {}).get("name", ""))))
    if "secret" in volume:
        out.add(("secret", str((volume["secret"] or {}).get("secretName", ""))))
    for src in (volume.get("projected") or {}).get("sources") or []:
        if "configMap" in src:
            out.add(("configMap", str((src["configMap"] or {}).get("name", ""))))
        if "secret" in src:
            out.add(("secret", str((src["secret"] or {}).get("name", ""))))
    return out


def pod_references(pod: Obj) -> set[tuple[str, str]]:
    """``(kind, name)`` of every ConfigMap (``configMap``) and Secret (``secret``) the pod reads."""
    spec = pod.get("spec") or {}
    out: set[tuple[str, str]] = set()
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        cms, secs = references(c)
        out |= {("configMap", n) for n in cms} | {("secret", n) for n in secs}
    for v in spec.get("volumes") or []:
        out |= volume_references(v)
    return out


def readers(pods: Iterable[Obj], kind: str, namespace: str, name: str) -> list[Obj]:
    """The pods of ``namespace`` that read the object."""
    return [p for p in pods if (p.get("metadata") or {}).get("namespace") == namespace
            and (kind, name) in pod_references(p)]


class PodObjects:
    def __init__(self, client: Any, *, pods: Callable[[], list[Obj]] = list,
                 on_change: Callable[[Obj], None] | None = None) -> None:
        self.client = client
        self.pods = pods
        self.on_change = on_change
        self.informers = {kind: Informer(client, res) for kind, res in KINDS.items()}
        # the kubelet's service lister: what a container's service variables are made of
        self.service_informer = Informer(client, SERVICES)
        for kind, inf in self.informers.items():
            inf.add_handler(on_add=lambda o, k=kind: self._changed(k, o),
                            on_update=lambda _o, n, k=kind: self._changed(k, n),
                            on_delete=lambda o, k=kind: self._changed(k, o))

    def _changed(self, kind: str, obj: Obj) -> None:
        if self.on_change is None:
            return
        m = obj.get("metadata") or {}
        for pod in readers(self.pods(), kind, str(m.get("namespace") or ""), str(m.get("name") or "")):
            self.on_change(pod)

    def tasks(self, stop: asyncio.Event) -> list[asyncio.Task[Any]]:
        return [asyncio.create_task(inf.run(stop)) for inf in [*self.informers.values(), self.service_informer]]

    async def services(self, namespace: str) -> tuple[Obj, ...]:
        """The Services of ``namespace`` and ``default/kubernetes`` (a list call until the cache syncs)."""
        inf = self.service_informer
        if inf.synced.is_set():
            found = inf.store.list()
        else:
            found = []
            for ns in dict.fromkeys([namespace, "default"]):
                found += (await self.client.list(SERVICES, namespace=ns)).get("items") or []
        return tuple(s for s in found if (s.get("metadata") or {}).get("namespace") in (namespace, "default"))

    async def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The object, or None when it does not exist."""
        inf = self.informers[kind]
        if inf.synced.is_set():
            cached = inf.store.get(f"{namespace}/{name}")
            if cached is not None:
                return cached
        try:
            obj: Obj = await self.client.get(KINDS[kind], name, namespace=namespace)
            return obj
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise
