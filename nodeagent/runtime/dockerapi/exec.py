"""Exec endpoints of the Docker Engine API: create, start (hijacked), inspect, resize.

An exec runs under its own ``skiff-shim`` (``skiff.nodeagent.runtime.containers.execs``),
which holds its stdio or, with ``Tty``, the pty master the runtime made in the
container; the handler relays the shim's socket over the hijacked connection. The
exit code is recorded before the stream closes, since the docker CLI inspects the
exec right after its output ends. A client that detaches (``^P^Q``) or goes away
leaves the exec running, and so does a daemon restart.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from skiff.nodeagent.runtime.containers import dockerspec
from skiff.nodeagent.runtime.containers.execs import ExecManager, ExecRecord, ExecStartError
from skiff.nodeagent.runtime.containers.manager import ContainerError, ContainerManager
from skiff.nodeagent.runtime.dockerapi.app import ENGINE_KEY
from skiff.nodeagent.runtime.dockerapi.containers import _size, relay, relay_rest
from skiff.nodeagent.runtime.dockerapi.errors import ApiError, BadRequest, NotFound, json_response
from skiff.nodeagent.runtime.dockerapi.hijack import (
    DEFAULT_DETACH_KEYS, DetachKeysError, Hijacked, parse_detach_keys,
)
from skiff.nodeagent.runtime.engine import Engine
from skiff.nodeagent.runtime.oci import container as rt
from skiff.nodeagent.runtime.oci.state import RuntimeError_

log = logging.getLogger(__name__)


def _execs(engine: Engine) -> ExecManager:
    return engine.get("execs")  # type: ignore[no-any-return]


def setup(engine: Engine) -> None:
    if engine.get("execs") is not None:
        return
    execs = ExecManager(engine.containers)
    engine.attach("execs", execs)

    async def start(_: Engine) -> None:
        await execs.load()  # after the containers' own load (registered first)

    async def stop(_: Engine) -> None:
        await execs.close()

    engine.on_startup(start)
    engine.on_shutdown(stop)


def _mgr(request: web.Request) -> ContainerManager:
    return request.app[ENGINE_KEY].containers  # type: ignore[no-any-return]


def _running_container(request: web.Request, ref: str) -> dict[str, Any]:
    try:
        rec = _mgr(request).get(ref)
    except ContainerError as exc:
        raise ApiError(exc.message, status=exc.status) from None
    if not rec["State"]["Running"]:
        raise ApiError(f"container {rec['Id']} is not running", status=409)
    if rec["State"]["Paused"]:
        raise ApiError(f"Container {rec['Id']} is paused, unpause the container before exec", status=409)
    return rec


async def create(request: web.Request) -> web.Response:
    try:
        body = await request.json(loads=orjson.loads)
    except ValueError:
        raise BadRequest("invalid JSON body") from None
    rec = _running_container(request, request.match_info["id"])
    cmd = body.get("Cmd")
    if not cmd or not isinstance(cmd, list):
        raise BadRequest("No exec command specified")
    if body.get("DetachKeys"):
        try:
            parse_detach_keys(body["DetachKeys"])
        except DetachKeysError as exc:
            raise BadRequest(str(exc)) from None
    ex = _execs(request.app[ENGINE_KEY]).create(rec["Id"], body)
    size = body.get("ConsoleSize") or []
    if len(size) == 2 and size[0] and size[1]:
        ex.size = (int(size[0]), int(size[1]))
    return json_response({"Id": ex.id}, status=201)


def _get_exec(request: web.Request) -> ExecRecord:
    ex = _execs(request.app[ENGINE_KEY]).get(request.match_info["id"])
    if ex is None:
        raise NotFound(f"No such exec instance: {request.match_info['id']}")
    return ex


async def inspect(request: web.Request) -> web.Response:
    return json_response(_get_exec(request).inspect())


def process_spec(manager: ContainerManager, rec: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """The container's process with the exec's command, env, cwd and user."""
    state = rt.read_state(manager.runtime_root, rec["Id"])
    proc = json.loads(json.dumps(state["config"]["process"]))
    proc["args"] = list(cfg["Cmd"])
    proc["env"] = dockerspec.merge_env(proc.get("env") or [], cfg.get("Env") or [])
    proc["terminal"] = bool(cfg.get("Tty"))
    proc.pop("consoleSize", None)
    if cfg.get("WorkingDir"):
        proc["cwd"] = cfg["WorkingDir"]
    if cfg.get("User"):
        merged = manager.rootfs(rec).merged

        def read(p: str) -> str:
            try:
                return (merged / p).read_text()
            except OSError:
                return ""

        uid, gid, groups = dockerspec.parse_user(cfg["User"], read("etc/passwd"), read("etc/group"))
        proc["user"] = {"uid": uid, "gid": gid, "additionalGids": groups}
    if cfg.get("Privileged"):
        from skiff.nodeagent.runtime.oci.plan import CAPABILITIES

        caps = list(CAPABILITIES)
        proc["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    return proc


async def start(request: web.Request) -> web.StreamResponse:
    ex = _get_exec(request)
    try:
        body = await request.json(loads=orjson.loads) if request.can_read_body else {}
    except ValueError:
        body = {}
    if ex.started:
        raise ApiError(f"Exec {ex.id} has already been started", status=409)
    rec = _running_container(request, ex.container_id)
    m = _mgr(request)
    execs = _execs(request.app[ENGINE_KEY])
    try:
        proc_spec = await asyncio.to_thread(process_spec, m, rec, ex.config)
    except (RuntimeError_, OSError) as exc:
        raise ApiError(f"container {rec['Id']} is not running: {exc}", status=409) from None
    except dockerspec.ConfigError as exc:
        raise ApiError(str(exc), status=500) from None
    if ex.size:
        proc_spec["consoleSize"] = {"height": ex.size[0], "width": ex.size[1]}
    tty = ex.tty
    if body.get("Detach"):
        try:
            await execs.start(ex, proc_spec, hold_output=False)
        except ExecStartError as exc:
            raise ApiError(f"OCI runtime exec failed: exec failed: {exc.message}: unknown", status=500) from None
        return web.Response(status=200)
    h = Hijacked(request, tty=tty)
    await h.start()
    missing = _missing_executable(m.rootfs(rec).merged, proc_spec)
    failure = ""
    if missing:
        ex.started, ex.exit_code, ex.running = True, 127, False
        ex.done.set()
        failure = missing
    else:
        try:
            await execs.start(ex, proc_spec, hold_output=True)
        except ExecStartError as exc:
            failure = exc.message
    if failure:
        # What runc prints through dockerd; the CLI shows it and exits 126/127.
        msg = f"OCI runtime exec failed: exec failed: unable to start container process: {failure}: unknown\r\n"
        data = msg.encode()
        h.write(data if tty else bytes([1, 0, 0, 0]) + len(data).to_bytes(4, "big") + data)
        h.close()
        return h.response()
    try:
        await _relay_exec(execs, ex, h)
    finally:
        h.close()
    return h.response()


async def _relay_exec(execs: ExecManager, ex: ExecRecord, h: Hijacked) -> None:
    cfg = ex.config
    try:
        reader, writer = await execs.attach(ex)
    except OSError:  # the exec ended and its shim left before we connected
        await ex.done.wait()
        return
    keys = DEFAULT_DETACH_KEYS
    if cfg.get("DetachKeys"):
        keys = parse_detach_keys(cfg["DetachKeys"])
    try:
        ended = await relay(h, reader, writer, tty=ex.tty, want_stdin=bool(cfg.get("AttachStdin")),
                            want_out=bool(cfg.get("AttachStdout")), want_err=bool(cfg.get("AttachStderr")),
                            detach_keys=keys if ex.tty else b"")
        if ended == "stdin-eof":
            if cfg.get("AttachStdin") and not ex.tty:
                execs.close_stdin(ex)  # as dockerd: an exec's stdin closes with the client's (never a tty's)
            await relay_rest(h, reader, tty=ex.tty, want_out=bool(cfg.get("AttachStdout")),
                             want_err=bool(cfg.get("AttachStderr")))
            ended = "exited" if reader.at_eof() else "gone"
        if ended == "exited":
            # The shim wrote the exit file before closing us; its watcher records it.
            await asyncio.wait_for(ex.done.wait(), 30)
    except asyncio.TimeoutError:
        log.warning("exec %s: output ended but its shim did not exit", ex.id[:12])
    finally:
        writer.close()


def _missing_executable(merged: Path, proc: dict[str, Any]) -> str:
    """The runtime's lookup, done from outside first so the error reads as Docker's.

    Links are not followed (an absolute link points into the container, not here):
    anything that exists by that name counts as found, and the runtime decides.
    """
    name = proc["args"][0]
    if "/" in name:
        base = merged if name.startswith("/") else merged / (proc.get("cwd") or "/").lstrip("/")
        target = base / name.lstrip("/")
        return "" if os.path.lexists(target) else f'exec: "{name}": stat {name}: no such file or directory'
    path = next((e[5:] for e in proc.get("env") or [] if e.startswith("PATH=")), "/usr/bin:/bin")
    for d in path.split(":"):
        if d.startswith("/") and os.path.lexists(merged / d.lstrip("/") / name):
            return ""
    return f'exec: "{name}": executable file not found in $PATH'


async def resize(request: web.Request) -> web.Response:
    ex = _get_exec(request)
    h, w = _size(request)
    _execs(request.app[ENGINE_KEY]).resize(ex, h, w)
    return web.Response(status=200)


def routes(engine: Engine) -> list[web.RouteDef]:
    return [
        web.post("/containers/{id}/exec", create),
        web.post("/exec/{id}/start", start),
        web.post("/exec/{id}/resize", resize),
        web.get("/exec/{id}/json", inspect),
    ]
