"""Pod volumes on the node, and the mounts containers get of them.

Kinds: ``emptyDir`` (``medium: Memory`` is a tmpfs, sized by :func:`projections.tmpfs_size`),
``hostPath``, ``configMap``, ``secret``, ``downwardAPI``, ``projected`` and
``persistentVolumeClaim`` (a Bound claim of a hostPath PersistentVolume). Each volume is a
directory the containers bind-mount: ``ROOT/volumes/<pod uid>/<kind>/<name>`` (removed with
the pod), the node's own path for hostPath and claims. The content of the projected kinds
is decided by :mod:`.projections` and written by :func:`atomic.write` (the kubelet's
``..data`` layout), so :meth:`Volumes.refresh` can update a running pod's files in place.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from collections.abc import Mapping
from typing import Any

from skiff.api.resources import find
from skiff.client import ApiError
from skiff.client import requests as rq
from skiff.nodeagent.runtime.cri import api_pb2 as pb

from . import atomic
from .projections import (
    DEFAULT_MODE,
    ProjectionError,
    downward_files,
    key_files,
    object_data,
    projected_files,
    tmpfs_size,
    token_refresh_at,
)

log = logging.getLogger(__name__)
Obj = dict[str, Any]
PVCS = find("persistentvolumeclaims")
PVS = find("persistentvolumes")
SERVICEACCOUNTS = find("serviceaccounts")
KINDS = ("emptyDir", "hostPath", "configMap", "secret", "downwardAPI", "projected", "persistentVolumeClaim")
PROJECTED_KINDS = ("configMap", "secret", "downwardAPI", "projected")
TOKEN_SECONDS = 3600


class VolumeError(Exception):
    """A volume the pod cannot have yet. ``str()`` is the short reason (the container's
    waiting message); :meth:`event` the kubelet's FailedMount text."""

    def __init__(self, message: str, *, volume: str = "", processing: bool = False) -> None:
        super().__init__(message)
        self.volume = volume
        self.processing = processing  # a claim that could not be resolved (before any mount)

    def event(self) -> str:
        if self.processing:
            return (f"Unable to attach or mount volumes: unmounted volumes=[{self.volume}], unattached volumes=[], "
                    f"failed to process volumes=[{self.volume}]: {self}")
        return f'MountVolume.SetUp failed for volume "{self.volume}" : {self}'


def kind_of(volume: Mapping[str, Any]) -> str:
    for k in KINDS:
        if k in volume:
            return k
    others = sorted(k for k in volume if k != "name")
    raise VolumeError(f"volume {volume.get('name')!r}: type {others[0] if others else '?'} is not supported yet",
                      volume=str(volume.get("name", "")))


def volume_paths(pod: Obj, root: str, claims: Mapping[str, str] | None = None) -> dict[str, str]:
    """Volume name -> host path; ``claims`` holds the resolved paths of claim volumes."""
    uid = pod["metadata"]["uid"]
    out = {}
    for v in (pod.get("spec") or {}).get("volumes") or []:
        k = kind_of(v)
        if k == "hostPath":
            out[v["name"]] = v["hostPath"].get("path", "")
        elif k == "persistentVolumeClaim":
            if claims is not None and v["name"] in claims:
                out[v["name"]] = claims[v["name"]]
        else:
            out[v["name"]] = os.path.join(root, uid, k, v["name"])
    return out


def read_only_volumes(pod: Obj) -> set[str]:
    """Volumes every mount of which is read-only (a claim's ``readOnly``)."""
    return {v["name"] for v in (pod.get("spec") or {}).get("volumes") or []
            if (v.get("persistentVolumeClaim") or {}).get("readOnly")}


