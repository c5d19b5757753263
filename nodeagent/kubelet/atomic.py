"""Atomic writes of a volume's files, in the layout of the kubelet's ``AtomicWriter``.

The target directory (bind-mounted into containers, so never replaced itself) holds::

    ..2026_12_02_13_30_00.123456789/   the current payload, written whole
    ..data -> ..2026_12_02_13_30_00.123456789
    key -> ..data/key                   one symlink per top-level name

An update writes a new timestamped directory, points ``..data_tmp`` at it, renames that
over ``..data`` (one ``rename(2)``: a reader sees the old payload or the new one, never a
mix), then fixes the top-level symlinks and removes the old directory. A payload equal to
what is there writes nothing.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping

DATA = "..data"
DATA_TMP = "..data_tmp"
Payload = Mapping[str, tuple[bytes, int]]  # relative path -> (content, mode)


class PayloadError(ValueError):
    """A payload path that would escape the volume or clash with its bookkeeping."""


def validate_path(rel: str) -> None:
    parts = rel.split("/")
    if not rel or rel.startswith("/") or ".." in parts or rel.startswith(".."):
        raise PayloadError(f"invalid path {rel!r}: must be relative, without '..' and not start with '..'")


def _current(target: str) -> str | None:
    try:
        return os.path.join(target, os.readlink(os.path.join(target, DATA)))
    except OSError:
        return None


def _read(ts_dir: str) -> dict[str, tuple[bytes, int]]:
    out: dict[str, tuple[bytes, int]] = {}
    for root, _dirs, files in os.walk(ts_dir):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, ts_dir)] = (fh.read(), os.stat(p).st_mode & 0o7777)
    return out


def _top(paths: Payload | set[str]) -> set[str]:
    return {p.split("/", 1)[0] for p in paths}


def write(target: str, payload: Payload) -> bool:
    """Make ``target`` hold exactly ``payload``; True when anything changed."""
    for rel in payload:
        validate_path(rel)
    os.makedirs(target, exist_ok=True)
    old = _current(target)
    if old is not None and os.path.isdir(old) and _read(old) == {k: (v[0], v[1] & 0o7777) for k, v in payload.items()}:
        return False
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    new = tempfile.mkdtemp(prefix=stamp, dir=target)
    os.chmod(new, 0o755)
    for rel, (content, mode) in payload.items():
        path = os.path.join(new, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, mode)
    tmp = os.path.join(target, DATA_TMP)
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.basename(new), tmp)
    os.rename(tmp, os.path.join(target, DATA))
    wanted = _top(payload)
    for name in wanted:
        link = os.path.join(target, name)
        if os.path.islink(link):
            continue
        if os.path.isdir(link):  # a plain directory from an older layout
            shutil.rmtree(link)
        elif os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.join(DATA, name), link)
    for name in os.listdir(target):
        if name.startswith(".."):
            continue
        link = os.path.join(target, name)
        if name not in wanted:
            if os.path.isdir(link) and not os.path.islink(link):
                shutil.rmtree(link)
            else:
                os.unlink(link)
    for name in os.listdir(target):
        if name.startswith("..") and name not in (DATA, os.path.basename(new)):
            path = os.path.join(target, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
    return True
