"""Object lifecycle over etcd: create, read, list, update, patch, delete, watch.

This is where Kubernetes' storage semantics live: compare-and-swap updates (409 on
a stale resourceVersion), retries for server-side read-modify-write (patch, scale,
binding), graceful deletion with ``deletionTimestamp``, finalizers and propagation
policies, namespaces that must exist and drain when deleted, and the size limit.
Decisions about *what* to store come from ``strategy`` and ``admission``; HTTP is
the handlers' business.
"""
from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from skiff.api import patch as api_patch
from skiff.api import schema as api_schema
from skiff.api.resources import RESOURCES, Resource, by_kind

from . import admission, status, strategy
from .etcd.store import Compacted, KeyExists, KeyNotFound, RevisionConflict, Store
from .watchcache import Filter, WatchCache, with_rv

log = logging.getLogger(__name__)

Obj = dict[str, Any]
MAX_OBJECT_BYTES = 1536 * 1024  # etcd's request limit is larger; refuse before reaching it
NAMESPACES = by_kind("v1", "Namespace")
assert NAMESPACES is not None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class ListResult:
    items: list[Obj]
    revision: int
    continue_token: str
    remaining: int | None


@dataclass(frozen=True)
class WriteOptions:
    dry_run: bool = False
    #: who makes the change, for managedFields (None: not tracked, e.g. the server's own writes)
    field_manager: str | None = None
    #: False when the caller already wrote managedFields (server-side apply)
    track_fields: bool = True


def encode_continue(revision: int, start_key: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"v": 1, "rv": revision, "start": start_key})).decode()


def decode_continue(token: str) -> tuple[int, str]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), str(data["start"])
    except Exception as exc:  # noqa: BLE001
        raise status.bad_request(f"continue key is not valid: {exc}") from exc


