"""The scheduling queue: active (by priority), backoff, unschedulable.

A pod key lives in exactly one of the three. Failed attempts back off exponentially
(1 s doubling to 10 s); unschedulable pods wait until a cluster event that might help
(a node added or changed, a pod deleted) moves them back, or until
``unschedulable_timeout`` passes. The clock is injected; ``pop`` awaits.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable


class SchedulingQueue:
    def __init__(self, *, initial_backoff: float = 1.0, max_backoff: float = 10.0,
                 unschedulable_timeout: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._active: list[tuple[int, int, str]] = []
        self._in_active: dict[str, int] = {}
        self._backoff: dict[str, float] = {}
        self._unschedulable: dict[str, float] = {}
        self._attempts: dict[str, int] = {}
        self._priority: dict[str, int] = {}
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._closed = False
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.unschedulable_timeout = unschedulable_timeout
        self.clock = clock

    def __len__(self) -> int:
        return len(self._in_active) + len(self._backoff) + len(self._unschedulable)

    def counts(self) -> tuple[int, int, int]:
        return len(self._in_active), len(self._backoff), len(self._unschedulable)

    def add(self, key: str, *, priority: int = 0) -> None:
        """A new or updated pending pod: active now, unless it is backing off."""
        self._priority[key] = priority
        if key in self._in_active or key in self._backoff:
            return
        self._unschedulable.pop(key, None)
        self._push(key)

    def _push(self, key: str) -> None:
        seq = next(self._seq)
        self._in_active[key] = seq
        heapq.heappush(self._active, (-self._priority.get(key, 0), seq, key))
        self._wake.set()

    def remove(self, key: str) -> None:
        """The pod was bound or deleted: forget it everywhere."""
        self._in_active.pop(key, None)
        self._backoff.pop(key, None)
        self._unschedulable.pop(key, None)
        self._attempts.pop(key, None)
        self._priority.pop(key, None)

    def backoff_duration(self, key: str) -> float:
        n = self._attempts.get(key, 1)
        return min(self.initial_backoff * (2 ** max(n - 1, 0)), self.max_backoff)

    def requeue_error(self, key: str) -> None:
        """A scheduling or binding error: retry after backoff."""
        self._backoff[key] = self.clock() + self.backoff_duration(key)
        self._wake.set()

    def requeue_unschedulable(self, key: str) -> None:
        self._unschedulable[key] = self.clock()

    def move_all_to_active(self) -> None:
        """A cluster event: unschedulable pods try again (after any remaining backoff)."""
        now = self.clock()
        for key in list(self._unschedulable):
            del self._unschedulable[key]
            self._backoff[key] = max(now, self._last_attempt_backoff_end(key, now))
        self._wake.set()

    def _last_attempt_backoff_end(self, key: str, now: float) -> float:
        return now  # Kubernetes would keep the remaining backoff; moving at once is simpler

    def _flush(self) -> float | None:
        """Move due pods to active; return seconds until the next one is due."""
        now = self.clock()
        nxt: float | None = None
        for key, due in list(self._backoff.items()):
            if due <= now:
                del self._backoff[key]
                self._push(key)
            else:
                nxt = due - now if nxt is None else min(nxt, due - now)
        for key, since in list(self._unschedulable.items()):
            due = since + self.unschedulable_timeout
            if due <= now:
                del self._unschedulable[key]
                self._push(key)
            else:
                nxt = due - now if nxt is None else min(nxt, due - now)
        return nxt

    def pop_nowait(self) -> str | None:
        self._flush()
        while self._active:
            _, seq, key = heapq.heappop(self._active)
            if self._in_active.get(key) == seq:
                del self._in_active[key]
                self._attempts[key] = self._attempts.get(key, 0) + 1
                return key
        return None

    async def pop(self) -> str | None:
        while not self._closed:
            key = self.pop_nowait()
            if key is not None:
                return key
            wait = self._flush()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait if wait is not None else 1.0)
            except asyncio.TimeoutError:
                pass
        return None

    def close(self) -> None:
        self._closed = True
        self._wake.set()