def container_mounts(c: Obj, paths: Mapping[str, str], read_only: set[str] | frozenset[str] = frozenset()
                     ) -> list[pb.Mount]:
    out = []
    for i, m in enumerate(c.get("volumeMounts") or []):
        base = paths.get(m.get("name", ""))
        if base is None:
            raise VolumeError(f"containers[{c['name']}].volumeMounts[{i}]: no volume named {m.get('name')!r}",
                              volume=str(m.get("name", "")))
        sub = m.get("subPath") or ""
        if sub.startswith("/") or ".." in sub.split("/"):
            raise VolumeError(f"containers[{c['name']}].volumeMounts[{i}].subPath: {sub!r} must be a relative path "
                              "without '..'", volume=str(m.get("name", "")))
        out.append(pb.Mount(container_path=m["mountPath"], host_path=os.path.join(base, sub) if sub else base,
                            readonly=bool(m.get("readOnly")) or m.get("name") in read_only))
    return out


def write_files(directory: str, files: Mapping[str, tuple[bytes, int]]) -> bool:
    """Make the directory hold ``files`` (atomically, in the ``..data`` layout)."""
    return atomic.write(directory, files)


def mounts_under(path: str, mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """Mount points at or below ``path``, deepest first."""
    prefix = os.path.realpath(path).rstrip("/") + "/"
    found = []
    try:
        lines = open(mountinfo).read().splitlines()
    except OSError:
        return []
    for line in lines:
        point = line.split()[4].replace("\\040", " ")
        if (point + "/").startswith(prefix):
            found.append(point)
    return sorted(set(found), key=len, reverse=True)


def _timestamp(text: Any, default: float) -> float:
    try:
        return dt.datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()
    except ValueError:
        return default


def _run(*argv: str) -> None:
    import subprocess

    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise OSError(f"{' '.join(argv)}: {r.stderr.strip()}")


class Volumes:
    def __init__(self, client: Any, root: str, *, objects: Any = None, host_ip: str = "",
                 allocatable: Mapping[str, str] | None = None) -> None:
        from .objects import PodObjects

        self.client = client
        self.root = root
        self.objects = objects if objects is not None else PodObjects(client)  # informer-less: plain GETs
        self.host_ip = host_ip
        self.allocatable = dict(allocatable or {})
        # (pod uid, account, audience, seconds) -> (token, when to renew it): the token manager's cache
        self.tokens: dict[tuple[str, str, str, int], tuple[bytes, float]] = {}
        self.clock = time.time

    def token_refresh_in(self, uid: str) -> float | None:
        """Seconds until the earliest renewal of a token of the pod (None: it has none)."""
        due = [at for (u, *_), (_, at) in self.tokens.items() if u == uid]
        return max(1.0, min(due) - self.clock()) if due else None

    async def prepare(self, pod: Obj, *, pod_ip: str = "") -> tuple[dict[str, str], set[str]]:
        """Make every volume of the pod ready; (volume name -> host path, read-only volumes)."""
        claims = {}
        for v in (pod.get("spec") or {}).get("volumes") or []:
            if kind_of(v) == "persistentVolumeClaim":
                claims[v["name"]] = await self._claim_path(pod, v)
        paths = volume_paths(pod, self.root, claims)
        for v in (pod.get("spec") or {}).get("volumes") or []:
            k, path = kind_of(v), paths[v["name"]]
            if k == "emptyDir":
                self._empty_dir(pod, v, path)
            elif k == "hostPath":
                self._host_path(v, path)
            elif k in PROJECTED_KINDS:
                await self._project(pod, v, path, pod_ip=pod_ip)
        return paths, read_only_volumes(pod)

    async def refresh(self, pod: Obj, *, pod_ip: str = "") -> list[str]:
        """Rewrite the projected kinds of a running pod whose sources changed; the names of the
        volumes that changed. A source that went missing leaves the files as they were."""
        changed = []
        paths = volume_paths(pod, self.root, {})
        for v in (pod.get("spec") or {}).get("volumes") or []:
            k = kind_of(v)
            if k not in PROJECTED_KINDS or not os.path.isdir(paths[v["name"]]):
                continue
            try:
                if await self._project(pod, v, paths[v["name"]], pod_ip=pod_ip):
                    changed.append(v["name"])
            except (VolumeError, ApiError, OSError) as exc:
                log.info("pod %s: volume %s not refreshed: %s", pod["metadata"].get("name"), v["name"], exc)
        return changed

    # -- kinds ---------------------------------------------------------------
    def _empty_dir(self, pod: Obj, v: Obj, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        if (v["emptyDir"] or {}).get("medium") != "Memory":
            os.chmod(path, 0o777)
            return
        if os.path.ismount(path):
            return
        size = tmpfs_size(pod, v)
        opts = "mode=0777" + (f",size={size}" if size else "")
        try:
            _run("mount", "-t", "tmpfs", "-o", opts, "tmpfs", path)
        except OSError as exc:
            raise VolumeError(str(exc), volume=v["name"]) from None

    @staticmethod
    def _host_path(v: Obj, path: str, source: Obj | None = None) -> None:
        src = source if source is not None else v["hostPath"]
        kind = src.get("type") or ""
        if kind in ("", "DirectoryOrCreate") and not os.path.lexists(path):  # "" creates, as Docker's -v does
            os.makedirs(path, exist_ok=True)
        elif kind == "FileOrCreate" and not os.path.exists(path):
            os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
            open(path, "a").close()
        elif kind in ("Directory", "File") and not (os.path.isdir(path) if kind == "Directory"
                                                     else os.path.isfile(path)):
            raise VolumeError(f"hostPath type check failed: {path} is not a {kind.lower()}", volume=v["name"])

    async def _claim_path(self, pod: Obj, v: Obj) -> str:
        """The host path of a claim's PersistentVolume; the kubelet's messages when it has none."""
        ns = pod["metadata"].get("namespace") or "default"
        claim = str((v["persistentVolumeClaim"] or {}).get("claimName", ""))

        def fail(why: str) -> VolumeError:
            return VolumeError(f"error processing PVC {ns}/{claim}: {why}", volume=v["name"], processing=True)

        try:
            pvc = await self.client.get(PVCS, claim, namespace=ns)
        except ApiError as exc:
            why = f'persistentvolumeclaims "{claim}" not found' if exc.code == 404 else exc.message
            raise fail(f"failed to fetch PVC from API server: {why}") from None
        if (pvc.get("metadata") or {}).get("deletionTimestamp"):
            raise fail("can not start pod using a PVC that is being deleted")
        pv_name = (pvc.get("spec") or {}).get("volumeName") or ""
        if (pvc.get("status") or {}).get("phase") != "Bound" or not pv_name:
            raise fail("PVC is not bound")
        try:
            pv = await self.client.get(PVS, pv_name)
        except ApiError as exc:
            raise fail(f"failed to fetch PV {pv_name} from API server: {exc.message}") from None
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        if ref.get("uid") and ref.get("uid") != pvc["metadata"].get("uid"):
            raise fail(f"pv.Spec.ClaimRef.UID {ref.get('uid')} does not match pvc UID {pvc['metadata'].get('uid')}")
        host = (pv.get("spec") or {}).get("hostPath")
        if not host or not host.get("path"):
            raise fail(f"PersistentVolume {pv_name}: only hostPath volumes can be mounted by this node")
        self._host_path(v, str(host["path"]), host)
        return str(host["path"])

    async def _data(self, kind: str, ns: str, name: str) -> dict[str, bytes] | None:
        obj = await self.objects.get(kind, ns, name)
        return None if obj is None else object_data(obj, kind)

    async def _project(self, pod: Obj, v: Obj, path: str, *, pod_ip: str) -> bool:
        ns = pod["metadata"].get("namespace") or "default"
        name, k = v["name"], kind_of(v)
        try:
            if k == "downwardAPI":
                src = v["downwardAPI"] or {}
                files = downward_files(src.get("items") or [], pod, what=f"volume {name!r}",
                                       default_mode=int(src.get("defaultMode", DEFAULT_MODE)), pod_ip=pod_ip,
                                       host_ip=self.host_ip, allocatable=self.allocatable)
            elif k == "projected":
                files = await self._projected(pod, v, ns, pod_ip=pod_ip)
            else:
                src = v[k] or {}
                ref = str(src.get("name") if k == "configMap" else src.get("secretName"))
                data = await self._data(k, ns, ref)
                if data is None:
                    if not src.get("optional"):
                        raise VolumeError(f'{"configmap" if k == "configMap" else "secret"} "{ref}" not found',
                                          volume=name)
                    data = {}
                files = key_files(src, data, what=f'volume {name!r}: {k} "{ref}"')
        except ProjectionError as exc:
            raise VolumeError(str(exc), volume=name) from None
        try:
            return write_files(path, files)
        except (OSError, atomic.PayloadError) as exc:
            raise VolumeError(f"write {path}: {exc}", volume=name) from None

    async def _projected(self, pod: Obj, v: Obj, ns: str, *, pod_ip: str) -> dict[str, tuple[bytes, int]]:
        data: dict[tuple[str, str], dict[str, bytes] | None] = {}
        tokens: dict[int, bytes] = {}
        for i, src in enumerate((v["projected"] or {}).get("sources") or []):
            for kind in ("configMap", "secret"):
                if kind in src:
                    ref = str((src[kind] or {}).get("name", ""))
                    data[(kind, ref)] = await self._data(kind, ns, ref)
            if "serviceAccountToken" in src:
                tokens[i] = await self._token(pod, src["serviceAccountToken"] or {}, volume=v["name"])
        return projected_files(v, pod, data, tokens, pod_ip=pod_ip, host_ip=self.host_ip,
                               allocatable=self.allocatable)

    async def _token(self, pod: Obj, src: Obj, *, volume: str) -> bytes:
        """A bound service-account token from the API server's TokenRequest API, cached until
        80% of its lifetime has passed (:func:`token_refresh_at`), as the kubelet's token manager."""
        m = pod["metadata"]
        sa = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        seconds = int(src.get("expirationSeconds") or TOKEN_SECONDS)
        key = (str(m.get("uid")), str(sa), str(src.get("audience") or ""), seconds)
        cached = self.tokens.get(key)
        now = self.clock()
        if cached is not None and now < cached[1]:
            return cached[0]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
            "audiences": [src["audience"]] if src.get("audience") else [],
            "expirationSeconds": seconds,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": m.get("name"), "uid": m.get("uid")}}}
        try:
            # a create with a name: rq.build's CREATE takes the name from the body, so the path is made here
            path = rq.resource_path(SERVICEACCOUNTS, namespace=m.get("namespace"), name=sa, subresource="token")
            resp = await self.client.send(rq.Request("POST", path, {}, {"Accept": rq.JSON, "Content-Type": rq.JSON},
                                                     rq.encode_body(body)))
        except ApiError as exc:
            raise VolumeError(f'failed to fetch token for service account "{sa}": {exc.message}',
                              volume=volume) from None
        token = ((resp or {}).get("status") or {}).get("token")
        if not token:
            raise VolumeError(f'failed to fetch token for service account "{sa}": empty TokenRequest status',
                              volume=volume)
        expires = _timestamp(((resp or {}).get("status") or {}).get("expirationTimestamp"), now + seconds)
        self.tokens[key] = (str(token).encode(), token_refresh_at(now, expires))
        return str(token).encode()

    def remove(self, uid: str) -> None:
        for key in [k for k in self.tokens if k[0] == uid]:
            del self.tokens[key]
        base = os.path.join(self.root, uid)
        for point in mounts_under(base):
            try:
                _run("umount", "-l", point)
            except OSError as exc:
                log.warning("volume of pod %s: %s", uid, exc)
        if mounts_under(base):
            log.warning("pod %s: volumes still mounted, left in place", uid)
            return
        shutil.rmtree(base, ignore_errors=True)
