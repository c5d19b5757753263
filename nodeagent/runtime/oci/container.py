"""The runtime's commands: create, start, state, kill, delete, run, exec, list, pause.

The parent side of creation: validate the bundle, make the cgroup, fork the
container's init (``init.py`` runs the steps), place it in the cgroup, wait for
its "ready" or its error, record state. Failures undo what was made (cgroup,
state dir) before the error reaches the caller.
"""
from __future__ import annotations

import json
import os
import select
import signal
import sys as _sys
from typing import Any

from skiff.nodeagent.runtime.oci import plan, spec as specmod
from skiff.nodeagent.runtime.oci import syscalls as sc
from skiff.nodeagent.runtime.oci.state import (
    RuntimeError_, Status, decide_status, oci_state, proc_starttime, read_state, valid_id, write_state,
)

DEFAULT_ROOT = "/run/skiff-runtime"
SECCOMP_CACHE = ".seccomp-cache"  # compiled filters under --root, shared by its containers (not a container)


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 40


def _cgroup(spec: dict[str, Any], cid: str):  # type: ignore[no-untyped-def]
    from skiff.nodeagent.runtime.cgroups.manager import for_container

    path = (spec.get("linux") or {}).get("cgroupsPath") or cid
    if ":" in path:  # systemd-style "slice:prefix:name": use the name under our own cgroup
        path = path.rsplit(":", 1)[-1]
    return for_container(path)


def _reopen_cgroup(state: dict[str, Any]):  # type: ignore[no-untyped-def]
    from skiff.nodeagent.runtime.cgroups.detect import read_hierarchies
    from skiff.nodeagent.runtime.cgroups.manager import Cgroup

    return Cgroup.from_rels(read_hierarchies(), state["cgroup"])


