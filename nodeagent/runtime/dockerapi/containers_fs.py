"""Container filesystem endpoints: export, changes (diff), archive (cp), commit, update.

They read the container's overlay (mounted on demand under the engine root);
paths inside volumes and bind mounts are not visible here (as with a stopped
container in Docker).
"""
from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from skiff.nodeagent.runtime.containers.manager import ContainerError
from skiff.nodeagent.runtime.dockerapi.errors import ApiError, BadRequest, NotFound, json_response
from skiff.nodeagent.runtime.engine import Engine
from skiff.nodeagent.runtime.oci.plan import secure_join


def _c():  # type: ignore[no-untyped-def]
    from skiff.nodeagent.runtime.dockerapi import containers as c

    return c


async def _merged(request: web.Request, rec: dict[str, Any]) -> Path:
    rfs = _c()._mgr(request).rootfs(rec)
    return await asyncio.to_thread(rfs.mount)


async def _stream_cmd(request: web.Request, argv: list[str], *, ctype: str = "application/x-tar") -> web.StreamResponse:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    first = await proc.stdout.read(65536)
    if not first:
        err = (await proc.stderr.read()).decode() if proc.stderr else ""  # type: ignore[union-attr]
        await proc.wait()
        if proc.returncode:
            raise ApiError(err.strip() or "archive failed", status=500)
    resp = web.StreamResponse(status=200, headers={"Content-Type": ctype})
    await resp.prepare(request)
    await resp.write(first)
    while True:
        chunk = await proc.stdout.read(1 << 20)
        if not chunk:
            break
        await resp.write(chunk)
    await proc.wait()
    await resp.write_eof()
    return resp


async def export(request: web.Request) -> web.StreamResponse:
    rec = _c()._get(request)
    merged = await _merged(request, rec)
    return await _stream_cmd(request, ["tar", "--numeric-owner", "-C", str(merged), "-cf", "-", "."])


def _lower_exists(lowers: list[str], rel: str) -> bool:
    return any(os.path.lexists(os.path.join(low, rel)) for low in lowers)


_MOUNT_POINTS = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}


def changes_of(upper: Path, lowers: list[str]) -> list[dict[str, Any]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(upper):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, upper)
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(full)
            if "/" + rel in _MOUNT_POINTS and st.st_size == 0 and not _lower_exists(lowers, rel):
                continue  # made as a bind-mount target (Docker keeps these in its init layer)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append({"Path": "/" + rel, "Kind": 2})
            elif _lower_exists(lowers, rel):
                out.append({"Path": "/" + rel, "Kind": 0})
            else:
                out.append({"Path": "/" + rel, "Kind": 1})
    return out


async def changes(request: web.Request) -> web.Response:
    rec = _c()._get(request)
    rfs = _c()._mgr(request).rootfs(rec)
    try:
        lowers = rfs.lower_file.read_text().split(":")
    except OSError:
        lowers = []
    result = sorted(await asyncio.to_thread(changes_of, rfs.upper, lowers), key=lambda c: c["Path"])
    return json_response(result or None)


def _stat_header(path: str, name: str) -> str:
    st = os.lstat(path)
    mode = stat.S_IMODE(st.st_mode)
    # Go's os.FileMode bits as the docker CLI decodes them.
    if stat.S_ISDIR(st.st_mode):
        mode |= 1 << 31
    elif stat.S_ISLNK(st.st_mode):
        mode |= 1 << 27
    import datetime as dt

    mtime = dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
    data = {"name": name, "size": st.st_size, "mode": mode, "mtime": mtime, "linkTarget": link}
    return base64.b64encode(json.dumps(data).encode()).decode()


async def archive_get(request: web.Request) -> web.StreamResponse:
    rec = _c()._get(request)
    path = request.query.get("path")
    if not path:
        raise BadRequest("path is required")
    merged = await _merged(request, rec)
    target = secure_join(str(merged), path)
    if not os.path.lexists(target):
        raise NotFound(f"Could not find the file {path} in container {request.match_info['id']}")
    name = os.path.basename(path.rstrip("/")) or "/"
    header = _stat_header(target, name)
    if request.method == "HEAD":
        return web.Response(status=200, headers={"X-Docker-Container-Path-Stat": header})
    parent, base = os.path.split(target.rstrip("/")) if target != str(merged) else (str(merged), ".")
    resp_argv = ["tar", "--numeric-owner", "-C", parent, "-cf", "-", base]
    proc = await asyncio.create_subprocess_exec(*resp_argv, stdout=asyncio.subprocess.PIPE)
    out = web.StreamResponse(status=200, headers={"Content-Type": "application/x-tar",
                                                  "X-Docker-Container-Path-Stat": header})
    await out.prepare(request)
    assert proc.stdout is not None
    try:
        while True:
            chunk = await proc.stdout.read(1 << 20)
            if not chunk:
                break
            await out.write(chunk)
        await out.write_eof()
    except ConnectionError:
        pass  # the CLI hangs up once it has read the tar's end
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    return out


