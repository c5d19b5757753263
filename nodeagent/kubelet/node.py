"""The Node this agent registers: its object, its status and the machine facts behind them.

:func:`machine_facts` reads the machine (CPUs, memory from /proc/meminfo, the root's
disk, kernel, OS, ids) once; :func:`node_status` is pure over those facts and the
runtime's readiness.
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from skiff.machinery.objects import fmt_time

Obj = dict[str, Any]
KUBELET_VERSION = "v1.30.0-skiff"
KUBELET_PORT = 10250
MAX_PODS = 110


@dataclass(frozen=True)
class Facts:
    cpus: int
    memory_kib: int
    disk_bytes: int
    kernel: str
    os_image: str
    machine_id: str
    boot_id: str
    arch: str = "amd64"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _mem_kib(meminfo: str) -> int:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _os_image(os_release: str) -> str:
    for line in os_release.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "Linux"


def machine_facts(root: str) -> Facts:
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    disk = shutil.disk_usage(root).total if os.path.isdir(root) else 0
    return Facts(cpus=len(os.sched_getaffinity(0)), memory_kib=_mem_kib(_read("/proc/meminfo")), disk_bytes=disk,
                 kernel=platform.release(), os_image=_os_image(_read("/etc/os-release")),
                 machine_id=_read("/etc/machine-id"), boot_id=_read("/proc/sys/kernel/random/boot_id"), arch=arch)


def node_ip() -> str:
    """The first global IPv4 address of this network namespace ('' when none)."""
    out = subprocess.run(["ip", "-o", "-4", "addr", "show", "scope", "global"], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            return parts[parts.index("inet") + 1].split("/")[0]
    return ""


def node_object(name: str, facts: Facts, *, labels: dict[str, str] | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                  "kubernetes.io/arch": facts.arch, **(labels or {})}},
            "spec": {}}


def capacity(facts: Facts) -> dict[str, str]:
    return {"cpu": str(facts.cpus), "memory": f"{facts.memory_kib}Ki", "pods": str(MAX_PODS),
            "ephemeral-storage": f"{facts.disk_bytes // 1024}Ki"}


MAX_IMAGES = 50  # the kubelet's --node-status-max-images


def node_images(images: list[tuple[list[str], int]], limit: int = MAX_IMAGES) -> list[Obj]:
    """``status.images`` as the kubelet reports it: the biggest first, at most ``limit``, each
    with its names (tags and digests) and size. ``images``: (names, size in bytes)."""
    ranked = sorted((i for i in images if i[0]), key=lambda i: -i[1])[:limit]
    return [{"names": names, "sizeBytes": size} for names, size in ranked]


def node_status(name: str, facts: Facts, *, ip: str, now: datetime, runtime: str, runtime_version: str,
                network_ready: bool, port: int = KUBELET_PORT) -> Obj:
    stamp = fmt_time(now)

    def cond(ctype: str, status: str, reason: str, message: str) -> Obj:
        return {"type": ctype, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}

    ready = cond("Ready", "True", "KubeletReady", "kubelet is posting ready status") if network_ready else \
        cond("Ready", "False", "KubeletNotReady", "container runtime network not ready: NetworkReady=false")
    addresses = ([{"type": "InternalIP", "address": ip}] if ip else []) + [{"type": "Hostname", "address": name}]
    return {
        "capacity": capacity(facts), "allocatable": capacity(facts),
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ready,
        ],
        "addresses": addresses,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        "nodeInfo": {"machineID": facts.machine_id, "systemUUID": facts.machine_id, "bootID": facts.boot_id,
                     "kernelVersion": facts.kernel, "osImage": facts.os_image,
                     "containerRuntimeVersion": f"{runtime}://{runtime_version}",
                     "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                     "operatingSystem": "linux", "architecture": facts.arch},
    }
