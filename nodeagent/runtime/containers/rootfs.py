"""A container's root filesystem: overlayfs of the image layers plus its own upper dir.

Layout under ``<root>/overlay2/<id>/``: ``diff`` (upper, the container's changes),
``work``, ``merged`` (the mount point), ``lower`` (the lowerdir string), as
Docker's overlay2 driver keeps them. Mounting happens in the engine's mount
namespace, only under the engine root.
"""
from __future__ import annotations

import ctypes
import os
import shutil
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH = 2


class RootfsError(OSError):
    pass


class Rootfs:
    def __init__(self, base: Path, cid: str) -> None:
        self.dir = base / cid
        self.upper = self.dir / "diff"
        self.work = self.dir / "work"
        self.merged = self.dir / "merged"
        self.lower_file = self.dir / "lower"

    def prepare(self, layer_dirs: list[Path]) -> None:
        for d in (self.upper, self.work, self.merged):
            d.mkdir(parents=True, exist_ok=True)
        # overlayfs wants the topmost layer first; an image with no layers gets an empty one.
        lowers = [str(p) for p in reversed(layer_dirs)]
        if not lowers:
            empty = self.dir / "empty"
            empty.mkdir(exist_ok=True)
            lowers = [str(empty)]
        self.lower_file.write_text(":".join(lowers))

    def mounted(self) -> bool:
        try:
            with open("/proc/self/mountinfo") as f:
                target = str(self.merged)
                return any(line.split()[4] == target for line in f)
        except OSError:
            return False

    def mount(self) -> Path:
        if self.mounted():
            return self.merged
        data = f"lowerdir={self.lower_file.read_text()},upperdir={self.upper},workdir={self.work}"
        if len(data) > 4000:
            raise RootfsError(f"overlay mount options too long ({len(data)} bytes) for {self.dir.name}")
        rc = _libc.mount(b"overlay", str(self.merged).encode(), b"overlay", 0, data.encode())
        if rc != 0:
            err = ctypes.get_errno()
            raise RootfsError(err, f"mount overlay on {self.merged}: {os.strerror(err)}")
        return self.merged

    def unmount(self) -> None:
        if self.mounted():
            if _libc.umount2(str(self.merged).encode(), MNT_DETACH) != 0:
                err = ctypes.get_errno()
                raise RootfsError(err, f"umount {self.merged}: {os.strerror(err)}")

    def remove(self) -> None:
        self.unmount()
        shutil.rmtree(self.dir, ignore_errors=True)