async def archive_put(request: web.Request) -> web.Response:
    rec = _c()._get(request)
    path = request.query.get("path")
    if not path:
        raise BadRequest("path is required")
    merged = await _merged(request, rec)
    target = secure_join(str(merged), path)
    if not os.path.isdir(target):
        raise NotFound(f"Could not find the file {path} in container {request.match_info['id']}")
    if rec["HostConfig"].get("ReadonlyRootfs"):
        raise ApiError("container rootfs is marked read-only", status=403)
    proc = await asyncio.create_subprocess_exec("tar", "--numeric-owner", "-C", target, "-xf", "-",
                                                stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdin is not None
    async for chunk in request.content.iter_chunked(1 << 20):
        proc.stdin.write(chunk)
        await proc.stdin.drain()
    proc.stdin.close()
    _, err = await proc.communicate()
    if proc.returncode:
        raise ApiError(f"extracting archive: {err.decode().strip()}", status=400)
    return web.Response(status=200)


async def commit(request: web.Request) -> web.Response:
    c = _c()
    m = c._mgr(request)
    ref = request.query.get("container") or ""
    try:
        rec = m.get(ref)
    except ContainerError as exc:
        raise c._err(exc) from None
    from skiff.nodeagent.runtime.images import layers as layermod
    from skiff.nodeagent.runtime.images import reference as refs
    from skiff.nodeagent.runtime.images.changes import ChangeError, apply_changes

    repo, tag = request.query.get("repo") or "", request.query.get("tag") or ""
    tags = []
    if repo:
        text = repo + (":" + tag if tag else "")
        try:
            refs.parse_normalized(text)
        except refs.ReferenceError as exc:
            raise BadRequest(str(exc)) from None
        tags.append(text)
    engine: Engine = request.app[c.ENGINE_KEY]
    image = engine.images.get(rec["Image"])
    cfg = json.loads(json.dumps(image.config))
    body: dict[str, Any] = {}
    if request.can_read_body:
        raw = await request.read()
        if raw.strip():
            body = orjson.loads(raw)
    ccfg = rec["Config"]
    inner = dict(cfg.get("config") or {})
    for k_api, k_img in (("Env", "Env"), ("Cmd", "Cmd"), ("Entrypoint", "Entrypoint"), ("WorkingDir", "WorkingDir"),
                         ("User", "User"), ("Labels", "Labels"), ("ExposedPorts", "ExposedPorts"),
                         ("Volumes", "Volumes"), ("StopSignal", "StopSignal")):
        v = (body or {}).get(k_api, ccfg.get(k_api))
        if v is not None and v != "":
            inner[k_img] = v
    inner["Hostname"] = ""
    cfg["config"] = inner
    try:
        cfg["config"] = apply_changes(cfg["config"], request.query.getall("changes", []))
    except ChangeError as exc:
        raise BadRequest(str(exc)) from None
    pause = c._bool(request, "pause", True) and rec["State"]["Running"] and not rec["State"]["Paused"]
    if pause:
        await m.pause(rec["Id"], True)
    try:
        rfs = m.rootfs(rec)
        tmp = engine.images.temp_path("commit-")
        with open(tmp, "wb") as f:
            # the empty files made as targets of /etc/hosts, hostname, resolv.conf bind mounts
            # are not the container's changes (dockerd keeps them in an -init layer)
            await asyncio.to_thread(layermod.write_layer_tar, rfs.upper, f,
                                    skip=layermod.mount_placeholders(rfs.upper, rfs.lower_file))
        layer = await engine.images.add_layer(tmp, consume=True)
    finally:
        if pause:
            await m.pause(rec["Id"], False)
    base_layers = [engine.images.get_layer(d) for d in image.diff_ids]
    import datetime as dt

    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    cfg.pop("rootfs", None)
    cfg["created"] = created
    cfg["container"] = rec["Id"]
    if request.query.get("author"):
        cfg["author"] = request.query["author"]
    hist = {"created": created, "created_by": " ".join([rec["Path"], *rec["Args"]])}
    if request.query.get("comment"):
        hist["comment"] = request.query["comment"]
    if request.query.get("author"):
        hist["author"] = request.query["author"]
    new = await engine.images.create_image(cfg, [*base_layers, layer], tags=tags, parent=image.id, history=[hist])
    return json_response({"Id": new.id}, status=201)


async def update(request: web.Request) -> web.Response:
    c = _c()
    rec = c._get(request)
    body = await request.json(loads=orjson.loads)
    try:
        await c._mgr(request).update(rec["Id"], body)
    except ContainerError as exc:
        raise c._err(exc) from None
    return json_response({"Warnings": []})


def routes(engine: Engine) -> list[web.RouteDef]:
    return [
        web.get("/containers/{id}/export", export),
        web.get("/containers/{id}/changes", changes),
        web.get("/containers/{id}/archive", archive_get, allow_head=False),
        web.head("/containers/{id}/archive", archive_get),
        web.put("/containers/{id}/archive", archive_put),
        web.post("/containers/{id}/update", update),
        web.post("/commit", commit),
    ]
