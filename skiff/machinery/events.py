"""Event recorder: core/v1 Events about objects, shown by ``kubectl describe``.

Recording never blocks the caller and never fails it: events are written by a
background task with a bounded backlog. Repeats of the same (object, type, reason,
message) bump ``count`` and ``lastTimestamp`` on the existing Event, as client-go's
correlator does, instead of creating a new one.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict
from typing import Any, Mapping

from skiff.api.resources import find
from skiff.client import ApiError

from .objects import fmt_micro, fmt_time, meta, now_utc

log = logging.getLogger(__name__)
EVENTS = find("events")
NORMAL, WARNING = "Normal", "Warning"


def involved_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    m = meta(obj)
    ref = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": m.get("name"),
           "uid": m.get("uid"), "resourceVersion": m.get("resourceVersion")}
    if m.get("namespace"):
        ref["namespace"] = m["namespace"]
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    def __init__(self, client: Any, component: str, *, host: str = "", max_backlog: int = 1000,
                 cache_size: int = 4096) -> None:
        self.client = client
        self.component = component
        self.host = host
        self._queue: asyncio.Queue[tuple[dict[str, Any], str, str, str]] = asyncio.Queue(max_backlog)
        self._seen: OrderedDict[tuple[str, ...], tuple[str, str, int]] = OrderedDict()
        self._cache_size = cache_size
        self._task: asyncio.Task[None] | None = None

    def event(self, obj: Mapping[str, Any], etype: str, reason: str, message: str) -> None:
        if self._task is None:
            try:
                self._task = asyncio.get_running_loop().create_task(self._drain())
            except RuntimeError:
                return
        try:
            self._queue.put_nowait((involved_object(obj), etype, reason, message[:1024]))
        except asyncio.QueueFull:
            log.debug("event dropped: %s %s", reason, message)

    async def _drain(self) -> None:
        while True:
            ref, etype, reason, message = await self._queue.get()
            try:
                await self._write(ref, etype, reason, message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("event %s for %s not written: %s", reason, ref.get("name"), exc)

    async def _write(self, ref: dict[str, Any], etype: str, reason: str, message: str) -> None:
        ns = ref.get("namespace") or "default"
        key = (ns, str(ref.get("uid") or ref.get("name")), etype, reason, message)
        now = now_utc()
        seen = self._seen.get(key)
        if seen is not None:
            name, _, count = seen
            try:
                await self.client.patch(EVENTS, name, {"count": count + 1, "lastTimestamp": fmt_time(now)},
                                        namespace=ns)
                self._remember(key, (name, ns, count + 1))
                return
            except ApiError:
                pass  # gone (TTL); create anew
        name = f"{ref.get('name')}.{os.urandom(8).hex()}"
        body = {"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": ref, "reason": reason, "message": message, "type": etype,
                "source": {"component": self.component, **({"host": self.host} if self.host else {})},
                "firstTimestamp": fmt_time(now), "lastTimestamp": fmt_time(now), "count": 1,
                "eventTime": fmt_micro(now), "reportingComponent": self.component,
                "reportingInstance": self.host or self.component, "action": reason}
        await self.client.create(EVENTS, body, namespace=ns)
        self._remember(key, (name, ns, 1))

    def _remember(self, key: tuple[str, ...], value: tuple[str, str, int]) -> None:
        self._seen[key] = value
        self._seen.move_to_end(key)
        while len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until queued events are written; used by tests and shutdown."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._queue.empty() and loop.time() < deadline:
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


class NullRecorder:
    """A recorder that keeps events in a list (for unit tests)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    def event(self, obj: Mapping[str, Any], etype: str, reason: str, message: str) -> None:
        self.events.append((str(meta(obj).get("name")), etype, reason, message))
