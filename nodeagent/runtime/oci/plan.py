"""Pure decisions of container creation: namespaces, mounts, devices, capabilities.

Everything here turns spec data into plain tuples the ``init`` steps apply; no
system calls (``secure_join`` only reads symlinks inside the rootfs).
"""
from __future__ import annotations

import os
from typing import Any, NamedTuple

from skiff.nodeagent.runtime.oci import syscalls as sc

CAPABILITIES: dict[str, int] = {
    name: i for i, name in enumerate((
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ))
}

# Docker's default capability set (moby oci/caps/defaults.go).
DOCKER_DEFAULT_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)

RLIMITS: dict[str, int] = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

NS_FLAGS: dict[str, int] = {
    "user": sc.CLONE_NEWUSER, "ipc": sc.CLONE_NEWIPC, "uts": sc.CLONE_NEWUTS,
    "network": sc.CLONE_NEWNET, "pid": sc.CLONE_NEWPID, "cgroup": sc.CLONE_NEWCGROUP,
    "mount": sc.CLONE_NEWNS,
}
# Joining order: mount last so the other namespace paths still resolve.
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "mount")
PROC_NS_NAMES = {"user": "user", "ipc": "ipc", "uts": "uts", "network": "net", "pid": "pid",
                 "cgroup": "cgroup", "mount": "mnt"}


class NamespacePlan(NamedTuple):
    new_flags: int            # unshare() in the child (pid excluded: the parent does it)
    new_pid: bool             # parent unshares CLONE_NEWPID before fork
    join_pid: str | None      # parent setns()es this before fork
    joins: list[tuple[str, str, int]]  # (type, path, flag) for the child, in JOIN_ORDER


def namespace_plan(spec: dict[str, Any]) -> NamespacePlan:
    entries = {ns["type"]: ns.get("path") or None for ns in (spec.get("linux") or {}).get("namespaces") or []}
    new = 0
    joins = []
    for t in JOIN_ORDER:
        if t not in entries:
            continue
        if entries[t] is None:
            if t != "pid":
                new |= NS_FLAGS[t]
        elif t != "pid":
            joins.append((t, entries[t], NS_FLAGS[t]))
    pid_path = entries.get("pid") if "pid" in entries else None
    return NamespacePlan(new, "pid" in entries and pid_path is None, pid_path, joins)


# -- mount options ---------------------------------------------------------
_FLAG_OPTS: dict[str, tuple[bool, int]] = {
    "ro": (False, sc.MS_RDONLY), "rw": (True, sc.MS_RDONLY),
    "nosuid": (False, sc.MS_NOSUID), "suid": (True, sc.MS_NOSUID),
    "nodev": (False, sc.MS_NODEV), "dev": (True, sc.MS_NODEV),
    "noexec": (False, sc.MS_NOEXEC), "exec": (True, sc.MS_NOEXEC),
    "sync": (False, sc.MS_SYNCHRONOUS), "async": (True, sc.MS_SYNCHRONOUS),
    "dirsync": (False, sc.MS_DIRSYNC), "remount": (False, sc.MS_REMOUNT),
    "mand": (False, sc.MS_MANDLOCK), "nomand": (True, sc.MS_MANDLOCK),
    "atime": (True, sc.MS_NOATIME), "noatime": (False, sc.MS_NOATIME),
    "diratime": (True, sc.MS_NODIRATIME), "nodiratime": (False, sc.MS_NODIRATIME),
    "bind": (False, sc.MS_BIND), "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "relatime": (False, sc.MS_RELATIME), "norelatime": (True, sc.MS_RELATIME),
    "strictatime": (False, sc.MS_STRICTATIME), "nostrictatime": (True, sc.MS_STRICTATIME),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW),
}
_PROPAGATION: dict[str, int] = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}


class MountOptions(NamedTuple):
    flags: int
    propagation: list[int]
    data: str


def parse_mount_options(options: list[str]) -> MountOptions:
    flags = 0
    prop: list[int] = []
    data: list[str] = []
    for opt in options:
        if opt in _FLAG_OPTS:
            clear, flag = _FLAG_OPTS[opt]
            flags = flags & ~flag if clear else flags | flag
        elif opt in _PROPAGATION:
            prop.append(_PROPAGATION[opt])
        else:
            data.append(opt)
    return MountOptions(flags, prop, ",".join(data))


