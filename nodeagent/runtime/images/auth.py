"""Registry credentials and auth challenges (pure functions, no I/O).

* :func:`decode_registry_auth` reads the docker CLI's ``X-Registry-Auth`` header
  (base64url JSON of ``{username, password, serveraddress, identitytoken}``);
  :func:`decode_registry_config` reads ``docker build``'s ``X-Registry-Config``
  (a map of registry -> auth config) for ``FROM`` pulls.
* :func:`parse_challenges` reads ``WWW-Authenticate`` (``Bearer realm=..,service=..,
  scope=..`` or ``Basic realm=..``).
* :func:`credentials_from_docker_config` reads ``~/.docker/config.json``-format
  ``auths`` entries, for pulls that carry no header.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from typing import Any

import orjson


@dataclasses.dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclasses.dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic"
    params: dict[str, str]


def _b64decode_any(text: str) -> bytes:
    s = text.strip().replace("-", "+").replace("_", "/")
    s += "=" * (-len(s) % 4)
    return base64.b64decode(s)


def decode_registry_auth(header: str | None) -> Credentials | None:
    """``X-Registry-Auth`` to credentials; ``None`` when absent or empty ``{}``.

    Raises ValueError with Docker's wording when the header is malformed.
    """
    if not header:
        return None
    try:
        data = orjson.loads(_b64decode_any(header))
    except (binascii.Error, orjson.JSONDecodeError, ValueError) as exc:
        raise ValueError("invalid X-Registry-Auth header: " + str(exc)) from exc
    if not isinstance(data, dict):
        raise ValueError("invalid X-Registry-Auth header: not an object")
    return credentials_from_auth_config(data)


def decode_registry_config(header: str | None) -> dict[str, Credentials]:
    """``X-Registry-Config`` (sent by ``docker build``): base64url JSON mapping
    registry address -> auth config. Keys are normalised to ``host[:port]``."""
    if not header:
        return {}
    try:
        data = orjson.loads(_b64decode_any(header))
    except (binascii.Error, orjson.JSONDecodeError, ValueError) as exc:
        raise ValueError("invalid X-Registry-Config header: " + str(exc)) from exc
    out: dict[str, Credentials] = {}
    for key, cfg in (data or {}).items():
        creds = credentials_from_auth_config(cfg) if isinstance(cfg, dict) else None
        if creds is None:
            continue
        host = key.split("://", 1)[-1].split("/", 1)[0]
        out["docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host] = creds
    return out


def credentials_from_auth_config(data: dict[str, Any]) -> Credentials | None:
    user = str(data.get("username") or "")
    password = str(data.get("password") or "")
    if not user and data.get("auth"):
        user, _, password = _b64decode_any(str(data["auth"])).decode().partition(":")
    creds = Credentials(
        username=user, password=password,
        identity_token=str(data.get("identitytoken") or ""),
        registry_token=str(data.get("registrytoken") or ""),
    )
    return None if creds.empty else creds


def credentials_from_docker_config(config: dict[str, Any], registry: str) -> Credentials | None:
    auths = config.get("auths") or {}
    for key in (registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"):
        if key in auths:
            return credentials_from_auth_config(auths[key])
    return None


_PARAM_RE = re.compile(r'([A-Za-z0-9_\-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenges(header: str) -> list[Challenge]:
    """Parse one ``WWW-Authenticate`` value into challenges, scheme lower-cased."""
    out: list[Challenge] = []
    for m in re.finditer(r"(?:^|,)\s*([A-Za-z]+)\s+((?:[^,]+=\s*(?:\"(?:[^\"\\\\]|\\\\.)*\"|[^\s,]*)\s*,?\s*)*)", header):
        scheme = m.group(1).lower()
        params = {
            pm.group(1).lower(): (pm.group(2) if pm.group(2) is not None else pm.group(3)).replace('\\"', '"')
            for pm in _PARAM_RE.finditer(m.group(2))
        }
        out.append(Challenge(scheme=scheme, params=params))
    if not out and header.strip():
        out.append(Challenge(scheme=header.strip().split()[0].lower(), params={}))
    return out


def repository_scope(path: str, actions: str) -> str:
    return f"repository:{path}:{actions}"
