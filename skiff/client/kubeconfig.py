"""Read kubeconfig files the way kubectl does, and resolve one context into connection settings.

Sources, in kubectl's order: an explicit path (``--kubeconfig``), else ``$KUBECONFIG`` (a
colon-separated list merged file by file: the first file to define a named cluster, user
or context, or ``current-context``, wins), else ``~/.kube/config``. Resolution picks the
context (``--context`` or ``current-context``) and returns a ``ClientConfig`` holding
plain values (server URL, CA bytes, token, client cert/key bytes, namespace). Reading
files happens here; building TLS contexts and talking to servers does not.
"""
from __future__ import annotations

import base64
import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_NAMESPACE = "default"


class KubeconfigError(Exception):
    """A kubeconfig that cannot be used; the message is the one kubectl would show."""


@dataclass(frozen=True)
class ClientConfig:
    """Everything needed to reach one API server as one user."""

    server: str
    namespace: str = DEFAULT_NAMESPACE
    ca_data: bytes | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    token: str | None = None
    username: str | None = None
    password: str | None = None
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    context: str | None = None
    cluster: str | None = None
    user: str | None = None
    #: true when namespace came from the context (or an override), not the default
    namespace_explicit: bool = False


@dataclass
class Kubeconfig:
    """A merged kubeconfig: ``data`` has kubectl's shape; ``files`` are the sources, in order."""

    data: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    #: for each named entry ("clusters", name) the file that defined it (relative paths resolve there)
    origin: dict[tuple[str, str], Path] = field(default_factory=dict)

    @property
    def current_context(self) -> str:
        return str(self.data.get("current-context") or "")

    def named(self, section: str, name: str) -> dict[str, Any] | None:
        key = {"clusters": "cluster", "users": "user", "contexts": "context"}[section]
        for entry in self.data.get(section) or []:
            if entry.get("name") == name:
                return dict(entry.get(key) or {})
        return None

    def resolve(self, *, context: str | None = None, cluster: str | None = None, user: str | None = None,
                namespace: str | None = None, server: str | None = None, token: str | None = None,
                insecure_skip_tls_verify: bool | None = None) -> ClientConfig:
        """Turn the chosen context (plus command-line overrides) into a ``ClientConfig``."""
        ctx_name = context or self.current_context
        ctx: dict[str, Any] = {}
        if ctx_name:
            found = self.named("contexts", ctx_name)
            if found is None:
                if context:
                    raise KubeconfigError(f'context "{ctx_name}" does not exist')
                raise KubeconfigError(f'context was not found for specified context: {ctx_name}')
            ctx = found
        cluster_name = cluster or ctx.get("cluster") or ""
        user_name = user or ctx.get("user") or ""
        cl: dict[str, Any] = {}
        if cluster_name:
            found = self.named("clusters", cluster_name)
            if found is None:
                raise KubeconfigError(f'cluster "{cluster_name}" does not exist')
            cl = found
        us: dict[str, Any] = self.named("users", user_name) or {} if user_name else {}
        srv = server or cl.get("server")
        if not srv:
            raise KubeconfigError("invalid configuration: no configuration has been provided, "
                                  "try setting KUBERNETES_MASTER environment variable")
        cl_base = self.origin.get(("clusters", cluster_name))
        us_base = self.origin.get(("users", user_name))
        tok = token or us.get("token")
        if not tok and us.get("tokenFile"):
            tok = _read(us["tokenFile"], us_base, "tokenFile").decode().strip()
        ns = namespace or ctx.get("namespace")
        insecure = bool(cl.get("insecure-skip-tls-verify")) if insecure_skip_tls_verify is None \
            else insecure_skip_tls_verify
        return ClientConfig(
            server=str(srv).rstrip("/"),
            namespace=ns or DEFAULT_NAMESPACE,
            namespace_explicit=bool(ns),
            ca_data=None if insecure else _data_or_file(cl, "certificate-authority", cl_base),
            insecure_skip_tls_verify=insecure,
            tls_server_name=cl.get("tls-server-name"),
            token=tok or None,
            username=us.get("username"),
            password=us.get("password"),
            client_cert_data=_data_or_file(us, "client-certificate", us_base),
            client_key_data=_data_or_file(us, "client-key", us_base),
            context=ctx_name or None,
            cluster=cluster_name or None,
            user=user_name or None,
        )


def _read(path: str, base: Path | None, what: str) -> bytes:
    p = Path(os.path.expanduser(path))
    if not p.is_absolute() and base is not None:
        p = base.parent / p
    try:
        return p.read_bytes()
    except OSError as e:
        raise KubeconfigError(f"unable to read {what} {p}: {e.strerror}") from e


def _data_or_file(section: Mapping[str, Any], key: str, base: Path | None) -> bytes | None:
    data = section.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(data)
        except ValueError as e:
            raise KubeconfigError(f"{key}-data: illegal base64 data") from e
    if section.get(key):
        return _read(str(section[key]), base, key)
    return None


def default_paths(*, explicit: str | None = None, env: Mapping[str, str] | None = None) -> list[Path]:
    """The files kubectl would read, in precedence order (an explicit path must exist)."""
    env = os.environ if env is None else env
    if explicit:
        return [Path(explicit)]
    if env.get("KUBECONFIG"):
        return [Path(p) for p in env["KUBECONFIG"].split(os.pathsep) if p]
    home = env.get("HOME") or os.path.expanduser("~")
    return [Path(home) / ".kube" / "config"]


def merge(docs: list[tuple[Path, dict[str, Any]]]) -> Kubeconfig:
    """Merge parsed files as kubectl does: the first definition of each name wins."""
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "preferences": {},
                           "clusters": [], "users": [], "contexts": [], "current-context": ""}
    origin: dict[tuple[str, str], Path] = {}
    for path, doc in docs:
        if not out["current-context"] and doc.get("current-context"):
            out["current-context"] = doc["current-context"]
        for section in ("clusters", "users", "contexts"):
            for entry in doc.get(section) or []:
                name = (entry or {}).get("name")
                if name is None or (section, name) in origin:
                    continue
                origin[(section, name)] = path
                out[section].append(copy.deepcopy(entry))
        if doc.get("preferences") and not out["preferences"]:
            out["preferences"] = copy.deepcopy(doc["preferences"])
    return Kubeconfig(out, [p for p, _ in docs], origin)


def load(path: str | None = None, *, env: Mapping[str, str] | None = None) -> Kubeconfig:
    """Read and merge the kubeconfig files; missing files in ``$KUBECONFIG`` are skipped like kubectl."""
    paths = default_paths(explicit=path, env=env)
    docs: list[tuple[Path, dict[str, Any]]] = []
    for p in paths:
        if not p.exists():
            if path:
                raise KubeconfigError(f"stat {p}: no such file or directory")
            continue
        try:
            doc = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise KubeconfigError(f"error loading config file \"{p}\": {e}") from e
        except OSError as e:
            raise KubeconfigError(f"error loading config file \"{p}\": {e.strerror}") from e
        if not isinstance(doc, dict):
            raise KubeconfigError(f"error loading config file \"{p}\": not a kubeconfig mapping")
        docs.append((p, doc))
    kc = merge(docs)
    kc.files = paths
    return kc


def load_client_config(path: str | None = None, *, context: str | None = None,
                       namespace: str | None = None, env: Mapping[str, str] | None = None) -> ClientConfig:
    """Shortcut: load the files and resolve one context."""
    return load(path, env=env).resolve(context=context, namespace=namespace)
