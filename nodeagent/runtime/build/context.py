"""The build context on disk: unpacking the uploaded tar, .dockerignore, source hashes.

The context is unpacked into a private directory of the engine; nothing in it
is trusted (absolute names, ``..`` and links that leave it are refused).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

from skiff.nodeagent.runtime.build.dockerignore import Matcher, read_patterns


class ContextError(ValueError):
    pass


def unpack(fileobj: BinaryIO, dest: Path) -> None:
    """A (possibly gzip/bzip2/xz compressed) tar stream into ``dest``, modes kept."""
    def member_filter(m: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        if m.isdev():
            return None
        # A symlink may point anywhere (COPY copies it as a link); what is checked is that no
        # member is written through one: tar_filter resolves each name on disk (realpath).
        probe = m.replace(linkname="x", deep=False) if m.issym() else m
        try:
            safe = tarfile.tar_filter(probe, path)  # refuses absolute names, '..', escaping hard links
        except tarfile.FilterError as exc:
            raise ContextError(f"invalid build context: {exc}") from None
        return safe.replace(mode=m.mode & 0o7777, uid=0, gid=0, uname="", gname="", linkname=m.linkname,
                            deep=False)

    try:
        # a seekable file (the spooled body) is read randomly: hard links need to look back
        with tarfile.open(fileobj=fileobj, mode="r:*" if fileobj.seekable() else "r|*") as tar:
            tar.extractall(dest, filter=member_filter)
    except tarfile.ReadError as exc:
        if "empty file" in str(exc):
            return  # an empty body is an empty context
        raise ContextError(f"invalid build context: {exc}") from None
    except (tarfile.TarError, EOFError) as exc:
        raise ContextError(f"invalid build context: {exc}") from None


def walk(root: Path) -> list[str]:
    """Every path under ``root``, relative and slash-separated, parents first, sorted."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            out.append(name if rel == "." else f"{rel}/{name}")
    return sorted(out, key=lambda p: p.split("/"))


def apply_dockerignore(root: Path, *, keep: set[str]) -> int:
    """Remove what ``.dockerignore`` excludes (``keep``: the Dockerfile and .dockerignore,
    which dockerd reads before it applies the patterns). Returns how many paths went."""
    try:
        text = (root / ".dockerignore").read_text()
    except OSError:
        return 0
    m = Matcher(read_patterns(text))
    if not m.patterns:
        return 0
    removed = 0
    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        rel_dir = os.path.relpath(dirpath, root)
        for name in list(dirnames) + filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            full = os.path.join(dirpath, name)
            if rel in keep or not m.excluded(rel):
                continue
            if name in dirnames and not os.path.islink(full):
                if m.has_exceptions and m.may_contain_exceptions(rel):
                    continue  # look inside: an exception may re-include part of it
                shutil.rmtree(full)
                dirnames.remove(name)
            else:
                os.unlink(full)
            removed += 1
    return removed


def _entry_hash(path: str, rel: str) -> str:
    st = os.lstat(path)
    h = hashlib.sha256()
    # mode, type, size, link target and content: a touched but unchanged file keeps the cache
    h.update(f"{rel}\0{stat.S_IMODE(st.st_mode):o}\0{stat.S_IFMT(st.st_mode):o}\0".encode())
    if stat.S_ISLNK(st.st_mode):
        h.update(os.readlink(path).encode())
    elif stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def source_hash(path: Path) -> str:
    """``file:<hex>`` or ``dir:<hex>`` of a COPY source, as dockerd names them in history."""
    if path.is_dir() and not path.is_symlink():
        h = hashlib.sha256()
        for rel in walk(path):
            h.update(rel.encode() + b"\0" + _entry_hash(str(path / rel), rel).encode())
        return "dir:" + h.hexdigest()
    return "file:" + _entry_hash(str(path), path.name)
