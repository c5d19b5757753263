"""The container's first process: the ordered creation steps, then exec.

Runs in the forked child of ``skiff runtime create``/``run``. Each step is a
named function of ``(ctx, sys)``; a failure is reported to the parent as
``<step>: <error>`` over the sync pipe. The order follows runc's standard init:
validate (by the parent) → namespaces → prepare rootfs → pivot_root / finalize
rootfs → hostname → rlimits → seccomp (when no_new_privs is unset: loading a filter
needs CAP_SYS_ADMIN, so before capabilities drop) → user + capabilities →
no_new_privs → signal ready, wait for ``start`` → seccomp (when no_new_privs) → exec.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from skiff.nodeagent.runtime.oci import plan
from skiff.nodeagent.runtime.oci import syscalls as sc


class InitContext:
    """What the steps need; a plain class (``dataclasses`` costs ~7 ms of imports per run)."""

    __slots__ = ("spec", "bundle", "rootfs", "process", "cgroup_paths", "cgroup_mounts", "fifo_fd",
                 "console_socket", "console_fd", "is_exec", "last_cap", "exec_path")

    def __init__(self, spec: dict[str, Any], bundle: str, rootfs: str, process: dict[str, Any], *,
                 cgroup_paths: dict[str, str] | None = None,  # controller -> host dir
                 cgroup_mounts: dict[str, str] | None = None,  # controller -> host mountpoint
                 fifo_fd: int | None = None,  # O_PATH fd of exec.fifo (create); None for run
                 console_socket: str | None = None,
                 console_fd: int | None = None,  # the console socket, connected by the parent before any setns/pivot
                 is_exec: bool = False,  # an exec gets a pty but no /dev/console of its own
                 last_cap: int = 40, exec_path: str = "") -> None:
        self.spec = spec
        self.bundle = bundle
        self.rootfs = rootfs
        self.process = process
        self.cgroup_paths = cgroup_paths if cgroup_paths is not None else {}
        self.cgroup_mounts = cgroup_mounts if cgroup_mounts is not None else {}
        self.fifo_fd = fifo_fd
        self.console_socket = console_socket
        self.console_fd = console_fd
        self.is_exec = is_exec
        self.last_cap = last_cap
        self.exec_path = exec_path

    @property
    def linux(self) -> dict[str, Any]:
        return self.spec.get("linux") or {}


Step = Callable[[InitContext, sc.Syscalls], None]


def step_namespaces(ctx: InitContext, sys: sc.Syscalls) -> None:
    nsplan = plan.namespace_plan(ctx.spec)
    for ns_type, path, flag in nsplan.joins:
        sys.setns(path, flag)
    if nsplan.new_flags:
        sys.unshare(nsplan.new_flags)


def step_prepare_rootfs(ctx: InitContext, sys: sc.Syscalls) -> None:
    prop = plan.parse_mount_options([ctx.linux.get("rootfsPropagation") or "rslave"]).propagation
    sys.mount("", "/", "", prop[0] if prop else sc.MS_SLAVE | sc.MS_REC, "")
    # pivot_root needs the new root to be a mount point.
    sys.mount(ctx.rootfs, ctx.rootfs, "", sc.MS_BIND | sc.MS_REC, "")
    for m in plan.plan_mounts(ctx.spec, ctx.rootfs, ctx.bundle):
        _mount_one(ctx, sys, m)
    _create_devices(ctx, sys)
    cwd = plan.secure_join(ctx.rootfs, ctx.process.get("cwd") or "/")
    sys.makedirs(cwd, 0o755)


def _mount_one(ctx: InitContext, sys: sc.Syscalls, m: plan.Mount) -> None:
    if m.kind == "bind" and not os.path.isdir(m.source):
        sys.makedirs(os.path.dirname(m.target), 0o755)
        sys.touch(m.target)
    else:
        sys.makedirs(m.target, 0o755)
    if m.kind == "cgroup":
        _mount_cgroup(ctx, sys, m)
    elif m.kind == "bind":
        sys.mount(m.source, m.target, "", sc.MS_BIND | (m.flags & sc.MS_REC), "")
        extra = m.flags & ~(sc.MS_BIND | sc.MS_REC)
        if extra:
            sys.mount(m.source, m.target, "", sc.MS_BIND | sc.MS_REMOUNT | extra, "")
    else:
        flags = m.flags
        if m.dest == "/dev" or m.dest.startswith("/dev/"):
            flags &= ~sc.MS_RDONLY  # devices and pts are made after; ro /dev is remounted by nobody
        sys.mount(m.source, m.target, m.fstype, flags, m.data)
    for p in m.propagation:
        sys.mount("", m.target, "", p, "")


def _mount_cgroup(ctx: InitContext, sys: sc.Syscalls, m: plan.Mount) -> None:
    ro = m.flags & sc.MS_RDONLY
    if set(ctx.cgroup_mounts) == {""}:
        sys.mount(ctx.cgroup_paths[""], m.target, "", sc.MS_BIND, "")
        if ro:
            sys.mount("", m.target, "", sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "")
        return
    # v1 or hybrid: a tmpfs holding one read-only bind of the container's own cgroup per hierarchy.
    sys.mount("tmpfs", m.target, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")
    done: set[str] = set()
    for ctrl, mountpoint in sorted(ctx.cgroup_mounts.items()):
        name = os.path.basename(mountpoint)
        if name in done or ctrl not in ctx.cgroup_paths:
            continue
        done.add(name)
        target = os.path.join(m.target, name)
        sys.makedirs(target, 0o755)
        sys.mount(ctx.cgroup_paths[ctrl], target, "", sc.MS_BIND, "")
        sys.mount("", target, "", sc.MS_BIND | sc.MS_REMOUNT | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | (sc.MS_RDONLY if ro else 0), "")
    if ro:
        sys.mount("", m.target, "", sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")


def _create_devices(ctx: InitContext, sys: sc.Syscalls) -> None:
    dev = os.path.join(ctx.rootfs, "dev")
    sys.makedirs(dev, 0o755)
    for d in plan.plan_devices(ctx.spec):
        target = plan.secure_join(ctx.rootfs, d.path)
        sys.makedirs(os.path.dirname(target), 0o755)
        sys.mknod(target, plan.device_mode(d), d.major, d.minor, d.uid, d.gid)
    for src, link in plan.DEV_SYMLINKS:
        sys.symlink(src, os.path.join(ctx.rootfs, link.lstrip("/")))
    if os.path.exists("/proc/kcore"):
        sys.symlink("/proc/kcore", os.path.join(dev, "core"))


def step_pivot_root(ctx: InitContext, sys: sc.Syscalls) -> None:
    sys.pivot_root(ctx.rootfs)


TIOCSPTLCK = 0x40045431  # <asm-generic/ioctls.h>; Python's termios lacks both
TIOCGPTN = 0x80045430


def step_console(ctx: InitContext, sys: sc.Syscalls) -> None:
    if ctx.process.get("terminal") and (ctx.console_fd is not None or ctx.console_socket):
        _setup_console(ctx, sys)
    elif ctx.process.get("terminal"):
        sys.setsid_ctty(0)  # the caller handed us a pty slave as stdin
    else:
        os.setsid()


def _setup_console(ctx: InitContext, sys: sc.Syscalls) -> None:
    """Make a pty in the container's devpts, send its master over the console socket.

    As runc: the pty belongs to the container's own devpts instance, so ``tty`` names
    ``/dev/pts/N`` inside it; the socket was connected before the mount namespace
    changed (its path is not reachable from inside).
    """
    import fcntl
    import socket
    import struct
    import termios

    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt
    name = _ptsname(master)
    slave = os.open(name, os.O_RDWR | os.O_NOCTTY)
    size = ctx.process.get("consoleSize") or {}
    if size.get("height") and size.get("width"):
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", int(size["height"]), int(size["width"]), 0, 0))
    if ctx.console_fd is not None:
        s = socket.socket(fileno=ctx.console_fd)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(ctx.console_socket or "")
    with s:
        socket.send_fds(s, [name.encode()], [master])
    ctx.console_fd = None
    os.close(master)
    if not ctx.is_exec:
        sys.touch("/dev/console")
        sys.mount(name, "/dev/console", "", sc.MS_BIND, "")
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
    sys.setsid_ctty(0)


def _ptsname(master: int) -> str:
    import fcntl
    import struct

    n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0"))[0]
    return f"/dev/pts/{n}"


def step_finalize_rootfs(ctx: InitContext, sys: sc.Syscalls) -> None:
    ro_keep = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_NOATIME | sc.MS_NODIRATIME | sc.MS_RELATIME
    for path in ctx.linux.get("maskedPaths") or []:
        if not os.path.lexists(path):
            continue
        if os.path.isdir(path):
            sys.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY, "")
        else:
            sys.mount("/dev/null", path, "", sc.MS_BIND, "")
    for path in ctx.linux.get("readonlyPaths") or []:
        if not os.path.lexists(path):
            continue
        sys.mount(path, path, "", sc.MS_BIND | sc.MS_REC, "")
        keep = os.statvfs(path).f_flag & ro_keep
        sys.mount(path, path, "", sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | keep, "")
    if (ctx.spec.get("root") or {}).get("readonly"):
        sys.mount("", "/", "", sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY, "")
    for key, value in (ctx.linux.get("sysctl") or {}).items():
        sys.write_file("/proc/sys/" + key.replace(".", "/"), str(value))


def step_hostname(ctx: InitContext, sys: sc.Syscalls) -> None:
    if ctx.spec.get("hostname") and plan.namespace_plan(ctx.spec).new_flags & sc.CLONE_NEWUTS:
        sys.sethostname(ctx.spec["hostname"])
    if ctx.spec.get("domainname"):
        sys.setdomainname(ctx.spec["domainname"])


def step_rlimits(ctx: InitContext, sys: sc.Syscalls) -> None:
    for res, soft, hard in plan.rlimits(ctx.process):
        sys.setrlimit(res, soft, hard)


def step_seccomp_early(ctx: InitContext, sys: sc.Syscalls) -> None:
    prof = ctx.linux.get("seccomp")
    if prof and not ctx.process.get("noNewPrivileges"):
        sys.load_seccomp(prof)


def step_capabilities(ctx: InitContext, sys: sc.Syscalls) -> None:
    caps = plan.cap_sets(ctx.process)
    for cap in plan.caps_to_drop(caps.bounding, ctx.last_cap):
        sys.prctl(sc.PR_CAPBSET_DROP, cap)
    user = ctx.process.get("user") or {}
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    groups = [int(g) for g in user.get("additionalGids") or []]
    sys.prctl(sc.PR_SET_KEEPCAPS, 1)
    sys.set_user(uid, gid, groups)
    sys.prctl(sc.PR_SET_KEEPCAPS, 0)
    sys.capset(caps.effective, caps.permitted, caps.inheritable)
    if caps.ambient:
        for cap in range(ctx.last_cap + 1):
            if caps.ambient & (1 << cap):
                sys.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, cap)
    sys.chdir(ctx.process.get("cwd") or "/")


def step_no_new_privs(ctx: InitContext, sys: sc.Syscalls) -> None:
    if ctx.process.get("noNewPrivileges"):
        sys.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)


def step_lookup(ctx: InitContext, sys: sc.Syscalls) -> None:
    ctx.exec_path = lookup_executable(ctx.process["args"][0], ctx.process.get("env") or [])


def lookup_executable(name: str, env: list[str]) -> str:
    if "/" in name:
        if not os.access(name, os.X_OK):
            raise FileNotFoundError(2, f'exec: "{name}": stat {name}: no such file or directory')
        return name
    path = next((e[5:] for e in env if e.startswith("PATH=")), os.defpath)
    found = which(name, path)
    if found is None:
        raise FileNotFoundError(2, f'exec: "{name}": executable file not found in $PATH')
    return found


def which(name: str, path: str) -> str | None:
    """``shutil.which`` for a bare name (importing shutil costs ~3 ms per run)."""
    if not path:
        return None
    for d in dict.fromkeys(path.split(os.pathsep)):
        cand = os.path.join(d, name)
        if os.path.exists(cand) and os.access(cand, os.X_OK) and not os.path.isdir(cand):
            return cand
    return None


CREATE_STEPS: list[tuple[str, Step]] = [
    ("namespaces", step_namespaces),
    ("prepare rootfs", step_prepare_rootfs),
    ("pivot_root", step_pivot_root),
    ("console", step_console),
    ("finalize rootfs", step_finalize_rootfs),
    ("hostname", step_hostname),
    ("rlimits", step_rlimits),
    ("seccomp", step_seccomp_early),
    ("capabilities", step_capabilities),
    ("no_new_privs", step_no_new_privs),
    ("lookup executable", step_lookup),
]


def step_seccomp_late(ctx: InitContext, sys: sc.Syscalls) -> None:
    prof = ctx.linux.get("seccomp")
    if prof and ctx.process.get("noNewPrivileges"):
        sys.load_seccomp(prof)


def step_exec(ctx: InitContext, sys: sc.Syscalls) -> None:
    sys.exec(ctx.exec_path or ctx.process["args"][0], list(ctx.process["args"]), ctx.process.get("env") or [])


FINAL_STEPS: list[tuple[str, Step]] = [("seccomp", step_seccomp_late), ("exec", step_exec)]


def run_steps(steps: list[tuple[str, Step]], ctx: InitContext, sys: sc.Syscalls) -> None:
    for name, step in steps:
        try:
            step(ctx, sys)
        except Exception as exc:  # noqa: BLE001 - every failure is reported with its step
            raise StepError(name, exc) from exc


class StepError(Exception):
    def __init__(self, step: str, cause: BaseException) -> None:
        if isinstance(cause, OSError) and cause.strerror:
            detail = cause.strerror + (f": {cause.filename}" if cause.filename else "")
        else:
            detail = str(cause)
        super().__init__(f"{step}: {detail}")
        self.step = step


def wait_for_start(fifo_fd: int) -> None:
    """Block until ``skiff runtime start`` opens exec.fifo for reading."""
    fd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    os.write(fd, b"0")
    os.close(fd)
    os.close(fifo_fd)
