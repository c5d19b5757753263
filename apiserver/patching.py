"""PATCH: JSON patch, merge patch, strategic merge patch and server-side apply.

The patch algorithms are pure functions in ``skiff.api.patch``; this module picks one
by Content-Type, runs it inside the registry's read-modify-write loop (so a
concurrent writer causes a retry, not a lost update) and maps failures to Status.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from skiff.api import patch as api_patch
from skiff.api import schema as api_schema

from . import status
from .handlers import _check_type, check_fields, decode, read_body, respond, _write_opts
from .paths import Target

if TYPE_CHECKING:
    from .handlers import ResourceHandlers

Obj = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


def apply_patch_body(content_type: str, current: Obj, body: Any, *, definition: str) -> Obj:
    try:
        if content_type == JSON_PATCH:
            if not isinstance(body, list):
                raise status.bad_request("json patch must be a list of operations")
            return api_patch.apply_json_patch(current, body)
        if not isinstance(body, dict):
            raise status.bad_request("patch must be a JSON object")
        if content_type == MERGE_PATCH:
            return api_patch.apply_merge_patch(current, body)
        if content_type == STRATEGIC:
            return api_patch.apply_strategic_merge_patch(current, body, kind_definition=definition)
    except api_patch.PatchError as exc:
        raise status.StatusError(422, "Invalid", str(exc)) from exc
    raise status.StatusError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - '
                             f'accepted media types include: {JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC}, {APPLY}')


async def handle_patch(h: "ResourceHandlers", request: web.Request, t: Target) -> web.Response:
    assert t.name is not None
    res = t.resource
    ctype = request.content_type
    raw = await read_body(request)
    definition = api_schema.root_definition(res)
    mode = request.query.get("fieldValidation")
    opts = _write_opts(request)
    if ctype == APPLY:
        now = dt.datetime.now(dt.timezone.utc)
        return await _server_side_apply(h, request, t, raw, definition, now)
    body = decode(raw, "application/json")
    warnings: list[str] = []

    def change(current: Obj) -> Obj:
        rv = current["metadata"].get("resourceVersion")
        patched = apply_patch_body(ctype, current, body, definition=definition)
        if not isinstance(patched, dict):
            raise status.bad_request("the patch produced something that is not an object")
        new_rv = (patched.get("metadata") or {}).get("resourceVersion")
        if new_rv and new_rv != rv:
            raise status.stale(res, t.name or "")
        _check_type(res, patched)
        if (patched.get("metadata") or {}).get("name") not in (None, t.name):
            raise status.bad_request("metadata.name: Invalid value: the name cannot be changed by a patch")
        warnings[:] = check_fields(res, patched, mode)
        return patched

    obj = await h.registry.mutate(res, t.namespace, t.name, change, opts, subresource=t.subresource)
    return respond(h.encode_one(request, res, obj), request=request, warnings=warnings)


async def _server_side_apply(h: "ResourceHandlers", request: web.Request, t: Target, raw: bytes,
                             definition: str, now: dt.datetime) -> web.Response:
    assert t.name is not None
    res = t.resource
    manager = request.query.get("fieldManager")
    if not manager:
        raise status.StatusError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required '
                                 "value: is required for apply patch")
    force = request.query.get("force", "").lower() in ("1", "true")
    try:
        applied = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise status.bad_request(f"error decoding YAML: {exc}") from exc
    applied = _check_type(res, applied)
    meta = applied.get("metadata") or {}
    if meta.get("name") not in (None, t.name):
        raise status.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the "
                                 f"URL ({t.name})")
    warnings = check_fields(res, applied, request.query.get("fieldValidation"))
    opts = _write_opts(request, track_fields=False)

    def run(live: Obj | None) -> Obj:
        result, conflicts = api_patch.server_side_apply(live, applied, manager=manager, force=force, now=now,
                                                        kind_definition=definition)
        if conflicts:
            raise status.StatusError(409, "Conflict", api_patch.conflict_message(conflicts), details={
                "name": t.name, "group": res.group, "kind": res.plural,
                "causes": [{"reason": "FieldManagerConflict", "message": f"conflict with {c.manager_text}",
                            "field": c.field} for c in conflicts]})
        return result

    try:
        obj = await h.registry.mutate(res, t.namespace, t.name, run, opts, subresource=t.subresource)
        return respond(h.encode_one(request, res, obj), request=request, warnings=warnings)
    except status.StatusError as exc:
        if exc.code != 404 or t.subresource:
            raise
    created_body = run(None)
    created_body.setdefault("metadata", {})["name"] = t.name
    created = await h.registry.create(res, t.namespace, created_body, opts)
    return respond(h.encode_one(request, res, created), code=201, request=request, warnings=warnings)
