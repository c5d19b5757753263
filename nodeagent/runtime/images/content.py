"""Content-addressed blobs and unpacked layers: the lower half of the image store.

Blobs live in ``blobs/sha256/<hex>``; each layer is unpacked once into
``layers/<diffhex>/diff`` (overlayfs-ready) with ``layer.json`` recording its diff
ID, size and the compressed blobs it came from (``blobindex/<blobhex>`` maps a
blob back to its layer). Work happens in ``tmp/`` and is renamed into place.
:class:`ContentStore` never decides what is referenced: the image half
(store.py) does, and collects garbage.
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from skiff.nodeagent.runtime.images.errors import BadContent, ImageNotFound
from skiff.nodeagent.runtime.images.layers import unpack_layer

MEDIA_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MEDIA_DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
MEDIA_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
LAYER_MEDIA_TYPES = {
    MEDIA_DOCKER_LAYER_GZIP, MEDIA_DOCKER_LAYER_TAR, MEDIA_OCI_LAYER_GZIP,
    MEDIA_OCI_LAYER_TAR, MEDIA_OCI_LAYER_ZSTD,
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
}


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _hex(digest: str) -> str:
    algo, _, h = digest.partition(":")
    if algo != "sha256" or len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise BadContent(f"unsupported or malformed digest {digest!r}")
    return h


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclasses.dataclass
class Layer:
    diff_id: str
    size: int
    path: Path
    blobs: list[dict[str, Any]]  # descriptors of compressed forms we hold

    @property
    def diff_dir(self) -> Path:
        return self.path / "diff"


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs" / "sha256"
        self.layers_dir = self.root / "layers"
        self.tmp = self.root / "tmp"
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._pins: dict[str, int] = {}
        for d in (self.blobs, self.layers_dir, self.root / "blobindex"):
            d.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        # drop half-made layer dirs (renamed in but metadata never written)
        for d in self.layers_dir.iterdir():
            if not (d / "layer.json").exists():
                shutil.rmtree(d, ignore_errors=True)

    def blob_path(self, digest: str) -> Path:
        return self.blobs / _hex(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    def read_blob(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def put_blob_bytes(self, data: bytes, *, expect: str | None = None) -> str:
        digest = sha256_bytes(data)
        if expect is not None and expect != digest:
            raise BadContent(f"digest mismatch: expected {expect}, got {digest}")
        p = self.blob_path(digest)
        if not p.exists():
            _atomic_write(p, data)
        return digest

    def adopt_blob_file(self, tmp_file: Path, digest: str) -> Path:
        """Move a verified temp file into the content store."""
        p = self.blob_path(digest)
        if p.exists():
            tmp_file.unlink(missing_ok=True)
        else:
            os.replace(tmp_file, p)
        return p

    def temp_path(self, prefix: str = "dl-") -> Path:
        return self.tmp / f"{prefix}{uuid.uuid4().hex}"

    def pin(self, keys: Iterable[str]) -> None:
        for k in keys:
            self._pins[k] = self._pins.get(k, 0) + 1

    def unpin(self, keys: Iterable[str]) -> None:
        for k in keys:
            n = self._pins.get(k, 0) - 1
            if n <= 0:
                self._pins.pop(k, None)
            else:
                self._pins[k] = n

    # -- layers ------------------------------------------------------------------
    def layer_path(self, diff_id: str) -> Path:
        return self.layers_dir / _hex(diff_id)

    def get_layer(self, diff_id: str) -> Layer | None:
        p = self.layer_path(diff_id)
        meta_file = p / "layer.json"
        if not meta_file.exists():
            return None
        meta = orjson.loads(meta_file.read_bytes())
        return Layer(diff_id=diff_id, size=meta["size"], path=p, blobs=meta.get("blobs", []))

    def find_layer_by_blob(self, blob_digest: str) -> Layer | None:
        """A layer we already unpacked from this compressed blob (pull fast path)."""
        idx = self.root / "blobindex" / _hex(blob_digest)
        if idx.exists():
            layer = self.get_layer(idx.read_text().strip())
            if layer is not None:
                return layer
        return None

    def _index_blob(self, blob_digest: str, diff_id: str) -> None:
        d = self.root / "blobindex"
        d.mkdir(exist_ok=True)
        _atomic_write(d / _hex(blob_digest), diff_id.encode())

    def record_layer_blob(self, layer: Layer, descriptor: dict[str, Any]) -> None:
        if any(b["digest"] == descriptor["digest"] for b in layer.blobs):
            return
        layer.blobs.append({k: descriptor[k] for k in ("mediaType", "digest", "size")})
        meta = orjson.loads((layer.path / "layer.json").read_bytes())
        meta["blobs"] = layer.blobs
        _atomic_write(layer.path / "layer.json", orjson.dumps(meta))
        self._index_blob(descriptor["digest"], layer.diff_id)

    def note_blob_source(self, diff_id: str, blob_digest: str, repo_name: str) -> None:
        """Remember a repository that holds this blob (push mounts it from there)."""
        layer = self.get_layer(diff_id)
        if layer is None:
            return
        for b in layer.blobs:
            if b["digest"] == blob_digest and repo_name not in b.setdefault("sources", []):
                b["sources"].append(repo_name)
                meta = orjson.loads((layer.path / "layer.json").read_bytes())
                meta["blobs"] = layer.blobs
                _atomic_write(layer.path / "layer.json", orjson.dumps(meta))
                return

    def compressed_blob_sync(self, diff_id: str) -> dict[str, Any]:
        """A gzip blob descriptor for the layer, compressing it once if needed."""
        import gzip

        layer = self.get_layer(diff_id)
        if layer is None:
            raise ImageNotFound(f"layer {diff_id} is not in the store")
        for b in layer.blobs:
            if b["mediaType"] in (MEDIA_DOCKER_LAYER_GZIP, MEDIA_OCI_LAYER_GZIP) and self.has_blob(b["digest"]):
                return b
        src, _ = self.open_layer_tar(diff_id)
        tmp = self.temp_path("gz-")
        try:
            with src, open(tmp, "wb") as raw:
                with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz:
                    shutil.copyfileobj(src, gz, 1 << 20)
            desc = {"mediaType": MEDIA_DOCKER_LAYER_GZIP, "digest": _file_digest(tmp),
                    "size": tmp.stat().st_size}
            self.adopt_blob_file(tmp, desc["digest"])
        finally:
            tmp.unlink(missing_ok=True)
        self.record_layer_blob(layer, desc)
        return desc

    def unpack_sync(
        self, source: Path, *, blob: dict[str, Any] | None = None,
        expect_diff_id: str | None = None, consume: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> Layer:
        """Unpack the layer tar at ``source`` (blocking; use :meth:`add_layer`).

        ``blob`` is the verified descriptor of ``source`` when it came from a
        registry (the caller stores the blob). Without it, ``source`` itself
        becomes the layer's blob (moved when ``consume``, else copied), so push
        and save can use it later.
        """
        work = Path(tempfile.mkdtemp(prefix="unpack-", dir=self.tmp))
        try:
            (work / "diff").mkdir()
            with open(source, "rb") as fh:
                head = fh.read(4)
                fh.seek(0)
                reader: BinaryIO = fh
                if progress is not None:
                    reader = _ProgressReader(fh, os.fstat(fh.fileno()).st_size, progress)  # type: ignore[assignment]
                diff_id, size, tar_size = unpack_layer(reader, work / "diff")
            if expect_diff_id is not None and diff_id != expect_diff_id:
                raise BadContent(
                    f"layer diff ID mismatch: config says {expect_diff_id}, content is {diff_id}"
                )
            if blob is None:
                blob = {
                    "mediaType": MEDIA_DOCKER_LAYER_GZIP if head.startswith(b"\x1f\x8b") else MEDIA_DOCKER_LAYER_TAR,
                    "digest": _file_digest(source),
                    "size": source.stat().st_size,
                }
                dest = self.blob_path(blob["digest"])
                if not dest.exists():
                    if consume:
                        os.replace(source, dest)
                    else:
                        tmpcopy = self.temp_path("blob-")
                        shutil.copyfile(source, tmpcopy)
                        os.replace(tmpcopy, dest)
            existing = self.get_layer(diff_id)
            if existing is not None:
                self.record_layer_blob(existing, blob)
                return existing
            blobs = [{k: blob[k] for k in ("mediaType", "digest", "size")}]
            _atomic_write(work / "layer.json", orjson.dumps(
                {"diff_id": diff_id, "size": size, "tar_size": tar_size, "blobs": blobs}))
            final = self.layer_path(diff_id)
            try:
                os.rename(work, final)
            except OSError:
                if self.get_layer(diff_id) is None:
                    raise
            self._index_blob(blob["digest"], diff_id)
            layer = self.get_layer(diff_id)
            assert layer is not None
            return layer
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)

    async def add_layer(
        self, source: Path | BinaryIO, *, blob: dict[str, Any] | None = None,
        expect_diff_id: str | None = None, consume: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> Layer:
        """Unpack a layer (see :meth:`unpack_sync`) in a worker thread.

        ``progress(done, total)`` is called from that thread with the bytes read.
        """
        if not isinstance(source, Path):
            spooled = self.temp_path("layer-")
            await asyncio.to_thread(_spool, source, spooled)
            source, consume = spooled, True
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, functools.partial(
            self.unpack_sync, source, blob=blob, expect_diff_id=expect_diff_id, consume=consume,
            progress=progress))
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            # A thread cannot be stopped: let it finish (or fail) before the caller's
            # clean-up (gc after a failed pull) runs, so nothing lands afterwards.
            await asyncio.wait([fut])
            raise
        finally:
            if consume and source.parent == self.tmp:
                source.unlink(missing_ok=True)

    def open_layer_tar(self, diff_id: str) -> tuple[BinaryIO, int]:
        """The uncompressed layer tar (for ``docker save``) and its size."""
        from skiff.nodeagent.runtime.images.layers import open_decompressed

        layer = self.get_layer(diff_id)
        if layer is None:
            raise ImageNotFound(f"layer {diff_id} is not in the store")
        meta = orjson.loads((layer.path / "layer.json").read_bytes())
        for b in layer.blobs:
            p = self.blob_path(b["digest"])
            if p.exists():
                fh = open(p, "rb")
                return open_decompressed(fh), int(meta.get("tar_size", -1))
        raise ImageNotFound(f"layer {diff_id}: no stored blob")

    async def once(self, key: str, factory: Callable[[], Any]) -> Any:
        """Run ``await factory()`` once per key at a time; concurrent callers share it.

        If the running one is cancelled (its own pull failed elsewhere), a waiter
        that was not cancelled itself takes over instead of failing.
        """
        while True:
            fut = self._inflight.get(key)
            if fut is None:
                break
            try:
                return await asyncio.shield(fut)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if fut.cancelled() and task is not None and not task.cancelling():
                    continue
                raise
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            result = await factory()
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved
            raise
        else:
            fut.set_result(result)
            return result
        finally:
            if self._inflight.get(key) is fut:
                del self._inflight[key]

    def layer_size(self, diff_id: str) -> int:
        layer = self.get_layer(diff_id)
        return layer.size if layer else 0



class _ProgressReader:
    """Reports how much of the source has been read, at most ten times a second."""

    def __init__(self, inner: BinaryIO, total: int, report: Callable[[int, int], None]) -> None:
        import time

        self._time = time.monotonic
        self.inner, self.total, self.report = inner, total, report
        self.done = 0
        self.last = 0.0

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.done += len(data)
        now = self._time()
        if now - self.last >= 0.1:
            self.last = now
            self.report(self.done, self.total)
        return data


def _file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def _spool(src: BinaryIO, dest: Path) -> None:
    with open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
