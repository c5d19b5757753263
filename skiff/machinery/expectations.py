"""Expectations: how many creates/deletes a controller still waits to see in its cache.

A controller that just asked for N pods must not ask again before its informer has
seen them, or it overshoots. Once set, expectations can only be lowered (by observed
events); a controller acts only when they are satisfied or have expired (TTL), and
always recomputes status. The clock is injected so tests need no sleeps.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

EXPECTATIONS_TTL = 300.0


@dataclass
class _Record:
    add: int
    delete: int
    timestamp: float


class Expectations:
    def __init__(self, *, ttl: float = EXPECTATIONS_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self._records: dict[str, _Record] = {}
        self._ttl = ttl
        self._clock = clock

    def expect(self, key: str, *, add: int = 0, delete: int = 0) -> None:
        self._records[key] = _Record(add, delete, self._clock())

    def lower(self, key: str, *, add: int = 0, delete: int = 0) -> None:
        rec = self._records.get(key)
        if rec is not None:
            rec.add -= add
            rec.delete -= delete

    def creation_observed(self, key: str) -> None:
        self.lower(key, add=1)

    def deletion_observed(self, key: str) -> None:
        self.lower(key, delete=1)

    def satisfied(self, key: str) -> bool:
        rec = self._records.get(key)
        if rec is None:
            return True
        if rec.add <= 0 and rec.delete <= 0:
            return True
        return self._clock() - rec.timestamp > self._ttl

    def pending(self, key: str) -> tuple[int, int]:
        rec = self._records.get(key)
        return (0, 0) if rec is None else (max(rec.add, 0), max(rec.delete, 0))

    def delete(self, key: str) -> None:
        self._records.pop(key, None)
