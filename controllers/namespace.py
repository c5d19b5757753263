"""Namespace lifecycle and ServiceAccount controllers.

Namespace: a namespace being deleted (``Terminating``, with the ``kubernetes`` finalizer
in ``spec.finalizers``) has everything inside it deleted, kind by kind; once nothing is
left the finalizer is removed through ``/finalize`` and the API server removes the
namespace. ServiceAccount: every active namespace has a ``default`` ServiceAccount.
"""
from __future__ import annotations

from typing import Any

from skiff.api.resources import RESOURCES, Resource, find
from skiff.client import ApiError
from skiff.client import requests as rq
from skiff.machinery.objects import Obj, is_deleting, meta

from .base import Controller

NAMESPACES = find("namespaces")
SERVICEACCOUNTS = find("serviceaccounts")
FINALIZER = "kubernetes"


def namespaced_kinds() -> list[Resource]:
    """Kinds to empty a namespace of; Events and Leases last (others may write them meanwhile)."""
    kinds = [r for r in RESOURCES if r.namespaced and "list" in r.verbs and "delete" in r.verbs]
    return sorted(kinds, key=lambda r: r.kind in ("Event", "Lease"))


def finalized(ns: Obj) -> Obj:
    spec = ns.get("spec") or {}
    return {**ns, "spec": {**spec, "finalizers": [f for f in spec.get("finalizers") or [] if f != FINALIZER]}}


class NamespaceController(Controller):
    name = "namespace"

    def __init__(self, client: Any, factory: Any, *, recorder: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.namespaces = factory.informer(NAMESPACES)
        self.namespaces.add_handler(on_add=self._ns, on_update=lambda o, n: self._ns(n))

    def _ns(self, ns: Obj) -> None:
        if is_deleting(ns):
            self.enqueue(ns)

    async def sync(self, key: str) -> None:
        ns = self.namespaces.store.get(key)
        if ns is None or not is_deleting(ns) or FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return
        name = meta(ns)["name"]
        remaining = 0
        for res in namespaced_kinds():
            try:
                items = (await self.client.list(res, namespace=name)).get("items") or []
            except ApiError as e:
                if e.code in (404, 405):
                    continue
                raise
            for obj in items:
                remaining += 1
                if is_deleting(obj):
                    continue
                try:
                    await self.client.delete(res, meta(obj)["name"], namespace=name, propagation_policy="Background")
                except ApiError as e:
                    if e.code not in (404, 409):
                        raise
        if remaining:
            self.queue.add_after(key, 1.0)
            return
        body = finalized(ns)
        path = rq.resource_path(NAMESPACES, name=name, subresource="finalize")
        await self.client.send(rq.Request("PUT", path, (), {"Content-Type": rq.JSON, "Accept": rq.JSON},
                                          rq.encode_body(body)))


class ServiceAccountController(Controller):
    name = "serviceaccount"

    def __init__(self, client: Any, factory: Any, *, recorder: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.namespaces = factory.informer(NAMESPACES)
        self.accounts = factory.informer(SERVICEACCOUNTS)
        self.namespaces.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self.accounts.add_handler(on_delete=self._sa_gone)

    def _sa_gone(self, sa: Obj) -> None:
        if meta(sa).get("name") == "default":
            self.enqueue_key(str(meta(sa).get("namespace")))

    async def sync(self, key: str) -> None:
        ns = self.namespaces.store.get(key)
        if ns is None or is_deleting(ns):
            return
        if self.accounts.store.get(f"{key}/default") is not None:
            return
        try:
            await self.client.create(SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                       "metadata": {"name": "default", "namespace": key}},
                                     namespace=key)
        except ApiError as e:
            if e.code not in (409, 403):  # 403: the namespace started terminating
                raise
