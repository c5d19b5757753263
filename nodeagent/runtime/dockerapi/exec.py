"""Exec endpoints of the Docker Engine API: create, start (hijacked), inspect, resize.

An exec runs ``skiff runtime exec -p PROCESS.json ID`` as a child of the engine,
its stdio on pipes (or on a pty the engine owns, with ``Tty``), streamed over the
hijacked connection. The exit code is recorded before the stream closes, since
the docker CLI inspects the exec right after its output ends. Execs do not
survive an engine restart (as with Docker, whose execs die with the shim's
connection); the container itself is untouched.
"""
from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import secrets
import struct
import subprocess
import termios
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from skiff.nodeagent.runtime.containers import dockerspec
from skiff.nodeagent.runtime.containers.manager import ContainerError, ContainerManager
from skiff.nodeagent.runtime.dockerapi.app import ENGINE_KEY
from skiff.nodeagent.runtime.dockerapi.errors import ApiError, BadRequest, NotFound, json_response
from skiff.nodeagent.runtime.dockerapi.hijack import Hijacked
from skiff.nodeagent.runtime.engine import Engine
from skiff.nodeagent.runtime.oci import container as rt
from skiff.nodeagent.runtime.oci.state import RuntimeError_

log = logging.getLogger(__name__)


@dataclass
class ExecInstance:
    id: str
    container_id: str
    config: dict[str, Any]
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    started: bool = False
    pty_master: int = -1
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def inspect(self) -> dict[str, Any]:
        c = self.config
        return {
            "ID": self.id, "ContainerID": self.container_id, "Running": self.running,
            "ExitCode": self.exit_code, "Pid": self.pid, "CanRemove": False, "DetachKeys": "",
            "OpenStdin": bool(c.get("AttachStdin")), "OpenStdout": bool(c.get("AttachStdout")),
            "OpenStderr": bool(c.get("AttachStderr")),
            "ProcessConfig": {"tty": bool(c.get("Tty")), "entrypoint": c["Cmd"][0], "arguments": c["Cmd"][1:],
                              "privileged": bool(c.get("Privileged")), "user": c.get("User") or ""},
        }


def _execs(engine: Engine) -> dict[str, ExecInstance]:
    return engine.get("execs")  # type: ignore[no-any-return]


def setup(engine: Engine) -> None:
    if engine.get("execs") is None:
        engine.attach("execs", {})


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
    ex = ExecInstance(id=secrets.token_hex(32), container_id=rec["Id"], config=body)
    _execs(request.app[ENGINE_KEY])[ex.id] = ex
    return json_response({"Id": ex.id}, status=201)


def _get_exec(request: web.Request) -> ExecInstance:
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
    try:
        proc_spec = await asyncio.to_thread(process_spec, m, rec, ex.config)
    except (RuntimeError_, OSError) as exc:
        raise ApiError(f"container {rec['Id']} is not running: {exc}", status=409) from None
    except dockerspec.ConfigError as exc:
        raise ApiError(str(exc), status=500) from None
    ex.started = True
    sdir = m.cdir(rec["Id"]) / "exec"
    sdir.mkdir(exist_ok=True)
    pfile = sdir / f"{ex.id}.json"
    pfile.write_text(json.dumps(proc_spec))
    argv = [*m.runtime_cmd, "exec", "-p", str(pfile), rec["Id"]]
    tty = bool(ex.config.get("Tty"))
    if body.get("Detach"):
        ex.running = True
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             close_fds=True, start_new_session=True)
        ex.pid = p.pid
        asyncio.ensure_future(_reap(ex, p, pfile))
        return web.Response(status=200)
    h = Hijacked(request, tty=tty)
    await h.start()
    missing = _missing_executable(m.rootfs(rec).merged, proc_spec)
    if missing:
        # What runc prints through dockerd; the CLI shows it and exits 127.
        msg = (f"OCI runtime exec failed: exec failed: unable to start container process: {missing}: unknown\r\n"
               .encode())
        h.write(msg if tty else bytes([1, 0, 0, 0]) + len(msg).to_bytes(4, "big") + msg)
        ex.exit_code, ex.running = 127, False
        ex.done.set()
        pfile.unlink(missing_ok=True)
        h.close()
        return h.response()
    try:
        await _run_attached(ex, argv, h, tty=tty, pfile=pfile)
    finally:
        h.close()
    return h.response()


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


async def _reap(ex: ExecInstance, p: subprocess.Popen[bytes], pfile: Path) -> None:
    code = await asyncio.to_thread(p.wait)
    ex.exit_code = _exit_code(code, "")
    ex.running = False
    ex.done.set()
    pfile.unlink(missing_ok=True)


