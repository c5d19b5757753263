"""Copying build sources into a mounted rootfs (COPY/ADD), and WORKDIR's directory.

Every path written is resolved inside the rootfs (``secure_join``), so a symlink
in the image never leads a copy out of it. Copied entries get the ``--chown``
owner (root by default), keep their mode and mtime; missing parent directories
are made 0755 with the same owner, as dockerd does.
"""
from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path

from skiff.nodeagent.runtime.build.copyspec import CopyError
from skiff.nodeagent.runtime.oci.plan import secure_join


def chown_ids(spec: str, passwd: str, group: str) -> tuple[int, int]:
    """``--chown=user[:group]`` from the image's files; a lone user gives gid = uid."""
    user, _, grp = spec.partition(":")

    def lookup(name: str, table: str, what: str) -> int:
        if name.isdigit():
            return int(name)
        for line in table.splitlines():
            f = line.split(":")
            if len(f) >= 3 and f[0] == name:
                return int(f[2])
        raise CopyError(f"unable to convert uid/gid chown string to host mapping: can't find {what} for "
                        f"{'user' if what == 'uid' else 'group'} {name}: no such "
                        f"{'user' if what == 'uid' else 'group'}: {name}")

    uid = lookup(user, passwd, "uid")
    gid = lookup(grp, group, "gid") if grp else uid
    return uid, gid


def read_file(rootfs: Path, path: str) -> str:
    try:
        with open(secure_join(str(rootfs), path)) as f:
            return f.read()
    except OSError:
        return ""


def is_dir(rootfs: Path, path: str) -> bool:
    return os.path.isdir(secure_join(str(rootfs), path))


def make_dirs(rootfs: Path, path: str, *, uid: int = 0, gid: int = 0) -> str:
    """``mkdir -p`` inside the rootfs; the new directories get the owner. Returns the host path."""
    parts = [p for p in path.split("/") if p]
    cur = "/"
    for p in parts:
        cur = os.path.join(cur, p)
        full = secure_join(str(rootfs), cur)
        if os.path.isdir(full):
            continue
        if os.path.lexists(full):
            raise CopyError(f"mkdir {cur}: not a directory")
        os.mkdir(full, 0o755)
        os.chown(full, uid, gid)
    return secure_join(str(rootfs), path)


def _copy_entry(src: str, dst: str, uid: int, gid: int) -> None:
    st = os.lstat(src)
    if stat.S_ISDIR(st.st_mode):
        if os.path.lexists(dst) and not os.path.isdir(dst):
            os.unlink(dst)
        if not os.path.isdir(dst):
            os.mkdir(dst, 0o755)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    else:
        if os.path.isdir(dst) and not os.path.islink(dst):
            shutil.rmtree(dst)
        elif os.path.lexists(dst):
            os.unlink(dst)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
        elif stat.S_ISREG(st.st_mode):
            shutil.copyfile(src, dst, follow_symlinks=False)
            os.chmod(dst, stat.S_IMODE(st.st_mode))
        elif stat.S_ISFIFO(st.st_mode):
            os.mkfifo(dst, stat.S_IMODE(st.st_mode))
        else:
            return  # sockets and devices are not copied
    os.lchown(dst, uid, gid)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def copy_path(rootfs: Path, src: Path, dest: str, *, uid: int, gid: int) -> None:
    """A file to the path ``dest``, or a directory's contents into the directory ``dest``."""
    parent = os.path.dirname(dest.rstrip("/")) or "/"
    make_dirs(rootfs, parent, uid=uid, gid=gid)
    if src.is_dir() and not src.is_symlink():
        top = secure_join(str(rootfs), dest)
        if not os.path.isdir(top):
            make_dirs(rootfs, dest, uid=uid, gid=gid)
        dir_times: list[tuple[str, str]] = []
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, src)
            for name in sorted(dirnames) + sorted(filenames):
                rel = name if rel_dir == "." else os.path.join(rel_dir, name)
                s = os.path.join(dirpath, name)
                d = secure_join(str(rootfs), os.path.join(dest, rel))
                _copy_entry(s, d, uid, gid)
                if name in dirnames and not os.path.islink(s):
                    dir_times.append((s, d))
        for s, d in reversed(dir_times):  # after their contents were written
            st = os.lstat(s)
            os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
        return
    _copy_entry(str(src), secure_join(str(rootfs), dest), uid, gid)


def is_archive(path: Path) -> bool:
    """What ADD unpacks: a local tar, plain or gzip/bzip2/xz compressed (judged by content)."""
    if not path.is_file() or path.is_symlink():
        return False
    try:
        with tarfile.open(path, "r:*") as tar:
            tar.next()
        return True
    except (tarfile.TarError, EOFError, OSError):
        return False


def extract_archive(rootfs: Path, archive: Path, dest: str, *, workdir: Path) -> None:
    """ADD of a local tar: unpacked into the directory ``dest``, owners and modes kept."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        try:
            with tarfile.open(archive, "r:*") as tar:
                tar.extractall(tmp, filter=_archive_filter)
        except (tarfile.TarError, EOFError) as exc:
            raise CopyError(f"ADD failed: extracting {archive.name}: {exc}") from None
        make_dirs(rootfs, dest)
        for dirpath, dirnames, filenames in os.walk(tmp):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, tmp)
            for name in sorted(dirnames) + sorted(filenames):
                rel = name if rel_dir == "." else os.path.join(rel_dir, name)
                s = os.path.join(dirpath, name)
                st = os.lstat(s)
                _copy_entry(s, secure_join(str(rootfs), os.path.join(dest, rel)), st.st_uid, st.st_gid)


def _archive_filter(m: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    if m.isdev():
        return None
    safe = tarfile.tar_filter(m, path)
    return safe.replace(mode=m.mode & 0o7777, deep=False)