class Registry:
    def __init__(self, store: Store, cache: WatchCache, *, clock: Callable[[], dt.datetime] = utcnow,
                 default_toleration_seconds: tuple[int, int] = (300, 300)) -> None:
        self.store = store
        self.cache = cache
        self.clock = clock
        # (not-ready, unreachable): what admission gives pods that tolerate neither taint
        self.default_toleration_seconds = default_toleration_seconds

    # -- keys --------------------------------------------------------------------------
    @staticmethod
    def prefix(res: Resource) -> str:
        return f"/registry/{res.plural}/"

    def key_prefix(self, res: Resource, namespace: str | None) -> str:
        return self.prefix(res) + (f"{namespace}/" if res.namespaced and namespace else "")

    def key(self, res: Resource, namespace: str | None, name: str) -> str:
        return self.key_prefix(res, namespace) + name

    # -- reads ---------------------------------------------------------------------------
    async def get(self, res: Resource, namespace: str | None, name: str) -> Obj:
        kv = await self.store.get(self.key(res, namespace, name))
        if kv is None:
            raise status.not_found(res, name)
        return with_rv(kv.value, kv.mod_revision)

    async def list(self, res: Resource, namespace: str | None, *, match: Filter, limit: int = 0,
                   continue_token: str | None = None, resource_version: str | None = None,
                   resource_version_match: str | None = None) -> ListResult:
        kp = self.key_prefix(res, namespace)
        if not continue_token and resource_version not in (None, "") and not limit:
            # Any resourceVersion (0 included) may be served from the cache once it is
            # at least that new; "Exact" needs etcd's history.
            if resource_version_match != "Exact":
                rv = self._parse_rv(resource_version)
                if not await self.cache.wait_for(rv):
                    raise status.timeout(f"Too large resource version: {rv}, current: {self.cache.revision}")
                items, revision = self.cache.list(self.prefix(res), kp, match)
                return ListResult(items, revision, "", None)
        revision, start = 0, kp
        if continue_token:
            revision, start = decode_continue(continue_token)
            if not start.startswith(kp):
                raise status.bad_request("continue key is not valid: it is for another list")
        elif resource_version_match == "Exact" and resource_version:
            revision = self._parse_rv(resource_version)
        items: list[Obj] = []
        page_size = limit if limit else 5000
        while True:
            try:
                page = await self.store.list(kp, start=start, limit=page_size, revision=revision)
            except Compacted:
                raise status.gone("The provided continue parameter is too old to display a consistent list "
                                  "result. You can start a new list without the continue parameter.")
            revision = page.revision
            for kv in page.items:
                if match(kv.value):
                    items.append(with_rv(kv.value, kv.mod_revision))
            last = page.items[-1].key if page.items else start
            if limit and len(items) >= limit and page.more:
                return ListResult(items, revision, encode_continue(revision, last + "\0"),
                                  max(page.count - len(page.items), 0) or None)
            if not page.more:
                return ListResult(items, revision, "", None)
            start = last + "\0"

    @staticmethod
    def _parse_rv(value: str) -> int:
        try:
            rv = int(value)
            if rv < 0:
                raise ValueError
            return rv
        except ValueError as exc:
            raise status.bad_request(f'invalid resource version "{value}"') from exc

    # -- create --------------------------------------------------------------------------
    async def create(self, res: Resource, namespace: str | None, obj: Obj, opts: WriteOptions) -> Obj:
        if res.namespaced:
            await self._check_namespace_open(res, namespace or "", obj)
        for attempt in range(3):
            prepared = strategy.prepare_create(res, obj, namespace=namespace, now=self.clock(),
                                               uid=strategy.new_uid())
            prepared = await admission.admit_create(self, res, prepared, opts)
            prepared = self._track(res, None, prepared, opts, subresource=None)
            name = prepared["metadata"]["name"]
            self._check_size(res, name, prepared)
            if opts.dry_run:
                if await self.store.get(self.key(res, namespace, name)) is not None:
                    raise status.already_exists(res, name)
                return prepared
            try:
                rv = await self.store.create(self.key(res, namespace, name), prepared)
            except KeyExists:
                if obj.get("metadata", {}).get("name") or attempt == 2:
                    raise status.already_exists(res, name)
                continue  # a generated name collided: draw another
            await admission.after_create(self, res, prepared)
            return with_rv(prepared, rv)
        raise AssertionError("unreachable")

    async def _check_namespace_open(self, res: Resource, namespace: str, obj: Obj) -> None:
        # The cache answers almost always (as Kubernetes' NamespaceLifecycle admission
        # uses an informer); etcd is asked only for a namespace the cache has not seen yet.
        key = self.key(NAMESPACES, None, namespace)
        ns = self.cache.get(key) if self.cache.ready.is_set() else None
        if ns is None:
            kv = await self.store.get(key)
            if kv is None:
                raise status.namespace_not_found(namespace)
            ns = kv.value
        if ns.get("metadata", {}).get("deletionTimestamp"):
            name = obj.get("metadata", {}).get("name") or obj.get("metadata", {}).get("generateName", "")
            raise status.forbidden(res, name, f"unable to create new content in namespace {namespace} "
                                              "because it is being terminated")

    def _check_size(self, res: Resource, name: str, obj: Obj) -> None:
        size = len(orjson.dumps(obj))
        if size > MAX_OBJECT_BYTES:
            raise status.too_large(f'{res.qualified} "{name}" is too large: the object is {size} bytes, '
                                   f"more than the limit of {MAX_OBJECT_BYTES} bytes (1.5 MiB)")

    # -- update ------------------------------------------------------------------------------
    async def update(self, res: Resource, namespace: str | None, name: str, obj: Obj, opts: WriteOptions, *,
                     subresource: str | None = None) -> Obj:
        """PUT: a compare-and-swap on the body's resourceVersion (unconditional when it has none)."""
        meta = obj.get("metadata") or {}
        wanted_rv = meta.get("resourceVersion")
        while True:
            kv = await self.store.get(self.key(res, namespace, name))
            if kv is None:
                raise status.not_found(res, name)
            if wanted_rv and str(kv.mod_revision) != str(wanted_rv):
                raise status.stale(res, name)
            if meta.get("uid") and meta["uid"] != kv.value.get("metadata", {}).get("uid"):
                raise status.conflict(res, name, f"Precondition failed: UID in precondition: {meta['uid']}, "
                                                 f"UID in object meta: {kv.value['metadata'].get('uid')}")
            try:
                return await self._write_update(res, namespace, name, obj, kv.value, kv.mod_revision, opts,
                                                subresource=subresource)
            except RevisionConflict:
                if wanted_rv:
                    raise status.stale(res, name)

    async def mutate(self, res: Resource, namespace: str | None, name: str,
                     fn: Callable[[Obj], Obj | Awaitable[Obj]], opts: WriteOptions, *,
                     subresource: str | None = None) -> Obj:
        """Read-modify-write with retries (patch, scale, binding): ``fn`` gets the current object."""
        for _ in range(50):
            kv = await self.store.get(self.key(res, namespace, name))
            if kv is None:
                raise status.not_found(res, name)
            current = with_rv(kv.value, kv.mod_revision)
            result = fn(copy.deepcopy(current))
            new = await result if asyncio.iscoroutine(result) else result
            try:
                return await self._write_update(res, namespace, name, new, kv.value, kv.mod_revision, opts,
                                                subresource=subresource)
            except RevisionConflict:
                continue
        raise status.conflict(res, name, "too many concurrent updates, try again")

    async def _write_update(self, res: Resource, namespace: str | None, name: str, new: Obj, old: Obj,
                            old_rv: int, opts: WriteOptions, *, subresource: str | None) -> Obj:
        prepared = strategy.prepare_update(res, new, old, subresource=subresource)
        prepared = await admission.admit_update(self, res, prepared, old, opts, subresource=subresource)
        prepared = self._track(res, old, prepared, opts, subresource=subresource)
        self._check_size(res, name, prepared)
        if prepared == old:
            return with_rv(old, old_rv)  # nothing changed: no write, same resourceVersion
        meta = prepared["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and self._deletable_now(res, prepared):
            if opts.dry_run:
                return with_rv(prepared, old_rv)
            try:
                rv = await self.store.delete(self.key(res, namespace, name), expected_revision=old_rv)
            except KeyNotFound:
                raise status.not_found(res, name)
            return with_rv(prepared, rv)
        if opts.dry_run:
            return with_rv(prepared, old_rv)
        try:
            rv = await self.store.update(self.key(res, namespace, name), prepared, expected_revision=old_rv)
        except KeyNotFound:
            raise status.not_found(res, name)
        return with_rv(prepared, rv)

    def _track(self, res: Resource, old: Obj | None, new: Obj, opts: WriteOptions, *,
                subresource: str | None) -> Obj:
        """managedFields bookkeeping for every write path (create, update, patch, scale, status)."""
        if not opts.track_fields or not opts.field_manager:
            return new
        return api_patch.record_update(old, new, manager=opts.field_manager, now=self.clock(),
                                       kind_definition=api_schema.root_definition(res), subresource=subresource)

    @staticmethod
    def _deletable_now(res: Resource, obj: Obj) -> bool:
        # A terminating pod waits for its kubelet (grace period) even without finalizers;
        # a namespace waits for the namespace controller to empty it and clear spec.finalizers.
        if res.kind == "Pod":
            return int(obj["metadata"].get("deletionGracePeriodSeconds") or 0) == 0
        if res.kind == "Namespace":
            return not (obj.get("spec") or {}).get("finalizers")
        return True

    # -- delete --------------------------------------------------------------------------------
    async def delete(self, res: Resource, namespace: str | None, name: str, options: Obj,
                     opts: WriteOptions) -> tuple[Obj, bool]:
        """Returns (object, gone): ``gone`` False when deletion is pending (grace, finalizers)."""
        for _ in range(50):
            kv = await self.store.get(self.key(res, namespace, name))
            if kv is None:
                raise status.not_found(res, name)
            obj = kv.value
            self._check_preconditions(res, name, obj, kv.mod_revision, options.get("preconditions") or {})
            plan = plan_delete(res, obj, options, now=self.clock())
            if plan.immediate:
                if opts.dry_run:
                    return with_rv(obj, kv.mod_revision), True
                try:
                    rv = await self.store.delete(self.key(res, namespace, name), expected_revision=kv.mod_revision)
                except RevisionConflict:
                    continue
                except KeyNotFound:
                    raise status.not_found(res, name)
                await admission.after_delete(self, res, obj)
                return with_rv(obj, rv), True
            if plan.updated is None or opts.dry_run:
                return with_rv(plan.updated or obj, kv.mod_revision), False
            try:
                rv = await self.store.update(self.key(res, namespace, name), plan.updated,
                                             expected_revision=kv.mod_revision)
            except RevisionConflict:
                continue
            except KeyNotFound:
                raise status.not_found(res, name)
            return with_rv(plan.updated, rv), False
        raise status.conflict(res, name, "too many concurrent updates, try again")

    @staticmethod
    def _check_preconditions(res: Resource, name: str, obj: Obj, rv: int, pre: Obj) -> None:
        uid = obj.get("metadata", {}).get("uid")
        if pre.get("uid") and pre["uid"] != uid:
            raise status.conflict(res, name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                                             f"UID in object meta: {uid}")
        if pre.get("resourceVersion") and str(pre["resourceVersion"]) != str(rv):
            raise status.conflict(res, name, "Precondition failed: ResourceVersion in precondition: "
                                             f"{pre['resourceVersion']}, ResourceVersion in object meta: {rv}")

    async def delete_collection(self, res: Resource, namespace: str | None, *, match: Filter, options: Obj,
                                opts: WriteOptions) -> list[Obj]:
        listed = await self.list(res, namespace, match=match)
        deleted = []
        for obj in listed.items:
            meta = obj["metadata"]
            try:
                o, _ = await self.delete(res, meta.get("namespace"), meta["name"], options, opts)
                deleted.append(o)
            except status.StatusError as exc:
                if exc.code != 404:
                    raise
        return deleted


@dataclass(frozen=True)
class DeletePlan:
    immediate: bool
    updated: Obj | None = None  # the object to store when deletion is pending


def plan_delete(res: Resource, obj: Obj, options: Obj, *, now: dt.datetime) -> DeletePlan:
    """Decide how a DELETE proceeds (pure): now, or by marking deletionTimestamp/finalizers."""
    meta = obj.get("metadata", {})
    policy = options.get("propagationPolicy")
    if policy is None and options.get("orphanDependents") is True:
        policy = "Orphan"
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise status.bad_request(f'unsupported propagationPolicy "{policy}": supported values are '
                                 '"Orphan", "Background", "Foreground"')
    finalizers = list(meta.get("finalizers") or [])
    if policy == "Foreground" and "foregroundDeletion" not in finalizers:
        finalizers.append("foregroundDeletion")
    if policy == "Orphan" and "orphan" not in finalizers:
        finalizers.append("orphan")
    grace = _grace_period(res, obj, options)
    if res.kind == "Namespace":
        spec_fin = obj.get("spec", {}).get("finalizers", ["kubernetes"])
        if meta.get("deletionTimestamp"):
            return DeletePlan(False, None)
        updated = copy.deepcopy(obj)
        updated["metadata"]["deletionTimestamp"] = strategy.rfc3339(now)
        updated["metadata"]["deletionGracePeriodSeconds"] = 0
        updated["metadata"]["finalizers"] = finalizers or meta.get("finalizers")
        if not updated["metadata"]["finalizers"]:
            updated["metadata"].pop("finalizers")
        updated.setdefault("spec", {})["finalizers"] = spec_fin or ["kubernetes"]
        updated.setdefault("status", {})["phase"] = "Terminating"
        return DeletePlan(False, updated)
    if not finalizers and grace == 0:
        return DeletePlan(True)
    if meta.get("deletionTimestamp"):
        # Already terminating: a shorter grace period may be requested (kubectl --force).
        current = int(meta.get("deletionGracePeriodSeconds") or 0)
        if grace < current or finalizers != list(meta.get("finalizers") or []):
            updated = copy.deepcopy(obj)
            updated["metadata"]["deletionGracePeriodSeconds"] = min(grace, current)
            if finalizers:
                updated["metadata"]["finalizers"] = finalizers
            if not finalizers and grace == 0:
                return DeletePlan(True)
            return DeletePlan(False, updated)
        return DeletePlan(False, None)
    updated = copy.deepcopy(obj)
    updated["metadata"]["deletionTimestamp"] = strategy.rfc3339(now + dt.timedelta(seconds=grace))
    updated["metadata"]["deletionGracePeriodSeconds"] = grace
    if finalizers:
        updated["metadata"]["finalizers"] = finalizers
    return DeletePlan(False, updated)


def _grace_period(res: Resource, obj: Obj, options: Obj) -> int:
    """Only pods bound to a node terminate gracefully; everything else goes at once."""
    if res.kind != "Pod":
        return 0
    spec = obj.get("spec", {})
    phase = obj.get("status", {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return 0
    requested = options.get("gracePeriodSeconds")
    if requested is None:
        requested = spec.get("terminationGracePeriodSeconds", 30)
    return max(int(requested), 0)
