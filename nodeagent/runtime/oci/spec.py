"""Reading and checking an OCI bundle's ``config.json`` (runtime-spec 1.x).

Pure: ``validate`` returns the first problem as a ``SpecError`` naming the JSON
field, so ``skiff runtime create`` fails before anything is made.
"""
from __future__ import annotations

import json
import os
from typing import Any

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup")


class SpecError(ValueError):
    """A field of config.json is missing or wrong; ``field`` is its JSON path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"config.json: {field}: {message}")
        self.field = field


def load_bundle(bundle: str) -> dict[str, Any]:
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            spec = json.load(f)
    except FileNotFoundError:
        raise SpecError("config.json", f"no such file in bundle {bundle!r}") from None
    except ValueError as exc:
        raise SpecError("config.json", f"invalid JSON: {exc}") from None
    validate(spec)
    return spec


def rootfs_path(bundle: str, spec: dict[str, Any]) -> str:
    path = spec["root"]["path"]
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(bundle, path))


def validate(spec: Any) -> None:
    if not isinstance(spec, dict):
        raise SpecError("(root)", "must be a JSON object")
    if not isinstance(spec.get("ociVersion"), str):
        raise SpecError("ociVersion", "required string")
    root = spec.get("root")
    if not isinstance(root, dict) or not isinstance(root.get("path"), str) or not root["path"]:
        raise SpecError("root.path", "required")
    proc = spec.get("process")
    if proc is not None:
        _validate_process(proc, "process")
    for i, m in enumerate(spec.get("mounts") or []):
        dest = m.get("destination") if isinstance(m, dict) else None
        if not isinstance(dest, str) or not dest.startswith("/"):
            raise SpecError(f"mounts[{i}].destination", "must be an absolute path")
    linux = spec.get("linux") or {}
    seen: set[str] = set()
    for i, ns in enumerate(linux.get("namespaces") or []):
        t = ns.get("type")
        if t not in NAMESPACE_TYPES:
            raise SpecError(f"linux.namespaces[{i}].type", f"unknown namespace type {t!r}")
        if t in seen:
            raise SpecError(f"linux.namespaces[{i}].type", f"duplicate namespace {t!r}")
        seen.add(t)
    if "user" in seen:
        raise SpecError("linux.namespaces", "user namespaces are not supported by skiff runtime yet")
    for i, d in enumerate(linux.get("devices") or []):
        if d.get("type") not in ("c", "b", "u", "p") or not str(d.get("path", "")).startswith("/dev/"):
            raise SpecError(f"linux.devices[{i}]", "needs type c|b|u|p and a path under /dev")


def _validate_process(proc: Any, where: str) -> None:
    if not isinstance(proc, dict):
        raise SpecError(where, "must be an object")
    args = proc.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise SpecError(f"{where}.args", "must be a non-empty list of strings")
    cwd = proc.get("cwd", "/")
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise SpecError(f"{where}.cwd", "must be an absolute path")
    user = proc.get("user") or {}
    for key in ("uid", "gid"):
        if not isinstance(user.get(key, 0), int) or user.get(key, 0) < 0:
            raise SpecError(f"{where}.user.{key}", "must be a non-negative integer")
    for i, e in enumerate(proc.get("env") or []):
        if not isinstance(e, str):
            raise SpecError(f"{where}.env[{i}]", "must be a string KEY=VALUE")
    from skiff.nodeagent.runtime.oci.plan import CAPABILITIES, RLIMITS

    for kind, names in (proc.get("capabilities") or {}).items():
        for n in names or []:
            if n not in CAPABILITIES:
                raise SpecError(f"{where}.capabilities.{kind}", f"unknown capability {n!r}")
    for i, r in enumerate(proc.get("rlimits") or []):
        if r.get("type") not in RLIMITS:
            raise SpecError(f"{where}.rlimits[{i}].type", f"unknown rlimit {r.get('type')!r}")


def validate_process(proc: Any) -> None:
    """For ``skiff runtime exec -p process.json``."""
    _validate_process(proc, "process")
