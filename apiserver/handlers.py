"""HTTP handlers for resource paths: decode, negotiate, call the registry, encode.

One entry point, ``handle``, dispatches on (method, name present, subresource,
watch). Request bodies are bounded (3 MiB → 413), decoded from JSON or YAML, and
checked against the schema per ``fieldValidation`` before anything is written.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from typing import Any

import orjson
import yaml
from aiohttp import web

from skiff.api import protobuf
from skiff.api import schema as api_schema
from skiff.api import schemacheck
from skiff.api.resources import Resource

from . import filters, status
from .paths import Target, parse
from .registry import Registry, WriteOptions
from .watchcache import TooOld

log = logging.getLogger(__name__)

Obj = dict[str, Any]
MAX_BODY = 3 * 1024 * 1024
#: kinds whose DELETE answers with the object rather than a Status, as Kubernetes' registries do
RETURNS_DELETED_OBJECT = frozenset({"Pod", "Service", "ServiceAccount", "PersistentVolume",
                                    "PersistentVolumeClaim", "StorageClass"})
JSON = "application/json"


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def respond(obj: Any, *, code: int = 200, request: web.Request | None = None,
            warnings: list[str] | None = None) -> web.Response:
    headers = {}
    if warnings:
        headers["Warning"] = ", ".join(f'299 - "{w}"' for w in warnings)
    if request is not None and _wants_yaml(request):
        return web.Response(body=yaml.safe_dump(obj, sort_keys=False).encode(), status=code,
                            content_type="application/yaml", headers=headers)
    return web.Response(body=dumps(obj), status=code, content_type=JSON, headers=headers)


def _wants_yaml(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return accept.startswith("application/yaml") and "json" not in accept


def _accept_as(request: web.Request) -> str | None:
    """``Table``, ``PartialObjectMetadata(List)`` or None for the plain kind."""
    for part in request.headers.get("Accept", "").split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        as_ = params.get("as")
        if as_ in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList") and \
                params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            return as_
        if part.strip().split(";")[0] in ("application/json", "*/*", "application/yaml"):
            return None
    return None


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "t", "yes")


async def read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise status.too_large(f"Request entity too large: limit is {MAX_BODY}")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_BODY:
            raise status.too_large(f"Request entity too large: limit is {MAX_BODY}")
        chunks.append(chunk)
    return b"".join(chunks)


def decode(body: bytes, content_type: str) -> Any:
    if not body.strip():
        raise status.bad_request("the body of the request was empty")
    if content_type == protobuf.CONTENT_TYPE:  # kubectl 1.32+ sends built-in kinds as protobuf
        try:
            return protobuf.decode(body)
        except protobuf.ProtobufError as exc:
            raise status.bad_request(f"the body of the request could not be decoded as protobuf: {exc}") from exc
    try:
        if "yaml" in content_type:
            return yaml.safe_load(body)
        return orjson.loads(body)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "yaml" if "yaml" in content_type else "json"
        raise status.bad_request(f"the body of the request could not be decoded as {kind}: {exc}") from exc


def _check_type(res: Resource, obj: Any, *, allow_scale: bool = False) -> Obj:
    if not isinstance(obj, dict):
        raise status.bad_request("the body of the request must be a JSON or YAML object")
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind is not None and kind != res.kind and not (allow_scale and kind == "Scale"):
        raise status.bad_request(f"the kind in the data ({kind}) does not match the expected kind "
                                 f"({res.kind}) for {res.qualified}")
    if api_version is not None and api_version != res.api_version and not allow_scale:
        raise status.bad_request(f"the API version in the data ({api_version}) does not match the expected "
                                 f"API version ({res.api_version})")
    return obj


def check_fields(res: Resource, obj: Obj, mode: str | None) -> list[str]:
    """Apply ``fieldValidation``: Strict → 400, Warn (the default) → warnings, Ignore → dropped."""
    mode = mode or "Warn"
    if mode not in ("Strict", "Warn", "Ignore"):
        raise status.bad_request(f'fieldValidation must be one of "Ignore", "Warn" or "Strict", not "{mode}"')
    report = schemacheck.check_schema(res, obj)
    if report.type_errors:
        raise status.bad_request(
            "; ".join(e.message for e in report.type_errors),
            causes=[{"reason": "FieldValueTypeInvalid", "message": e.message, "field": e.field}
                    for e in report.type_errors])
    if not report.unknown:
        return []
    msgs = [f'unknown field "{f}"' for f in report.unknown]
    if mode == "Strict":
        raise status.bad_request("strict decoding error: " + ", ".join(msgs),
                                 causes=[{"reason": "FieldValueUnknown", "message": m, "field": f}
                                         for m, f in zip(msgs, report.unknown)])
    # Kubernetes' decoder cannot keep a field its types lack; neither do we.
    for path in report.unknown:
        drop_path(obj, path)
    return msgs if mode == "Warn" else []


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def drop_path(obj: Any, path: str) -> None:
    """Remove ``a.b[0].c`` from ``obj`` (map keys may contain dots only in the last step)."""
    steps = [(m.group(1), m.group(2)) for m in _STEP.finditer(path)]
    cur = obj
    for i, (key, index) in enumerate(steps):
        last = i == len(steps) - 1
        if index is not None:
            if not isinstance(cur, list) or int(index) >= len(cur):
                return
            cur = cur[int(index)]
            continue
        if not isinstance(cur, dict):
            return
        if last:
            cur.pop(key, None)
            return
        if key not in cur:
            # a map key with dots (an annotation): the rest of the path is the key
            rest = ".".join(k for k, _ in steps[i:] if k)
            cur.pop(rest, None)
            return
        cur = cur[key]


def _write_opts(request: web.Request, *, track_fields: bool = True, body_dry_run: Any = None) -> WriteOptions:
    """Write options from the query; a DELETE may carry ``dryRun`` in its DeleteOptions body instead."""
    dry = list(request.query.getall("dryRun", []))
    if body_dry_run is not None:
        if not isinstance(body_dry_run, list) or not all(isinstance(d, str) for d in body_dry_run):
            raise status.bad_request("DeleteOptions.dryRun must be a list of strings")
        dry.extend(body_dry_run)
    for d in dry:
        if d != "All":
            raise status.bad_request(f'Invalid dryRun value "{d}": only "All" is supported')
    return WriteOptions(dry_run=bool(dry), field_manager=field_manager(request), track_fields=track_fields)


def field_manager(request: web.Request) -> str:
    """``fieldManager``, or as Kubernetes does the user agent's program name (``kubectl-edit``)."""
    if request.query.get("fieldManager"):
        return request.query["fieldManager"][:128]
    agent = request.headers.get("User-Agent", "unknown")
    return agent.split("/", 1)[0][:128] or "unknown"


