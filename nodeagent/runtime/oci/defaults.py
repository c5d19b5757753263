"""The OCI spec Docker would generate for a container (``runc spec`` + Docker defaults).

Pure: ``docker_spec`` returns a ``config.json`` dict; the engine adds its own
mounts, namespaces paths and resources before writing it into a bundle.
"""
from __future__ import annotations

from typing import Any

from skiff.nodeagent.runtime.oci.plan import DOCKER_DEFAULT_CAPS

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DOCKER_MOUNTS: list[dict[str, Any]] = [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["ro", "nosuid", "noexec", "nodev"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
]

MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
NAMESPACES = ["pid", "network", "ipc", "uts", "mount"]


def docker_spec(args: list[str], *, rootfs: str = "rootfs", hostname: str = "", env: list[str] | None = None,
                cwd: str = "/", uid: int = 0, gid: int = 0, terminal: bool = False,
                caps: list[str] | None = None, seccomp: bool = True, readonly: bool = False,
                cgroups_path: str = "", resources: dict[str, Any] | None = None,
                namespaces: dict[str, str | None] | None = None) -> dict[str, Any]:
    """``namespaces`` maps a type to a path to join, or None to leave it shared with the host."""
    from skiff.nodeagent.runtime.oci.seccomp import docker_default

    caps = list(DOCKER_DEFAULT_CAPS) if caps is None else caps
    ns_list = []
    overrides = namespaces or {}
    for t in NAMESPACES:
        if t in overrides:
            if overrides[t] is None:
                continue  # shared with the host (--pid=host, --network=host, ...)
            ns_list.append({"type": t, "path": overrides[t]})
        else:
            ns_list.append({"type": t})
    env = list(env or [])
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": terminal, "user": {"uid": uid, "gid": gid}, "args": list(args), "env": env,
            "cwd": cwd or "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": False,
        },
        "root": {"path": rootfs, "readonly": readonly},
        "hostname": hostname,
        "mounts": [dict(m, options=list(m["options"])) for m in DOCKER_MOUNTS],
        "linux": {
            "resources": resources or {},
            "namespaces": ns_list,
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }
    if cgroups_path:
        spec["linux"]["cgroupsPath"] = cgroups_path
    if seccomp:
        spec["linux"]["seccomp"] = docker_default(caps)
    if "network" in overrides and overrides["network"] is None:
        # Docker: with the host's network, /sys stays the host's read-only sysfs bind.
        pass
    return spec
