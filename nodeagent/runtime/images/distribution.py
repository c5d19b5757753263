"""Registry clients per (registry, credentials), sharing one HTTP session."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from skiff.nodeagent.runtime.images import reference as refs
from skiff.nodeagent.runtime.images.auth import Credentials
from skiff.nodeagent.runtime.images.registry import RegistryClient


class Registries:
    def __init__(self, *, is_insecure: Any, certs_dir: Path | None = None) -> None:
        self._is_insecure = is_insecure
        self._certs_dir = certs_dir
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, connect=30, sock_read=300),
                trust_env=False,
            )
        return self._session

    def client(self, domain: str, credentials: Credentials | None = None) -> RegistryClient:
        host = refs.registry_host(domain)
        ca = None
        if self._certs_dir is not None:
            ca = self._certs_dir / domain / "ca.crt"
        return RegistryClient(
            self.session, host, insecure=bool(self._is_insecure(domain)),
            credentials=credentials, ca_file=ca,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