class ResourceHandlers:
    def __init__(self, registry: Registry, *, bookmark_interval: float = 5.0, agent_token: str | None = None,
                 signing_key: Any = None) -> None:
        from .nodeproxy import NodeProxy

        self.registry = registry
        self.signing_key = signing_key  # the service-account key TokenRequest signs with
        self.node_proxy = NodeProxy(self, token=agent_token)
        self.bookmark_interval = bookmark_interval
        self.now = lambda: dt.datetime.now(dt.timezone.utc)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = parse(request.path)
        if target is None:
            raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
        if target.resource.namespaced and target.namespace is None and target.name is not None:
            raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
        m = request.method
        sub = target.subresource
        if sub == "scale":
            from .subresources import handle_scale
            return await handle_scale(self, request, target)
        if sub == "binding":
            from .subresources import handle_binding
            return await handle_binding(self, request, target)
        if sub == "log" and m == "GET" and target.name:
            return await self.node_proxy.log(request, target)
        if sub in ("exec", "attach", "portforward") and m in ("GET", "POST") and target.name:
            return await self.node_proxy.stream(request, target)
        if sub == "eviction" and m == "POST" and target.name:
            from .subresources import handle_eviction
            return await handle_eviction(self, request, target)
        if sub == "token" and target.name:
            from .tokenrequest import handle_token_request
            return await handle_token_request(self, request, target, key=self.signing_key)
        if sub in ("proxy", "token"):
            raise status.StatusError(501, "NotImplemented", f"the {sub} subresource is not served by Skiff yet")
        if target.name is None:
            if m == "GET":
                if _flag(request.query.get("watch")):
                    return await self.watch(request, target)
                return await self.list(request, target)
            if m == "POST":
                return await self.create(request, target)
            if m == "DELETE":
                return await self.delete_collection(request, target)
        else:
            if m == "GET":
                if _flag(request.query.get("watch")):
                    return await self.watch(request, target)
                return await self.get(request, target)
            if m == "PUT":
                return await self.update(request, target)
            if m == "PATCH":
                from .patching import handle_patch
                return await handle_patch(self, request, target)
            if m == "DELETE":
                return await self.delete(request, target)
        raise status.method_not_allowed(f"the server does not allow this method on the requested resource")

    # -- encoding ---------------------------------------------------------------------------
    def encode_one(self, request: web.Request, res: Resource, obj: Obj) -> Obj:
        as_ = _accept_as(request)
        if as_ == "Table":
            return self.table(request, res, [obj])
        if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
        return obj

    def table(self, request: web.Request, res: Resource, objs: list[Obj], *, list_meta: Obj | None = None,
              headers: bool = True) -> Obj:
        from .printing import IncludeObjectError, table

        include = request.query.get("includeObject", "Metadata")
        try:
            t = table(res, objs, now=self.now(), include_object=include)
        except IncludeObjectError as exc:
            raise status.bad_request(str(exc)) from exc
        if list_meta is not None:
            t["metadata"] = list_meta
        if not headers:
            t["columnDefinitions"] = []
        return t

    # -- verbs ------------------------------------------------------------------------------------
    async def get(self, request: web.Request, t: Target) -> web.Response:
        assert t.name is not None
        obj = await self.registry.get(t.resource, t.namespace, t.name)
        if t.subresource == "status" or t.subresource is None:
            return respond(self.encode_one(request, t.resource, obj), request=request)
        raise status.StatusError(404, "NotFound", "the server could not find the requested resource")

    async def list(self, request: web.Request, t: Target) -> web.Response:
        q = request.query
        match = filters.make_filter(t.resource, q.get("labelSelector"), q.get("fieldSelector"))
        try:
            limit = int(q.get("limit", "0") or 0)
        except ValueError as exc:
            raise status.bad_request(f'invalid limit "{q.get("limit")}"') from exc
        result = await self.registry.list(
            t.resource, t.namespace, match=match, limit=limit, continue_token=q.get("continue"),
            resource_version=q.get("resourceVersion"), resource_version_match=q.get("resourceVersionMatch"))
        meta: Obj = {"resourceVersion": str(result.revision)}
        if result.continue_token:
            meta["continue"] = result.continue_token
        if result.remaining:
            meta["remainingItemCount"] = result.remaining
        as_ = _accept_as(request)
        if as_ == "Table":
            return respond(self.table(request, t.resource, result.items, list_meta=meta), request=request)
        if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            return respond({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
                            "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                       "metadata": o["metadata"]} for o in result.items]}, request=request)
        return respond({"kind": t.resource.list_kind, "apiVersion": t.resource.api_version, "metadata": meta,
                        "items": result.items}, request=request)

    async def create(self, request: web.Request, t: Target) -> web.Response:
        if t.resource.namespaced and t.namespace is None:
            raise status.method_not_allowed("the server does not allow this method on the requested resource")
        obj = _check_type(t.resource, decode(await read_body(request), request.content_type))
        ns_in_body = (obj.get("metadata") or {}).get("namespace")
        if t.resource.namespaced and ns_in_body and ns_in_body != t.namespace:
            raise status.bad_request("the namespace of the provided object does not match the namespace sent "
                                     "on the request")
        warnings = check_fields(t.resource, obj, request.query.get("fieldValidation"))
        opts = _write_opts(request)
        created = await self.registry.create(t.resource, t.namespace, obj, opts)
        return respond(self.encode_one(request, t.resource, created), code=201, request=request, warnings=warnings)

    async def update(self, request: web.Request, t: Target) -> web.Response:
        assert t.name is not None
        obj = _check_type(t.resource, decode(await read_body(request), request.content_type))
        meta = obj.get("metadata") or {}
        if meta.get("name") and meta["name"] != t.name:
            raise status.bad_request(f"the name of the object ({meta['name']}) does not match the name on the "
                                     f"URL ({t.name})")
        if t.resource.namespaced and meta.get("namespace") and meta["namespace"] != t.namespace:
            raise status.bad_request("the namespace of the provided object does not match the namespace sent "
                                     "on the request")
        warnings = check_fields(t.resource, obj, request.query.get("fieldValidation"))
        updated = await self.registry.update(t.resource, t.namespace, t.name, obj, _write_opts(request),
                                             subresource=t.subresource)
        return respond(self.encode_one(request, t.resource, updated), request=request, warnings=warnings)

    async def _delete_options(self, request: web.Request) -> Obj:
        body = await read_body(request)
        options: Obj = decode(body, request.content_type) if body.strip() else {}
        if not isinstance(options, dict):
            raise status.bad_request("DeleteOptions must be an object")
        q = request.query
        if "gracePeriodSeconds" in q:
            try:
                options["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
            except ValueError as exc:
                raise status.bad_request("gracePeriodSeconds must be an integer") from exc
        if "propagationPolicy" in q:
            options["propagationPolicy"] = q["propagationPolicy"]
        if "orphanDependents" in q:
            options["orphanDependents"] = _flag(q["orphanDependents"])
        return options

    async def delete(self, request: web.Request, t: Target) -> web.Response:
        assert t.name is not None
        options = await self._delete_options(request)
        obj, gone = await self.registry.delete(t.resource, t.namespace, t.name, options,
                                               _write_opts(request, body_dry_run=options.get("dryRun")))
        if gone and t.resource.kind not in RETURNS_DELETED_OBJECT:
            details: Obj = {"name": t.name, "kind": t.resource.plural, "uid": obj["metadata"].get("uid")}
            if t.resource.group:
                details["group"] = t.resource.group
            return respond(status.success(details=details), request=request)
        return respond(obj, request=request)

    async def delete_collection(self, request: web.Request, t: Target) -> web.Response:
        q = request.query
        match = filters.make_filter(t.resource, q.get("labelSelector"), q.get("fieldSelector"))
        options = await self._delete_options(request)
        deleted = await self.registry.delete_collection(
            t.resource, t.namespace, match=match, options=options,
            opts=_write_opts(request, body_dry_run=options.get("dryRun")))
        return respond({"kind": t.resource.list_kind, "apiVersion": t.resource.api_version,
                        "metadata": {}, "items": deleted}, request=request)

    # -- watch ------------------------------------------------------------------------------------
    async def watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        res = t.resource
        field_selector = q.get("fieldSelector")
        if t.name is not None:
            field_selector = ",".join(x for x in (field_selector, f"metadata.name={t.name}") if x)
        match = filters.make_filter(res, q.get("labelSelector"), field_selector)
        cache = self.registry.cache
        rv_param = q.get("resourceVersion")
        send_initial = _flag(q.get("sendInitialEvents"))
        since: int | None = None
        if rv_param not in (None, "", "0") and not send_initial:
            since = self.registry._parse_rv(rv_param)
            if not await cache.wait_for(since):
                raise status.timeout(f"Too large resource version: {since}, current: {cache.revision}")
        bookmarks = _flag(q.get("allowWatchBookmarks"))
        timeout = float(q.get("timeoutSeconds") or 1800)
        as_table = _accept_as(request) == "Table"
        response = web.StreamResponse(headers={"Content-Type": JSON, "Cache-Control": "no-cache"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        kp = self.registry.key_prefix(res, t.namespace)
        try:
            watcher = cache.watch(self.registry.prefix(res), kp, match, since=since)
        except TooOld as exc:
            err = status.gone(f"too old resource version: {exc.requested} ({exc.oldest})")
            await response.write(dumps({"type": "ERROR", "object": err.body()}) + b"\n")
            return response
        first = True
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            if send_initial:
                initial = watcher.queue.qsize()
                for _ in range(initial):
                    item = watcher.queue.get_nowait()
                    assert item is not None
                    first = await self._send(response, request, res, item, as_table=as_table, first=first)
                end = {"kind": res.kind, "apiVersion": res.api_version,
                       "metadata": {"resourceVersion": str(cache.revision),
                                    "annotations": {"k8s.io/initial-events-end": "true"}}}
                await response.write(dumps({"type": "BOOKMARK", "object": end}) + b"\n")
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), min(remaining, self.bookmark_interval))
                except asyncio.TimeoutError:
                    if bookmarks:
                        item = ("BOOKMARK", cache.revision)
                    else:
                        continue
                if item is None:
                    break
                if item[0] == "BOOKMARK" and not bookmarks:
                    continue
                first = await self._send(response, request, res, item, as_table=as_table, first=first)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            cache.unwatch(watcher)
        return response

    async def _send(self, response: web.StreamResponse, request: web.Request, res: Resource,
                    item: tuple[str, Any], *, as_table: bool, first: bool) -> bool:
        kind, payload = item
        if kind == "BOOKMARK":
            obj: Obj = {"kind": res.kind, "apiVersion": res.api_version,
                        "metadata": {"resourceVersion": str(payload)}}
        elif as_table:
            obj = self.table(request, res, [payload], headers=first)
            first = False
        else:
            obj = payload
        await response.write(dumps({"type": kind, "object": obj}) + b"\n")
        return first


def schema_definition(res: Resource) -> str:
    return api_schema.root_definition(res)
