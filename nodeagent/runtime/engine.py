"""The node engine object shared by every Docker Engine API route module.

An :class:`Engine` owns the engine's root directory and configuration and holds
the subsystems: ``images`` (the image store, part 1) and whatever part 2 attaches
(``containers``, networks, volumes, builder). Route modules receive the engine and
read what they need from it; nothing here touches paths outside ``root``.

Extending (for part 2 and later parts):

* attach a subsystem with :meth:`Engine.attach` (``engine.attach("containers", mgr)``),
  then read it back as ``engine.containers`` or ``engine.get("containers")``;
* register async start/stop work with :meth:`Engine.on_startup` /
  :meth:`Engine.on_shutdown` (run in order at start, reverse order at stop);
* contribute fields to ``GET /info`` with :meth:`Engine.add_info_provider`
  (a callable returning a dict merged into the answer, e.g. container counts);
* pull for a caller with no docker CLI (CRI ``PullImage``, ``docker run``'s
  implicit pull done server-side): ``await images.pull.pull(engine.images,
  engine.registries, reference.parse_normalized(text), credentials=...)``;
* tell the image store which images are in use with
  ``engine.images.add_usage_checker(fn)`` (``fn(image_id) -> list[container ids]``)
  so ``docker rmi`` refuses (409) or only untags images that containers use.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from skiff.nodeagent.runtime.images.distribution import Registries
from skiff.nodeagent.runtime.images.store import ImageStore

API_VERSION = "1.45"
MIN_API_VERSION = "1.24"
ENGINE_VERSION = "0.1.0"


@dataclasses.dataclass
class EngineConfig:
    """What ``skiff daemon`` flags (and daemon.json-like settings) decide."""

    root: Path
    host: str = ""
    insecure_registries: list[str] = dataclasses.field(default_factory=list)
    cri_endpoint: str = ""
    # containers' cgroups: relative paths nest under the engine's own cgroup
    cgroup_parent: str = "skiff"
    # default bridge network: "auto" (on unless the engine runs in PID 1's netns), "skiff0", "none"
    bridge: str = "auto"
    # docker config.json-format credentials for pulls that carry none (CRI, restarts)
    registry_auth_file: Path | None = None
    # Docker reads extra CAs from /etc/docker/certs.d/HOST:PORT/ca.crt; same layout.
    certs_dir: Path = Path("/etc/docker/certs.d")

    def is_insecure(self, registry: str) -> bool:
        """Plain HTTP / unverified TLS allowed for ``registry`` (host[:port])?

        As Docker: loopback always; otherwise an exact host:port entry or a CIDR.
        """
        return registry_is_insecure(registry, self.insecure_registries)


def registry_is_insecure(registry: str, insecure: list[str]) -> bool:
    host = registry
    if host.startswith("["):
        host = host[1 : host.index("]")]
    elif host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    if host == "localhost":
        return True
    try:
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        addr = None
    if addr is not None and addr.is_loopback:
        return True
    for entry in insecure:
        if entry in (registry, host):
            return True
        if addr is not None and "/" in entry:
            try:
                if addr in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


Hook = Callable[["Engine"], Awaitable[None]]


class Engine:
    """Root dir, config and subsystems of one running engine."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.root = Path(config.root)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o711)
        self.images = ImageStore(self.root / "image", config=config)
        self.registries = Registries(
            is_insecure=config.is_insecure, certs_dir=config.certs_dir, auth_file=config.registry_auth_file,
        )
        self._subsystems: dict[str, Any] = {}
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._info: list[Callable[[], dict[str, Any]]] = []

    # -- extension points -------------------------------------------------
    def attach(self, name: str, subsystem: Any) -> None:
        self._subsystems[name] = subsystem

    def get(self, name: str, default: Any = None) -> Any:
        return self._subsystems.get(name, default)

    def __getattr__(self, name: str) -> Any:
        subs = self.__dict__.get("_subsystems", {})
        if name in subs:
            return subs[name]
        raise AttributeError(name)

    def on_startup(self, hook: Hook) -> None:
        self._startup.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        self._shutdown.append(hook)

    def add_info_provider(self, fn: Callable[[], dict[str, Any]]) -> None:
        self._info.append(fn)

    def info_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for fn in self._info:
            out.update(fn())
        return out

    # -- lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        await self.images.open()
        for hook in self._startup:
            await hook(self)

    async def stop(self) -> None:
        for hook in reversed(self._shutdown):
            await hook(self)
        await self.images.close()
        await self.registries.close()
