"""Registry credentials for an image from the pod's ``imagePullSecrets`` (pure).

Secrets of type ``kubernetes.io/dockerconfigjson`` (``.dockerconfigjson``: ``{"auths":
{KEY: {...}}}``) and ``kubernetes.io/dockercfg`` (``.dockercfg``: ``{KEY: {...}}``) make a
keyring as the kubelet's ``credentialprovider`` does: a key is a registry host (with a
port, ``*.`` wildcards per label, an optional scheme and path prefix); an image matches a
key when its registry host matches and its repository path starts with the key's path.
Docker Hub images (no registry in the name) match ``index.docker.io``/``docker.io`` keys.
The matching credentials are tried in order, most specific first.
"""
from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
DOCKER_HUB = "index.docker.io"
TYPES = {"kubernetes.io/dockerconfigjson": ".dockerconfigjson", "kubernetes.io/dockercfg": ".dockercfg"}


class PullSecretError(ValueError):
    """A pull secret whose content cannot be read (names the secret)."""


@dataclass(frozen=True)
class Auth:
    """One registry credential, the fields of CRI's ``AuthConfig``."""

    key: str  # the keyring entry it came from
    username: str = ""
    password: str = ""
    auth: str = ""
    identity_token: str = ""
    registry_token: str = ""


def split_key(key: str) -> tuple[str, str]:
    """(host[:port], path prefix) of a keyring key."""
    rest = key.split("://", 1)[-1].rstrip("/")
    host, _, path = rest.partition("/")
    if path in ("v1", "v2"):
        path = ""
    host = host.lower()
    return (DOCKER_HUB if host in ("docker.io", "registry-1.docker.io") else host), path


def image_location(image: str) -> tuple[str, str]:
    """(registry host[:port], repository path) of an image reference."""
    name = image.split("@", 1)[0]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, path = first.lower(), rest
    else:
        host, path = DOCKER_HUB, name if rest else f"library/{name}"
    if host in ("docker.io", "registry-1.docker.io"):
        host = DOCKER_HUB
    last = path.rsplit("/", 1)
    if ":" in last[-1]:
        path = path.rsplit(":", 1)[0]
    return host, path


def _host_matches(pattern: str, host: str) -> bool:
    p_host, _, p_port = pattern.partition(":")
    h_host, _, h_port = host.partition(":")
    if p_port != h_port:
        return False
    p_labels, h_labels = p_host.split("."), h_host.split(".")
    return len(p_labels) == len(h_labels) and all(fnmatch.fnmatchcase(h, p) for p, h in zip(p_labels, h_labels))


def matches(key: str, image: str) -> bool:
    k_host, k_path = split_key(key)
    i_host, i_path = image_location(image)
    if not _host_matches(k_host, i_host):
        return False
    return not k_path or i_path == k_path or i_path.startswith(k_path.rstrip("/") + "/")


def secret_auths(secret: Obj) -> dict[str, Obj]:
    """The ``auths`` of a docker config secret ({} for a secret of another type)."""
    stype = str(secret.get("type") or "")
    field = TYPES.get(stype)
    name = (secret.get("metadata") or {}).get("name")
    if field is None:
        return {}
    raw = (secret.get("data") or {}).get(field)
    if raw is None:
        raise PullSecretError(f'secret "{name}": data[{field}] is missing')
    try:
        doc = json.loads(base64.b64decode(raw))
    except (binascii.Error, ValueError) as exc:
        raise PullSecretError(f'secret "{name}": data[{field}] is not valid JSON: {exc}') from None
    auths = doc.get("auths") if stype == "kubernetes.io/dockerconfigjson" else doc
    if not isinstance(auths, dict):
        raise PullSecretError(f'secret "{name}": data[{field}] has no auths')
    return {str(k): v for k, v in auths.items() if isinstance(v, dict)}


def _auth(key: str, entry: Obj) -> Auth:
    user, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    token = str(entry.get("auth") or "")
    if token and not user:
        try:
            user, _, password = base64.b64decode(token).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            pass
    return Auth(key=key, username=user, password=password, auth=token,
                identity_token=str(entry.get("identitytoken") or ""),
                registry_token=str(entry.get("registrytoken") or ""))


def credentials_for(image: str, secrets: list[Obj]) -> list[Auth]:
    """The credentials to try for ``image``, most specific key first (the secrets' order
    breaks ties), without duplicates."""
    found: list[tuple[int, int, Auth]] = []
    for order, secret in enumerate(secrets):
        for key, entry in secret_auths(secret).items():
            if matches(key, image):
                host, path = split_key(key)
                found.append((-(len(host) + len(path)), order, _auth(key, entry)))
    out: list[Auth] = []
    for _, _, a in sorted(found, key=lambda x: (x[0], x[1])):
        if all((a.username, a.password, a.identity_token, a.registry_token) !=
               (b.username, b.password, b.identity_token, b.registry_token) for b in out):
            out.append(a)
    return out
