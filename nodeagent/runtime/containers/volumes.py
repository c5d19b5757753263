"""Volumes: bind mounts and the ``local`` driver's named and anonymous volumes.

Named volumes live in ``<root>/volumes/<name>/_data`` with their metadata beside
it in ``volume.json`` (Docker keeps the same ``_data`` layout). ``mount_points``
turns a create request's ``Binds``, ``Mounts`` and ``Volumes`` into the
container's ``MountPoints`` (pure apart from the volumes it creates); the
manager bind-mounts them into the bundle. At create, a volume (named or anonymous)
mounted over a directory of the image gets that directory's content while the
volume is still empty, as Docker copies it (``copy_image_content``); ``nocopy``
(``-v name:/dst:nocopy``, ``--mount ...,volume-nocopy``) and bind mounts skip it.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import secrets
import shutil
import stat
from pathlib import Path
from typing import Any

VALID_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


class VolumeError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class VolumeStore:
    def __init__(self, root: Path) -> None:
        self.dir = root / "volumes"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _meta(self, name: str) -> Path:
        return self.dir / name / "volume.json"

    def exists(self, name: str) -> bool:
        return self._meta(name).exists()

    def get(self, name: str) -> dict[str, Any]:
        try:
            return json.loads(self._meta(name).read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            raise VolumeError(f"get {name}: no such volume", 404) from None

    def list(self) -> list[dict[str, Any]]:
        out = []
        for d in sorted(self.dir.iterdir()):
            try:
                out.append(json.loads((d / "volume.json").read_text()))
            except (OSError, ValueError):
                continue
        return out

    def create(self, name: str | None = None, *, labels: dict[str, str] | None = None,
               driver: str = "local", anonymous: bool = False) -> dict[str, Any]:
        if driver not in ("", "local"):
            raise VolumeError(f"error looking up volume plugin {driver}: plugin \"{driver}\" not found", 404)
        if name and not VALID_NAME.match(name):
            raise VolumeError(f'create {name}: "{name}" includes invalid characters for a local volume name, '
                              "only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host "
                              "directory, use absolute path")
        name = name or secrets.token_hex(32)
        if self.exists(name):
            return self.get(name)  # Docker: creating an existing volume returns it
        data = self.dir / name / "_data"
        data.mkdir(parents=True)
        vol = {
            "Name": name, "Driver": "local", "Mountpoint": str(data), "Scope": "local", "Options": None,
            "Labels": {**(labels or {}), **({"com.docker.volume.anonymous": ""} if anonymous else {})} or None,
            "CreatedAt": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        tmp = self._meta(name).with_suffix(".tmp")
        tmp.write_text(json.dumps(vol))
        os.replace(tmp, self._meta(name))
        return vol

    def remove(self, name: str, *, users: list[str], force: bool = False) -> None:
        if not self.exists(name):
            if force:
                return
            raise VolumeError(f"get {name}: no such volume", 404)
        if users:
            raise VolumeError(f"remove {name}: volume is in use - [{', '.join(users)}]", 409)
        shutil.rmtree(self.dir / name)


def _split_bind(spec: str) -> tuple[str, str, str]:
    parts = spec.split(":")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        # "/ctr:ro" is not a thing; "src:/dst" is
        return parts[0], parts[1], ""
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise VolumeError(f"invalid volume specification: '{spec}'")


def parse_bind(spec: str) -> dict[str, Any]:
    """``-v`` syntax → a mount point (no side effects)."""
    src, dst, mode = _split_bind(spec)
    if not dst.startswith("/"):
        raise VolumeError(f"invalid volume specification: '{spec}': invalid mount config for type \"volume\": "
                          f"invalid mount path: '{dst}' mount path must be absolute")
    opts = [o for o in mode.split(",") if o] if mode else []
    for o in opts:
        if o not in ("ro", "rw", "z", "Z", "nocopy", "private", "rprivate", "shared", "rshared", "slave",
                     "rslave"):
            raise VolumeError(f"invalid mode: {mode}")
    rw = "ro" not in opts
    if src.startswith("/"):
        return {"Type": "bind", "Source": os.path.normpath(src), "Destination": dst, "RW": rw, "Mode": mode,
                "Propagation": "rprivate"}
    return {"Type": "volume", "Name": src, "Source": "", "Destination": dst, "RW": rw, "Mode": mode,
            "Propagation": "", "CopyData": "nocopy" not in opts}


def parse_mount(m: dict[str, Any]) -> dict[str, Any]:
    """``--mount`` (HostConfig.Mounts) → a mount point."""
    kind = m.get("Type") or "volume"
    dst = m.get("Target") or ""
    if not dst.startswith("/"):
        raise VolumeError(f"invalid mount config for type \"{kind}\": invalid mount path: '{dst}' mount path "
                          "must be absolute")
    rw = not m.get("ReadOnly")
    if kind == "bind":
        src = m.get("Source") or ""
        if not src.startswith("/"):
            raise VolumeError(f"invalid mount config for type \"bind\": invalid mount path: '{src}' "
                              "mount path must be absolute")
        if not os.path.exists(src):
            raise VolumeError(f"invalid mount config for type \"bind\": bind source path does not exist: {src}")
        return {"Type": "bind", "Source": os.path.normpath(src), "Destination": dst, "RW": rw, "Mode": "",
                "Propagation": "rprivate"}
    if kind == "volume":
        nocopy = bool((m.get("VolumeOptions") or {}).get("NoCopy"))
        return {"Type": "volume", "Name": m.get("Source") or "", "Source": "", "Destination": dst, "RW": rw,
                "Mode": "", "Propagation": "", "CopyData": not nocopy}
    raise VolumeError(f"mount type {kind!r} is not supported")


def _copy_up(rfs: Any, points: list[dict[str, Any]]) -> None:
    """The image's content at each destination into its volume, through the container's
    overlay mounted for the while (whiteouts and opaque layers resolved by the kernel)."""
    was_mounted = rfs.mounted()
    merged = rfs.mount()
    try:
        for mp in points:
            copy_image_content(Path(merged), mp["Destination"], Path(mp["Source"]))
    finally:
        if not was_mounted:
            rfs.unmount()


def copy_image_content(rootfs: Path, destination: str, volume: Path) -> bool:
    """Docker's copy-up: only into an empty volume, only from a directory of the image.

    Files keep their mode, owner, times and hard links; the volume's top directory
    takes the owner and mode of the image's. Answers whether anything was copied.
    """
    from skiff.nodeagent.runtime.oci.plan import secure_join

    src = Path(secure_join(str(rootfs), destination))
    if not src.is_dir() or src.is_symlink() or any(volume.iterdir()):
        return False
    links: dict[tuple[int, int], Path] = {}
    for dirpath, dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        for name in sorted(dirnames + filenames):
            _copy_entry(Path(dirpath) / name, volume / rel / name, links)
    st = src.lstat()
    os.chown(volume, st.st_uid, st.st_gid)
    os.chmod(volume, stat.S_IMODE(st.st_mode))
    # Directory times last: writing into a directory changes its mtime.
    for dirpath, dirnames, _ in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        for name in dirnames:
            s = (Path(dirpath) / name).lstat()
            if stat.S_ISDIR(s.st_mode):
                os.utime(volume / rel / name, ns=(s.st_atime_ns, s.st_mtime_ns))
    return True


def _copy_entry(src: Path, dst: Path, links: dict[tuple[int, int], Path]) -> None:
    st = src.lstat()
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        dst.mkdir()
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(mode) and st.st_nlink > 1 and (st.st_dev, st.st_ino) in links:
        os.link(links[(st.st_dev, st.st_ino)], dst)
        return
    elif stat.S_ISREG(mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
        if st.st_nlink > 1:
            links[(st.st_dev, st.st_ino)] = dst
    elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        os.mknod(dst, mode, st.st_rdev)
    else:
        return  # sockets are not content
    os.lchown(dst, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(mode):
        os.chmod(dst, stat.S_IMODE(mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


class VolumeSupport:
    """The manager's ``volumes`` hook: mount points at create, anonymous volumes at rm -v."""

    def __init__(self, store: VolumeStore, containers: Any) -> None:
        self.store = store
        self.containers = containers

    def users(self, name: str) -> list[str]:
        return [cid for cid, r in self.containers.containers.items()
                if any(mp.get("Name") == name for mp in r.get("MountPoints") or [])]

    def plan(self, body: dict[str, Any], host: dict[str, Any], image_volumes: dict[str, Any]) -> list[dict[str, Any]]:
        """Parse everything first, so a bad spec creates nothing."""
        points: dict[str, dict[str, Any]] = {}
        for spec in host.get("Binds") or []:
            mp = parse_bind(spec)
            points[mp["Destination"]] = mp
        for m in host.get("Mounts") or []:
            mp = parse_mount(m)
            if mp["Destination"] in points:
                raise VolumeError(f"Duplicate mount point: {mp['Destination']}")
            points[mp["Destination"]] = mp
        for dst in {**image_volumes, **(body.get("Volumes") or {})}:
            if dst not in points:
                points[dst] = {"Type": "volume", "Name": "", "Source": "", "Destination": dst, "RW": True,
                               "Mode": "", "Propagation": "", "CopyData": True}
        return list(points.values())

    async def mounts_for(self, rec: dict[str, Any], rfs: Any) -> list[dict[str, Any]]:
        img = self.containers.images.get(rec["Image"])
        planned = self.plan(rec["Config"], rec["HostConfig"], (img.config.get("config") or {}).get("Volumes") or {})
        for mp in planned:
            if mp["Type"] == "bind":
                os.makedirs(mp["Source"], exist_ok=True)  # -v creates a missing host dir, as Docker
            else:
                anonymous = not mp["Name"]
                vol = self.store.create(mp["Name"] or None, anonymous=anonymous)
                mp.update(Name=vol["Name"], Source=vol["Mountpoint"], Driver="local", Anonymous=anonymous)
        copies = [mp for mp in planned if mp["Type"] == "volume" and mp.get("CopyData")]
        if copies and rfs is not None:
            await asyncio.to_thread(_copy_up, rfs, copies)
        return planned

    async def release(self, rec: dict[str, Any], *, remove_anonymous: bool) -> None:
        if not remove_anonymous:
            return
        for mp in rec.get("MountPoints") or []:
            if mp.get("Anonymous") and mp.get("Name"):
                others = [c for c in self.users(mp["Name"]) if c != rec["Id"]]
                if not others:
                    try:
                        self.store.remove(mp["Name"], users=[])
                    except VolumeError:
                        pass
