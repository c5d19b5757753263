"""System endpoints: ``/_ping``, ``/version``, ``/info``, ``/auth``."""
from __future__ import annotations

import os
import platform
import socket
from typing import Any

from aiohttp import web

from skiff.nodeagent.runtime import engine as engine_mod
from skiff.nodeagent.runtime.dockerapi.errors import json_response
from skiff.nodeagent.runtime.engine import Engine

_PING_HEADERS = {
    "API-Version": engine_mod.API_VERSION,
    "Builder-Version": "1",
    "Docker-Experimental": "false",
    "OSType": "linux",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
}

GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x"}


def go_arch() -> str:
    m = platform.machine()
    return GO_ARCH.get(m, m)


def version_body() -> dict[str, Any]:
    uname = os.uname()
    details = {
        "ApiVersion": engine_mod.API_VERSION,
        "Arch": go_arch(),
        "BuildTime": "",
        "Experimental": "false",
        "GitCommit": "skiff",
        "GoVersion": f"python{platform.python_version()}",
        "KernelVersion": uname.release,
        "MinAPIVersion": engine_mod.MIN_API_VERSION,
        "Os": "linux",
    }
    return {
        "Platform": {"Name": "Skiff Engine"},
        "Components": [{"Name": "Engine", "Version": engine_mod.ENGINE_VERSION, "Details": details}],
        "Version": engine_mod.ENGINE_VERSION,
        **{k: v for k, v in details.items() if k != "Experimental"},
    }


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def info_body(engine: Engine) -> dict[str, Any]:
    uname = os.uname()
    cfg = engine.config
    body: dict[str, Any] = {
        "ID": engine.images.engine_id(),
        "Containers": 0,
        "ContainersRunning": 0,
        "ContainersPaused": 0,
        "ContainersStopped": 0,
        "Images": len(engine.images.list_images()),
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Log": ["json-file"]},
        "MemoryLimit": True,
        "SwapLimit": False,
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "CPUSet": True,
        "PidsLimit": True,
        "IPv4Forwarding": True,
        "Debug": False,
        "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": 1,
        "SystemTime": __import__("datetime").datetime.now().astimezone().isoformat(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1",
        "NEventsListener": 0,
        "KernelVersion": uname.release,
        "OperatingSystem": _os_name(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"] + [r for r in cfg.insecure_registries if "/" in r],
            "IndexConfigs": {
                "docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": True, "Official": True},
                **{
                    r: {"Name": r, "Mirrors": [], "Secure": False, "Official": False}
                    for r in cfg.insecure_registries
                    if "/" not in r
                },
            },
            "Mirrors": [],
        },
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _mem_total(),
        "DockerRootDir": str(engine.root),
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": socket.gethostname(),
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": engine_mod.ENGINE_VERSION,
        "Runtimes": {"runc": {"path": "runc"}},
        "DefaultRuntime": "runc",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": False,
        "Isolation": "",
        "InitBinary": "",
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "Warnings": None,
    }
    body.update(engine.info_fields())
    return body


def _os_name() -> str:
    try:
        with open("/etc/os-release") as fh:
            for line in fh:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def routes(engine: Engine) -> list[web.RouteDef]:
    async def ping(request: web.Request) -> web.Response:
        body = "" if request.method == "HEAD" else "OK"
        return web.Response(text=body, content_type="text/plain", headers=_PING_HEADERS)

    async def version(request: web.Request) -> web.Response:
        return json_response(version_body())

    async def info(request: web.Request) -> web.Response:
        return json_response(info_body(engine))

    return [
        web.get("/_ping", ping, allow_head=False),
        web.head("/_ping", ping),
        web.get("/version", version),
        web.get("/info", info),
    ]