class Mount(NamedTuple):
    kind: str          # "bind", "cgroup" or "fs"
    source: str
    target: str        # absolute host path inside the rootfs
    fstype: str
    flags: int
    propagation: list[int]
    data: str
    dest: str          # the path as the container sees it


def plan_mounts(spec: dict[str, Any], rootfs: str, bundle: str) -> list[Mount]:
    out = []
    for m in spec.get("mounts") or []:
        opts = parse_mount_options(m.get("options") or [])
        fstype = m.get("type") or ("bind" if opts.flags & sc.MS_BIND else "")
        source = m.get("source") or fstype
        kind = "fs"
        if opts.flags & sc.MS_BIND or fstype == "bind":
            kind = "bind"
            if not os.path.isabs(source):
                source = os.path.join(bundle, source)
        elif fstype == "cgroup" or fstype == "cgroup2":
            kind = "cgroup"
        target = secure_join(rootfs, m["destination"])
        out.append(Mount(kind, source, target, fstype, opts.flags, opts.propagation, opts.data, m["destination"]))
    return out


def secure_join(root: str, unsafe: str) -> str:
    """``root``/``unsafe`` with symlinks resolved as if ``root`` were ``/``."""
    parts = [p for p in unsafe.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            link = os.readlink(candidate)
        except OSError:
            resolved.append(part)
            continue
        hops += 1
        if hops > 255:
            raise OSError(40, f"too many symlinks resolving {unsafe}")
        if link.startswith("/"):
            resolved = []
        parts = [p for p in link.split("/") if p and p != "."] + parts
    return os.path.join(root, *resolved)


# -- devices ---------------------------------------------------------------
class Device(NamedTuple):
    path: str
    type: str
    major: int
    minor: int
    mode: int
    uid: int
    gid: int


DEFAULT_DEVICES = [
    Device("/dev/null", "c", 1, 3, 0o666, 0, 0),
    Device("/dev/zero", "c", 1, 5, 0o666, 0, 0),
    Device("/dev/full", "c", 1, 7, 0o666, 0, 0),
    Device("/dev/random", "c", 1, 8, 0o666, 0, 0),
    Device("/dev/urandom", "c", 1, 9, 0o666, 0, 0),
    Device("/dev/tty", "c", 5, 0, 0o666, 0, 0),
]
DEV_SYMLINKS = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
                ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
                ("pts/ptmx", "/dev/ptmx")]


def plan_devices(spec: dict[str, Any]) -> list[Device]:
    devs = {d.path: d for d in DEFAULT_DEVICES}
    for d in (spec.get("linux") or {}).get("devices") or []:
        devs[d["path"]] = Device(
            d["path"], d["type"], int(d.get("major", 0)), int(d.get("minor", 0)),
            int(d.get("fileMode", 0o666)), int(d.get("uid", 0)), int(d.get("gid", 0)),
        )
    return list(devs.values())


def device_mode(d: Device) -> int:
    import stat

    kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[d.type]
    return kind | (d.mode & 0o7777)


# -- capabilities ----------------------------------------------------------
class CapSets(NamedTuple):
    bounding: int
    effective: int
    permitted: int
    inheritable: int
    ambient: int


def _mask(names: list[str]) -> int:
    m = 0
    for n in names:
        m |= 1 << CAPABILITIES[n]
    return m


def cap_sets(process: dict[str, Any]) -> CapSets:
    caps = process.get("capabilities")
    if caps is None:
        d = _mask(list(DOCKER_DEFAULT_CAPS))
        return CapSets(d, d, d, 0, 0)
    return CapSets(
        _mask(caps.get("bounding") or []), _mask(caps.get("effective") or []),
        _mask(caps.get("permitted") or []), _mask(caps.get("inheritable") or []),
        _mask(caps.get("ambient") or []),
    )


def caps_to_drop(bounding: int, last_cap: int) -> list[int]:
    return [c for c in range(last_cap + 1) if not bounding & (1 << c)]


def rlimits(process: dict[str, Any]) -> list[tuple[int, int, int]]:
    return [(RLIMITS[r["type"]], int(r["soft"]), int(r["hard"])) for r in process.get("rlimits") or []]


def env_with_path(env: list[str]) -> list[str]:
    if any(e.startswith("PATH=") for e in env):
        return env
    return [*env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
