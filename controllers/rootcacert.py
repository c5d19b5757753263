"""The root-ca-cert-publisher: every namespace has the ``kube-root-ca.crt`` ConfigMap.

As kube-controller-manager's: key ``ca.crt`` holds the cluster CA that signed the API
server's certificate, so a pod's projected ``kube-api-access-*`` volume can verify
``https://kubernetes.default.svc``. A deleted or edited ConfigMap is put back; a namespace
being deleted is left alone. The CA comes from ``ControllerOptions.root_ca`` (the server
hands in its own); without one the controller does nothing, as kube's is not started.
"""
from __future__ import annotations

import enum
from typing import Any

from skiff.api.resources import find
from skiff.client import ApiError
from skiff.machinery.objects import Obj, is_deleting, meta

from .base import Controller

NAMESPACES = find("namespaces")
CONFIGMAPS = find("configmaps")
NAME = "kube-root-ca.crt"
KEY = "ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


class Action(str, enum.Enum):
    NONE = "none"
    CREATE = "create"
    UPDATE = "update"


def decide(current: Obj | None, ca: str) -> Action:
    """What the namespace's ConfigMap needs (pure)."""
    if current is None:
        return Action.CREATE
    annotations = meta(current).get("annotations") or {}
    if (current.get("data") or {}) != {KEY: ca} or annotations.get(DESCRIPTION_ANNOTATION) != DESCRIPTION:
        return Action.UPDATE
    return Action.NONE


def desired(namespace: str, ca: str, current: Obj | None = None) -> Obj:
    """The ConfigMap as it should be (an update keeps the current object's other metadata)."""
    base_meta = dict(meta(current)) if current is not None else {"name": NAME, "namespace": namespace}
    base_meta["annotations"] = {**(base_meta.get("annotations") or {}), DESCRIPTION_ANNOTATION: DESCRIPTION}
    out = {k: v for k, v in (current or {}).items() if k not in ("data", "binaryData", "metadata")}
    return {**out, "apiVersion": "v1", "kind": "ConfigMap", "metadata": base_meta, "data": {KEY: ca}}


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"

    def __init__(self, client: Any, factory: Any, *, recorder: Any, options: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.ca = str(getattr(options, "root_ca", "") or "")
        self.namespaces = factory.informer(NAMESPACES)
        self.configmaps = factory.informer(CONFIGMAPS)
        if not self.ca:
            return
        self.namespaces.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.configmaps.add_handler(on_update=lambda _o, n: self._configmap(n), on_delete=self._configmap)

    def _configmap(self, cm: Obj) -> None:
        if meta(cm).get("name") == NAME:
            self.enqueue_key(str(meta(cm).get("namespace")))

    async def sync(self, key: str) -> None:
        ns = self.namespaces.store.get(key)
        if not self.ca or ns is None or is_deleting(ns):
            return
        current = self.configmaps.store.get(f"{key}/{NAME}")
        action = decide(current, self.ca)
        try:
            if action is Action.CREATE:
                await self.client.create(CONFIGMAPS, desired(key, self.ca), namespace=key)
            elif action is Action.UPDATE:
                assert current is not None
                await self.client.update(CONFIGMAPS, desired(key, self.ca, current), namespace=key)
        except ApiError as e:
            if e.code == 403:  # the namespace started terminating
                return
            raise  # 409: the cache was behind; the re-queued sync reads it again
