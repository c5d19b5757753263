"""The proxy's state and sync loop: cached Services and EndpointSlices -> kernel rules.

Watch handlers only record objects and mark the proxier dirty; ``run`` syncs at most
once per ``min_sync_period`` (bursts of changes coalesce into one ``iptables-restore``)
and does a full sync (reading the kernel back, healing anything changed behind its
back) at least every ``sync_period``. When to sync is decided by the pure
``next_sync``; rendering is pure; only the appliers touch the kernel.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from skiff.proxy.iptables import Applier, ApplyError, SyncStats
from skiff.proxy.model import NodeInfo
from skiff.proxy.rules import RenderCache, render

log = logging.getLogger("skiff.proxy")


@dataclass(frozen=True)
class SyncPlan:
    delay: float  # seconds to wait before syncing (0: now)
    full: bool


def next_sync(now: float, *, dirty: bool, last_sync: float | None, last_full: float | None,
              min_sync_period: float, sync_period: float, failed: bool = False) -> SyncPlan | None:
    """When and how to sync next, or ``None`` if nothing needs doing before ``sync_period``."""
    full_due = last_full is None or failed or now - last_full >= sync_period
    if not dirty and not full_due:
        return None
    wait = 0.0 if last_sync is None else max(0.0, last_sync + min_sync_period - now)
    return SyncPlan(delay=wait, full=full_due)


def _key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


class Proxier:
    def __init__(self, *, node: NodeInfo, appliers: Iterable[Applier], min_sync_period: float = 1.0,
                 sync_period: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self.appliers = list(appliers)
        self.min_sync_period = min_sync_period
        self.sync_period = sync_period
        self.clock = clock
        self.services: dict[str, Mapping[str, Any]] = {}
        self.slices: dict[str, Mapping[str, Any]] = {}
        self.synced_services = False
        self.synced_slices = False
        self._dirty = asyncio.Event()
        self._last_sync: float | None = None
        self._last_full: float | None = None
        self._failed = False
        self.syncs = 0
        self._render_caches: dict[str, RenderCache] = {}

    # -- cache updates (from watch handlers) ---------------------------------------------

    def on_event(self, kind: str, event_type: str, obj: Mapping[str, Any]) -> None:
        store = self.services if kind == "Service" else self.slices
        if event_type == "DELETED":
            store.pop(_key(obj), None)
        else:
            store[_key(obj)] = obj
        self._dirty.set()

    def replace(self, kind: str, objs: Iterable[Mapping[str, Any]]) -> None:
        """A fresh list: the cache becomes exactly ``objs``."""
        store = self.services if kind == "Service" else self.slices
        store.clear()
        store.update({_key(o): o for o in objs})
        if kind == "Service":
            self.synced_services = True
        else:
            self.synced_slices = True
        self._dirty.set()

    # -- syncing --------------------------------------------------------------------------

    def sync_once(self, *, full: bool = False) -> list[SyncStats]:
        """Render and apply every family once. Raises ``ApplyError``; the next sync is then full."""
        started = self.clock()
        stats = []
        services, slices = list(self.services.values()), list(self.slices.values())
        try:
            for applier in self.appliers:
                cache = self._render_caches.setdefault(applier.family.value, {})
                rs = render(services, slices, self.node, family=applier.family, cache=cache)
                stats.append(applier.apply(rs, full=full))
        except ApplyError:
            self._failed = True
            raise
        finally:
            self._last_sync = started
        self._failed = False
        if full or any(s.full for s in stats):
            self._last_full = started
        self.syncs += 1
        return stats

    async def run(self, stop: asyncio.Event) -> None:
        """Sync until ``stop`` is set; waits for the first complete list of both kinds."""
        while not stop.is_set():
            if not (self.synced_services and self.synced_slices):
                await self._wait(self._dirty, stop, None)
                self._dirty.clear()
                continue
            plan = next_sync(self.clock(), dirty=self._dirty.is_set(), last_sync=self._last_sync,
                             last_full=self._last_full, min_sync_period=self.min_sync_period,
                             sync_period=self.sync_period, failed=self._failed)
            if plan is None:
                assert self._last_full is not None
                await self._wait(self._dirty, stop, self._last_full + self.sync_period - self.clock())
                continue
            if plan.delay > 0:
                await self._wait(stop, None, plan.delay)  # let more changes pile up
                if stop.is_set():
                    break
            self._dirty.clear()
            try:
                stats = await asyncio.to_thread(self.sync_once, full=plan.full)
                log.info("synced %s", ", ".join(f"{'full' if s.full else 'partial'} {s.bytes}B" for s in stats))
            except ApplyError as exc:
                log.error("sync failed: %s", exc)

    @staticmethod
    async def _wait(event: asyncio.Event, other: asyncio.Event | None, timeout: float | None) -> None:
        waits = [asyncio.ensure_future(event.wait())]
        if other is not None:
            waits.append(asyncio.ensure_future(other.wait()))
        try:
            await asyncio.wait(waits, timeout=None if timeout is None else max(0.0, timeout),
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
