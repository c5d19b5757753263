"""Creating, filling, limiting, freezing, measuring and removing one cgroup.

``V1Cgroup`` writes under each v1 controller mount; ``V2Cgroup`` under one
cgroup2 root; ``Cgroup`` combines them the way runc does on each host kind
(v1 / hybrid: v1 controllers plus the unified tree for membership and freezing
only / v2). Every writer takes its roots as parameters, so unit tests pass a
temp directory. Paths are relative to each hierarchy's root.
"""
from __future__ import annotations

import errno
import os
import time
from typing import Any

from skiff.nodeagent.runtime.cgroups import resources as rs
from skiff.nodeagent.runtime.cgroups.detect import Hierarchies, Mode


class CgroupError(OSError):
    pass


def _write(path: str, value: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except OSError as exc:
        raise CgroupError(exc.errno, f"cgroup {path}: {exc.strerror}") from None
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise CgroupError(exc.errno, f"cgroup {path} = {value!r}: {exc.strerror}") from None
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _read_int(path: str) -> int | None:
    try:
        text = _read(path).strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in _read(path).splitlines():
            k, _, v = line.partition(" ")
            if v.strip().lstrip("-").isdigit():
                out[k] = int(v)
    except OSError:
        pass
    return out


def _rmdir_tree(path: str) -> None:
    if not os.path.isdir(path):
        return
    for name in os.listdir(path):
        sub = os.path.join(path, name)
        if os.path.isdir(sub):
            _rmdir_tree(sub)
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise CgroupError(exc.errno, f"cgroup rmdir {path}: {exc.strerror}") from None
            time.sleep(0.01)  # tasks are still exiting; the kernel frees the cgroup soon
    raise CgroupError(errno.EBUSY, f"cgroup rmdir {path}: still busy")


class V1Cgroup:
    def __init__(self, mounts: dict[str, str], rel: dict[str, str]) -> None:
        self.mounts = mounts
        self.rel = rel  # per-controller path relative to that mount

    def path(self, ctrl: str) -> str:
        return os.path.join(self.mounts[ctrl], self.rel[ctrl].lstrip("/"))

    def create(self) -> None:
        for ctrl in self.mounts:
            p = self.path(ctrl)
            if ctrl == "cpuset":
                self._create_cpuset(p)
            else:
                os.makedirs(p, exist_ok=True)

    def _create_cpuset(self, p: str) -> None:
        # A new cpuset is empty and refuses tasks until cpus/mems are copied from its parent.
        root = self.mounts["cpuset"]
        missing = []
        cur = p
        while not os.path.isdir(cur) and cur != root:
            missing.append(cur)
            cur = os.path.dirname(cur)
        for d in reversed(missing):
            os.makedirs(d, exist_ok=True)
            parent = os.path.dirname(d)
            for f in ("cpuset.cpus", "cpuset.mems"):
                if not _read(os.path.join(d, f)).strip():
                    _write(os.path.join(d, f), _read(os.path.join(parent, f)).strip())

    def add(self, pid: int) -> None:
        for ctrl in self.mounts:
            _write(os.path.join(self.path(ctrl), "cgroup.procs"), str(pid))

    def apply(self, res: dict[str, Any]) -> None:
        writes = rs.v1_writes(res)
        if "devices" in self.mounts and not res.get("devices"):
            writes += [("devices", "devices.allow" if d["allow"] else "devices.deny", rs.device_rule(d))
                       for d in rs.DEFAULT_DEVICE_RULES]
        for ctrl, name, value in writes:
            if ctrl not in self.mounts:
                continue
            path = os.path.join(self.path(ctrl), name)
            if name == "memory.memsw.limit_in_bytes" and not os.path.exists(path):
                continue  # swap accounting off in this kernel
            try:
                _write(path, value)
            except CgroupError as exc:
                # memsw must stay >= limit: raising both needs memsw first.
                if name == "memory.limit_in_bytes" and exc.errno == errno.EINVAL:
                    memsw = (res.get("memory") or {}).get("swap")
                    if memsw:
                        _write(os.path.join(self.path(ctrl), "memory.memsw.limit_in_bytes"), str(memsw))
                        _write(path, value)
                        continue
                raise

    def pids(self) -> list[int]:
        for ctrl in ("pids", "memory", "freezer", "cpu"):
            if ctrl in self.mounts:
                try:
                    return [int(x) for x in _read(os.path.join(self.path(ctrl), "cgroup.procs")).split()]
                except OSError:
                    return []
        return []

    def freeze(self, frozen: bool) -> None:
        p = os.path.join(self.path("freezer"), "freezer.state")
        _write(p, "FROZEN" if frozen else "THAWED")
        want = "FROZEN" if frozen else "THAWED"
        for _ in range(1000):
            if _read(p).strip() == want:
                return
            time.sleep(0.001)

    def frozen(self) -> bool:
        try:
            return _read(os.path.join(self.path("freezer"), "freezer.state")).strip() == "FROZEN"
        except (OSError, KeyError):
            return False

    def oom_kills(self) -> int:
        if "memory" not in self.mounts:
            return 0
        return _kv(os.path.join(self.path("memory"), "memory.oom_control")).get("oom_kill", 0)

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "memory" in self.mounts:
            m = self.path("memory")
            out["memory"] = {
                "usage": _read_int(os.path.join(m, "memory.usage_in_bytes")) or 0,
                "max_usage": _read_int(os.path.join(m, "memory.max_usage_in_bytes")) or 0,
                "limit": _read_int(os.path.join(m, "memory.limit_in_bytes")) or 0,
                "failcnt": _read_int(os.path.join(m, "memory.failcnt")) or 0,
                "stats": _kv(os.path.join(m, "memory.stat")),
            }
        acct = "cpuacct" if "cpuacct" in self.mounts else None
        if acct:
            c = self.path(acct)
            percpu = []
            try:
                percpu = [int(x) for x in _read(os.path.join(c, "cpuacct.usage_percpu")).split()]
            except OSError:
                pass
            st = _kv(os.path.join(c, "cpuacct.stat"))
            tick = 10_000_000  # USER_HZ=100 → ns per tick
            out["cpu"] = {"usage_total": _read_int(os.path.join(c, "cpuacct.usage")) or 0,
                          "usage_percpu": percpu, "user": st.get("user", 0) * tick,
                          "system": st.get("system", 0) * tick}
        if "cpu" in self.mounts:
            out.setdefault("cpu", {})["throttling"] = _kv(os.path.join(self.path("cpu"), "cpu.stat"))
        if "pids" in self.mounts:
            p = self.path("pids")
            out["pids"] = {"current": _read_int(os.path.join(p, "pids.current")) or 0,
                           "limit": _read_int(os.path.join(p, "pids.max"))}
        return out

    def destroy(self) -> None:
        for ctrl in self.mounts:
            _rmdir_tree(self.path(ctrl))


class V2Cgroup:
    CONTROLLERS = ("cpuset", "cpu", "io", "memory", "pids", "hugetlb")

    def __init__(self, root: str, rel: str, *, controllers: bool = True) -> None:
        self.root = root
        self.rel = rel
        self.controllers = controllers  # False: membership/freezer only (hybrid hosts)

    @property
    def path(self) -> str:
        return os.path.join(self.root, self.rel.lstrip("/"))

    def create(self) -> None:
        if self.controllers:
            self._enable_along_path()
        os.makedirs(self.path, exist_ok=True)

    def _enable_along_path(self) -> None:
        cur = self.root
        for part in [p for p in self.rel.split("/") if p]:
            avail = set()
            try:
                avail = set(_read(os.path.join(cur, "cgroup.controllers")).split())
            except OSError:
                pass
            enabled = set(_read(os.path.join(cur, "cgroup.subtree_control")).split()) if avail else set()
            for c in self.CONTROLLERS:
                if c in avail and c not in enabled:
                    try:
                        _write(os.path.join(cur, "cgroup.subtree_control"), f"+{c}")
                    except CgroupError:
                        pass  # e.g. EBUSY from processes in an inner node: limits then fail loudly
            cur = os.path.join(cur, part)
            os.makedirs(cur, exist_ok=True)

    def add(self, pid: int) -> None:
        _write(os.path.join(self.path, "cgroup.procs"), str(pid))

    def apply(self, res: dict[str, Any]) -> None:
        if not self.controllers:
            return
        for _, name, value in rs.v2_writes(res):
            _write(os.path.join(self.path, name), value)

    def pids(self) -> list[int]:
        try:
            return [int(x) for x in _read(os.path.join(self.path, "cgroup.procs")).split()]
        except OSError:
            return []

    def freeze(self, frozen: bool) -> None:
        _write(os.path.join(self.path, "cgroup.freeze"), "1" if frozen else "0")
        events = os.path.join(self.path, "cgroup.events")
        for _ in range(1000):
            if _kv(events).get("frozen", 0) == (1 if frozen else 0):
                return
            time.sleep(0.001)

    def frozen(self) -> bool:
        return _kv(os.path.join(self.path, "cgroup.events")).get("frozen", 0) == 1

    def oom_kills(self) -> int:
        return _kv(os.path.join(self.path, "memory.events")).get("oom_kill", 0)

    def stats(self) -> dict[str, Any]:
        p = self.path
        mstat = _kv(os.path.join(p, "memory.stat"))
        cstat = _kv(os.path.join(p, "cpu.stat"))
        return {
            "memory": {"usage": _read_int(os.path.join(p, "memory.current")) or 0,
                       "max_usage": _read_int(os.path.join(p, "memory.peak")) or 0,
                       "limit": _read_int(os.path.join(p, "memory.max")) or 0,
                       "failcnt": _kv(os.path.join(p, "memory.events")).get("max", 0),
                       "stats": mstat},
            "cpu": {"usage_total": cstat.get("usage_usec", 0) * 1000, "usage_percpu": [],
                    "user": cstat.get("user_usec", 0) * 1000,
                    "system": cstat.get("system_usec", 0) * 1000, "throttling": cstat},
            "pids": {"current": _read_int(os.path.join(p, "pids.current")) or 0,
                     "limit": _read_int(os.path.join(p, "pids.max"))},
        }

    def destroy(self) -> None:
        _rmdir_tree(self.path)


class Cgroup:
    """One container's cgroup on whatever kind of host this is."""

    def __init__(self, hier: Hierarchies, path: str, *, own: dict[str, str] | None = None) -> None:
        own = own or {}
        self.mode = hier.mode
        self.v1: V1Cgroup | None = None
        self.v2: V2Cgroup | None = None

        def rel(ctrl: str) -> str:
            # Relative paths nest under the caller's own cgroup, as runc's fs driver does.
            return path if path.startswith("/") else os.path.join(own.get(ctrl, "/"), path)

        if hier.v1:
            self.v1 = V1Cgroup(dict(hier.v1), {c: rel(c) for c in hier.v1})
        if hier.unified:
            self.v2 = V2Cgroup(hier.unified, rel(""), controllers=hier.mode == Mode.V2)

    @classmethod
    def from_rels(cls, hier: Hierarchies, rels: dict[str, str]) -> Cgroup:
        """Re-open a cgroup whose per-controller paths were saved (``rels()``)."""
        cg = cls(hier, "/")
        if cg.v1:
            cg.v1.rel = {c: rels.get(c, "/") for c in cg.v1.mounts}
        if cg.v2:
            cg.v2.rel = rels.get("", "/")
        return cg

    def rels(self) -> dict[str, str]:
        out = dict(self.v1.rel) if self.v1 else {}
        if self.v2:
            out[""] = self.v2.rel
        return out

    def create(self) -> None:
        if self.v1:
            self.v1.create()
        if self.v2:
            self.v2.create()

    def add(self, pid: int) -> None:
        if self.v1:
            self.v1.add(pid)
        if self.v2:
            self.v2.add(pid)

    def apply(self, res: dict[str, Any]) -> None:
        if self.v1:
            self.v1.apply(res)
        if self.v2:
            self.v2.apply(res)

    def pids(self) -> list[int]:
        return self.v1.pids() if self.v1 else self.v2.pids() if self.v2 else []

    def freeze(self, frozen: bool) -> None:
        if self.v1 and "freezer" in self.v1.mounts:
            self.v1.freeze(frozen)
        elif self.v2:
            self.v2.freeze(frozen)

    def frozen(self) -> bool:
        if self.v1 and "freezer" in self.v1.mounts:
            return self.v1.frozen()
        return self.v2.frozen() if self.v2 else False

    def oom_kills(self) -> int:
        if self.v1 and "memory" in self.v1.mounts:
            return self.v1.oom_kills()
        return self.v2.oom_kills() if self.v2 else 0

    def stats(self) -> dict[str, Any]:
        if self.v1:
            return self.v1.stats()
        return self.v2.stats() if self.v2 else {}

    def destroy(self) -> None:
        errs = []
        for part in (self.v1, self.v2):
            if part is None:
                continue
            try:
                part.destroy()
            except CgroupError as exc:
                errs.append(exc)
        if errs:
            raise errs[0]

    def paths(self) -> dict[str, str]:
        out = {}
        if self.v1:
            out.update({c: self.v1.path(c) for c in self.v1.mounts})
        if self.v2:
            out[""] = self.v2.path
        return out


def for_container(path: str, *, own_pid: int | str = "self") -> Cgroup:
    from skiff.nodeagent.runtime.cgroups.detect import own_cgroups, read_hierarchies

    return Cgroup(read_hierarchies(), path, own=own_cgroups(own_pid))