def _exit_code(code: int, err_tail: str) -> int:
    # The runtime failing before the exec (not the process) exits 1 with its message;
    # Docker reports 126 (cannot run) or 127 (not found) then.
    if code == 1 and "skiff runtime:" in err_tail:
        return 127 if ("not found" in err_tail or "no such file" in err_tail) else 126
    return code if code >= 0 else 128 - code


async def _run_attached(ex: ExecInstance, argv: list[str], h: Hijacked, *, tty: bool, pfile: Path) -> None:
    cfg = ex.config
    loop = asyncio.get_running_loop()
    want_in = bool(cfg.get("AttachStdin"))
    child_fds: list[int] = []
    if tty:
        master, slave = os.openpty()
        os.set_blocking(master, False)
        ex.pty_master = master
        stdin = stdout = stderr = slave
        child_fds.append(slave)
        in_w = out_r = master
        err_r = -1
    else:
        out_r, stdout = os.pipe2(os.O_CLOEXEC)
        err_r, stderr = os.pipe2(os.O_CLOEXEC)
        child_fds += [stdout, stderr]
        if want_in:
            stdin, in_w = os.pipe2(os.O_CLOEXEC)
            child_fds.append(stdin)
        else:
            stdin, in_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), -1
            child_fds.append(stdin)
    try:
        p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, close_fds=True,
                             start_new_session=not tty)
    except OSError:
        for fd in {*child_fds, out_r, err_r, in_w} - {-1}:
            os.close(fd)
        raise
    for fd in set(child_fds):
        os.close(fd)
    ex.pid = p.pid
    ex.running = True
    err_tail = bytearray()

    async def pump(fd: int, stream: int) -> None:
        q: asyncio.Queue[bytes | None] = asyncio.Queue()

        def readable() -> None:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:  # EIO on a pty whose last slave closed
                data = b""
            if not data:
                loop.remove_reader(fd)
                q.put_nowait(None)
                return
            q.put_nowait(data)

        os.set_blocking(fd, False)
        loop.add_reader(fd, readable)
        try:
            while (data := await q.get()) is not None:
                if stream == 2:
                    err_tail.extend(data)
                    del err_tail[:-512]
                h.write(data if tty else bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data)
        finally:
            loop.remove_reader(fd)

    async def feed() -> None:
        while (data := await h.input.get()) is not None:
            if in_w < 0:
                continue
            try:
                if tty:  # the master is non-blocking (its reader shares it)
                    while data:
                        try:
                            data = data[os.write(in_w, data):]
                        except BlockingIOError:
                            await asyncio.sleep(0.01)
                else:
                    await loop.run_in_executor(None, _write_all, in_w, data)
            except OSError:
                return
        if in_w >= 0 and not tty:
            os.close(in_w)

    pumps = [asyncio.ensure_future(pump(out_r, 1))]
    if err_r >= 0:
        pumps.append(asyncio.ensure_future(pump(err_r, 2)))
    feeder = asyncio.ensure_future(feed())
    waiter = asyncio.ensure_future(asyncio.to_thread(p.wait))
    try:
        if tty:
            # A pty never reports EOF while the child lives: the exit decides.
            code = await waiter
            await asyncio.wait(pumps, timeout=0.5)
        else:
            await asyncio.gather(*pumps)
            code = await waiter
    finally:
        for t in pumps:
            t.cancel()
        feeder.cancel()
        for fd in {out_r, err_r} - {-1}:
            try:
                os.close(fd)
            except OSError:
                pass
        if in_w >= 0 and in_w != out_r:
            try:
                os.close(in_w)
            except OSError:
                pass
        ex.pty_master = -1
        pfile.unlink(missing_ok=True)
    ex.exit_code = _exit_code(code, err_tail.decode(errors="replace"))
    ex.running = False
    ex.done.set()


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


async def resize(request: web.Request) -> web.Response:
    ex = _get_exec(request)
    if ex.pty_master >= 0:
        h, w = int(request.query.get("h", "0")), int(request.query.get("w", "0"))
        try:
            fcntl.ioctl(ex.pty_master, termios.TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))
        except OSError:
            pass
    return web.Response(status=200)


def routes(engine: Engine) -> list[web.RouteDef]:
    return [
        web.post("/containers/{id}/exec", create),
        web.post("/exec/{id}/start", start),
        web.post("/exec/{id}/resize", resize),
        web.get("/exec/{id}/json", inspect),
    ]
