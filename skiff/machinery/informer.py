"""Informers: list, then watch from the list's resourceVersion, into an indexed read-only store.

An informer re-lists on 410 Gone (and after any broken watch, with a capped backoff),
follows bookmarks so a re-watch starts from a recent version, and calls its handlers
with (old, new) objects. Handlers must only enqueue keys; objects in the store are
shared and must never be modified. ``InformerFactory`` shares one informer per kind
between the controllers of a process.
"""
from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from skiff.api.resources import Resource
from skiff.client import ApiError, Gone

from .objects import Obj, controller_ref, key_of, meta

log = logging.getLogger(__name__)

IndexFunc = Callable[[Obj], Iterable[str]]


def index_by_namespace(obj: Obj) -> list[str]:
    ns = meta(obj).get("namespace")
    return [ns] if ns else []


def index_by_controller(obj: Obj) -> list[str]:
    ref = controller_ref(obj)
    return [str(ref.get("uid"))] if ref else []


def index_by_owner(obj: Obj) -> list[str]:
    return [str(r.get("uid")) for r in meta(obj).get("ownerReferences") or []]


def index_by_node(obj: Obj) -> list[str]:
    name = (obj.get("spec") or {}).get("nodeName")
    return [name] if name else []


def index_by_uid(obj: Obj) -> list[str]:
    uid = meta(obj).get("uid")
    return [uid] if uid else []


class Store:
    """Objects by key, plus named indexes (index name -> value -> keys)."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {"namespace": index_by_namespace, **(indexers or {})}
        self._indices: dict[str, dict[str, set[str]]] = {n: {} for n in self._indexers}

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        if name in self._indexers:
            return
        self._indexers[name] = fn
        idx: dict[str, set[str]] = {}
        for key, obj in self._items.items():
            for v in fn(obj):
                idx.setdefault(v, set()).add(key)
        self._indices[name] = idx

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def list(self) -> builtins.list[Obj]:
        return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def by_index(self, name: str, value: str) -> builtins.list[Obj]:
        keys = self._indices[name].get(value) or ()
        return [self._items[k] for k in keys if k in self._items]

    def index_values(self, name: str) -> builtins.list[str]:
        return [v for v, keys in self._indices[name].items() if keys]

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            idx = self._indices[name]
            for v in fn(obj):
                keys = idx.get(v)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del idx[v]

    def put(self, obj: Obj) -> Obj | None:
        key = key_of(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name, fn in self._indexers.items():
            for v in fn(obj):
                self._indices[name].setdefault(v, set()).add(key)
        return old

    def remove(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old


class Handler(Protocol):
    def __call__(self, *args: Any) -> None: ...


@dataclass
class _Handlers:
    on_add: Callable[[Obj], None] | None
    on_update: Callable[[Obj, Obj], None] | None
    on_delete: Callable[[Obj], None] | None


class Informer:
    def __init__(self, client: Any, resource: Resource, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 indexers: dict[str, IndexFunc] | None = None, watch_timeout: int = 300) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.watch_timeout = watch_timeout
        self.store = Store(indexers)
        self.synced = asyncio.Event()
        self.resource_version = ""
        self.relists = 0
        self._handlers: list[_Handlers] = []

    def add_handler(self, *, on_add: Callable[[Obj], None] | None = None,
                    on_update: Callable[[Obj, Obj], None] | None = None,
                    on_delete: Callable[[Obj], None] | None = None) -> None:
        self._handlers.append(_Handlers(on_add, on_update, on_delete))
        # a handler added late still hears about what is already cached
        if on_add is not None:
            for obj in self.store.list():
                on_add(obj)

    def _fill_kind(self, obj: Obj) -> Obj:
        obj.setdefault("apiVersion", self.resource.api_version)
        obj.setdefault("kind", self.resource.kind)
        return obj

    def _notify(self, kind: str, *args: Obj) -> None:
        for h in self._handlers:
            fn = getattr(h, kind)
            if fn is None:
                continue
            try:
                fn(*args)
            except Exception:  # a handler bug must not kill the informer
                log.exception("%s handler of %s informer failed", kind, self.resource.plural)

    def apply_event(self, etype: str, obj: Obj) -> None:
        """Apply one watch event to the store and notify (exposed for tests)."""
        self._fill_kind(obj)
        if etype in ("ADDED", "MODIFIED"):
            old = self.store.put(obj)
            if old is None:
                self._notify("on_add", obj)
            else:
                self._notify("on_update", old, obj)
        elif etype == "DELETED":
            old = self.store.remove(key_of(obj))
            self._notify("on_delete", old or obj)

    def replace(self, items: list[Obj]) -> None:
        """Make the store equal ``items`` (a list result), notifying differences."""
        seen = set()
        for obj in items:
            self._fill_kind(obj)
            seen.add(key_of(obj))
            old = self.store.put(obj)
            if old is None:
                self._notify("on_add", obj)
            elif meta(old).get("resourceVersion") != meta(obj).get("resourceVersion"):
                self._notify("on_update", old, obj)
        for key in self.store.keys():
            if key not in seen:
                old = self.store.remove(key)
                if old is not None:
                    self._notify("on_delete", old)

    def _scope(self) -> dict[str, Any]:
        if self.namespace is None:
            return {"all_namespaces": True} if self.resource.namespaced else {}
        return {"namespace": self.namespace}

    async def _list(self) -> None:
        result = await self.client.list(self.resource, label_selector=self.label_selector,
                                        field_selector=self.field_selector, **self._scope())
        self.resource_version = str(meta(result).get("resourceVersion") or "")
        self.replace(list(result.get("items") or []))
        self.relists += 1
        self.synced.set()

    async def _watch(self) -> None:
        async for etype, obj in self.client.watch(
                self.resource, label_selector=self.label_selector, field_selector=self.field_selector,
                resource_version=self.resource_version, allow_bookmarks=True,
                timeout_seconds=self.watch_timeout, **self._scope()):
            if etype == "ERROR":
                raise ApiError(obj)
            rv = meta(obj).get("resourceVersion")
            if rv:
                self.resource_version = str(rv)
            if etype != "BOOKMARK":
                self.apply_event(etype, obj)

    async def _loop(self) -> None:
        delay = 0.2
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                await self._watch()
                delay = 0.2  # the server closed a healthy watch: resume from the last version
            except Gone:
                need_list = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s informer: %s; re-listing in %.1fs", self.resource.plural, exc, delay)
                need_list = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def run(self, stop: asyncio.Event) -> None:
        task = asyncio.create_task(self._loop())
        try:
            await stop.wait()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class InformerFactory:
    """One informer per (kind, namespace) for all controllers of a process."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._informers: dict[tuple[str, str, str | None], Informer] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def informer(self, resource: Resource, *, namespace: str | None = None,
                 indexers: dict[str, IndexFunc] | None = None) -> Informer:
        key = (resource.group, resource.plural, namespace)
        inf = self._informers.get(key)
        if inf is None:
            inf = Informer(self.client, resource, namespace=namespace, indexers=indexers)
            self._informers[key] = inf
        else:
            for name, fn in (indexers or {}).items():
                inf.store.add_indexer(name, fn)
        return inf

    def start(self, stop: asyncio.Event) -> None:
        for inf in self._informers.values():
            if not getattr(inf, "_started", False):
                inf._started = True  # type: ignore[attr-defined]
                self._tasks.append(asyncio.create_task(inf.run(stop)))

    async def wait_synced(self) -> None:
        await asyncio.gather(*(inf.synced.wait() for inf in self._informers.values()))

    async def join(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
