"""Pod volumes on the node: emptyDir, hostPath, configMap, secret (and their mounts).

Each volume is a directory the containers bind-mount: ``emptyDir`` and the projected
kinds live under ``ROOT/volumes/<pod uid>/<kind>/<name>`` (removed with the pod);
``hostPath`` is the node's own path. What files a configMap or secret volume holds is
decided purely (:func:`projected_files`, with ``items`` and ``defaultMode``); writing them
and reading the objects is :class:`Volumes`' job. ``medium: Memory`` is a plain directory
for now (no tmpfs is mounted).
"""
from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Mapping
from typing import Any

from skiff.api.resources import find
from skiff.client import ApiError
from skiff.nodeagent.runtime.cri import api_pb2 as pb

Obj = dict[str, Any]
CONFIGMAPS = find("configmaps")
SECRETS = find("secrets")
DEFAULT_MODE = 0o644


class VolumeError(Exception):
    """A volume the pod cannot have yet (names the volume and the reason)."""


def kind_of(volume: Mapping[str, Any]) -> str:
    for k in ("emptyDir", "hostPath", "configMap", "secret"):
        if k in volume:
            return k
    others = sorted(k for k in volume if k != "name")
    raise VolumeError(f"volume {volume.get('name')!r}: type {others[0] if others else '?'} is not supported yet")


def volume_paths(pod: Obj, root: str) -> dict[str, str]:
    uid = pod["metadata"]["uid"]
    out = {}
    for v in (pod.get("spec") or {}).get("volumes") or []:
        k = kind_of(v)
        out[v["name"]] = (v["hostPath"].get("path", "") if k == "hostPath"
                          else os.path.join(root, uid, k, v["name"]))
    return out


def container_mounts(c: Obj, paths: Mapping[str, str]) -> list[pb.Mount]:
    out = []
    for i, m in enumerate(c.get("volumeMounts") or []):
        base = paths.get(m.get("name", ""))
        if base is None:
            raise VolumeError(f"containers[{c['name']}].volumeMounts[{i}]: no volume named {m.get('name')!r}")
        sub = m.get("subPath") or ""
        if sub.startswith("/") or ".." in sub.split("/"):
            raise VolumeError(f"containers[{c['name']}].volumeMounts[{i}].subPath: {sub!r} must be a relative path "
                              "without '..'")
        out.append(pb.Mount(container_path=m["mountPath"], host_path=os.path.join(base, sub) if sub else base,
                            readonly=bool(m.get("readOnly"))))
    return out


def projected_files(source: Mapping[str, Any], data: Mapping[str, bytes], *, what: str) -> dict[str, tuple[bytes, int]]:
    """Relative path -> (content, mode) for a configMap/secret volume source."""
    mode = int(source.get("defaultMode", DEFAULT_MODE))
    items = source.get("items")
    if not items:
        return {k: (v, mode) for k, v in data.items()}
    out = {}
    for it in items:
        key = it["key"]
        if key not in data:
            if source.get("optional"):
                continue
            raise VolumeError(f"{what}: key {key!r} not found")
        path = it.get("path") or key
        if path.startswith("/") or ".." in path.split("/"):
            raise VolumeError(f"{what}: item path {path!r} must be relative without '..'")
        out[path] = (data[key], int(it.get("mode", mode)))
    return out


def object_data(obj: Mapping[str, Any], kind: str) -> dict[str, bytes]:
    if kind == "secret":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    out = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


def write_files(directory: str, files: Mapping[str, tuple[bytes, int]]) -> None:
    """Replace the directory's content with ``files`` (written aside, then swapped in)."""
    tmp = directory + ".new"
    shutil.rmtree(tmp, ignore_errors=True)
    for rel, (content, mode) in files.items():
        path = os.path.join(tmp, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, mode)
    os.makedirs(tmp, exist_ok=True)
    old = directory + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.isdir(directory):
        os.rename(directory, old)
    os.rename(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


class Volumes:
    def __init__(self, client: Any, root: str) -> None:
        self.client = client
        self.root = root

    async def prepare(self, pod: Obj) -> dict[str, str]:
        """Make every volume of the pod ready; returns volume name -> host path."""
        paths = volume_paths(pod, self.root)
        ns = pod["metadata"].get("namespace")
        for v in (pod.get("spec") or {}).get("volumes") or []:
            k, path = kind_of(v), paths[v["name"]]
            if k == "emptyDir":
                os.makedirs(path, exist_ok=True)
            elif k == "hostPath":
                self._host_path(v, path)
            else:
                src = v[k]
                ref = src.get("name") if k == "configMap" else src.get("secretName")
                what = f'volume {v["name"]!r}: {k} "{ref}"'
                try:
                    obj = await self.client.get(CONFIGMAPS if k == "configMap" else SECRETS, ref, namespace=ns)
                except ApiError as exc:
                    if exc.code != 404:
                        raise
                    if not src.get("optional"):
                        raise VolumeError(f'{"configmap" if k == "configMap" else "secret"} "{ref}" not found') \
                            from None
                    obj = {}
                write_files(path, projected_files(src, object_data(obj, k.lower()), what=what))
        return paths

    @staticmethod
    def _host_path(v: Obj, path: str) -> None:
        kind = v["hostPath"].get("type") or ""
        if kind in ("", "DirectoryOrCreate") and not os.path.lexists(path):  # "" creates, as Docker's -v does
            os.makedirs(path, exist_ok=True)
        elif kind == "FileOrCreate" and not os.path.exists(path):
            os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
            open(path, "a").close()
        elif kind in ("Directory", "File") and not (os.path.isdir(path) if kind == "Directory"
                                                     else os.path.isfile(path)):
            raise VolumeError(f"volume {v['name']!r}: hostPath {path} is not a {kind.lower()}")

    def remove(self, uid: str) -> None:
        shutil.rmtree(os.path.join(self.root, uid), ignore_errors=True)
