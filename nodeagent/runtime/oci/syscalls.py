"""Every system call the runtime makes, behind one Protocol.

``LinuxSyscalls`` is the real thing (libc through ctypes, loaded lazily so
``skiff runtime state`` does not pay for it); ``RecordingSyscalls`` records each
call as a tuple so unit tests assert the exact order of creation steps without
root. Nothing here decides anything: callers pass fully computed arguments.
"""
from __future__ import annotations

import os
from typing import Any, Protocol

# unshare/setns flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

# prctl options
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

SYS_PIVOT_ROOT = 155  # x86_64
SYS_CAPSET = 126
_CAP_V3 = 0x20080522


class Syscalls(Protocol):
    """The kernel as the creation steps see it."""

    def unshare(self, flags: int) -> None: ...
    def setns(self, path: str, nstype: int) -> None: ...
    def mount(self, source: str, target: str, fstype: str, flags: int, data: str) -> None: ...
    def umount2(self, target: str, flags: int) -> None: ...
    def pivot_root(self, new_root: str) -> None: ...
    def sethostname(self, name: str) -> None: ...
    def setdomainname(self, name: str) -> None: ...
    def setrlimit(self, resource: int, soft: int, hard: int) -> None: ...
    def set_user(self, uid: int, gid: int, groups: list[int]) -> None: ...
    def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> None: ...
    def capset(self, effective: int, permitted: int, inheritable: int) -> None: ...
    def mknod(self, path: str, mode: int, major: int, minor: int, uid: int, gid: int) -> None: ...
    def makedirs(self, path: str, mode: int) -> None: ...
    def touch(self, path: str) -> None: ...
    def symlink(self, target: str, path: str) -> None: ...
    def write_file(self, path: str, data: str) -> None: ...
    def chdir(self, path: str) -> None: ...
    def setsid_ctty(self, fd: int) -> None: ...
    def load_seccomp(self, profile: dict[str, Any]) -> None: ...
    def exec(self, path: str, args: list[str], env: list[str]) -> None: ...


class LinuxSyscalls:
    """libc via ctypes; raises OSError with the path or value that failed."""

    def __init__(self) -> None:
        import ctypes

        self._ct = ctypes
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._seccomp: tuple[dict[str, Any], bytes | Exception] | None = None

    def prepare(self, spec: dict[str, Any], process: dict[str, Any], *, seccomp_cache: str | None = None) -> None:
        """Import and open now whatever the steps need after pivot_root hides the host.

        The seccomp filter is compiled here, in the parent, or read from ``seccomp_cache``
        (a directory); a compile error is kept and raised by the seccomp step itself.
        """
        import resource  # noqa: F401

        if process.get("terminal"):  # the console steps' modules (socket alone costs ~3 ms)
            import fcntl  # noqa: F401
            import socket  # noqa: F401
            import struct  # noqa: F401
            import termios  # noqa: F401

        profile = (spec.get("linux") or {}).get("seccomp")
        if profile:
            from skiff.nodeagent.runtime.oci import seccomp

            seccomp.preload(self._ct)
            try:
                self._seccomp = (profile, seccomp.cached_program(profile, self._ct, seccomp_cache))
            except (OSError, ValueError) as exc:
                self._seccomp = (profile, exc)

    def _check(self, rc: int, what: str) -> None:
        if rc < 0:
            err = self._ct.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def unshare(self, flags: int) -> None:
        self._check(self._libc.unshare(flags), f"unshare({flags:#x})")

    def setns(self, path: str, nstype: int) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._check(self._libc.setns(fd, nstype), f"setns {path}")
        finally:
            os.close(fd)

    def mount(self, source: str, target: str, fstype: str, flags: int, data: str) -> None:
        rc = self._libc.mount(
            source.encode() if source else None, target.encode(),
            fstype.encode() if fstype else None, self._ct.c_ulong(flags),
            data.encode() if data else None,
        )
        self._check(rc, f"mount {source or fstype!r} on {target}")

    def umount2(self, target: str, flags: int) -> None:
        self._check(self._libc.umount2(target.encode(), flags), f"umount {target}")

    def pivot_root(self, new_root: str) -> None:
        # runc's way: pivot "." onto "." then lazily detach the old root stacked below.
        old = os.open("/", os.O_DIRECTORY | os.O_RDONLY)
        new = os.open(new_root, os.O_DIRECTORY | os.O_RDONLY)
        try:
            os.fchdir(new)
            self._check(self._libc.syscall(SYS_PIVOT_ROOT, b".", b"."), f"pivot_root {new_root}")
            os.fchdir(old)
            self.mount("", ".", "", MS_SLAVE | MS_REC, "")
            self.umount2(".", MNT_DETACH)
            os.chdir("/")
        finally:
            os.close(old)
            os.close(new)

    def sethostname(self, name: str) -> None:
        raw = name.encode()
        self._check(self._libc.sethostname(raw, len(raw)), f"sethostname {name!r}")

    def setdomainname(self, name: str) -> None:
        raw = name.encode()
        self._check(self._libc.setdomainname(raw, len(raw)), f"setdomainname {name!r}")

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        import resource as res

        res.setrlimit(resource, (soft, hard))

    def set_user(self, uid: int, gid: int, groups: list[int]) -> None:
        os.setgroups(groups)
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> None:
        c = self._ct.c_ulong
        self._check(self._libc.prctl(option, c(arg2), c(arg3), c(0), c(0)), f"prctl({option}, {arg2})")

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        ct = self._ct
        header = (ct.c_uint32 * 2)(_CAP_V3, 0)
        data = (ct.c_uint32 * 6)(
            effective & 0xFFFFFFFF, permitted & 0xFFFFFFFF, inheritable & 0xFFFFFFFF,
            effective >> 32, permitted >> 32, inheritable >> 32,
        )
        self._check(self._libc.syscall(SYS_CAPSET, header, data), "capset")

    def mknod(self, path: str, mode: int, major: int, minor: int, uid: int, gid: int) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.mknod(path, mode, os.makedev(major, minor))
        os.chown(path, uid, gid)

    def makedirs(self, path: str, mode: int) -> None:
        os.makedirs(path, mode, exist_ok=True)

    def touch(self, path: str) -> None:
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))

    def symlink(self, target: str, path: str) -> None:
        try:
            os.symlink(target, path)
        except FileExistsError:
            pass

    def write_file(self, path: str, data: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)

    def chdir(self, path: str) -> None:
        os.chdir(path)

    def setsid_ctty(self, fd: int) -> None:
        import fcntl
        import termios

        os.setsid()
        fcntl.ioctl(fd, termios.TIOCSCTTY, 0)

    def load_seccomp(self, profile: dict[str, Any]) -> None:
        from skiff.nodeagent.runtime.oci.seccomp import compile_bpf, install

        prepared, program = self._seccomp if self._seccomp is not None else (None, None)
        if prepared is not profile or program is None:
            program = compile_bpf(profile, self._ct)
        if isinstance(program, Exception):
            raise program
        install(program, self._ct)

    def exec(self, path: str, args: list[str], env: list[str]) -> None:
        envd = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        os.execve(path, args, envd)


class RecordingSyscalls:
    """Records every call; ``fail`` maps a method name to the OSError it raises."""

    def __init__(self, fail: dict[str, OSError] | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail = fail or {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in Syscalls.__dict__:
            raise AttributeError(name)

        def record(*args: Any) -> None:
            self.calls.append((name, *args))
            if name in self.fail:
                raise self.fail[name]

        return record

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]
