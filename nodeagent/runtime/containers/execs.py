"""Execs of running containers, each under its own ``skiff-shim`` (as conmon runs execs).

An exec's files live in ``<container>/exec/<exec-id>/``: ``exec.json`` (the Docker
exec config and what ``docker exec inspect`` reports), ``process.json`` (the OCI
process ``skiff runtime exec --detach`` runs) and the shim's own files (``init.pid``,
``shim.pid``, ``exit``, ``ctl``). The shim holds the exec's stdio (or the pty master,
with ``Tty``), so an exec outlives a daemon restart and ``load()`` finds it again.
This module starts, watches and records; the Docker API handlers stream.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skiff.nodeagent.runtime import supervisor

log = logging.getLogger(__name__)


class ExecStartError(Exception):
    """The runtime refused the exec; ``message`` is its error text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ExecRecord:
    id: str
    container_id: str
    config: dict[str, Any]
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    started: bool = False
    size: tuple[int, int] | None = None  # a resize that came before the shim
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    def inspect(self) -> dict[str, Any]:
        c = self.config
        return {
            "ID": self.id, "ContainerID": self.container_id, "Running": self.running,
            "ExitCode": self.exit_code, "Pid": self.pid, "CanRemove": False,
            "DetachKeys": c.get("DetachKeys") or "",
            "OpenStdin": bool(c.get("AttachStdin")), "OpenStdout": bool(c.get("AttachStdout")),
            "OpenStderr": bool(c.get("AttachStderr")),
            "ProcessConfig": {"tty": self.tty, "entrypoint": c["Cmd"][0], "arguments": c["Cmd"][1:],
                              "privileged": bool(c.get("Privileged")), "user": c.get("User") or ""},
        }

    def to_json(self) -> dict[str, Any]:
        return {"ID": self.id, "ContainerID": self.container_id, "Config": self.config, "Running": self.running,
                "ExitCode": self.exit_code, "Pid": self.pid, "Started": self.started}


class ExecManager:
    def __init__(self, containers: Any) -> None:
        self.containers = containers
        self.execs: dict[str, ExecRecord] = {}
        self._watch: dict[str, int] = {}

    # -- records -------------------------------------------------------------
    def dir(self, ex: ExecRecord) -> Path:
        return Path(self.containers.cdir(ex.container_id)) / "exec" / ex.id

    def sock_path(self, ex: ExecRecord) -> Path:
        return Path(self.containers.sock_dir) / f"{ex.id}.sock"

    def save(self, ex: ExecRecord) -> None:
        d = self.dir(ex)
        if not d.is_dir():
            return  # the container was removed
        tmp = d / "exec.json.tmp"
        tmp.write_text(json.dumps(ex.to_json()))
        os.replace(tmp, d / "exec.json")

    def create(self, container_id: str, config: dict[str, Any]) -> ExecRecord:
        # Execs of removed containers go with them (as dockerd forgets them).
        for gone in [e.id for e in self.execs.values() if e.container_id not in self.containers.containers]:
            del self.execs[gone]
        ex = ExecRecord(id=secrets.token_hex(32), container_id=container_id, config=config)
        self.execs[ex.id] = ex
        return ex

    def get(self, exec_id: str) -> ExecRecord | None:
        return self.execs.get(exec_id)

    def running_ids(self, container_id: str) -> list[str]:
        return [e.id for e in self.execs.values() if e.container_id == container_id and e.running]

    # -- start ---------------------------------------------------------------
    async def start(self, ex: ExecRecord, process: dict[str, Any], *, hold_output: bool) -> None:
        """Start the exec under its shim; with ``hold_output`` the shim keeps its output
        until the caller connects (``attach``)."""
        ex.started = True
        d = self.dir(ex)
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        (d / "process.json").write_text(json.dumps(process))
        self.save(ex)
        shim = await asyncio.to_thread(supervisor.binary, self.containers.root / "bin")
        Path(self.containers.sock_dir).mkdir(parents=True, exist_ok=True)
        argv = [str(shim), "-d", str(d), "-e", str(d / "process.json"), "-c", ex.container_id,
                "-s", str(self.sock_path(ex))]
        if ex.tty:
            argv.insert(1, "-t")
        if ex.config.get("AttachStdin"):
            argv.insert(1, "-i")
        if hold_output:
            argv.insert(1, "-w")
        code, err = await asyncio.to_thread(self.containers._run_shim, [*argv, "--", *self.containers.runtime_cmd], d)
        if code != 0:
            ex.exit_code, ex.running = _failed_exit_code(err), False
            ex.done.set()
            self.save(ex)
            text = (err.strip().splitlines() or ["exec failed"])[-1].removeprefix("skiff runtime: ")
            raise ExecStartError(text)
        files = supervisor.ShimFiles(d)
        ex.pid = files.read_pid(files.init_pid) or 0
        ex.running = True
        self.save(ex)
        self._monitor(ex)
        if ex.size:
            self.resize(ex, *ex.size)

    async def attach(self, ex: ExecRecord) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_unix_connection(str(self.sock_path(ex)))

    def resize(self, ex: ExecRecord, height: int, width: int) -> None:
        ex.size = (height, width)
        if ex.running:
            write_ctl(self.dir(ex) / "ctl", f"resize {height} {width}\n")

    def close_stdin(self, ex: ExecRecord) -> None:
        if ex.running:
            write_ctl(self.dir(ex) / "ctl", "close-stdin\n")

    # -- supervision ---------------------------------------------------------
    def _monitor(self, ex: ExecRecord) -> None:
        pidfd = supervisor.ShimFiles(self.dir(ex)).shim_pidfd()
        if pidfd < 0:
            self._finish(ex)
            return
        loop = asyncio.get_running_loop()
        self._watch[ex.id] = pidfd

        def gone() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self._watch.pop(ex.id, None)
            self._finish(ex)

        loop.add_reader(pidfd, gone)

    def _finish(self, ex: ExecRecord) -> None:
        got = supervisor.ShimFiles(self.dir(ex)).read_exit()
        # No exit file: the shim died with its exec (or the container took both down).
        ex.exit_code = got[0] if got else (ex.exit_code if ex.exit_code is not None else 137)
        ex.running = False
        ex.done.set()
        self.save(ex)

    async def load(self) -> None:
        """After a daemon restart: every exec of a known container, running ones watched again."""
        for cid in list(self.containers.containers):
            base = Path(self.containers.cdir(cid)) / "exec"
            for d in sorted(base.iterdir()) if base.is_dir() else []:
                try:
                    data = json.loads((d / "exec.json").read_text())
                except (OSError, ValueError):
                    continue
                ex = ExecRecord(id=data["ID"], container_id=cid, config=data["Config"], running=data["Running"],
                                exit_code=data.get("ExitCode"), pid=data.get("Pid") or 0,
                                started=bool(data.get("Started")))
                self.execs[ex.id] = ex
                if ex.running:
                    self._monitor(ex)
                else:
                    ex.done.set()

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for fd in self._watch.values():
            loop.remove_reader(fd)
            os.close(fd)
        self._watch.clear()


def _failed_exit_code(err: str) -> int:
    """Docker's codes for an exec the runtime could not run: 127 not found, 126 otherwise."""
    return 127 if ("not found" in err or "no such file" in err) else 126


def write_ctl(path: Path, line: str) -> None:
    """A command to a shim's ctl fifo; nothing if the shim is gone (no reader, no fifo)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, line.encode())
    except OSError:
        pass
    finally:
        os.close(fd)
