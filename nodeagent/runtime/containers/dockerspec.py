"""Docker's container configuration → OCI runtime spec (pure).

Inputs are the Docker API ``Config`` and ``HostConfig`` objects, the image
config, and facts the manager looked up (resolved user, namespace paths, the
files it wrote for /etc/hosts etc.). Nothing here touches the disk.
"""
from __future__ import annotations

import signal
from typing import Any

from skiff.nodeagent.runtime.oci import cli as runtime_cli
from skiff.nodeagent.runtime.oci.defaults import DEFAULT_PATH, docker_spec
from skiff.nodeagent.runtime.oci.plan import CAPABILITIES, DOCKER_DEFAULT_CAPS


class ConfigError(ValueError):
    """A field of the create request is invalid; the message names it."""


def merge_env(image_env: list[str], env: list[str]) -> list[str]:
    out: dict[str, str] = {}
    order: list[str] = []
    for e in [*image_env, *env]:
        k = e.split("=", 1)[0]
        if k not in out:
            order.append(k)
        out[k] = e
    if "PATH" not in out:
        order.insert(0, "PATH")
        out["PATH"] = DEFAULT_PATH
    return [out[k] for k in order]


def command(config: dict[str, Any], image_config: dict[str, Any]) -> list[str]:
    """Entrypoint + Cmd as Docker combines them (a given Entrypoint resets the image Cmd)."""
    entry = config.get("Entrypoint")
    cmd = config.get("Cmd")
    if entry is None:
        entry = image_config.get("Entrypoint") or []
        if cmd is None:
            cmd = image_config.get("Cmd") or []
    elif cmd is None:
        cmd = []
    if isinstance(entry, str):
        entry = [entry]
    if isinstance(cmd, str):
        cmd = ["/bin/sh", "-c", cmd]
    args = [*(entry or []), *(cmd or [])]
    if not args:
        raise ConfigError("no command specified")
    return args


def normalize_cap(name: str) -> str:
    n = name.upper()
    return n if n.startswith("CAP_") else "CAP_" + n


def capabilities(host: dict[str, Any]) -> list[str]:
    """Docker's default set, minus --cap-drop, plus --cap-add (an add wins over ``drop ALL``)."""
    if host.get("Privileged"):
        return list(CAPABILITIES)
    adds, drops = [], []
    for field, out in (("CapAdd", adds), ("CapDrop", drops)):
        for c in host.get(field) or []:
            if c.upper() == "ALL":
                out.append("ALL")
                continue
            n = normalize_cap(c)
            if n not in CAPABILITIES:
                raise ConfigError(f'invalid {field}: unknown capability: "{n}"')
            out.append(n)
    caps = list(CAPABILITIES) if "ALL" in adds else list(DOCKER_DEFAULT_CAPS)
    caps = [] if "ALL" in drops else [c for c in caps if c not in drops]
    caps += [c for c in dict.fromkeys(adds) if c != "ALL" and c not in caps]
    return caps


def parse_cpu_list(text: str) -> set[int]:
    """``0-2,4`` (cpuset syntax) → {0, 1, 2, 4}; ValueError when malformed."""
    out: set[int] = set()
    for part in text.strip().split(","):
        lo, dash, hi = part.strip().partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise ValueError(text)
        out.update(range(int(lo), int(hi if dash else lo) + 1))
    return out


def check_cpuset(requested: str, online: str) -> None:
    """Docker refuses a cpuset naming CPUs the machine does not have, before creating anything."""
    try:
        want = parse_cpu_list(requested)
    except ValueError:
        raise ConfigError(f"Invalid value {requested} for cpuset cpus") from None
    if online and not want <= parse_cpu_list(online):
        raise ConfigError(f"Requested CPUs are not available - requested {requested}, available: {online.strip()}")


def online_cpus() -> str:
    try:
        with open("/sys/devices/system/cpu/online") as f:
            return f.read().strip()
    except OSError:
        return ""


