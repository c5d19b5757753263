"""What files a configMap, secret, downwardAPI or projected volume holds (pure).

Each function returns a payload — relative path -> (content, mode) — for
:func:`atomic.write`. ConfigMap and Secret data, and service-account tokens, are handed in:
fetching them is :mod:`.volumes`' job.
"""
from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from .downward import DownwardError, field_value, resource_value

Obj = dict[str, Any]
DEFAULT_MODE = 0o644
Payload = dict[str, tuple[bytes, int]]


class ProjectionError(Exception):
    """A volume's content cannot be made (names the volume and the reason)."""


def _check_path(path: str, what: str) -> None:
    if not path or path.startswith("/") or ".." in path.split("/") or path.startswith(".."):
        raise ProjectionError(f"{what}: item path {path!r} must be relative without '..'")


def object_data(obj: Mapping[str, Any], kind: str) -> dict[str, bytes]:
    """A Secret's (``kind="secret"``) or ConfigMap's data as bytes."""
    if kind == "secret":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    out = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


def key_files(source: Mapping[str, Any], data: Mapping[str, bytes], *, what: str,
              default_mode: int | None = None) -> Payload:
    """A configMap/secret source: every key, or ``items`` (key, path, mode)."""
    mode = int(source.get("defaultMode", default_mode if default_mode is not None else DEFAULT_MODE))
    items = source.get("items")
    if not items:
        return {k: (v, mode) for k, v in data.items()}
    out = {}
    for it in items:
        key = it["key"]
        if key not in data:
            if source.get("optional"):
                continue
            raise ProjectionError(f"{what}: key {key!r} not found")
        path = it.get("path") or key
        _check_path(path, what)
        out[path] = (data[key], int(it.get("mode", mode)))
    return out


def downward_files(items: list[Obj], pod: Obj, *, what: str, default_mode: int, pod_ip: str = "",
                   host_ip: str = "", allocatable: Mapping[str, str] | None = None) -> Payload:
    """A downwardAPI source: each item's fieldRef or resourceFieldRef value at its path."""
    out: Payload = {}
    for i, it in enumerate(items):
        path = str(it.get("path") or "")
        _check_path(path, what)
        try:
            if it.get("fieldRef") is not None:
                value = field_value(pod, str(it["fieldRef"].get("fieldPath", "")), pod_ip=pod_ip, host_ip=host_ip,
                                    whole_maps=True)
            elif it.get("resourceFieldRef") is not None:
                r = it["resourceFieldRef"]
                if not r.get("containerName"):
                    raise DownwardError("resourceFieldRef.containerName is required in a volume")
                value = resource_value(pod, str(r["containerName"]), str(r.get("resource", "")), r.get("divisor"),
                                       allocatable or {})
            else:
                raise DownwardError("one of fieldRef or resourceFieldRef is required")
        except DownwardError as exc:
            raise ProjectionError(f"{what}: items[{i}]: {exc}") from None
        out[path] = (value.encode(), int(it.get("mode", default_mode)))
    return out


def projected_files(volume: Obj, pod: Obj, objects: Mapping[tuple[str, str], Mapping[str, bytes] | None],
                    tokens: Mapping[int, bytes], *, pod_ip: str = "", host_ip: str = "",
                    allocatable: Mapping[str, str] | None = None) -> Payload:
    """A projected volume: its sources merged in order (a later path wins, as in Kubernetes).

    ``objects[(kind, name)]`` is a ConfigMap's or Secret's data (None: it does not exist);
    ``tokens[i]`` the token of the i-th source when it is a serviceAccountToken."""
    src_vol = volume.get("projected") or {}
    mode = int(src_vol.get("defaultMode", DEFAULT_MODE))
    what = f"volume {volume.get('name')!r}"
    out: Payload = {}
    for i, src in enumerate(src_vol.get("sources") or []):
        unknown = sorted(set(src) - {"configMap", "secret", "downwardAPI", "serviceAccountToken"})
        if unknown:
            raise ProjectionError(f"{what}: sources[{i}].{unknown[0]} is not supported yet")
        for kind, key, label in (("configMap", "configMap", "configmap"), ("secret", "secret", "secret")):
            if key not in src:
                continue
            s = src[key] or {}
            data = objects.get((kind, str(s.get("name", ""))))
            if data is None:
                if s.get("optional"):
                    continue
                raise ProjectionError(f'{label} "{s.get("name")}" not found')
            out.update(key_files({**s, "defaultMode": mode}, data, what=f"{what}: {label} {s.get('name')!r}"))
        if "downwardAPI" in src:
            out.update(downward_files((src["downwardAPI"] or {}).get("items") or [], pod, what=what,
                                      default_mode=mode, pod_ip=pod_ip, host_ip=host_ip, allocatable=allocatable))
        if "serviceAccountToken" in src:
            t = src["serviceAccountToken"] or {}
            path = str(t.get("path") or "")
            _check_path(path, what)
            if i not in tokens:
                raise ProjectionError(f"{what}: sources[{i}].serviceAccountToken: no token")
            out[path] = (tokens[i], mode)
    return out


#: the kubelet's token manager: a token is renewed once 80% of its lifetime has passed, or
#: after 24 hours whatever its lifetime
REFRESH_FRACTION = 0.8
MAX_TOKEN_AGE = 24 * 3600


def token_refresh_at(issued: float, expires: float) -> float:
    """When a token issued at ``issued`` (seconds) and expiring at ``expires`` is renewed."""
    return min(issued + REFRESH_FRACTION * max(0.0, expires - issued), issued + MAX_TOKEN_AGE)


def tmpfs_size(pod: Obj, volume: Obj) -> int | None:
    """Bytes for a ``medium: Memory`` emptyDir: its sizeLimit, else the pod's memory limit when
    every container has one (the kubelet's SizeMemoryBackedVolumes); None: the kernel's default."""
    from skiff.api.quantity import parse_quantity

    limit = (volume.get("emptyDir") or {}).get("sizeLimit")
    sizes = []
    if limit not in (None, ""):
        sizes.append(int(parse_quantity(str(limit))))
    containers = (pod.get("spec") or {}).get("containers") or []
    mems = [((c.get("resources") or {}).get("limits") or {}).get("memory") for c in containers]
    if containers and all(m is not None for m in mems):
        sizes.append(sum(int(parse_quantity(str(m))) for m in mems))
    return min(sizes) if sizes else None
