"""Registry clients per (registry, credentials), sharing one HTTP session.

Credentials come with each request (the docker CLI's ``X-Registry-Auth``); when a
request carries none, an optional ``auth_file`` in ``~/.docker/config.json``
format (``{"auths": {"HOST:PORT": {"auth": base64(user:pass)}}}``) supplies them,
for pulls the engine makes on its own behalf (CRI, restarts).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from skiff.nodeagent.runtime.images import reference as refs
from skiff.nodeagent.runtime.images.auth import Credentials, credentials_from_docker_config
from skiff.nodeagent.runtime.images.registry import RegistryClient


class Registries:
    def __init__(self, *, is_insecure: Any, certs_dir: Path | None = None,
                 auth_file: Path | None = None) -> None:
        self._is_insecure = is_insecure
        self._certs_dir = certs_dir
        self._auth_file = auth_file
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
        if credentials is None and self._auth_file is not None and self._auth_file.exists():
            import orjson

            key = "https://index.docker.io/v1/" if domain == refs.DEFAULT_DOMAIN else domain
            credentials = credentials_from_docker_config(orjson.loads(self._auth_file.read_bytes()), key)
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