def resources(host: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    mem = int(host.get("Memory") or 0)
    swap = int(host.get("MemorySwap") or 0)
    if mem and mem < 6 * 1024 * 1024:
        raise ConfigError("Minimum memory limit allowed is 6MB")
    if swap > 0 and mem and swap < mem:
        raise ConfigError("Minimum memoryswap limit should be larger than memory limit, see usage")
    if swap > 0 and not mem:
        raise ConfigError("You should always set the Memory limit when using Memoryswap limit, see usage")
    if mem:
        res["memory"] = {"limit": mem}
        # Docker: MemorySwap 0 means twice the memory, -1 unlimited.
        res["memory"]["swap"] = -1 if swap == -1 else (swap or 2 * mem)
    if host.get("MemoryReservation"):
        res.setdefault("memory", {})["reservation"] = int(host["MemoryReservation"])
    cpu: dict[str, Any] = {}
    nano = int(host.get("NanoCpus") or 0)
    if nano:
        if host.get("CpuQuota") or host.get("CpuPeriod"):
            raise ConfigError("Conflicting options: Nano CPUs and CPU Period cannot both be set")
        import os

        if nano > (os.cpu_count() or 1) * 1_000_000_000:
            raise ConfigError(f"Range of CPUs is from 0.01 to {os.cpu_count()}.00, as there are only "
                              f"{os.cpu_count()} CPUs available")
        cpu["period"] = 100000
        cpu["quota"] = nano * 100000 // 1_000_000_000
    if host.get("CpuQuota"):
        cpu["quota"] = int(host["CpuQuota"])
    if host.get("CpuPeriod"):
        cpu["period"] = int(host["CpuPeriod"])
    if host.get("CpuShares"):
        cpu["shares"] = int(host["CpuShares"])
    if host.get("CpusetCpus"):
        cpu["cpus"] = host["CpusetCpus"]
    if host.get("CpusetMems"):
        cpu["mems"] = host["CpusetMems"]
    if cpu:
        res["cpu"] = cpu
    if host.get("PidsLimit") is not None and int(host.get("PidsLimit") or 0) != 0:
        res["pids"] = {"limit": int(host["PidsLimit"])}
    return res


def parse_signal(value: str | int | None, default: int = signal.SIGTERM) -> int:
    """A signal by number or name (``TERM``, ``SIGTERM``), as the runtime's ``kill`` reads it."""
    if value in (None, ""):
        return default
    try:
        return runtime_cli.parse_signal(str(value))
    except ValueError:
        raise ConfigError(f"Invalid signal: {value}") from None


def build_spec(*, config: dict[str, Any], host: dict[str, Any], image_config: dict[str, Any], rootfs: str,
               hostname: str, uid: int, gid: int, groups: list[int], cgroups_path: str,
               namespaces: dict[str, str | None], extra_mounts: list[dict[str, Any]]) -> dict[str, Any]:
    args = command(config, image_config)
    env = merge_env(image_config.get("Env") or [], config.get("Env") or [])
    cwd = config.get("WorkingDir") or image_config.get("WorkingDir") or "/"
    caps = capabilities(host)
    spec = docker_spec(
        args, rootfs=rootfs, hostname=hostname, env=env, cwd=cwd, uid=uid, gid=gid,
        terminal=bool(config.get("Tty")), caps=caps,
        seccomp=not host.get("Privileged") and "seccomp=unconfined" not in (host.get("SecurityOpt") or []),
        readonly=bool(host.get("ReadonlyRootfs")), cgroups_path=cgroups_path,
        resources=resources(host), namespaces=namespaces,
    )
    spec["process"]["user"]["additionalGids"] = groups
    if host.get("Privileged"):
        spec["linux"]["maskedPaths"] = []
        spec["linux"]["readonlyPaths"] = []
        for m in spec["mounts"]:
            if m["destination"] in ("/sys", "/sys/fs/cgroup"):
                m["options"] = [o for o in m["options"] if o != "ro"]
    if "network" in namespaces and namespaces["network"] is None:
        # With the host's network, a fresh sysfs would show another netns' view: bind the host's.
        for m in spec["mounts"]:
            if m["destination"] == "/sys":
                m.update(type="bind", source="/sys", options=["rbind", "nosuid", "noexec", "nodev", "ro"])
    if config.get("Domainname"):
        spec["domainname"] = config["Domainname"]
    if "no-new-privileges" in (host.get("SecurityOpt") or []) or "no-new-privileges:true" in (host.get("SecurityOpt") or []):
        spec["process"]["noNewPrivileges"] = True
    shm = int(host.get("ShmSize") or 0)
    for m in spec["mounts"]:
        if m["destination"] == "/dev/shm" and shm:
            m["options"] = [o for o in m["options"] if not o.startswith("size=")] + [f"size={shm // 1024}k"]
    spec["mounts"].extend(extra_mounts)
    rl = []
    for u in host.get("Ulimits") or []:
        rl.append({"type": "RLIMIT_" + u["Name"].upper(), "soft": int(u["Soft"]), "hard": int(u["Hard"])})
    if rl:
        spec["process"]["rlimits"] = rl
    if host.get("Sysctls"):
        spec["linux"]["sysctl"] = dict(host["Sysctls"])
    return spec


def parse_user(user: str, passwd: str, group: str) -> tuple[int, int, list[int]]:
    """``-u`` (name|uid[:group|gid]) → uid, gid, supplementary gids, from the image's files."""
    if not user:
        user = "0"
    name, _, grp = user.partition(":")
    uid = gid = None
    home_gid = 0
    for line in passwd.splitlines():
        f = line.split(":")
        if len(f) >= 4 and (f[0] == name or f[2] == name):
            uid, home_gid = int(f[2]), int(f[3])
            break
    if uid is None:
        if not name.isdigit():
            raise ConfigError(f"unable to find user {name}: no matching entries in passwd file")
        uid = int(name)
    gid = home_gid
    if grp:
        gid = None
        for line in group.splitlines():
            f = line.split(":")
            if len(f) >= 3 and (f[0] == grp or f[2] == grp):
                gid = int(f[2])
                break
        if gid is None:
            if not grp.isdigit():
                raise ConfigError(f"unable to find group {grp}: no matching entries in group file")
            gid = int(grp)
    groups = []
    uname = next((line.split(":")[0] for line in passwd.splitlines()
                  if len(line.split(":")) >= 3 and line.split(":")[2] == str(uid)), None)
    if uname:
        for line in group.splitlines():
            f = line.split(":")
            if len(f) >= 4 and uname in f[3].split(",") and int(f[2]) != gid:
                groups.append(int(f[2]))
    return uid, gid, groups
