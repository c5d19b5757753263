"""Garbage collector: ownerReferences, with background, foreground and orphan deletion.

The API server marks a deleted owner with the ``foregroundDeletion`` or ``orphan``
finalizer; this controller finishes the job:
  * orphan: strip the owner from every dependent's ownerReferences, then drop ``orphan``;
  * foreground: delete every dependent (in foreground too), and drop ``foregroundDeletion``
    once no dependent with ``blockOwnerDeletion`` remains;
  * background (and owners gone for any reason): a dependent whose owners are all gone is
    deleted; one that keeps some owners loses only the dangling references.
An owner missing from the cache is confirmed absent by a live GET (the cache may lag).
``classify`` and ``decide`` are pure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from skiff.api.resources import Resource, by_kind, find
from skiff.client import ApiError
from skiff.machinery.informer import Informer, index_by_owner, index_by_uid
from skiff.machinery.objects import Obj, is_deleting, meta

from .base import Controller

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"

WATCHED = ("pods", "replicasets.apps", "deployments.apps", "statefulsets.apps", "daemonsets.apps",
           "controllerrevisions.apps", "jobs.batch", "cronjobs.batch", "endpointslices.discovery.k8s.io",
           "services", "configmaps", "secrets", "persistentvolumeclaims", "serviceaccounts", "endpoints")


class OwnerState(str, Enum):
    PRESENT = "present"
    ABSENT = "absent"
    WAITING = "waitingForDependentsDeletion"  # in foreground deletion


class Action(str, Enum):
    NONE = "none"
    DELETE_BACKGROUND = "deleteBackground"
    DELETE_FOREGROUND = "deleteForeground"
    STRIP_REFS = "stripDanglingRefs"


@dataclass
class Verdict:
    action: Action
    dangling: list[str] = field(default_factory=list)  # owner uids to strip


def owner_state(owner: Obj | None, ref: Obj) -> OwnerState:
    if owner is None or meta(owner).get("uid") != ref.get("uid"):
        return OwnerState.ABSENT
    if is_deleting(owner) and FOREGROUND in (meta(owner).get("finalizers") or []):
        return OwnerState.WAITING
    return OwnerState.PRESENT


def decide(obj: Obj, states: dict[str, OwnerState]) -> Verdict:
    """What to do with a dependent given the state of each owner (by uid)."""
    refs = meta(obj).get("ownerReferences") or []
    if not refs or is_deleting(obj):
        return Verdict(Action.NONE)
    dangling = [r["uid"] for r in refs if states.get(r["uid"]) is OwnerState.ABSENT]
    waiting = [r for r in refs if states.get(r["uid"]) is OwnerState.WAITING]
    solid = [r for r in refs if states.get(r["uid"]) is OwnerState.PRESENT]
    if solid:
        return Verdict(Action.STRIP_REFS, dangling) if dangling else Verdict(Action.NONE)
    if waiting:
        return Verdict(Action.DELETE_FOREGROUND)
    return Verdict(Action.DELETE_BACKGROUND)


def blocking_dependents(owner: Obj, dependents: list[Obj]) -> list[Obj]:
    uid = meta(owner).get("uid")
    return [d for d in dependents if any(r.get("uid") == uid and r.get("blockOwnerDeletion")
                                         for r in meta(d).get("ownerReferences") or [])]


def _item(res: Resource, obj: Obj) -> str:
    ns = meta(obj).get("namespace") or ""
    return f"{res.plural}.{res.group}|{ns}|{meta(obj).get('name')}"


class GarbageCollector(Controller):
    name = "garbagecollector"
    workers = 4

    def __init__(self, client: Any, factory: Any, *, recorder: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.informers: dict[str, tuple[Resource, Informer]] = {}
        for name in WATCHED:
            res = find(name)
            if res is None:
                continue
            inf = factory.informer(res, indexers={"owner": index_by_owner, "uid": index_by_uid})
            self.informers[f"{res.plural}.{res.group}"] = (res, inf)
            inf.add_handler(on_add=lambda o, r=res: self._changed(r, o),
                            on_update=lambda old, new, r=res: self._changed(r, new),
                            on_delete=lambda o, r=res: self._deleted(r, o))

    def _changed(self, res: Resource, obj: Obj) -> None:
        m = meta(obj)
        if m.get("ownerReferences") or (m.get("deletionTimestamp") and
                                        ({FOREGROUND, ORPHAN} & set(m.get("finalizers") or []))):
            self.enqueue_key(_item(res, obj))

    def _deleted(self, res: Resource, obj: Obj) -> None:
        for d_res, dep in self.dependents(str(meta(obj).get("uid"))):
            self.enqueue_key(_item(d_res, dep))
        # an owner in foreground deletion waits for this dependent: look at it again
        for ref in meta(obj).get("ownerReferences") or []:
            o_res = by_kind(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""))
            watched = self.informers.get(f"{o_res.plural}.{o_res.group}") if o_res else None
            if watched is not None:
                for owner in watched[1].store.by_index("uid", str(ref.get("uid"))):
                    self.enqueue_key(_item(watched[0], owner))

    def dependents(self, uid: str) -> list[tuple[Resource, Obj]]:
        out = []
        for res, inf in self.informers.values():
            out.extend((res, o) for o in inf.store.by_index("owner", uid))
        return out

    async def _owner(self, ref: Obj, namespace: str | None) -> Obj | None:
        res = by_kind(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""))
        if res is None:
            return None
        watched = self.informers.get(f"{res.plural}.{res.group}")
        if watched is not None:
            found = watched[1].store.by_index("uid", str(ref.get("uid")))
            if found:
                return found[0]
        try:
            return await self.client.get(res, str(ref.get("name")), namespace=namespace if res.namespaced else None)
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    async def sync(self, key: str) -> None:
        plural, ns, name = key.split("|", 2)
        entry = self.informers.get(plural)
        if entry is None:
            return
        res, inf = entry
        obj = inf.store.get(f"{ns}/{name}" if ns else name)
        if obj is None:
            return
        finalizers = meta(obj).get("finalizers") or []
        if is_deleting(obj) and ORPHAN in finalizers:
            await self._orphan(res, obj)
            return
        if is_deleting(obj) and FOREGROUND in finalizers:
            await self._foreground(res, obj)
            return
        refs = meta(obj).get("ownerReferences") or []
        states = {}
        for ref in refs:
            states[str(ref.get("uid"))] = owner_state(await self._owner(ref, ns or None), ref)
        verdict = decide(obj, states)
        if verdict.action is Action.STRIP_REFS:
            keep = [r for r in refs if r.get("uid") not in verdict.dangling]
            await self.client.patch(res, name, {"metadata": {"ownerReferences": keep,
                                                             "resourceVersion": meta(obj).get("resourceVersion")}},
                                    namespace=ns or None)
        elif verdict.action in (Action.DELETE_BACKGROUND, Action.DELETE_FOREGROUND):
            policy = "Foreground" if verdict.action is Action.DELETE_FOREGROUND else "Background"
            try:
                await self.client.delete(res, name, namespace=ns or None, propagation_policy=policy,
                                         preconditions={"uid": meta(obj).get("uid")})
            except ApiError as e:
                if e.code not in (404, 409):
                    raise

    async def _orphan(self, res: Resource, owner: Obj) -> None:
        uid = meta(owner).get("uid")
        for d_res, dep in self.dependents(str(uid)):
            keep = [r for r in meta(dep).get("ownerReferences") or [] if r.get("uid") != uid]
            try:
                await self.client.patch(d_res, meta(dep)["name"], {"metadata": {"ownerReferences": keep}},
                                        namespace=meta(dep).get("namespace"))
            except ApiError as e:
                if e.code != 404:
                    raise
        await self._drop_finalizer(res, owner, ORPHAN)

    async def _foreground(self, res: Resource, owner: Obj) -> None:
        uid = str(meta(owner).get("uid"))
        deps = self.dependents(uid)
        for d_res, dep in deps:
            if is_deleting(dep):
                continue
            try:
                await self.client.delete(d_res, meta(dep)["name"], namespace=meta(dep).get("namespace"),
                                         propagation_policy="Foreground")
            except ApiError as e:
                if e.code != 404:
                    raise
        if not blocking_dependents(owner, [d for _, d in deps]):
            await self._drop_finalizer(res, owner, FOREGROUND)

    async def _drop_finalizer(self, res: Resource, obj: Obj, finalizer: str) -> None:
        m = meta(obj)
        body = {**obj, "metadata": {**m, "finalizers": [f for f in m.get("finalizers") or [] if f != finalizer]}}
        try:
            await self.client.update(res, body, namespace=m.get("namespace"))
        except ApiError as e:
            if e.code != 404:
                raise
