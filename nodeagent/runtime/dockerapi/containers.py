"""Container endpoints of the Docker Engine API.

Handlers parse requests, call the container manager
(``skiff.nodeagent.runtime.containers.manager``) and shape Docker's answers.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
import os
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from skiff.nodeagent.runtime.containers import logs as logmod
from skiff.nodeagent.runtime.containers import manager as mgr_mod
from skiff.nodeagent.runtime.containers.execs import write_ctl
from skiff.nodeagent.runtime.containers.manager import ContainerError, ContainerManager
from skiff.nodeagent.runtime.dockerapi.app import ENGINE_KEY
from skiff.nodeagent.runtime.dockerapi.errors import ApiError, BadRequest, json_response
from skiff.nodeagent.runtime.dockerapi.hijack import (
    DEFAULT_DETACH_KEYS, DetachKeysError, DetachMatcher, Hijacked, parse_detach_keys,
)
from skiff.nodeagent.runtime.engine import Engine

log = logging.getLogger(__name__)


def setup(engine: Engine) -> None:
    if engine.get("containers") is not None:
        return
    manager = ContainerManager(engine.root, images=engine.images, cgroup_parent=engine.config.cgroup_parent)
    engine.attach("containers", manager)
    from skiff.nodeagent.runtime.containers import bridge

    mode = engine.config.bridge
    manager.network = bridge.BridgeNetwork(
        manager, enabled=mode == "skiff0" or (mode == "auto" and bridge.in_named_netns()))
    engine.images.add_usage_checker(manager.users_of_image)

    async def start(_: Engine) -> None:
        await manager.load()

    async def stop(_: Engine) -> None:
        await manager.close()

    engine.on_startup(start)
    engine.on_shutdown(stop)

    def info() -> dict[str, Any]:
        recs = list(manager.containers.values())
        running = sum(1 for r in recs if r["State"]["Running"] and not r["State"]["Paused"])
        paused = sum(1 for r in recs if r["State"]["Paused"])
        return {"Containers": len(recs), "ContainersRunning": running, "ContainersPaused": paused,
                "ContainersStopped": len(recs) - running - paused}

    engine.add_info_provider(info)


def _mgr(request: web.Request) -> ContainerManager:
    return request.app[ENGINE_KEY].containers  # type: ignore[no-any-return]


def _bool(request: web.Request, name: str, default: bool = False) -> bool:
    v = request.query.get(name)
    if v is None:
        return default
    return v.lower() in ("1", "true", "yes")


def _err(exc: ContainerError) -> ApiError:
    return ApiError(exc.message, status=exc.status)


def _get(request: web.Request) -> dict[str, Any]:
    try:
        return _mgr(request).get(request.match_info["id"])
    except ContainerError as exc:
        raise _err(exc) from None


# -- formatting ---------------------------------------------------------------
def _parse_ts(text: str) -> float:
    if not text or text.startswith("0001-"):
        return 0.0
    base, _, frac = text.rstrip("Z").partition(".")
    t = dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp()
    return t + float("0." + (frac or "0"))


def human_duration(seconds: float) -> str:
    """Go's units.HumanDuration, as ``docker ps`` prints it."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def status_text(rec: dict[str, Any], now: float) -> str:
    st = rec["State"]
    if st["Restarting"]:
        return f"Restarting ({st['ExitCode']}) {human_duration(now - _parse_ts(st['FinishedAt']))} ago"
    if st["Running"]:
        text = "Up " + human_duration(now - _parse_ts(st["StartedAt"]))
        return text + " (Paused)" if st["Paused"] else text
    if st["Status"] == "created" or _parse_ts(st["FinishedAt"]) == 0:
        return "Created"
    return f"Exited ({st['ExitCode']}) {human_duration(now - _parse_ts(st['FinishedAt']))} ago"


def _command(rec: dict[str, Any]) -> str:
    return " ".join([rec["Path"], *rec["Args"]])


