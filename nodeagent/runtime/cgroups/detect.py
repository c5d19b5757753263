"""Which cgroup hierarchies exist and where a process sits in them (pure parsers).

``parse_mountinfo`` reads /proc/self/mountinfo text; ``parse_proc_cgroup`` reads
/proc/PID/cgroup text. The mode is ``v1`` (controllers only), ``hybrid`` (v1
controllers plus a cgroup2 mount, e.g. /sys/fs/cgroup/unified) or ``v2``.
"""
from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class Mode(str, Enum):
    V1 = "v1"
    HYBRID = "hybrid"
    V2 = "v2"


class Hierarchies(NamedTuple):
    mode: Mode
    v1: dict[str, str]   # controller (or "name=systemd") -> mountpoint
    unified: str | None  # cgroup2 mountpoint


def parse_mountinfo(text: str) -> Hierarchies:
    v1: dict[str, str] = {}
    unified = None
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        fstype, mountpoint = rfields[0], fields[4]
        if fstype == "cgroup2":
            unified = mountpoint
        elif fstype == "cgroup":
            for opt in rfields[2].split(","):
                if opt in ("rw", "ro") or opt.startswith("release_agent") or opt in ("clone_children", "noprefix", "xattr"):
                    continue
                v1.setdefault(opt, mountpoint)
    if v1:
        mode = Mode.HYBRID if unified else Mode.V1
    else:
        mode = Mode.V2
    return Hierarchies(mode, v1, unified)


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """controller -> path; the cgroup2 entry is under key ""."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for ctrl in parts[1].split(",") if parts[1] else [""]:
            out[ctrl] = parts[2]
    return out


def read_hierarchies() -> Hierarchies:
    with open("/proc/self/mountinfo") as f:
        return parse_mountinfo(f.read())


def own_cgroups(pid: int | str = "self") -> dict[str, str]:
    with open(f"/proc/{pid}/cgroup") as f:
        return parse_proc_cgroup(f.read())
