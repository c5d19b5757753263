"""The key/value store: objects as JSON under ``/registry/...`` in etcd, with revisions.

Every write is a compare-and-swap transaction on the key's mod revision, so two
writers never overwrite each other silently; ``resourceVersion`` is the etcd mod
revision and is never stored inside the value. ``aetcd`` owns the gRPC channel; range
and transaction requests are built here from its generated messages because its
helpers do not expose ``limit`` and ``revision``.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aetcd
import orjson
from aetcd import rpc

log = logging.getLogger(__name__)


class StoreError(Exception):
    pass


class KeyExists(StoreError):
    pass


class KeyNotFound(StoreError):
    pass


class RevisionConflict(StoreError):
    def __init__(self, current: "KV | None") -> None:
        super().__init__("revision conflict")
        self.current = current


class Compacted(StoreError):
    def __init__(self, compacted_revision: int) -> None:
        super().__init__(f"revision {compacted_revision} has been compacted")
        self.compacted_revision = compacted_revision


@dataclass(frozen=True)
class KV:
    key: str
    value: dict[str, Any]
    mod_revision: int
    create_revision: int


@dataclass(frozen=True)
class Page:
    items: list[KV]
    revision: int  # the revision the page was read at
    more: bool
    count: int  # keys remaining in the range including this page (etcd's count)


@dataclass(frozen=True)
class Change:
    """One watch event from etcd: ``value`` is None for a delete (``prev`` holds the last value)."""

    key: str
    value: dict[str, Any] | None
    prev: dict[str, Any] | None
    revision: int


def prefix_end(prefix: bytes) -> bytes:
    """The first key after every key starting with ``prefix`` (etcd's range_end)."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"


def _decode(kv: Any) -> KV:
    return KV(kv.key.decode(), orjson.loads(kv.value), kv.mod_revision, kv.create_revision)


def _parse_endpoint(url: str) -> tuple[str, int]:
    rest = url.split("://", 1)[-1].rstrip("/")
    host, _, port = rest.rpartition(":")
    return host or "127.0.0.1", int(port or 2379)


def _grpc_target(endpoints: list[str]) -> tuple[str, int]:
    """(host, port) for aetcd, which joins them as ``host:port`` into a gRPC target.

    Several IPv4 members become one ``ipv4:a:p1,b:p2,...`` target so gRPC's
    pick_first policy moves to another member when one fails; aetcd appends
    ``:port`` itself, so the last member's port is passed separately.
    """
    parsed = [_parse_endpoint(e) for e in endpoints]
    if len(parsed) == 1 or not all(h.replace(".", "").isdigit() for h, _ in parsed):
        return parsed[0]
    addrs = [f"{h}:{p}" for h, p in parsed]
    last_host, last_port = parsed[-1]
    return "ipv4:" + ",".join([*addrs[:-1], last_host]), last_port


class Store:
    """Async etcd access for the API server. One instance per server."""

    def __init__(self, endpoints: list[str], *, timeout: float = 10.0) -> None:
        self._endpoints = endpoints
        self._timeout = timeout
        self._client: aetcd.Client | None = None

    async def connect(self) -> None:
        """Connect to the cluster; with several members, gRPC fails over between them."""
        last: Exception | None = None
        host, port = _grpc_target(self._endpoints)
        for _ in range(100):
            client = aetcd.Client(host=host, port=port, timeout=int(self._timeout),
                                  options={"grpc.max_receive_message_length": 256 * 1024 * 1024})
            try:
                await client.connect()
                await client.kvstub.Range(rpc.RangeRequest(key=b"/registry/", limit=1), timeout=2)
                self._client = client
                return
            except Exception as exc:  # noqa: BLE001 - etcd may still be starting
                last = exc
                await client.close()
            await asyncio.sleep(0.1)
        raise StoreError(f"cannot reach etcd at {', '.join(self._endpoints)}: {last}")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def client(self) -> aetcd.Client:
        if self._client is None:
            raise StoreError("store is not connected")
        return self._client

    # -- reads ---------------------------------------------------------------------
    async def get(self, key: str) -> KV | None:
        resp = await self.client.kvstub.Range(rpc.RangeRequest(key=key.encode()), timeout=self._timeout)
        return _decode(resp.kvs[0]) if resp.kvs else None

    async def current_revision(self) -> int:
        resp = await self.client.kvstub.Range(rpc.RangeRequest(key=b"/registry/", limit=1, keys_only=True),
                                              timeout=self._timeout)
        return int(resp.header.revision)

    async def list(self, prefix: str, *, start: str | None = None, limit: int = 0,
                   revision: int = 0) -> Page:
        """Keys under ``prefix`` from ``start`` (inclusive), at ``revision`` (0 = latest)."""
        pfx = prefix.encode()
        req = rpc.RangeRequest(key=start.encode() if start else pfx, range_end=prefix_end(pfx),
                               limit=limit, revision=revision)
        try:
            resp = await self.client.kvstub.Range(req, timeout=self._timeout)
        except rpc.AioRpcError as exc:
            if "compacted" in (exc.details() or ""):
                raise Compacted(revision) from exc
            raise
        return Page([_decode(kv) for kv in resp.kvs], int(resp.header.revision), bool(resp.more),
                    int(resp.count))

    # -- writes (compare-and-swap) ---------------------------------------------------
    async def create(self, key: str, value: dict[str, Any]) -> int:
        k = key.encode()
        cmp = rpc.Compare(key=k, result=rpc.Compare.EQUAL, target=rpc.Compare.CREATE, create_revision=0)
        put = rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=orjson.dumps(value)))
        resp = await self.client.kvstub.Txn(rpc.TxnRequest(compare=[cmp], success=[put]), timeout=self._timeout)
        if not resp.succeeded:
            raise KeyExists(key)
        return int(resp.header.revision)

    async def update(self, key: str, value: dict[str, Any], *, expected_revision: int) -> int:
        """Replace ``key`` if its mod revision is still ``expected_revision``."""
        k = key.encode()
        cmp = rpc.Compare(key=k, result=rpc.Compare.EQUAL, target=rpc.Compare.MOD, mod_revision=expected_revision)
        put = rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=orjson.dumps(value)))
        get = rpc.RequestOp(request_range=rpc.RangeRequest(key=k))
        resp = await self.client.kvstub.Txn(rpc.TxnRequest(compare=[cmp], success=[put], failure=[get]),
                                            timeout=self._timeout)
        if resp.succeeded:
            return int(resp.header.revision)
        kvs = resp.responses[0].response_range.kvs
        if not kvs:
            raise KeyNotFound(key)
        raise RevisionConflict(_decode(kvs[0]))

    async def delete(self, key: str, *, expected_revision: int) -> int:
        k = key.encode()
        cmp = rpc.Compare(key=k, result=rpc.Compare.EQUAL, target=rpc.Compare.MOD, mod_revision=expected_revision)
        dele = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=k))
        get = rpc.RequestOp(request_range=rpc.RangeRequest(key=k))
        resp = await self.client.kvstub.Txn(rpc.TxnRequest(compare=[cmp], success=[dele], failure=[get]),
                                            timeout=self._timeout)
        if resp.succeeded:
            return int(resp.header.revision)
        kvs = resp.responses[0].response_range.kvs
        if not kvs:
            raise KeyNotFound(key)
        raise RevisionConflict(_decode(kvs[0]))

    async def compact(self, revision: int) -> None:
        try:
            await self.client.kvstub.Compact(rpc.CompactionRequest(revision=revision), timeout=self._timeout)
        except rpc.AioRpcError as exc:
            if "compacted" not in (exc.details() or ""):
                raise

    # -- watch -------------------------------------------------------------------------
    async def watch(self, prefix: str, *, start_revision: int) -> AsyncIterator[Change]:
        """Every change under ``prefix`` from ``start_revision`` (inclusive), in order."""
        pfx = prefix.encode()
        try:
            watch = await self.client.watch(pfx, range_end=prefix_end(pfx), start_revision=start_revision,
                                            prev_kv=True)
        except aetcd.exceptions.RevisionCompactedError as exc:
            raise Compacted(exc.compacted_revision) from exc
        try:
            async for ev in watch:
                key = ev.kv.key.decode()
                prev = orjson.loads(ev.prev_kv.value) if ev.prev_kv is not None and ev.prev_kv.value else None
                if ev.kind == "PUT":
                    yield Change(key, orjson.loads(ev.kv.value), prev, ev.kv.mod_revision)
                else:
                    yield Change(key, None, prev, ev.kv.mod_revision)
        except aetcd.exceptions.RevisionCompactedError as exc:
            raise Compacted(exc.compacted_revision) from exc
        finally:
            try:
                await watch.cancel()
            except Exception:  # noqa: BLE001 - the channel may already be closed
                pass