def _ports(rec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    ports = (rec.get("NetworkSettings") or {}).get("Ports") or {}
    for key, binds in ports.items():
        port, _, proto = key.partition("/")
        if not binds:
            out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
        for b in binds or []:
            out.append({"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": int(port),
                        "PublicPort": int(b["HostPort"]), "Type": proto or "tcp"})
    return out


def summary(rec: dict[str, Any], now: float) -> dict[str, Any]:
    ns = rec.get("NetworkSettings") or {}
    return {
        "Id": rec["Id"], "Names": [rec["Name"]], "Image": rec["ImageName"], "ImageID": rec["Image"],
        "Command": _command(rec), "Created": int(_parse_ts(rec["Created"])), "Ports": _ports(rec),
        "Labels": rec["Config"].get("Labels") or {}, "State": rec["State"]["Status"],
        "Status": status_text(rec, now), "HostConfig": {"NetworkMode": rec["HostConfig"].get("NetworkMode", "default")},
        "NetworkSettings": {"Networks": ns.get("Networks") or {}}, "Mounts": _mounts(rec),
    }


def _mounts(rec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for mp in rec.get("MountPoints") or []:
        m = {"Type": mp.get("Type", "bind"), "Source": mp["Source"], "Destination": mp["Destination"],
             "Mode": mp.get("Mode", ""), "RW": mp.get("RW", True), "Propagation": mp.get("Propagation", "rprivate")}
        if mp.get("Name"):
            m["Name"] = mp["Name"]
            m["Driver"] = "local"
        out.append(m)
    return out


def inspect_body(manager: ContainerManager, rec: dict[str, Any]) -> dict[str, Any]:
    rfs = manager.rootfs(rec)
    ns = dict(rec.get("NetworkSettings") or {})
    ns.setdefault("Bridge", "")
    ns.setdefault("SandboxID", "")
    ns.setdefault("SandboxKey", "")
    ns.setdefault("Ports", {})
    for k in ("Gateway", "IPAddress", "MacAddress", "GlobalIPv6Address", "IPv6Gateway", "EndpointID"):
        ns.setdefault(k, "")
    ns.setdefault("IPPrefixLen", 0)
    ns.setdefault("Networks", {})
    try:
        lower = rfs.lower_file.read_text()
    except OSError:
        lower = ""
    body = {k: v for k, v in rec.items() if not k.startswith("_") and k not in (
        "ImageName", "HasBeenStartedBefore", "HasBeenManuallyStopped", "MountPoints", "NetworkingConfig")}
    body.update({
        "GraphDriver": {"Name": "overlay2", "Data": {"LowerDir": lower, "MergedDir": str(rfs.merged),
                                                     "UpperDir": str(rfs.upper), "WorkDir": str(rfs.work)}},
        "Mounts": _mounts(rec), "NetworkSettings": ns, "SizeRw": None,
    })
    return body


# -- filters ------------------------------------------------------------------
def _filters(request: web.Request) -> dict[str, list[str]]:
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise BadRequest("invalid filter") from None
    out: dict[str, list[str]] = {}
    for k, v in data.items():
        out[k] = list(v.keys()) if isinstance(v, dict) else list(v)
    known = {"id", "name", "status", "label", "ancestor", "exited", "before", "since", "volume", "network",
             "health", "is-task", "publish", "expose"}
    for k in out:
        if k not in known:
            raise BadRequest(f"invalid filter '{k}'")
    return out


def matches(rec: dict[str, Any], flt: dict[str, list[str]], images: Any) -> bool:
    if "id" in flt and not any(rec["Id"].startswith(x) for x in flt["id"]):
        return False
    if "name" in flt:
        import re

        if not any(re.search(x, rec["Name"].lstrip("/")) for x in flt["name"]):
            return False
    if "status" in flt and rec["State"]["Status"] not in flt["status"]:
        return False
    if "exited" in flt and (rec["State"]["Status"] != "exited" or str(rec["State"]["ExitCode"]) not in flt["exited"]):
        return False
    labels = rec["Config"].get("Labels") or {}
    for lab in flt.get("label", []):
        k, eq, v = lab.partition("=")
        if k not in labels or (eq and labels[k] != v):
            return False
    if "ancestor" in flt:
        ok = False
        for a in flt["ancestor"]:
            try:
                if images.resolve(a).id == rec["Image"]:
                    ok = True
            except Exception:  # noqa: BLE001
                ok = ok or a == rec["ImageName"]
        if not ok:
            return False
    return True


# -- handlers -----------------------------------------------------------------
async def create(request: web.Request) -> web.Response:
    try:
        body = await request.json(loads=orjson.loads)
    except ValueError:
        raise BadRequest("invalid JSON body") from None
    if not isinstance(body, dict):
        raise BadRequest("invalid JSON body")
    try:
        rec = await _mgr(request).create(body, request.query.get("name") or None)
    except ContainerError as exc:
        raise _err(exc) from None
    return json_response({"Id": rec["Id"], "Warnings": []}, status=201)


async def list_containers(request: web.Request) -> web.Response:
    m = _mgr(request)
    flt = _filters(request)
    show_all = _bool(request, "all") or bool(flt.get("status")) or bool(flt.get("exited"))
    now = time.time()
    out = []
    for rec in m.list():
        if not show_all and not rec["State"]["Running"]:
            continue
        if not matches(rec, flt, m.images):
            continue
        out.append(summary(rec, now))
    limit = int(request.query.get("limit") or -1)
    if limit > 0:
        out = out[:limit]
    return json_response(out)


async def inspect(request: web.Request) -> web.Response:
    rec = _get(request)
    body = inspect_body(_mgr(request), rec)
    execs = request.app[ENGINE_KEY].get("execs")
    if execs is not None:
        body["ExecIDs"] = execs.running_ids(rec["Id"]) or None
    return json_response(body)


async def start(request: web.Request) -> web.Response:
    rec = _get(request)
    if rec["State"]["Running"]:
        return web.Response(status=304)
    try:
        await _mgr(request).start(rec["Id"])
    except ContainerError as exc:
        raise _err(exc) from None
    return web.Response(status=204)


async def stop(request: web.Request) -> web.Response:
    rec = _get(request)
    t = request.query.get("t") or request.query.get("timeout")
    try:
        changed = await _mgr(request).stop(rec["Id"], int(t) if t else None, request.query.get("signal"))
    except ContainerError as exc:
        raise _err(exc) from None
    return web.Response(status=204 if changed else 304)


async def kill(request: web.Request) -> web.Response:
    rec = _get(request)
    try:
        await _mgr(request).kill(rec["Id"], request.query.get("signal") or "SIGKILL")
    except ContainerError as exc:
        raise _err(exc) from None
    return web.Response(status=204)


async def restart(request: web.Request) -> web.Response:
    rec = _get(request)
    t = request.query.get("t")
    try:
        await _mgr(request).restart(rec["Id"], int(t) if t else None)
    except ContainerError as exc:
        raise _err(exc) from None
    return web.Response(status=204)


async def pause(request: web.Request) -> web.Response:
    rec = _get(request)
    try:
        await _mgr(request).pause(rec["Id"], request.path.endswith("/pause"))
    except ContainerError as exc:
        raise _err(exc) from None
    return web.Response(status=204)


async def wait(request: web.Request) -> web.StreamResponse:
    rec = _get(request)
    cond = request.query.get("condition") or "not-running"
    if cond not in ("not-running", "next-exit", "removed"):
        raise BadRequest(f"invalid condition: {cond!r}")
    # Headers first so the client knows the wait is registered (docker run relies on it).
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    result = await _mgr(request).wait(rec["Id"], cond)
    try:
        await resp.write(orjson.dumps(result) + b"\n")
        await resp.write_eof()
    except ConnectionError:
        pass  # the client went away while waiting (docker run -d after its wait, ^C)
    return resp


async def remove(request: web.Request) -> web.Response:
    rec = _get(request)
    try:
        await _mgr(request).remove(rec["Id"], force=_bool(request, "force"), volumes=_bool(request, "v"))
    except ContainerError as exc:
        raise _err(exc) from None
    return web.Response(status=204)


async def rename(request: web.Request) -> web.Response:
    rec = _get(request)
    try:
        await _mgr(request).rename(rec["Id"], request.query.get("name") or "")
    except ContainerError as exc:
        raise _err(exc) from None
    return web.Response(status=204)


async def resize(request: web.Request) -> web.Response:
    rec = _get(request)
    if not rec["State"]["Running"]:
        raise ApiError(f"Container {rec['Id']} is not running", status=409)
    h, w = _size(request)
    write_ctl(_mgr(request).cdir(rec["Id"]) / "shim" / "ctl", f"resize {h} {w}\n")
    return web.Response(status=200)


def _size(request: web.Request) -> tuple[int, int]:
    """The ``h`` and ``w`` of a resize request (a terminal's rows and columns)."""
    out = []
    for key in ("h", "w"):
        try:
            n = int(request.query.get(key, "0"))
        except ValueError:
            raise BadRequest(f"invalid {key}: {request.query.get(key)!r} is not an integer") from None
        if not 0 <= n <= 65535:
            raise BadRequest(f"invalid {key}: {n} is out of range")
        out.append(n)
    return out[0], out[1]


async def logs(request: web.Request) -> web.StreamResponse:
    rec = _get(request)
    stdout, stderr = _bool(request, "stdout"), _bool(request, "stderr")
    if not stdout and not stderr:
        raise BadRequest("Bad parameters: you must choose at least one stream")
    follow = _bool(request, "follow")
    tail_q = request.query.get("tail", "all")
    tail = None if tail_q in ("all", "") else int(tail_q)
    since = logmod.parse_time_arg(request.query.get("since"))
    until = logmod.parse_time_arg(request.query.get("until"))
    ts = _bool(request, "timestamps")
    tty = bool(rec["Config"].get("Tty"))
    resp = web.StreamResponse(status=200, headers={
        "Content-Type": "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"})
    await resp.prepare(request)
    path = Path(rec["LogPath"])
    pos = 0
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = b""
    # Only complete lines: a line being written now is picked up by follow.
    cut = data.rfind(b"\n") + 1
    pos = cut
    for e in logmod.select(logmod.parse_lines(data[:cut].splitlines()), stdout=stdout, stderr=stderr,
                           since=since, until=until, tail=tail):
        await resp.write(logmod.render(e, timestamps=ts, tty=tty))
    if follow and rec["State"]["Running"] and until is None:
        m = _mgr(request)
        ev = m.exit_events.get(rec["Id"])
        while True:
            done = ev is None or ev.is_set()
            try:
                with open(path, "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
            except FileNotFoundError:
                chunk = b""
            cut = chunk.rfind(b"\n") + 1
            if cut:
                pos += cut
                for e in logmod.select(logmod.parse_lines(chunk[:cut].splitlines()), stdout=stdout,
                                       stderr=stderr, since=since, until=None, tail=None):
                    await resp.write(logmod.render(e, timestamps=ts, tty=tty))
            if done:
                break
            try:
                await asyncio.wait_for(asyncio.shield(ev.wait()), 0.1)  # type: ignore[union-attr]
            except asyncio.TimeoutError:
                pass
    await resp.write_eof()
    return resp


async def attach(request: web.Request) -> web.StreamResponse:
    rec = _get(request)
    m = _mgr(request)
    tty = bool(rec["Config"].get("Tty"))
    want_stdin = _bool(request, "stdin")
    want_out, want_err = _bool(request, "stdout"), _bool(request, "stderr")
    stream = _bool(request, "stream")
    try:
        detach_keys = parse_detach_keys(request.query["detachKeys"]) if request.query.get("detachKeys") \
            else DEFAULT_DETACH_KEYS
    except DetachKeysError as exc:
        raise BadRequest(str(exc)) from None
    h = Hijacked(request, tty=tty)
    await h.start()
    if _bool(request, "logs"):
        try:
            data = Path(rec["LogPath"]).read_bytes()
        except OSError:
            data = b""
        for e in logmod.select(logmod.parse_lines(data.splitlines()), stdout=want_out, stderr=want_err,
                               since=None, until=None, tail=None):
            h.write(logmod.render(e, timestamps=False, tty=tty))
    if not stream:
        h.close()
        return h.response()
    try:
        reader, writer = await m.attach_streams(rec["Id"])
    except (OSError, asyncio.CancelledError, ContainerError) as exc:
        log.debug("attach %s: %r", rec["Id"][:12], exc)
        h.close()
        return h.response()
    try:
        ended = await relay(h, reader, writer, tty=tty, want_stdin=want_stdin, want_out=want_out,
                            want_err=want_err, detach_keys=detach_keys if tty else b"")
        if ended == "stdin-eof":
            if want_stdin and rec["Config"].get("StdinOnce") and not tty:
                # As dockerd: the first attached stdin to end closes the container's (never a tty's).
                write_ctl(m.cdir(rec["Id"]) / "shim" / "ctl", "close-stdin\n")
            await relay_rest(h, reader, tty=tty, want_out=want_out, want_err=want_err)
    finally:
        writer.close()
        h.close()
    return h.response()


async def relay(h: Hijacked, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tty: bool,
                want_stdin: bool, want_out: bool, want_err: bool, detach_keys: bytes) -> str:
    """Shim output to the client, client input to the shim, until one side ends.

    Answers why: "exited" (the output ended), "detach" (the keys were typed),
    "gone" (the client closed its connection) or "stdin-eof" (the client is done
    sending but still reads; the caller decides about stdin, then ``relay_rest``).
    """
    out_task = asyncio.ensure_future(_pump_out(h, reader, tty=tty, want_out=want_out, want_err=want_err))
    in_task = asyncio.ensure_future(_pump_in(h, writer, want_stdin=want_stdin, detach_keys=detach_keys))
    lost_task = asyncio.ensure_future(h.lost.wait())
    try:
        done, _ = await asyncio.wait({out_task, in_task, lost_task}, return_when=asyncio.FIRST_COMPLETED)
        if out_task in done:
            return "exited"
        if lost_task in done:
            return "gone"
        return in_task.result()
    finally:
        for t in (out_task, in_task, lost_task):
            t.cancel()


async def relay_rest(h: Hijacked, reader: asyncio.StreamReader, *, tty: bool, want_out: bool,
                     want_err: bool) -> None:
    """Output only, until it ends or the client goes."""
    out_task = asyncio.ensure_future(_pump_out(h, reader, tty=tty, want_out=want_out, want_err=want_err))
    lost_task = asyncio.ensure_future(h.lost.wait())
    try:
        await asyncio.wait({out_task, lost_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        out_task.cancel()
        lost_task.cancel()


async def _pump_out(h: Hijacked, reader: asyncio.StreamReader, *, tty: bool, want_out: bool,
                    want_err: bool) -> None:
    while True:
        if tty or (want_out and want_err):  # frames pass through as they come
            data = await reader.read(65536)
            if not data:
                return
            h.write(data)
            continue
        try:
            head = await reader.readexactly(8)
            body = await reader.readexactly(int.from_bytes(head[4:], "big"))
        except asyncio.IncompleteReadError:
            return
        if (head[0] == 1 and want_out) or (head[0] == 2 and want_err):
            h.write(head + body)


async def _pump_in(h: Hijacked, writer: asyncio.StreamWriter, *, want_stdin: bool, detach_keys: bytes) -> str:
    matcher = DetachMatcher(detach_keys)
    # No write buffer: once drain returns, the shim has what was sent (a close-stdin after it
    # must not overtake it).
    writer.transport.set_write_buffer_limits(0)
    while True:
        data = await h.input.get()
        if data is None:
            return "stdin-eof"
        if not want_stdin:
            continue
        data, detached = matcher.feed(data)
        if data:
            writer.write(data)
            await writer.drain()
        if detached:
            return "detach"


async def top(request: web.Request) -> web.Response:
    rec = _get(request)
    if not rec["State"]["Running"]:
        raise ApiError(f"Container {rec['Id']} is not running", status=409)
    pids = set(_mgr(request).pids(rec))
    args = (request.query.get("ps_args") or "-ef").split()
    r = await asyncio.create_subprocess_exec("ps", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await r.communicate()
    if r.returncode != 0:
        raise ApiError(f"Error running ps: {err.decode().strip()}", status=500)
    lines = out.decode().splitlines()
    titles = lines[0].split()
    if "PID" not in titles:
        raise ApiError("Couldn't find PID field in ps output", status=500)
    pi = titles.index("PID")
    procs = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > pi and fields[pi].isdigit() and int(fields[pi]) in pids:
            procs.append(fields)
    return json_response({"Titles": titles, "Processes": procs})


def _system_cpu_ns() -> int:
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:8]
    return sum(int(x) for x in parts) * 10_000_000


def docker_stats(rec: dict[str, Any], raw: dict[str, Any], pre: dict[str, Any] | None) -> dict[str, Any]:
    cpu = raw.get("cpu") or {}
    mem = raw.get("memory") or {}
    body = {
        "read": mgr_mod.now(), "preread": (pre or {}).get("read", mgr_mod.ZERO_TIME),
        "name": rec["Name"], "id": rec["Id"],
        "pids_stats": {"current": (raw.get("pids") or {}).get("current", 0),
                       **({"limit": raw["pids"]["limit"]} if (raw.get("pids") or {}).get("limit") else {})},
        "cpu_stats": {"cpu_usage": {"total_usage": cpu.get("usage_total", 0),
                                    "percpu_usage": cpu.get("usage_percpu") or [],
                                    "usage_in_kernelmode": cpu.get("system", 0),
                                    "usage_in_usermode": cpu.get("user", 0)},
                      "system_cpu_usage": _system_cpu_ns(), "online_cpus": os.cpu_count() or 1,
                      "throttling_data": {"periods": (cpu.get("throttling") or {}).get("nr_periods", 0),
                                          "throttled_periods": (cpu.get("throttling") or {}).get("nr_throttled", 0),
                                          "throttled_time": (cpu.get("throttling") or {}).get("throttled_time", 0)}},
        "memory_stats": {"usage": mem.get("usage", 0), "max_usage": mem.get("max_usage", 0),
                         "limit": min(mem.get("limit") or 0, _mem_total()) or _mem_total(),
                         "stats": mem.get("stats") or {}},
        "blkio_stats": {}, "storage_stats": {}, "num_procs": 0,
    }
    body["precpu_stats"] = (pre or {}).get("cpu_stats") or {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
    return body


def _mem_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


async def stats(request: web.Request) -> web.StreamResponse:
    rec = _get(request)
    m = _mgr(request)
    stream = _bool(request, "stream", True) and not _bool(request, "one-shot")
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    pre: dict[str, Any] | None = None
    while True:
        if rec["State"]["Running"]:
            try:
                raw = await asyncio.to_thread(m.stats, rec)
            except Exception:  # noqa: BLE001 - it stopped between the check and the read
                raw = {}
        else:
            raw = {}
        body = docker_stats(rec, raw, pre)
        await resp.write(orjson.dumps(body) + b"\n")
        if not stream or not rec["State"]["Running"]:
            break
        pre = body
        await asyncio.sleep(1)
    await resp.write_eof()
    return resp


async def prune(request: web.Request) -> web.Response:
    m = _mgr(request)
    flt = _filters(request)
    deleted = []
    for rec in list(m.containers.values()):
        if rec["State"]["Running"] or rec["State"]["Restarting"]:
            continue
        labels = rec["Config"].get("Labels") or {}
        if any(k not in labels for k in (x.split("=")[0] for x in flt.get("label", []))):
            continue
        await m.remove(rec["Id"])
        deleted.append(rec["Id"])
    return json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": 0})


def routes(engine: Engine) -> list[web.RouteDef]:
    from skiff.nodeagent.runtime.dockerapi import containers_fs

    return [
        web.post("/containers/create", create),
        web.get("/containers/json", list_containers),
        web.post("/containers/prune", prune),
        web.get("/containers/{id}/json", inspect),
        web.post("/containers/{id}/start", start),
        web.post("/containers/{id}/stop", stop),
        web.post("/containers/{id}/kill", kill),
        web.post("/containers/{id}/restart", restart),
        web.post("/containers/{id}/pause", pause),
        web.post("/containers/{id}/unpause", pause),
        web.post("/containers/{id}/wait", wait),
        web.post("/containers/{id}/rename", rename),
        web.post("/containers/{id}/resize", resize),
        web.post("/containers/{id}/attach", attach),
        web.get("/containers/{id}/logs", logs),
        web.get("/containers/{id}/top", top),
        web.get("/containers/{id}/stats", stats),
        web.delete("/containers/{id}", remove),
        *containers_fs.routes(engine),
    ]
