"""Container lifecycle of the engine: create, start, stop, kill, wait, remove, restart.

Records live in ``<root>/containers/<id>/config.v2.json`` (Docker's layout). A
started container is supervised by its own ``skiff-shim`` (not by this process),
so the daemon can stop or crash and a restarted daemon re-attaches through
``load()``. Runtime calls go to ``skiff.nodeagent.runtime.oci.container`` with
the engine's runtime root; the container's init is created under the shim.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from skiff.nodeagent.runtime import supervisor
from skiff.nodeagent.runtime.containers import dockerspec, names, restart
from skiff.nodeagent.runtime.containers.rootfs import Rootfs
from skiff.nodeagent.runtime.oci import container as rt
from skiff.nodeagent.runtime.oci.state import RuntimeError_

log = logging.getLogger(__name__)
ZERO_TIME = "0001-01-01T00:00:00Z"
# `skiff runtime` as the shim runs it, per start and exec: without site, see its docstring.
RUNTIME_ENTRY = Path(rt.__file__).with_name("entry.py")


class ContainerError(Exception):
    status = 500

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class NoSuchContainer(ContainerError):
    status = 404

    def __init__(self, ref: str) -> None:
        super().__init__(f"No such container: {ref}")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ns_to_rfc3339(ns: int) -> str:
    t = dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ns % 1_000_000_000:09d}Z"


NetworkHook = Callable[[dict[str, Any], int], Awaitable[None]]


class ContainerManager:
    def __init__(self, root: Path, *, images: Any, rng: random.Random | None = None,
                 runtime_cmd: list[str] | None = None, cgroup_parent: str = "skiff") -> None:
        self.root = root
        self.cgroup_parent = cgroup_parent
        self.dir = root / "containers"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.runtime_root = str(root / "runtime")
        self.overlay = root / "overlay2"
        self.images = images
        self.rng = rng or random.Random()
        self.runtime_cmd = runtime_cmd or [sys.executable, "-S", str(RUNTIME_ENTRY), "--root", self.runtime_root]
        self.sock_dir = Path("/run/skiff/s")
        self.containers: dict[str, dict[str, Any]] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.exit_events: dict[str, asyncio.Event] = {}
        self.removed_events: dict[str, asyncio.Event] = {}
        self.pending_attach: dict[str, list[asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]] = {}
        self._watch: dict[str, int] = {}  # id -> pidfd of its shim
        self._tasks: set[asyncio.Task[Any]] = set()
        self.network: Any = None  # set by the network subsystem: setup(rec, pid), teardown(rec)
        self.volumes: Any = None

    # -- records -------------------------------------------------------------
    def cdir(self, cid: str) -> Path:
        return self.dir / cid

    def save(self, rec: dict[str, Any]) -> None:
        d = self.cdir(rec["Id"])
        tmp = d / "config.v2.json.tmp"
        tmp.write_text(json.dumps({k: v for k, v in rec.items() if k != "HostConfig"}))
        os.replace(tmp, d / "config.v2.json")
        tmp = d / "hostconfig.json.tmp"
        tmp.write_text(json.dumps(rec["HostConfig"]))
        os.replace(tmp, d / "hostconfig.json")

    def get(self, ref: str) -> dict[str, Any]:
        """By full ID, name (with or without /) or unique ID prefix, as Docker resolves."""
        if ref in self.containers:
            return self.containers[ref]
        name = "/" + ref.lstrip("/")
        for rec in self.containers.values():
            if rec["Name"] == name:
                return rec
        matches = [r for cid, r in self.containers.items() if ref and cid.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ContainerError(f"Multiple IDs found with provided prefix: {ref}", 400)
        raise NoSuchContainer(ref)

    def lock(self, cid: str) -> asyncio.Lock:
        return self.locks.setdefault(cid, asyncio.Lock())

    def list(self) -> list[dict[str, Any]]:
        return sorted(self.containers.values(), key=lambda r: r["Created"], reverse=True)

    def users_of_image(self, image_id: str) -> list[str]:
        return [cid for cid, r in self.containers.items() if r["Image"] == image_id]

    # -- create --------------------------------------------------------------
    def _unique_name(self) -> str:
        taken = {r["Name"] for r in self.containers.values()}
        for i in range(100):
            n = names.generate(self.rng, retry=i // 10)
            if "/" + n not in taken:
                return n
        return "c" + secrets.token_hex(6)

    async def create(self, body: dict[str, Any], name: str | None) -> dict[str, Any]:
        if name:
            if not names.valid(name):
                raise ContainerError(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", 400)
            for r in self.containers.values():
                if r["Name"] == "/" + name.lstrip("/"):
                    raise ContainerError(
                        f'Conflict. The container name "/{name.lstrip("/")}" is already in use by container '
                        f'"{r["Id"]}". You have to remove (or rename) that container to be able to reuse that name.', 409)
        image_ref = body.get("Image") or ""
        if not image_ref:
            raise ContainerError("No image specified", 400)
        try:
            image = self.images.resolve(image_ref)
        except Exception:  # noqa: BLE001 - the store's ImageNotFound
            raise ContainerError(f"No such image: {image_ref}", 404) from None
        host = dict(body.get("HostConfig") or {})
        img_cfg = image.config.get("config") or {}
        try:
            restart.parse(host.get("RestartPolicy"))
            dockerspec.resources(host)
            if host.get("CpusetCpus"):
                dockerspec.check_cpuset(str(host["CpusetCpus"]), dockerspec.online_cpus())
            dockerspec.capabilities(host)
            args = dockerspec.command(body, img_cfg)
            dockerspec.parse_signal(body.get("StopSignal") or img_cfg.get("StopSignal"))
        except (ValueError, dockerspec.ConfigError) as exc:
            raise ContainerError(str(exc), 400) from None
        if host.get("AutoRemove") and (host.get("RestartPolicy") or {}).get("Name") not in (None, "", "no"):
            raise ContainerError("conflicting options: cannot specify both --restart and --rm", 400)
        if self.network is not None:
            try:
                self.network.validate(host)
            except ValueError as exc:
                raise ContainerError(getattr(exc, "message", str(exc)), getattr(exc, "status", 400)) from None
        if self.volumes is not None:
            from skiff.nodeagent.runtime.containers.volumes import VolumeError

            try:
                self.volumes.plan(body, host, img_cfg.get("Volumes") or {})
            except VolumeError as exc:
                raise ContainerError(exc.message, exc.status) from None
        cid = secrets.token_hex(32)
        name = name.lstrip("/") if name else self._unique_name()
        cfg = dict(body)
        cfg.pop("HostConfig", None)
        cfg.pop("NetworkingConfig", None)
        cfg["Hostname"] = cfg.get("Hostname") or cid[:12]
        cfg["Env"] = dockerspec.merge_env(img_cfg.get("Env") or [], cfg.get("Env") or [])
        if cfg.get("Cmd") is None and cfg.get("Entrypoint") is None:
            cfg["Cmd"] = img_cfg.get("Cmd")
        if cfg.get("Entrypoint") is None:
            cfg["Entrypoint"] = img_cfg.get("Entrypoint")
        cfg["Image"] = image_ref
        cfg.setdefault("WorkingDir", "")
        cfg["WorkingDir"] = cfg.get("WorkingDir") or img_cfg.get("WorkingDir") or ""
        cfg["User"] = cfg.get("User") or img_cfg.get("User") or ""
        cfg["Labels"] = {**(img_cfg.get("Labels") or {}), **(cfg.get("Labels") or {})}
        cfg["Volumes"] = {**(img_cfg.get("Volumes") or {}), **(cfg.get("Volumes") or {})} or None
        cfg["ExposedPorts"] = {**(img_cfg.get("ExposedPorts") or {}), **(cfg.get("ExposedPorts") or {})} or None
        cfg["StopSignal"] = cfg.get("StopSignal") or img_cfg.get("StopSignal")
        for k in ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"):
            cfg[k] = bool(cfg.get(k))
        host.setdefault("NetworkMode", "default")
        host.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
        host["RestartPolicy"].setdefault("MaximumRetryCount", 0)
        if not host["RestartPolicy"].get("Name"):
            host["RestartPolicy"]["Name"] = "no"
        log_config = host.get("LogConfig") or {}  # the CLI sends {"Type": ""} without --log-driver
        host["LogConfig"] = {"Type": log_config.get("Type") or "json-file", "Config": log_config.get("Config") or {}}
        host.setdefault("IpcMode", "private")
        host.setdefault("ShmSize", 67108864)
        host.setdefault("Runtime", "runc")
        d = self.cdir(cid)
        d.mkdir(parents=True)
        rfs = Rootfs(self.overlay, cid)
        try:
            rfs.prepare(self.images.layer_dirs(image))
            rec: dict[str, Any] = {
                "Id": cid, "Created": now(), "Path": args[0], "Args": args[1:],
                "State": {"Status": "created", "Running": False, "Paused": False, "Restarting": False,
                          "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
                          "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME},
                "Image": image.id, "ImageName": image_ref, "Name": "/" + name, "RestartCount": 0,
                "Driver": "overlay2", "Platform": "linux", "MountLabel": "", "ProcessLabel": "",
                "AppArmorProfile": "", "ExecIDs": None, "Config": cfg, "HostConfig": host,
                "LogPath": str(d / f"{cid}-json.log"), "ResolvConfPath": str(d / "resolv.conf"),
                "HostnamePath": str(d / "hostname"), "HostsPath": str(d / "hosts"),
                "HasBeenStartedBefore": False, "HasBeenManuallyStopped": False,
                "NetworkSettings": {}, "MountPoints": [],
                "NetworkingConfig": body.get("NetworkingConfig") or {},
            }
            if self.volumes is not None:
                rec["MountPoints"] = await self.volumes.mounts_for(rec, rfs)
            self._write_etc_files(rec)
            self.save(rec)
        except BaseException:
            rfs.remove()
            shutil.rmtree(d, ignore_errors=True)
            raise
        self.containers[cid] = rec
        return rec

    def rewrite_hosts(self, rec: dict[str, Any]) -> None:
        """After the network gave the container its address (files are rewritten in place:
        they are bind-mounted into the container)."""
        self._write_etc_files(rec)

    def _write_etc_files(self, rec: dict[str, Any]) -> None:
        d = self.cdir(rec["Id"])
        hostname = rec["Config"]["Hostname"]
        host = rec["HostConfig"]
        if host.get("UTSMode") == "host":
            hostname = os.uname().nodename
        (d / "hostname").write_text(hostname + "\n")
        ip = (rec.get("NetworkSettings") or {}).get("IPAddress") or ""
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                 "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes",
                 "ff02::2\tip6-allrouters"]
        for extra in host.get("ExtraHosts") or []:
            n, _, addr = extra.partition(":")
            lines.append(f"{addr}\t{n}")
        if ip:
            lines.append(f"{ip}\t{hostname}")
        (d / "hosts").write_text("\n".join(lines) + "\n")
        try:
            resolv = Path("/etc/resolv.conf").read_text()
        except OSError:
            resolv = ""
        # Docker drops loopback resolvers the container cannot reach and falls back to public ones.
        kept = [ln for ln in resolv.splitlines()
                if not (ln.startswith("nameserver") and ln.split()[1:2] and ln.split()[1].startswith("127."))]
        if not any(ln.startswith("nameserver") for ln in kept) and host.get("NetworkMode") != "host":
            kept += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
        if host.get("Dns"):
            kept = [ln for ln in kept if not ln.startswith("nameserver")] + [f"nameserver {x}" for x in host["Dns"]]
        (d / "resolv.conf").write_text("\n".join(kept) + "\n")

    # -- start ---------------------------------------------------------------
    def _etc_mounts(self, rec: dict[str, Any]) -> list[dict[str, Any]]:
        d = self.cdir(rec["Id"])
        ro = ["rbind", "rprivate"]
        out = []
        out.append({"destination": "/etc/resolv.conf", "type": "bind", "source": str(d / "resolv.conf"), "options": ro})
        out.append({"destination": "/etc/hostname", "type": "bind", "source": str(d / "hostname"), "options": ro})
        out.append({"destination": "/etc/hosts", "type": "bind", "source": str(d / "hosts"), "options": ro})
        return out

    def _namespaces(self, rec: dict[str, Any], netns: str | None) -> dict[str, str | None]:
        host = rec["HostConfig"]
        ns: dict[str, str | None] = {}
        for key, t in (("PidMode", "pid"), ("UTSMode", "uts"), ("IpcMode", "ipc")):
            mode = host.get(key) or ""
            if mode == "host":
                ns[t] = None
            elif mode.startswith("container:"):
                other = self.get(mode.split(":", 1)[1])
                if not other["State"]["Running"]:
                    raise ContainerError(f"cannot join {t} namespace of a non running container: {other['Id']}", 409)
                ns[t] = f"/proc/{other['State']['Pid']}/ns/{t}"
        mode = host.get("NetworkMode") or "default"
        if mode == "host":
            ns["network"] = None
        elif mode.startswith("container:"):
            other = self.get(mode.split(":", 1)[1])
            if not other["State"]["Running"]:
                raise ContainerError(f"cannot join network of a non running container: {other['Id']}", 409)
            ns["network"] = f"/proc/{other['State']['Pid']}/ns/net"
        elif netns:
            ns["network"] = netns
        return ns

    def _bundle(self, rec: dict[str, Any], merged: Path) -> Path:
        cfg, host = rec["Config"], rec["HostConfig"]
        image = self.images.get(rec["Image"])
        img_cfg = image.config.get("config") or {}

        def read(p: str) -> str:
            try:
                return (merged / p).read_text()
            except OSError:
                return ""

        try:
            uid, gid, groups = dockerspec.parse_user(cfg.get("User") or "", read("etc/passwd"), read("etc/group"))
        except dockerspec.ConfigError as exc:
            raise ContainerError(str(exc), 400) from None
        extra = self._etc_mounts(rec)
        for mp in rec.get("MountPoints") or []:
            opts = ["rbind", "rprivate"] + (["ro"] if not mp.get("RW", True) else [])
            extra.append({"destination": mp["Destination"], "type": "bind", "source": mp["Source"], "options": opts})
        spec = dockerspec.build_spec(
            config={"Entrypoint": [rec["Path"]], "Cmd": rec["Args"], "Env": cfg["Env"], "Tty": cfg.get("Tty"),
                    "WorkingDir": cfg.get("WorkingDir"), "Domainname": cfg.get("Domainname")},
            host=host, image_config=img_cfg, rootfs=str(merged), hostname=cfg["Hostname"],
            uid=uid, gid=gid, groups=groups, cgroups_path=self._cgroups_path(rec),
            namespaces=self._namespaces(rec, None), extra_mounts=extra,
        )
        if host.get("UTSMode") == "host":
            spec["hostname"] = ""
        size = host.get("ConsoleSize") or [0, 0]
        if cfg.get("Tty") and len(size) == 2 and size[0] and size[1]:
            spec["process"]["consoleSize"] = {"height": int(size[0]), "width": int(size[1])}
        spec["annotations"] = {"com.skiff.container.name": rec["Name"].lstrip("/")}
        bdir = self.cdir(rec["Id"]) / "bundle"
        bdir.mkdir(exist_ok=True)
        (bdir / "config.json").write_text(json.dumps(spec, indent=1))
        return bdir

    def _cgroups_path(self, rec: dict[str, Any]) -> str:
        parent = rec["HostConfig"].get("CgroupParent") or self.cgroup_parent
        return f"{parent.strip('/')}/{rec['Id']}" if not parent.startswith("/") else f"{parent}/{rec['Id']}"

    def sock_path(self, cid: str) -> Path:
        return self.sock_dir / f"{cid}.sock"

    async def start(self, ref: str) -> dict[str, Any]:
        rec = self.get(ref)
        try:
            async with self.lock(rec["Id"]):
                return await self._start_locked(rec)
        except ContainerError:
            if rec["HostConfig"].get("AutoRemove") and not rec["HasBeenStartedBefore"]:
                await self.remove(rec["Id"], force=True, volumes=True)  # docker run --rm of a bad command
            raise

    async def _start_locked(self, rec: dict[str, Any]) -> dict[str, Any]:
        cid = rec["Id"]
        st = rec["State"]
        if st["Paused"]:
            raise ContainerError("cannot start a paused container, try unpause instead", 409)
        if st["Running"]:
            return rec  # the API answers 304
        rfs = Rootfs(self.overlay, cid)
        sdir = self.cdir(cid) / "shim"
        try:
            merged = await asyncio.to_thread(rfs.mount)
            bundle = self._bundle(rec, merged)
            if sdir.exists():
                shutil.rmtree(sdir)
            sdir.mkdir()
            try:
                await asyncio.to_thread(rt.delete, self.runtime_root, cid, force=True)
            except RuntimeError_:
                pass
            shim = await asyncio.to_thread(supervisor.binary, self.root / "bin")
            self.sock_dir.mkdir(parents=True, exist_ok=True)
            argv = [str(shim), "-d", str(sdir), "-l", rec["LogPath"], "-b", str(bundle), "-c", cid,
                    "-s", str(self.sock_path(cid))]
            if rec["Config"].get("Tty"):
                argv.insert(1, "-t")
            if rec["Config"].get("OpenStdin"):
                argv.insert(1, "-i")
            # A plain fork+exec in a thread, its stderr to a file: the shim's first process
            # exits once the container is created, and nothing must wait for a pipe's EOF
            # that the container's processes might hold (uvloop's spawn leaks one).
            code, err = await asyncio.to_thread(self._run_shim, [*argv, "--", *self.runtime_cmd], sdir)
            if code != 0:
                raise ContainerError(self._runtime_error(err), 400 if "executable file not found" in err
                                     or "no such file" in err else 500)
            files = supervisor.ShimFiles(sdir)
            pid = files.read_pid(files.init_pid) or 0
            try:
                if self.network is not None:
                    await self.network.setup(rec, pid)
                await self._connect_attachers(cid)
                await asyncio.to_thread(rt.start, self.runtime_root, cid)
            except BaseException:
                await asyncio.to_thread(self._force_delete_runtime, cid)
                raise
        except ContainerError as exc:
            st.update(Error=exc.message, ExitCode=127 if exc.status == 400 else 128)
            self.save(rec)
            await self._cleanup_after_stop(rec)
            raise
        except (OSError, RuntimeError_, supervisor.ShimBuildError) as exc:
            log.warning("start of %s failed: %s", cid[:12], exc)
            st.update(Error=str(exc), ExitCode=128)
            self.save(rec)
            await self._cleanup_after_stop(rec)
            raise ContainerError(str(exc), 500) from None
        st.update(Status="running", Running=True, Paused=False, Restarting=False, OOMKilled=False, Dead=False,
                  Pid=pid, ExitCode=0, Error="", StartedAt=now(), FinishedAt=ZERO_TIME)
        rec["HasBeenStartedBefore"] = True
        rec["HasBeenManuallyStopped"] = False
        # A waiter registered before the start (docker run's wait) keeps its event.
        self.exit_events.setdefault(cid, asyncio.Event())
        self.save(rec)
        self._monitor(rec)
        return rec

    @staticmethod
    def _run_shim(argv: list[str], sdir: Path) -> tuple[int, str]:
        with open(sdir / "start.err", "w+") as err:
            code = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                  close_fds=True).returncode
            err.seek(0)
            return code, err.read()

    @staticmethod
    def _runtime_error(text: str) -> str:
        text = text.strip().splitlines()[-1] if text.strip() else "container failed to start"
        text = text.removeprefix("skiff runtime: ")
        return f"failed to create task for container: failed to create shim task: OCI runtime create failed: {text}: unknown"

    def _force_delete_runtime(self, cid: str) -> None:
        try:
            rt.delete(self.runtime_root, cid, force=True)
        except RuntimeError_:
            pass

    async def _connect_attachers(self, cid: str) -> None:
        waiters = self.pending_attach.pop(cid, [])
        for fut in waiters:
            if fut.done():
                continue
            try:
                conn = await asyncio.open_unix_connection(str(self.sock_path(cid)))
            except OSError as exc:
                fut.set_exception(exc)
                continue
            fut.set_result(conn)

    async def attach_streams(self, ref: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the container's shim; waits for the next start if not running."""
        rec = self.get(ref)
        if rec["State"]["Running"]:
            return await asyncio.open_unix_connection(str(self.sock_path(rec["Id"])))
        fut: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.get_running_loop().create_future()
        self.pending_attach.setdefault(rec["Id"], []).append(fut)
        return await fut

    # -- supervision ---------------------------------------------------------
    def _monitor(self, rec: dict[str, Any]) -> None:
        cid = rec["Id"]
        pidfd = supervisor.ShimFiles(self.cdir(cid) / "shim").shim_pidfd()
        loop = asyncio.get_running_loop()
        if pidfd < 0:
            self._spawn(self._on_exit(cid))
            return
        self._watch[cid] = pidfd

        def ready() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self._watch.pop(cid, None)
            self._spawn(self._on_exit(cid))

        loop.add_reader(pidfd, ready)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_exit(self, cid: str) -> None:
        rec = self.containers.get(cid)
        if rec is None:
            return
        async with self.lock(cid):
            if not rec["State"]["Running"]:
                return
            files = supervisor.ShimFiles(self.cdir(cid) / "shim")
            ex = files.read_exit()
            code, finished = ex if ex else (255, int(dt.datetime.now().timestamp() * 1e9))
            oom = False
            try:
                stats = await asyncio.to_thread(rt.stats, self.runtime_root, cid)
                oom = stats.get("oom_kills", 0) > 0
            except (RuntimeError_, OSError):
                pass
            policy, retries = restart.parse(rec["HostConfig"].get("RestartPolicy"))
            again = not rec["HostConfig"].get("AutoRemove") and restart.should_restart(
                policy, retries, exit_code=code, restart_count=rec["RestartCount"],
                manually_stopped=rec["HasBeenManuallyStopped"], removing=bool(rec.get("_removing")))
            # Decided under the lock, so nobody sees "exited" before "restarting".
            rec["State"].update(Status="restarting" if again else "exited", Running=False, Paused=False,
                                Restarting=again, Pid=0, ExitCode=code, OOMKilled=oom,
                                FinishedAt=_ns_to_rfc3339(finished),
                                Error="" if ex else "container supervisor exited unexpectedly")
            await self._cleanup_after_stop(rec)
            self.save(rec)
            ev = self.exit_events.pop(cid, None)
            if ev:
                ev.set()
            for fut in self.pending_attach.pop(cid, []):
                if not fut.done():
                    fut.cancel()
        if rec["HostConfig"].get("AutoRemove") and not rec.get("_removing"):
            await self.remove(cid, force=True, volumes=True)
            return
        if again:
            await asyncio.sleep(restart.backoff(rec["RestartCount"]))
            await self._restart_after_backoff(rec)

    async def _restart_after_backoff(self, rec: dict[str, Any]) -> None:
        cid = rec["Id"]
        async with self.lock(cid):
            if cid not in self.containers or rec["HasBeenManuallyStopped"] or not rec["State"]["Restarting"]:
                return
            rec["RestartCount"] += 1
            try:
                await self._start_locked(rec)  # clears Restarting once running
            except ContainerError as exc:
                log.warning("restart of %s failed: %s", cid[:12], exc.message)
                rec["State"].update(Restarting=False, Status="exited")
                self.save(rec)

    async def _cleanup_after_stop(self, rec: dict[str, Any]) -> None:
        cid = rec["Id"]
        await asyncio.to_thread(self._force_delete_runtime, cid)
        if self.network is not None:
            try:
                await self.network.teardown(rec)
            except Exception as exc:  # noqa: BLE001
                log.warning("network teardown of %s: %s", cid[:12], exc)
        try:
            await asyncio.to_thread(Rootfs(self.overlay, cid).unmount)
        except OSError as exc:
            log.warning("unmount rootfs of %s: %s", cid[:12], exc)

    async def load(self) -> None:
        """Find containers again after a daemon restart; re-supervise running ones."""
        for d in sorted(self.dir.iterdir()) if self.dir.exists() else []:
            try:
                rec = json.loads((d / "config.v2.json").read_text())
                rec["HostConfig"] = json.loads((d / "hostconfig.json").read_text())
            except (OSError, ValueError):
                continue
            self.containers[rec["Id"]] = rec
        for rec in list(self.containers.values()):
            if rec["State"]["Running"]:
                self.exit_events[rec["Id"]] = asyncio.Event()
                self._monitor(rec)
            else:
                policy, _ = restart.parse(rec["HostConfig"].get("RestartPolicy"))
                was_restarting = bool(rec["State"].get("Restarting"))
                rec["State"]["Restarting"] = False
                if rec["State"]["Status"] == "restarting":
                    rec["State"]["Status"] = "exited"
                if restart.on_daemon_start(policy, was_restarting=was_restarting,
                                           manually_stopped=rec["HasBeenManuallyStopped"]) \
                        and rec["HasBeenStartedBefore"]:
                    rec["HasBeenManuallyStopped"] = False
                    self._spawn(self._restart_quietly(rec["Id"]))

    async def _restart_quietly(self, cid: str) -> None:
        try:
            await self.start(cid)
        except ContainerError as exc:
            log.warning("start of %s at daemon start failed: %s", cid[:12], exc.message)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for cid, fd in list(self._watch.items()):
            loop.remove_reader(fd)
            os.close(fd)
        self._watch.clear()
        for t in list(self._tasks):
            t.cancel()

    # -- stop / kill / wait --------------------------------------------------
    def _require_running(self, rec: dict[str, Any]) -> None:
        if not rec["State"]["Running"]:
            raise ContainerError(f"Container {rec['Id']} is not running", 409)

    async def kill(self, ref: str, sig: str | int | None = None) -> None:
        rec = self.get(ref)
        self._require_running(rec)
        try:
            signum = dockerspec.parse_signal(sig, signal.SIGKILL)
        except dockerspec.ConfigError as exc:
            raise ContainerError(str(exc), 400) from None
        if rec["State"]["Paused"] and signum != signal.SIGKILL:
            raise ContainerError(f"Container {rec['Id']} is paused. Unpause the container before stopping or killing", 409)
        if signum == signal.SIGKILL:
            rec["HasBeenManuallyStopped"] = True
        ev = self.exit_events.get(rec["Id"])
        try:
            await asyncio.to_thread(rt.kill, self.runtime_root, rec["Id"], signum, all_=signum == signal.SIGKILL)
        except RuntimeError_ as exc:
            raise ContainerError(f"Cannot kill container: {rec['Id']}: {exc}", 409) from None
        if signum == signal.SIGKILL and ev is not None:
            # As dockerd: a SIGKILL answers once the container is seen stopped.
            try:
                await asyncio.wait_for(asyncio.shield(ev.wait()), 10)
            except asyncio.TimeoutError:
                pass

    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> bool:
        """False when the container was not running (the API answers 304)."""
        rec = self.get(ref)
        cid = rec["Id"]
        if not rec["State"]["Running"]:
            # Under the lock: a restart in progress either finished (stop it below) or not yet.
            async with self.lock(cid):
                if rec["State"]["Restarting"]:  # waiting out its backoff: cancel the restart
                    rec["HasBeenManuallyStopped"] = True
                    rec["State"].update(Restarting=False, Status="exited")
                    self.save(rec)
                    return True
                if not rec["State"]["Running"]:
                    return False
        rec["HasBeenManuallyStopped"] = True
        rec["State"]["Restarting"] = False
        self.save(rec)
        ev = self.exit_events.get(cid)
        signum = dockerspec.parse_signal(sig or rec["Config"].get("StopSignal"), signal.SIGTERM)
        if timeout is None:
            timeout = rec["Config"].get("StopTimeout") or 10
        if rec["State"]["Paused"]:
            signum = signal.SIGKILL
        try:
            await asyncio.to_thread(rt.kill, self.runtime_root, cid, signum)
        except RuntimeError_:
            pass
        if ev is not None and timeout >= 0:
            try:
                await asyncio.wait_for(ev.wait(), timeout)
                return True
            except asyncio.TimeoutError:
                pass
        try:
            await asyncio.to_thread(rt.kill, self.runtime_root, cid, signal.SIGKILL, all_=True)
        except RuntimeError_:
            pass
        if ev is not None:
            await ev.wait()
        return True

    async def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        rec = self.get(ref)
        cid = rec["Id"]
        if condition == "removed":
            ev = self.removed_events.setdefault(cid, asyncio.Event())
            await ev.wait()
            return {"StatusCode": rec["State"]["ExitCode"], "Error": None}
        if condition == "next-exit" or rec["State"]["Running"] or rec["State"]["Restarting"]:
            while True:
                ev = self.exit_events.get(cid)
                if ev is None:
                    ev = self.exit_events[cid] = asyncio.Event()
                await ev.wait()
                if not rec["State"]["Restarting"] or condition == "next-exit":
                    break
        err = rec["State"].get("Error") or None
        return {"StatusCode": rec["State"]["ExitCode"], "Error": {"Message": err} if err else None}

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        rec = self.get(ref)
        await self.stop(rec["Id"], timeout)
        rec["HasBeenManuallyStopped"] = False
        await self.start(rec["Id"])

    RESOURCE_KEYS = ("Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuShares", "CpuQuota", "CpuPeriod",
                     "CpusetCpus", "CpusetMems", "PidsLimit")

    async def update(self, ref: str, changes: dict[str, Any]) -> None:
        """``docker update`` and CRI UpdateContainerResources: new limits (and restart policy)
        kept in the record and, for a running container, written to its cgroup."""
        rec = self.get(ref)
        host = dict(rec["HostConfig"])
        for k in (*self.RESOURCE_KEYS, "RestartPolicy"):
            if k in changes and changes[k] not in (None, 0, "") or (k == "RestartPolicy" and changes.get(k)):
                host[k] = changes[k]
        try:
            res = dockerspec.resources(host)
        except dockerspec.ConfigError as exc:
            raise ContainerError(str(exc), 400) from None
        if rec["State"]["Running"]:
            st = rt.read_state(self.runtime_root, rec["Id"])
            try:
                await asyncio.to_thread(rt._reopen_cgroup(st).apply, res)
            except OSError as exc:
                raise ContainerError(f"Cannot update container {rec['Id']}: {exc}", 400) from None
        rec["HostConfig"] = host
        self.save(rec)

    async def pause(self, ref: str, paused: bool) -> None:
        rec = self.get(ref)
        self._require_running(rec)
        if paused and rec["State"]["Paused"]:
            raise ContainerError(f"Container {rec['Id']} is already paused", 409)
        if not paused and not rec["State"]["Paused"]:
            raise ContainerError(f"Container {rec['Id']} is not paused", 409)
        try:
            await asyncio.to_thread(rt.pause, self.runtime_root, rec["Id"], paused)
        except RuntimeError_ as exc:
            raise ContainerError(str(exc), 409) from None
        rec["State"]["Paused"] = paused
        rec["State"]["Status"] = "paused" if paused else "running"
        self.save(rec)

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        rec = self.get(ref)
        cid = rec["Id"]
        if rec["State"]["Running"] and not force:
            raise ContainerError(f"You cannot remove a running container {cid}. Stop the container before "
                                 "attempting removal or force remove", 409)
        rec["_removing"] = True
        rec["State"]["Restarting"] = False
        if rec["State"]["Running"]:
            rec["HasBeenManuallyStopped"] = True
            ev = self.exit_events.get(cid)
            try:
                await asyncio.to_thread(rt.kill, self.runtime_root, cid, signal.SIGKILL, all_=True)
            except RuntimeError_:
                pass
            if rec["State"]["Paused"]:
                rec["State"]["Paused"] = False
            if ev is not None:
                await ev.wait()
        async with self.lock(cid):
            await self._cleanup_after_stop(rec)
            if self.volumes is not None:
                await self.volumes.release(rec, remove_anonymous=volumes)
            await asyncio.to_thread(Rootfs(self.overlay, cid).remove)
            shutil.rmtree(self.cdir(cid), ignore_errors=True)
            self.containers.pop(cid, None)
        self.locks.pop(cid, None)
        ev = self.removed_events.pop(cid, None)
        if ev:
            ev.set()

    async def rename(self, ref: str, new: str) -> None:
        rec = self.get(ref)
        if not names.valid(new):
            raise ContainerError(f"Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", 400)
        for r in self.containers.values():
            if r["Name"] == "/" + new and r is not rec:
                raise ContainerError(f'Conflict. The container name "/{new}" is already in use by container '
                                     f'"{r["Id"]}". You have to remove (or rename) that container to be able to reuse that name.', 409)
        if rec["Name"] == "/" + new:
            raise ContainerError(f"Renaming a container with the same name as its current name", 409)
        rec["Name"] = "/" + new
        self.save(rec)

    # -- observation ---------------------------------------------------------
    def pids(self, rec: dict[str, Any]) -> list[int]:
        try:
            return rt.ps(self.runtime_root, rec["Id"])
        except (RuntimeError_, OSError):
            return []

    def stats(self, rec: dict[str, Any]) -> dict[str, Any]:
        return rt.stats(self.runtime_root, rec["Id"])

    def rootfs(self, rec: dict[str, Any]) -> Rootfs:
        return Rootfs(self.overlay, rec["Id"])
