"""Volume endpoints of the Docker Engine API (``docker volume create|ls|inspect|rm|prune``).

The store and the container hook live in ``skiff.nodeagent.runtime.containers.volumes``;
this module wires them to the engine and shapes Docker's answers.
"""
from __future__ import annotations

import json
from typing import Any

import orjson
from aiohttp import web

from skiff.nodeagent.runtime.containers.volumes import VolumeError, VolumeStore, VolumeSupport
from skiff.nodeagent.runtime.dockerapi.app import ENGINE_KEY
from skiff.nodeagent.runtime.dockerapi.errors import ApiError, BadRequest, json_response
from skiff.nodeagent.runtime.engine import Engine


def setup(engine: Engine) -> None:
    if engine.get("volumes") is not None:
        return
    store = VolumeStore(engine.root)
    engine.attach("volumes", store)
    containers = engine.get("containers")
    if containers is not None:
        support = VolumeSupport(store, containers)
        containers.volumes = support
        engine.attach("volume_support", support)


def _store(request: web.Request) -> VolumeStore:
    return request.app[ENGINE_KEY].volumes  # type: ignore[no-any-return]


def _users(request: web.Request, name: str) -> list[str]:
    support = request.app[ENGINE_KEY].get("volume_support")
    return support.users(name) if support is not None else []


def _filters(request: web.Request) -> dict[str, list[str]]:
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise BadRequest("invalid filter") from None
    out = {k: (list(v.keys()) if isinstance(v, dict) else list(v)) for k, v in data.items()}
    for k in out:
        if k not in ("name", "label", "dangling", "driver", "all"):
            raise BadRequest(f"invalid filter '{k}'")
    return out


def _matches(request: web.Request, vol: dict[str, Any], flt: dict[str, list[str]]) -> bool:
    if "name" in flt and not any(x in vol["Name"] for x in flt["name"]):
        return False
    labels = vol.get("Labels") or {}
    for lab in flt.get("label", []):
        k, eq, v = lab.partition("=")
        if k not in labels or (eq and labels[k] != v):
            return False
    if "dangling" in flt:
        dangling = not _users(request, vol["Name"])
        if (flt["dangling"][0].lower() in ("1", "true")) != dangling:
            return False
    return True


def _err(exc: VolumeError) -> ApiError:
    return ApiError(exc.message, status=exc.status)


async def create(request: web.Request) -> web.Response:
    try:
        body = await request.json(loads=orjson.loads) if request.can_read_body else {}
    except ValueError:
        raise BadRequest("invalid JSON body") from None
    try:
        vol = _store(request).create(body.get("Name") or None, labels=body.get("Labels") or None,
                                     driver=body.get("Driver") or "local")
    except VolumeError as exc:
        raise _err(exc) from None
    return json_response(vol, status=201)


async def list_volumes(request: web.Request) -> web.Response:
    flt = _filters(request)
    vols = [v for v in _store(request).list() if _matches(request, v, flt)]
    return json_response({"Volumes": vols, "Warnings": None})


async def inspect(request: web.Request) -> web.Response:
    try:
        return json_response(_store(request).get(request.match_info["name"]))
    except VolumeError as exc:
        raise _err(exc) from None


async def remove(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    force = request.query.get("force", "").lower() in ("1", "true")
    try:
        _store(request).remove(name, users=_users(request, name), force=force)
    except VolumeError as exc:
        raise _err(exc) from None
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    flt = _filters(request)
    everything = any(x.lower() in ("1", "true") for x in flt.pop("all", []))
    store = _store(request)
    deleted, space = [], 0
    for vol in store.list():
        if _users(request, vol["Name"]) or not _matches(request, vol, flt):
            continue
        # As Docker 23+: only anonymous volumes unless all=true.
        if not everything and "com.docker.volume.anonymous" not in (vol.get("Labels") or {}):
            continue
        space += _du(vol["Mountpoint"])
        store.remove(vol["Name"], users=[])
        deleted.append(vol["Name"])
    return json_response({"VolumesDeleted": deleted or None, "SpaceReclaimed": space})


def _du(path: str) -> int:
    import os

    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def routes(engine: Engine) -> list[web.RouteDef]:
    return [
        web.post("/volumes/create", create),
        web.get("/volumes", list_volumes),
        web.post("/volumes/prune", prune),
        web.get("/volumes/{name}", inspect),
        web.delete("/volumes/{name}", remove),
    ]
