"""OCI ``linux.resources`` → the files to write, for cgroup v1 and v2 (pure).

Each function returns ``[(controller, file, value), ...]`` in the order to write
them; ``controller`` names the v1 hierarchy ("" for v2 files).
"""
from __future__ import annotations

from typing import Any

Write = tuple[str, str, str]
DEFAULT_PERIOD = 100000


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares (2..262144) → v2 cpu.weight (1..10000), as runc converts."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def v1_writes(res: dict[str, Any]) -> list[Write]:
    out: list[Write] = []
    mem = res.get("memory") or {}
    if mem.get("limit") is not None:
        out.append(("memory", "memory.limit_in_bytes", str(mem["limit"])))
    if mem.get("swap") is not None:
        out.append(("memory", "memory.memsw.limit_in_bytes", str(mem["swap"])))
    if mem.get("reservation") is not None:
        out.append(("memory", "memory.soft_limit_in_bytes", str(mem["reservation"])))
    if mem.get("swappiness") is not None:
        out.append(("memory", "memory.swappiness", str(mem["swappiness"])))
    if mem.get("disableOOMKiller"):
        out.append(("memory", "memory.oom_control", "1"))
    cpu = res.get("cpu") or {}
    if cpu.get("shares"):
        out.append(("cpu", "cpu.shares", str(cpu["shares"])))
    if cpu.get("period"):
        out.append(("cpu", "cpu.cfs_period_us", str(cpu["period"])))
    if cpu.get("quota"):
        out.append(("cpu", "cpu.cfs_quota_us", str(cpu["quota"])))
    if cpu.get("cpus"):
        out.append(("cpuset", "cpuset.cpus", cpu["cpus"]))
    if cpu.get("mems"):
        out.append(("cpuset", "cpuset.mems", cpu["mems"]))
    pids = res.get("pids") or {}
    if pids.get("limit") is not None:
        limit = int(pids["limit"])
        out.append(("pids", "pids.max", "max" if limit <= 0 else str(limit)))
    for d in res.get("devices") or []:
        out.append(("devices", "devices.allow" if d.get("allow") else "devices.deny", device_rule(d)))
    return out


def v2_writes(res: dict[str, Any]) -> list[Write]:
    out: list[Write] = []
    mem = res.get("memory") or {}
    limit = mem.get("limit")
    if limit is not None:
        out.append(("", "memory.max", "max" if limit < 0 else str(limit)))
    if mem.get("swap") is not None:
        swap = int(mem["swap"])
        if swap < 0:
            value = "max"
        elif limit is not None and limit > 0:
            value = str(max(swap - int(limit), 0))  # OCI swap is memory+swap, v2 is swap alone
        else:
            value = str(swap)
        out.append(("", "memory.swap.max", value))
    if mem.get("reservation") is not None:
        out.append(("", "memory.low", str(mem["reservation"])))
    cpu = res.get("cpu") or {}
    if cpu.get("shares"):
        out.append(("", "cpu.weight", str(shares_to_weight(int(cpu["shares"])))))
    if cpu.get("quota") or cpu.get("period"):
        quota = cpu.get("quota") or 0
        period = cpu.get("period") or DEFAULT_PERIOD
        out.append(("", "cpu.max", f"{'max' if quota <= 0 else quota} {period}"))
    if cpu.get("cpus"):
        out.append(("", "cpuset.cpus", cpu["cpus"]))
    if cpu.get("mems"):
        out.append(("", "cpuset.mems", cpu["mems"]))
    pids = res.get("pids") or {}
    if pids.get("limit") is not None:
        lim = int(pids["limit"])
        out.append(("", "pids.max", "max" if lim <= 0 else str(lim)))
    for key, value in (res.get("unified") or {}).items():
        out.append(("", key, str(value)))
    return out


def device_rule(d: dict[str, Any]) -> str:
    def num(v: Any) -> str:
        return "*" if v is None or v == -1 else str(v)

    return f"{d.get('type') or 'a'} {num(d.get('major'))}:{num(d.get('minor'))} {d.get('access') or 'rwm'}"


# runc's always-allowed devices (the OCI defaults plus pts, ptmx, tun and mknod of anything).
DEFAULT_DEVICE_RULES = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "access": "m"}, {"allow": True, "type": "b", "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
]
