"""List+watch of Services and EndpointSlices into a ``Sink`` (the proxier or cluster DNS).

Deliberately minimal until ``skiff.machinery``'s informers land: list everything (all
namespaces), hand the full list to ``sink.replace``, then watch from the list's
resourceVersion, passing each event to ``sink.on_event``; a 410 Gone or a broken stream
re-lists (with a capped backoff on errors). The sink never sees a partial list.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from skiff.api.resources import Resource, by_kind

log = logging.getLogger("skiff.proxy.watch")

SERVICES: Resource = by_kind("v1", "Service")  # type: ignore[assignment]
ENDPOINT_SLICES: Resource = by_kind("discovery.k8s.io/v1", "EndpointSlice")  # type: ignore[assignment]
KINDS: tuple[tuple[str, Resource], ...] = (("Service", SERVICES), ("EndpointSlice", ENDPOINT_SLICES))


class Sink(Protocol):
    def replace(self, kind: str, objs: list[Mapping[str, Any]]) -> None: ...

    def on_event(self, kind: str, event_type: str, obj: Mapping[str, Any]) -> None: ...


class Client(Protocol):
    """What is used of ``skiff.client.transport.ApiClient``."""

    async def list(self, resource: Resource, *, all_namespaces: bool = False) -> dict[str, Any]: ...

    def watch(self, resource: Resource, *, all_namespaces: bool = False, resource_version: str | None = None,
              allow_bookmarks: bool = True, timeout_seconds: int | None = None,
              ) -> AsyncIterator[tuple[str, dict[str, Any]]]: ...


async def list_watch(client: Client, kind: str, resource: Resource, sink: Sink, stop: asyncio.Event, *,
                     watch_timeout: int = 300, max_backoff: float = 10.0) -> None:
    backoff = 0.5
    while not stop.is_set():
        try:
            listed = await client.list(resource, all_namespaces=True)
            sink.replace(kind, [dict(o, kind=kind) for o in listed.get("items") or ()])
            rv = (listed.get("metadata") or {}).get("resourceVersion")
            backoff = 0.5
            while not stop.is_set():
                async for etype, obj in client.watch(resource, all_namespaces=True, resource_version=rv,
                                                     timeout_seconds=watch_timeout):
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if etype in ("ADDED", "MODIFIED", "DELETED"):
                        sink.on_event(kind, etype, obj)
                    elif etype == "ERROR":
                        raise RuntimeError(f"watch {resource.plural}: {obj.get('message')}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure re-lists; Gone is the common one
            log.warning("list/watch %s: %s; re-listing", resource.plural, exc)
            try:
                await asyncio.wait_for(stop.wait(), backoff)
            except asyncio.TimeoutError:
                pass
            backoff = min(max_backoff, backoff * 2)


async def run_watches(client: Client, sink: Sink, stop: asyncio.Event) -> None:
    await asyncio.gather(*(list_watch(client, kind, res, sink, stop) for kind, res in KINDS))
