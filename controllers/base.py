"""The controller loop every controller shares: informer handlers enqueue keys, workers sync them.

A subclass sets ``name``, wires its informers in ``__init__`` (handlers only enqueue),
and implements ``sync(key)``, which re-reads the cache, decides with a pure function
and applies the result. An exception re-queues the key with per-key backoff; success
forgets the backoff. Workers start only after every informer has synced.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from skiff.client import ApiError
from skiff.machinery.informer import InformerFactory
from skiff.machinery.objects import Obj, key_of
from skiff.machinery.workqueue import WorkQueue

log = logging.getLogger(__name__)


class Controller:
    name = "controller"
    workers = 2

    def __init__(self, client: Any, factory: InformerFactory, *, recorder: Any) -> None:
        self.client = client
        self.factory = factory
        self.recorder = recorder
        self.queue = WorkQueue(name=self.name)

    # handlers --------------------------------------------------------------------------

    def enqueue(self, obj: Obj) -> None:
        self.queue.add(key_of(obj))

    def enqueue_key(self, key: str) -> None:
        self.queue.add(key)

    # the loop ----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        raise NotImplementedError

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            if key is None:
                return
            try:
                await self.sync(key)
                self.queue.forget(key)
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                level = logging.DEBUG if exc.code in (404, 409) else logging.WARNING
                log.log(level, "%s: sync %s: %s", self.name, key, exc)
                self.queue.add_rate_limited(key)
            except Exception:
                log.exception("%s: sync %s failed", self.name, key)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    async def run(self, stop: asyncio.Event) -> None:
        await self.factory.wait_synced()
        workers = [asyncio.create_task(self._worker()) for _ in range(self.workers)]
        try:
            await stop.wait()
        finally:
            self.queue.shutdown()
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)


async def ignore_not_found(coro: Any) -> Any:
    try:
        return await coro
    except ApiError as exc:
        if exc.code != 404:
            raise
        return None


async def bounded_gather(coros: list[Any], *, limit: int = 50) -> list[Any]:
    """Run coroutines with at most ``limit`` in flight; return results or exceptions."""
    sem = asyncio.Semaphore(limit)

    async def one(c: Any) -> Any:
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros), return_exceptions=True)


async def slow_start_batch(coros: list[Any], *, initial: int = 1) -> tuple[int, list[BaseException]]:
    """ReplicaSet's slowStartBatch: batches of 1, 2, 4, … stopping at the first batch with an error.
    Returns (successes, errors); coroutines never started are closed."""
    done = 0
    batch = initial
    errors: list[BaseException] = []
    i = 0
    while i < len(coros):
        chunk = coros[i:i + batch]
        i += len(chunk)
        results = await asyncio.gather(*chunk, return_exceptions=True)
        errs = [r for r in results if isinstance(r, BaseException)]
        done += len(results) - len(errs)
        if errs:
            errors.extend(errs)
            break
        batch *= 2
    for c in coros[i:]:
        c.close()
    return done, errors
