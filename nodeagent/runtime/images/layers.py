"""Layer tars <-> overlayfs-ready directories, refusing unsafe archives.

:func:`unpack_layer` reads a (gzip / plain) layer tar as a stream and writes its
files under ``dest``, converting Docker/OCI whiteouts to overlayfs' form
(``.wh.NAME`` -> a 0/0 character device, ``.wh..wh..opq`` -> the
``trusted.overlay.opaque=y`` xattr). It returns the diff ID (sha256 of the
uncompressed tar) and the size of the files. It refuses absolute paths, ``..``,
device nodes, writes through symlinks and links that leave the root; the caller
unpacks into a fresh temporary directory and deletes it on error, so a bad layer
never reaches the store.

:func:`write_layer_tar` goes the other way (``docker commit``/``build``): it tars
a directory, turning overlayfs whiteouts back into ``.wh.`` entries.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO

from skiff.nodeagent.runtime.images.errors import BadContent

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_CHUNK = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class _HashingReader(io.RawIOBase):
    """Counts and hashes what tarfile reads (the uncompressed tar = the diff ID)."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.sha = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        if data:
            self.sha.update(data)
            self.count += len(data)
        return data

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class _GzipStream(io.RawIOBase):
    """Fast streaming gunzip (handles concatenated members, as pigz writes)."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.d = zlib.decompressobj(wbits=47)
        self.buf = b""
        self.eof = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 62
        while len(self.buf) < n and not self.eof:
            raw = self.inner.read(_CHUNK)
            if not raw:
                if not self.d.eof and self.d.unconsumed_tail == b"":
                    raise BadContent("layer: truncated gzip stream")
                self.eof = True
                break
            self.buf += self.d.decompress(raw)
            while self.d.eof and self.d.unused_data:
                rest = self.d.unused_data
                self.d = zlib.decompressobj(wbits=47)
                self.buf += self.d.decompress(rest)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def open_decompressed(fileobj: BinaryIO) -> BinaryIO:
    """Peek at the magic bytes and return a stream of the plain tar."""
    head = fileobj.read(4)
    rest = _Prefixed(head, fileobj)
    if head.startswith(GZIP_MAGIC):
        return _GzipStream(rest)  # type: ignore[return-value]
    if head.startswith(ZSTD_MAGIC):
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError as exc:
            raise BadContent("layer: zstd-compressed layers need the 'zstandard' package") from exc
        return zstandard.ZstdDecompressor().stream_reader(rest)  # type: ignore[no-any-return]
    return rest  # type: ignore[return-value]


class _Prefixed(io.RawIOBase):
    def __init__(self, head: bytes, inner: BinaryIO) -> None:
        self.head = head
        self.inner = inner

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n is None or n < 0:
                out, self.head = self.head + self.inner.read(), b""
                return out
            out, self.head = self.head[:n], self.head[n:]
            if len(out) < n:
                out += self.inner.read(n - len(out))
            return out
        return self.inner.read(n)


def _clean_parts(name: str, *, what: str) -> list[str]:
    if name.startswith("/"):
        raise BadContent(f"layer: {what} {name!r} is an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BadContent(f"layer: {what} {name!r} contains '..'")
    return parts


class _Unpacker:
    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.dest_s = str(dest)
        self.safe_dirs: set[str] = {""}
        self.dir_times: list[tuple[str, tarfile.TarInfo]] = []
        self.size = 0

    def _ensure_parent(self, parts: list[str]) -> str:
        """Create missing parents; refuse to pass through anything but real dirs."""
        rel = ""
        for comp in parts:
            rel = f"{rel}/{comp}" if rel else comp
            if rel in self.safe_dirs:
                continue
            full = os.path.join(self.dest_s, rel)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                os.mkdir(full, 0o755)
                self.safe_dirs.add(rel)
                continue
            if stat.S_ISLNK(st.st_mode):
                raise BadContent(f"layer: path through symlink {rel!r} escapes the layer")
            if not stat.S_ISDIR(st.st_mode):
                raise BadContent(f"layer: parent {rel!r} is not a directory")
            self.safe_dirs.add(rel)
        return os.path.join(self.dest_s, *parts) if parts else self.dest_s

    def _forget(self, rel: str) -> None:
        self.safe_dirs.discard(rel)
        prefix = rel + "/"
        for d in [d for d in self.safe_dirs if d.startswith(prefix)]:
            self.safe_dirs.discard(d)

    def _clear(self, target: str, rel: str, *, keep_dir: bool) -> None:
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return
            import shutil

            shutil.rmtree(target)
        else:
            os.unlink(target)
        self._forget(rel)

    def member(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = _clean_parts(m.name, what="entry")
        if not parts:
            return
        parent = self._ensure_parent(parts[:-1])
        base = parts[-1]
        rel = "/".join(parts)
        if base == OPAQUE_MARKER:
            os.setxattr(parent, OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_PREFIX):
            name = base[len(WHITEOUT_PREFIX) :]
            if not name or name in (".", ".."):
                raise BadContent(f"layer: bad whiteout {m.name!r}")
            wrel = "/".join(parts[:-1] + [name])
            target = os.path.join(parent, name)
            self._clear(target, wrel, keep_dir=False)
            os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(0, 0))
            return
        target = os.path.join(parent, base)
        if m.isdir():
            self._clear(target, rel, keep_dir=True)
            if not os.path.isdir(target):
                os.mkdir(target, 0o755)
            self.safe_dirs.add(rel)
            self.dir_times.append((target, m))
            self._attrs(target, m, times=False)
            return
        self._clear(target, rel, keep_dir=False)
        if m.isreg():
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            src = tar.extractfile(m)
            assert src is not None
            with os.fdopen(fd, "wb") as out:
                remaining = m.size
                while remaining > 0:
                    chunk = src.read(min(_CHUNK, remaining))
                    if not chunk:
                        raise BadContent(f"layer: truncated data for {m.name!r}")
                    out.write(chunk)
                    remaining -= len(chunk)
            self.size += m.size
        elif m.issym():
            link = m.linkname
            if not link.startswith("/"):
                depth = len(parts) - 1
                for comp in link.split("/"):
                    if comp == "..":
                        depth -= 1
                        if depth < 0:
                            raise BadContent(
                                f"layer: symlink {m.name!r} -> {link!r} escapes the root"
                            )
                    elif comp not in ("", "."):
                        depth += 1
            os.symlink(link, target)
        elif m.islnk():
            lparts = _clean_parts(m.linkname, what="hard link target")
            if not lparts:
                raise BadContent(f"layer: hard link {m.name!r} has an empty target")
            src_parent = self._ensure_parent(lparts[:-1])
            source = os.path.join(src_parent, lparts[-1])
            if not os.path.lexists(source):
                raise BadContent(f"layer: hard link {m.name!r} -> {m.linkname!r}: target missing")
            os.link(source, target, follow_symlinks=False)
            return
        elif m.ischr() or m.isblk():
            raise BadContent(f"layer: device node {m.name!r} is not allowed")
        elif m.isfifo():
            os.mkfifo(target, 0o600)
        else:
            return
        self._attrs(target, m, times=True)

    def _attrs(self, target: str, m: tarfile.TarInfo, *, times: bool) -> None:
        os.lchown(target, m.uid, m.gid)
        if not m.issym():
            os.chmod(target, m.mode & 0o7777)
        for key, value in m.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                if key[13:].startswith("trusted.overlay."):
                    # only whiteouts may produce overlayfs' own xattrs (redirects could escape)
                    continue
                try:
                    os.setxattr(
                        target, key[13:], value.encode("utf-8", "surrogateescape"),
                        follow_symlinks=False,
                    )
                except OSError:
                    pass
        if times:
            os.utime(target, (m.mtime, m.mtime), follow_symlinks=False)

    def finish(self) -> None:
        for target, m in reversed(self.dir_times):
            os.utime(target, (m.mtime, m.mtime))


def unpack_layer(fileobj: BinaryIO, dest: Path) -> tuple[str, int, int]:
    """Unpack a layer tar stream into the existing empty dir ``dest``.

    Returns ``(diff_id, size of the files, size of the uncompressed tar)``. Raises :class:`BadContent` for unsafe or broken
    archives; the caller owns removing ``dest`` then.
    """
    plain = _HashingReader(open_decompressed(fileobj))
    unpacker = _Unpacker(dest)
    try:
        with tarfile.open(fileobj=plain, mode="r|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            for m in tar:
                unpacker.member(tar, m)
    except tarfile.TarError as exc:
        raise BadContent(f"layer: not a valid tar archive: {exc}") from exc
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BadContent(f"layer: truncated or corrupt archive: {exc}") from exc
    while plain.read(_CHUNK):
        pass
    unpacker.finish()
    return "sha256:" + plain.sha.hexdigest(), unpacker.size, plain.count


def write_layer_tar(src: Path, out: BinaryIO, *, skip: frozenset[str] = frozenset()) -> None:
    """Tar ``src`` (e.g. an overlayfs upper dir) as a Docker layer, whiteouts as ``.wh.``.
    ``skip``: relative paths of files left out (a container's bind-mount placeholders)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, src)
            rel_dir = "" if rel_dir == "." else rel_dir
            if rel_dir and rel_dir not in skip:
                tar.add(dirpath, arcname=rel_dir, recursive=False)
            try:
                if os.getxattr(dirpath, OPAQUE_XATTR) == b"y":
                    info = tarfile.TarInfo(os.path.join(rel_dir, OPAQUE_MARKER))
                    tar.addfile(info)
            except OSError:
                pass
            for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                full = os.path.join(dirpath, name)
                arc = os.path.join(rel_dir, name)
                if arc in skip:
                    continue
                st = os.lstat(full)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    tar.addfile(tarfile.TarInfo(os.path.join(rel_dir, WHITEOUT_PREFIX + name)))
                    continue
                tar.add(full, arcname=arc, recursive=False)


MOUNT_TARGETS = ("etc/hosts", "etc/hostname", "etc/resolv.conf")


def mount_placeholders(upper: Path, lower_file: Path) -> frozenset[str]:
    """The bind-mount targets in a container's upper dir that are only empty placeholders:
    empty regular files the image's layers (listed in ``lower_file``) do not have."""
    try:
        lowers = lower_file.read_text().split(":")
    except OSError:
        lowers = []
    out = set()
    for rel in MOUNT_TARGETS:
        try:
            st = os.lstat(upper / rel)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size == 0 and \
                not any(os.path.lexists(os.path.join(lo, rel)) for lo in lowers):
            out.add(rel)
    # /etc copied up only to hold them: same as the image's, not opaque, nothing else in it
    etc = upper / "etc"
    low = next((os.path.join(lo, "etc") for lo in lowers if os.path.isdir(os.path.join(lo, "etc"))), None)
    try:
        if out and low is not None and etc.is_dir() and not etc.is_symlink() \
                and {f"etc/{n}" for n in os.listdir(etc)} <= out:
            a, b = os.lstat(etc), os.lstat(low)
            try:
                opaque = os.getxattr(etc, OPAQUE_XATTR) == b"y"
            except OSError:
                opaque = False
            if (a.st_mode, a.st_uid, a.st_gid) == (b.st_mode, b.st_uid, b.st_gid) and not opaque:
                out.add("etc")
    except OSError:
        pass
    return frozenset(out)
