"""The watch cache: every object in memory, kept current by one etcd watch.

The server lists ``/registry/`` once, then follows a single etcd watch from that
revision (one stream for all kinds keeps one revision order for everything, which
is what bookmarks and "wait until the cache has seen revision N" need). Client
watches and ``resourceVersion=0`` lists are served from here; a watch from a
revision older than the event window gets 410 Gone, as Kubernetes' cache does.
It must not write to etcd.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .etcd.store import Compacted, Store

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Filter = Callable[[Obj], bool]


def with_rv(obj: Obj, rv: int) -> Obj:
    """A shallow copy of ``obj`` whose metadata carries ``resourceVersion`` (values are never mutated)."""
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta["resourceVersion"] = str(rv)
    out["metadata"] = meta
    return out


def resource_prefix(key: str) -> str:
    """``/registry/pods/ns/name`` -> ``/registry/pods/``."""
    parts = key.split("/", 3)
    return "/".join(parts[:3]) + "/"


@dataclass(frozen=True)
class Event:
    prefix: str
    key: str
    obj: Obj | None  # None when deleted
    prev: Obj | None
    rv: int


@dataclass(eq=False)
class Watcher:
    """One client's watch: events already filtered and typed for it, plus bookmarks."""

    prefix: str
    key_prefix: str  # narrows to a namespace or a single object
    match: Filter
    queue: asyncio.Queue[tuple[str, Obj | int] | None] = field(default_factory=lambda: asyncio.Queue(maxsize=20000))
    closed: bool = False

    def offer(self, ev: Event) -> None:
        if self.closed or ev.prefix != self.prefix or not ev.key.startswith(self.key_prefix):
            return
        was = ev.prev is not None and self.match(ev.prev)
        now = ev.obj is not None and self.match(ev.obj)
        if now and not was:
            item: tuple[str, Obj | int] = ("ADDED", with_rv(ev.obj, ev.rv))  # type: ignore[arg-type]
        elif now and was:
            item = ("MODIFIED", with_rv(ev.obj, ev.rv))  # type: ignore[arg-type]
        elif was:
            last = ev.obj if ev.obj is not None else ev.prev
            item = ("DELETED", with_rv(last, ev.rv))  # type: ignore[arg-type]
        else:
            return
        self._put(item)

    def bookmark(self, rv: int) -> None:
        if not self.closed:
            self._put(("BOOKMARK", rv))

    def _put(self, item: tuple[str, Obj | int]) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # A watcher that cannot keep up is closed; its client re-lists or re-watches.
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            while True:
                try:
                    self.queue.put_nowait(None)
                    return
                except asyncio.QueueFull:
                    self.queue.get_nowait()


class TooOld(Exception):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class WatchCache:
    def __init__(self, store: Store, *, capacity: int = 50000) -> None:
        self._store = store
        self._objects: dict[str, dict[str, tuple[Obj, int]]] = {}
        self._events: deque[Event] = deque(maxlen=capacity)
        self._watchers: set[Watcher] = set()
        self._task: asyncio.Task[None] | None = None
        self._advanced = asyncio.Condition()
        self.revision = 0
        self.oldest = 0  # watches from a revision below this get 410
        self.ready = asyncio.Event()

    async def start(self) -> None:
        await self._relist()
        self._task = asyncio.create_task(self._follow(), name="watch-cache")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        for w in list(self._watchers):
            w.close()

    async def _relist(self) -> None:
        objects: dict[str, dict[str, tuple[Obj, int]]] = {}
        start: str | None = None
        revision = 0
        while True:
            page = await self._store.list("/registry/", start=start, limit=2000, revision=revision)
            revision = page.revision
            for kv in page.items:
                objects.setdefault(resource_prefix(kv.key), {})[kv.key] = (kv.value, kv.mod_revision)
            if not page.more:
                break
            start = page.items[-1].key + "\0"
        self._objects = objects
        self._events.clear()
        self.revision = revision
        self.oldest = revision
        for w in list(self._watchers):  # their history is gone: make them start over
            w.close()
        self._watchers.clear()
        self.ready.set()

    async def _follow(self) -> None:
        while True:
            try:
                async for ch in self._store.watch("/registry/", start_revision=self.revision + 1):
                    self._apply(ch.key, ch.value, ch.prev, ch.revision)
                    if ch.revision > self.revision:
                        self.revision = ch.revision
                        async with self._advanced:
                            self._advanced.notify_all()
            except asyncio.CancelledError:
                raise
            except Compacted:
                log.warning("watch cache fell behind etcd compaction; re-listing")
                await self._relist()
            except Exception as exc:  # noqa: BLE001 - etcd hiccup: resume from our revision
                log.warning("etcd watch broke (%s); resuming from %d", exc, self.revision + 1)
                await asyncio.sleep(0.5)

    def _apply(self, key: str, value: Obj | None, prev: Obj | None, rv: int) -> None:
        prefix = resource_prefix(key)
        bucket = self._objects.setdefault(prefix, {})
        old = bucket.get(key)
        if value is None:
            bucket.pop(key, None)
        else:
            bucket[key] = (value, rv)
        ev = Event(prefix, key, value, old[0] if old else prev, rv)
        if len(self._events) == self._events.maxlen:
            self.oldest = self._events[0].rv
        self._events.append(ev)
        for w in list(self._watchers):
            w.offer(ev)
            if w.closed:
                self._watchers.discard(w)

    async def wait_for(self, rv: int, *, timeout: float = 3.0) -> bool:
        """Wait until the cache has seen revision ``rv``; False on timeout."""
        if self.revision >= rv:
            return True
        try:
            async with self._advanced:
                await asyncio.wait_for(self._advanced.wait_for(lambda: self.revision >= rv), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def list(self, prefix: str, key_prefix: str, match: Filter) -> tuple[list[Obj], int]:
        bucket = self._objects.get(prefix, {})
        items = [with_rv(v, rv) for k, (v, rv) in sorted(bucket.items())
                 if k.startswith(key_prefix) and match(v)]
        return items, self.revision

    def get(self, key: str) -> Obj | None:
        found = self._objects.get(resource_prefix(key), {}).get(key)
        return with_rv(found[0], found[1]) if found else None

    def watch(self, prefix: str, key_prefix: str, match: Filter, *, since: int | None) -> Watcher:
        """Start a watch. ``since=None``: synthetic ADDED for current objects, then changes."""
        w = Watcher(prefix, key_prefix, match)
        if since is None:
            current = self.list(prefix, key_prefix, match)[0]
            w.queue = asyncio.Queue(maxsize=len(current) + 20000)
            for obj in current:
                w.queue.put_nowait(("ADDED", obj))
        else:
            if since < self.oldest:
                raise TooOld(since, self.oldest)
            for ev in self._events:
                if ev.rv > since:
                    w.offer(ev)
        self._watchers.add(w)
        return w

    def unwatch(self, w: Watcher) -> None:
        self._watchers.discard(w)
        w.closed = True

    def bookmark_all(self) -> None:
        for w in list(self._watchers):
            w.bookmark(self.revision)

    def count(self, prefix: str) -> int:
        return len(self._objects.get(prefix, {}))