def utc_now_rfc3339(ns: int | None = None) -> str:
    """As ``datetime.now(timezone.utc).isoformat()`` with ``Z`` (datetime costs ~2 ms of imports)."""
    import time

    ns = time.time_ns() if ns is None else ns
    secs, us = divmod(ns // 1000, 1_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return f"{base}.{us:06d}Z" if us else f"{base}Z"


def _child_fail(wfd: int, msg: str) -> None:
    try:
        os.write(wfd, ("err:" + msg).encode()[:60000])
    finally:
        os._exit(1)


def connect_console(path: str | None) -> int | None:
    """The console socket, connected here (before the init changes namespaces and root)."""
    if not path:
        return None
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.connect(os.path.abspath(path))
    except OSError as exc:
        s.close()
        raise RuntimeError_(f"console socket {path}: {exc.strerror or exc}") from None
    return s.detach()


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def create(root: str, cid: str, bundle: str, *, console_socket: str | None = None,
           pid_file: str | None = None, fifo: bool = True, preserve_fds: int = 0) -> tuple[int, dict[str, Any]]:
    """Create the container; returns (pid, state). The init waits on exec.fifo if ``fifo``."""
    from skiff.nodeagent.runtime.oci import init as initmod

    if not valid_id(cid):
        raise RuntimeError_(f"invalid container id {cid!r}")
    bundle = os.path.abspath(bundle)
    spec = specmod.load_bundle(bundle)
    if "process" not in spec:
        raise RuntimeError_("config.json: process: required to create a container")
    rootfs = specmod.rootfs_path(bundle, spec)
    if not os.path.isdir(rootfs):
        raise RuntimeError_(f"config.json: root.path: {rootfs} is not a directory")
    os.makedirs(root, mode=0o700, exist_ok=True)
    sdir = os.path.join(root, cid)
    try:
        os.mkdir(sdir, 0o711)
    except FileExistsError:
        raise RuntimeError_(f"container with id exists: {cid}") from None
    cg = None
    pid = 0
    try:
        cg = _cgroup(spec, cid)
        try:
            cg.create()
            cg.apply((spec.get("linux") or {}).get("resources") or {})
        except OSError as exc:
            raise RuntimeError_(f"cgroups: {exc}") from None
        fifo_fd = None
        if fifo:
            fpath = os.path.join(sdir, "exec.fifo")
            old = os.umask(0)
            try:
                os.mkfifo(fpath, 0o622)
            finally:
                os.umask(old)
            fifo_fd = os.open(fpath, os.O_PATH | os.O_CLOEXEC)
            os.set_inheritable(fifo_fd, True)
        hier_mounts = dict(cg.v1.mounts) if cg.v1 else {}
        if cg.v2:
            hier_mounts[""] = cg.v2.root
        ctx = initmod.InitContext(
            spec=spec, bundle=bundle, rootfs=rootfs, process=spec["process"],
            cgroup_paths=cg.paths(), cgroup_mounts=hier_mounts, fifo_fd=fifo_fd,
            console_socket=os.path.abspath(console_socket) if console_socket else None,
            console_fd=connect_console(console_socket) if spec["process"].get("terminal") else None,
            last_cap=_last_cap(),
        )
        try:
            pid = _spawn_init(ctx, cg, spec, seccomp_cache=os.path.join(root, SECCOMP_CACHE))
        finally:
            if ctx.console_fd is not None:
                os.close(ctx.console_fd)
        if fifo_fd is not None:
            os.close(fifo_fd)
        state = {
            "ociVersion": spec["ociVersion"], "id": cid, "pid": pid,
            "starttime": proc_starttime(pid), "bundle": bundle, "rootfs": rootfs,
            "created": utc_now_rfc3339(),
            "annotations": spec.get("annotations") or {}, "cgroup": cg.rels(),
            "config": spec,
        }
        write_state(sdir, state)
        if pid_file:
            tmp = pid_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(str(pid))
            os.replace(tmp, pid_file)
        return pid, state
    except BaseException:
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        if cg is not None:
            try:
                cg.destroy()
            except OSError:
                pass
        _rmtree(sdir)
        raise


def _spawn_init(ctx: Any, cg: Any, spec: dict[str, Any], *, seccomp_cache: str | None = None) -> int:
    from skiff.nodeagent.runtime.oci import init as initmod

    nsplan = plan.namespace_plan(spec)
    sysc = sc.LinuxSyscalls()
    sysc.prepare(spec, ctx.process, seccomp_cache=seccomp_cache)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    # pid namespaces apply to children only: the parent switches them, then forks.
    if nsplan.join_pid:
        sysc.setns(nsplan.join_pid, sc.CLONE_NEWPID)
    elif nsplan.new_pid:
        sysc.unshare(sc.CLONE_NEWPID)
    _sys.stdout.flush()
    _sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(go_w)
            os.close(sync_r)
            if os.read(go_r, 1) != b"1":
                os._exit(1)
            os.close(go_r)
            initmod.run_steps(initmod.CREATE_STEPS, ctx, sysc)
            os.write(sync_w, b"ok")
            os.close(sync_w)
            if ctx.fifo_fd is not None:
                initmod.wait_for_start(ctx.fifo_fd)
            initmod.run_steps(initmod.FINAL_STEPS, ctx, sysc)
        except initmod.StepError as exc:
            _child_fail(sync_w, str(exc))
        except BaseException as exc:  # noqa: BLE001
            _child_fail(sync_w, f"init: {exc}")
        os._exit(127)
    os.close(sync_w)
    os.close(go_r)
    try:
        try:
            cg.add(pid)
        except OSError as exc:
            raise RuntimeError_(f"cgroups: join {pid}: {exc}") from None
        os.write(go_w, b"1")
        os.close(go_w)
        go_w = -1
        msg = b""
        while True:
            b = os.read(sync_r, 65536)
            if not b:
                break
            msg += b
            if msg == b"ok":
                break
        if msg != b"ok":
            os.waitpid(pid, 0)
            text = msg.decode(errors="replace")
            raise RuntimeError_(text[4:] if text.startswith("err:") else "container init exited before it was ready")
        return pid
    except BaseException:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
        raise
    finally:
        os.close(sync_r)
        if go_w >= 0:
            os.close(go_w)


def _rmtree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _alive(state: dict[str, Any]) -> bool:
    st = proc_starttime(state["pid"])
    return st is not None and st == state.get("starttime")


def status_of(root: str, state: dict[str, Any]) -> Status:
    alive = _alive(state)
    fifo = os.path.exists(os.path.join(root, state["id"], "exec.fifo"))
    frozen = False
    if alive and not fifo:
        try:
            frozen = _reopen_cgroup(state).frozen()
        except OSError:
            frozen = False
    return decide_status(alive=alive, fifo_exists=fifo, frozen=frozen)


def state_json(root: str, cid: str) -> dict[str, Any]:
    st = read_state(root, cid)
    return oci_state(st, status_of(root, st))


def start(root: str, cid: str) -> None:
    st = read_state(root, cid)
    status = status_of(root, st)
    if status != Status.CREATED:
        raise RuntimeError_(f"cannot start a container that has {status.value}" if status == Status.STOPPED
                            else f"cannot start an already {status.value} container")
    fpath = os.path.join(root, cid, "exec.fifo")
    # The pidfd first: opening the fifo releases the init, which may run and be gone at once.
    try:
        pidfd = os.pidfd_open(st["pid"])
    except OSError:
        raise RuntimeError_("cannot start a container that has stopped") from None
    try:
        fd = os.open(fpath, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        os.close(pidfd)
        raise
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        while True:
            events = dict(poller.poll())
            if events.get(fd, 0) & select.POLLIN:
                if os.read(fd, 1):
                    break
            if pidfd in events:
                raise RuntimeError_("cannot start a container that has stopped")
    finally:
        os.close(fd)
        os.close(pidfd)
    os.unlink(fpath)


def wait_pid_exit(pid: int, timeout: float | None = None) -> bool:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        p = select.poll()
        p.register(pidfd, select.POLLIN)
        return bool(p.poll(None if timeout is None else int(timeout * 1000)))
    finally:
        os.close(pidfd)


def kill(root: str, cid: str, sig: int, *, all_: bool = False) -> None:
    st = read_state(root, cid)
    status = status_of(root, st)
    if status == Status.STOPPED:
        raise RuntimeError_("container not running")
    cg = _reopen_cgroup(st)
    pids = cg.pids() if all_ else [st["pid"]]
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
    if status == Status.PAUSED and sig == signal.SIGKILL:
        cg.freeze(False)  # frozen tasks cannot die until thawed


def delete(root: str, cid: str, *, force: bool = False) -> None:
    st = read_state(root, cid)
    status = status_of(root, st)
    if status in (Status.RUNNING, Status.PAUSED) and not force:
        raise RuntimeError_(f"cannot delete container {cid} that is not stopped: {status.value}")
    cg = _reopen_cgroup(st)
    if status != Status.STOPPED:
        for p in set(cg.pids()) | {st["pid"]}:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if status == Status.PAUSED:
            cg.freeze(False)
        wait_pid_exit(st["pid"], 10)
    # Stray processes (e.g. of exec) still in the cgroup are killed with it.
    for p in cg.pids():
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        cg.destroy()
    except OSError as exc:
        raise RuntimeError_(f"delete {cid}: {exc}") from None
    _rmtree(os.path.join(root, cid))


def pause(root: str, cid: str, frozen: bool) -> None:
    st = read_state(root, cid)
    status = status_of(root, st)
    if frozen and status != Status.RUNNING:
        raise RuntimeError_(f"container not running: {status.value}")
    if not frozen and status != Status.PAUSED:
        raise RuntimeError_("container not paused")
    _reopen_cgroup(st).freeze(frozen)


def list_states(root: str) -> list[dict[str, Any]]:
    out = []
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    for name in names:
        if name == SECCOMP_CACHE:
            continue
        try:
            out.append(state_json(root, name))
        except (RuntimeError_, OSError, ValueError):
            continue
    return out


def ps(root: str, cid: str) -> list[int]:
    return _reopen_cgroup(read_state(root, cid)).pids()


def stats(root: str, cid: str) -> dict[str, Any]:
    st = read_state(root, cid)
    cg = _reopen_cgroup(st)
    return {"id": cid, **cg.stats(), "oom_kills": cg.oom_kills()}


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def wait_child(pid: int) -> int:
    """Wait for our own child, forwarding SIGINT/SIGTERM/SIGHUP/SIGQUIT to it."""
    def forward(signum: int, _frame: Any) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(s, forward)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return exit_code(status)
        except InterruptedError:
            continue


def run(root: str, cid: str, bundle: str, *, detach: bool = False, console_socket: str | None = None,
        pid_file: str | None = None, keep: bool = False) -> int:
    pid, _ = create(root, cid, bundle, console_socket=console_socket, pid_file=pid_file, fifo=True)
    try:
        start(root, cid)
    except BaseException:
        delete(root, cid, force=True)
        raise
    if detach:
        return 0
    code = wait_child(pid)
    if not keep:
        try:
            delete(root, cid, force=True)
        except RuntimeError_:
            pass
    return code


def exec_process(root: str, cid: str, process: dict[str, Any], *, detach: bool = False,
                 pid_file: str | None = None, console_socket: str | None = None) -> int:
    """Run ``process`` inside the running container ``cid`` (runc exec)."""
    from skiff.nodeagent.runtime.oci import init as initmod

    st = read_state(root, cid)
    status = status_of(root, st)
    if status != Status.RUNNING:
        raise RuntimeError_(f"cannot exec in a {status.value} container" if status != Status.STOPPED
                            else "cannot exec in a stopped container")
    specmod.validate_process(process)
    spec = st["config"]
    init_pid = st["pid"]
    sysc = sc.LinuxSyscalls()
    sysc.prepare(spec, process, seccomp_cache=os.path.join(root, SECCOMP_CACHE))
    cg = _reopen_cgroup(st)
    ctx = initmod.InitContext(spec=spec, bundle=st["bundle"], rootfs="/", process=process,
                              console_socket=os.path.abspath(console_socket) if console_socket else None,
                              console_fd=connect_console(console_socket) if process.get("terminal") else None,
                              is_exec=True, last_cap=_last_cap())
    joins = []
    for t in ("ipc", "uts", "network", "cgroup", "mount"):
        path = f"/proc/{init_pid}/ns/{plan.PROC_NS_NAMES[t]}"
        if os.path.exists(path) and os.readlink(path) != os.readlink(f"/proc/self/ns/{plan.PROC_NS_NAMES[t]}"):
            joins.append((path, plan.NS_FLAGS[t]))
    if os.readlink(f"/proc/{init_pid}/ns/pid") != os.readlink("/proc/self/ns/pid"):
        sysc.setns(f"/proc/{init_pid}/ns/pid", sc.CLONE_NEWPID)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    _sys.stdout.flush()
    _sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(go_w)
            os.close(sync_r)
            if os.read(go_r, 1) != b"1":
                os._exit(1)
            for path, flag in joins:
                sysc.setns(path, flag)
            steps = [("console", initmod.step_console), ("rlimits", initmod.step_rlimits),
                     ("seccomp", initmod.step_seccomp_early), ("capabilities", initmod.step_capabilities),
                     ("no_new_privs", initmod.step_no_new_privs), ("lookup executable", initmod.step_lookup),
                     *initmod.FINAL_STEPS]
            initmod.run_steps(steps, ctx, sysc)
        except initmod.StepError as exc:
            _child_fail(sync_w, str(exc))
        except BaseException as exc:  # noqa: BLE001
            _child_fail(sync_w, f"exec: {exc}")
        os._exit(127)
    os.close(go_r)
    os.close(sync_w)
    if ctx.console_fd is not None:
        os.close(ctx.console_fd)
    try:
        cg.add(pid)
    except OSError:
        pass  # the container's cgroup may be gone with a racing exit; exec still fails below if so
    os.write(go_w, b"1")
    os.close(go_w)
    msg = _read_all(sync_r)  # EOF at a successful exec (the pipe is close-on-exec)
    os.close(sync_r)
    if msg:
        os.waitpid(pid, 0)
        text = msg.decode(errors="replace")
        raise RuntimeError_(text[4:] if text.startswith("err:") else text)
    if pid_file:
        with open(pid_file + ".tmp", "w") as f:
            f.write(str(pid))
        os.replace(pid_file + ".tmp", pid_file)
    if detach:
        return 0
    return wait_child(pid)


def load_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)
