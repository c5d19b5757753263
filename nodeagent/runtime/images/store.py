"""The image store: images and references over content-addressed blobs and layers.

On disk (under the engine's ``<root>/image``)::

    blobs/sha256/<hex>          configs and layer blobs as pulled/built   (content.py)
    layers/<diffhex>/diff/      one unpacked layer, overlayfs-ready, shared (content.py)
    layers/<diffhex>/layer.json {diff_id, size, tar_size, blobs: [descriptor...]}
    images/<idhex>.json         {id, parent, created_at, last_tag_time}
    repositories.json           {"refs": {"<full ref>": "sha256:<id>"}} (tags and digests)
    tmp/                        downloads and unpacks in progress (wiped at open)

Everything is written to ``tmp`` first and renamed into place, so an
interrupted pull leaves no half layer, and a bad blob or tar changes nothing.

API used by the rest of the engine (part 2: run, commit, build)
---------------------------------------------------------------
``store.resolve(text) -> Image``
    Look up by reference (``busybox``, ``reg:5000/a/b:tag``, ``name@sha256:..``),
    full ID (``sha256:<hex>``) or unique ID prefix; raises ``ImageNotFound``.
``image.id``, ``image.config`` (the OCI image config dict: ``config.Cmd``,
``config.Env``, ``config.WorkingDir``, ...), ``image.diff_ids``,
``image.repo_tags`` (familiar strings).
``store.layer_dirs(image) -> list[Path]``
    The unpacked ``diff`` dirs, bottom layer first. overlayfs wants the topmost
    first: ``lowerdir=":".join(str(p) for p in reversed(dirs))``.
``await store.add_layer(fileobj_or_path) -> Layer``
    Unpack a Docker layer tar (plain or gzip) into the store (``Layer.diff_id``).
    For commit/build, make the tar with ``layers.write_layer_tar(upper_dir, out)``.
``await store.create_image(config, layers, *, tags=(), parent=None, history=None) -> Image``
    Register an image: ``config`` is an OCI image config without ``rootfs``
    (filled from ``layers``); ``history`` entries are appended to the config's.
    ``tags`` are familiar references (``hongimages``, ``x:1``).
``store.add_usage_checker(fn)``
    ``fn(image_id) -> list[str]`` of container IDs using it; ``rmi`` consults it.
``await store.tag(image_id, ref_text)``, ``await store.delete(text, force=, prune=)``.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from skiff.nodeagent.runtime.images import reference as refs
from skiff.nodeagent.runtime.images.content import (
    LAYER_MEDIA_TYPES,
    MEDIA_DOCKER_LAYER_GZIP,
    MEDIA_DOCKER_LAYER_TAR,
    MEDIA_OCI_LAYER_GZIP,
    MEDIA_OCI_LAYER_TAR,
    MEDIA_OCI_LAYER_ZSTD,
    ContentStore,
    Layer,
    _atomic_write,
    _hex,
    sha256_bytes,
)
from skiff.nodeagent.runtime.images.errors import BadContent, ImageConflict, ImageNotFound

__all__ = [
    "ImageStore", "Image", "Layer", "ContentStore", "LAYER_MEDIA_TYPES", "MEDIA_DOCKER_LAYER_GZIP",
    "MEDIA_DOCKER_LAYER_TAR", "MEDIA_OCI_LAYER_GZIP", "MEDIA_OCI_LAYER_TAR", "MEDIA_OCI_LAYER_ZSTD",
    "now_rfc3339", "parse_time", "sha256_bytes",
]

def now_rfc3339() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> float:
    if not text:
        return 0.0
    t = text.rstrip("Z")
    if "." in t:
        head, frac = t.split(".", 1)
        tz = ""
        for sep in ("+", "-"):
            if sep in frac:
                frac, tz = frac.split(sep, 1)
                tz = sep + tz
        t = f"{head}.{frac[:6]}{tz}"
    try:
        d = dt.datetime.fromisoformat(t)
    except ValueError:
        return 0.0
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return d.timestamp()


@dataclasses.dataclass
class Image:
    id: str
    config: dict[str, Any]
    repo_tags: list[str]
    repo_digests: list[str]
    diff_ids: list[str]
    parent: str
    size: int
    last_tag_time: str

    @property
    def created(self) -> str:
        return str(self.config.get("created") or "")

    @property
    def short_id(self) -> str:
        return self.id[7:19]


class ImageStore(ContentStore):
    def __init__(self, root: Path, *, config: Any = None) -> None:
        super().__init__(root)
        self.engine_config = config
        self.images_dir = self.root / "images"
        self.refs_file = self.root / "repositories.json"
        self._refs: dict[str, str] = {}
        self._images: dict[str, dict[str, Any]] = {}
        self._configs: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()
        self._usage: list[Callable[[str], list[str]]] = []
        self._open_sync()

    # -- lifecycle -----------------------------------------------------------
    def _open_sync(self) -> None:
        self.images_dir.mkdir(parents=True, exist_ok=True)
        if self.refs_file.exists():
            self._refs = orjson.loads(self.refs_file.read_bytes()).get("refs", {})
        for f in self.images_dir.glob("*.json"):
            meta = orjson.loads(f.read_bytes())
            self._images[meta["id"]] = meta
        self._refs = {k: v for k, v in self._refs.items() if v in self._images}
        # leftovers of a crash (layers of a pull that never registered): nothing runs yet
        self._gc(None)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def engine_id(self) -> str:
        f = self.root / "engine-id"
        if not f.exists():
            _atomic_write(f, str(uuid.uuid4()).encode())
        return f.read_text()

    def add_usage_checker(self, fn: Callable[[str], list[str]]) -> None:
        self._usage.append(fn)

    def users_of(self, image_id: str) -> list[str]:
        out: list[str] = []
        for fn in self._usage:
            out.extend(fn(image_id))
        return out


    async def gc(self, candidates: Iterable[str]) -> list[str]:
        """Collect the given layers again if nothing references them (after a failed
        pull or load, with the layers it may have added)."""
        async with self._lock:
            return self._gc(candidates)

    # -- images --------------------------------------------------------------
    def layer_dirs(self, image: Image) -> list[Path]:
        return [self.layer_path(d) / "diff" for d in image.diff_ids]

    def _build(self, image_id: str) -> Image:
        meta = self._images[image_id]
        cfg = self._configs.get(image_id)
        if cfg is None:
            cfg = orjson.loads(self.read_blob(image_id))
            self._configs[image_id] = cfg
        tags, digests = [], []
        for ref, target in sorted(self._refs.items()):
            if target != image_id:
                continue
            r = refs.parse_normalized(ref)
            (digests if r.digest else tags).append(r.familiar())
        diff_ids = list(cfg.get("rootfs", {}).get("diff_ids", []))
        size = sum(self.layer_size(d) for d in diff_ids)
        return Image(
            id=image_id, config=cfg, repo_tags=tags, repo_digests=digests,
            diff_ids=diff_ids, parent=meta.get("parent", ""), size=size,
            last_tag_time=meta.get("last_tag_time", ""),
        )

    def list_images(self) -> list[Image]:
        return [self._build(i) for i in self._images]

    def get(self, image_id: str) -> Image:
        if image_id not in self._images:
            raise ImageNotFound(f"No such image: {image_id}")
        return self._build(image_id)

    def lookup_ref(self, ref: refs.Reference) -> str | None:
        return self._refs.get(str(ref))

    def resolve(self, text: str) -> Image:
        image_id = self.resolve_id(text)
        if image_id is None:
            raise ImageNotFound(f"No such image: {text}")
        return self._build(image_id)

    def resolve_id(self, text: str) -> str | None:
        if text.startswith("sha256:") and len(text) == 71:
            return text if text in self._images else None
        try:
            ref = refs.parse_normalized(text)
        except refs.ReferenceError:
            ref = None
        if ref is not None:
            if ref.digest:
                found = self._refs.get(str(refs.Reference(ref.domain, ref.path, None, ref.digest)))
                if found:
                    return found
                if ref.digest in self._images:
                    return ref.digest
            else:
                found = self._refs.get(str(refs.with_default_tag(ref)))
                if found:
                    return found
        if refs.is_id_prefix(text):
            prefix = text if text.startswith("sha256:") else "sha256:" + text
            matches = [i for i in self._images if i.startswith(prefix)]
            if len(matches) == 1:
                return matches[0]
        return None

    def _save_refs(self) -> None:
        _atomic_write(self.refs_file, orjson.dumps({"refs": self._refs}, option=orjson.OPT_INDENT_2))

    def _save_image(self, meta: dict[str, Any]) -> None:
        _atomic_write(self.images_dir / f"{_hex(meta['id'])}.json", orjson.dumps(meta))

    async def register(
        self, config_bytes: bytes, *, refs_to_set: Iterable[refs.Reference] = (),
        parent: str = "", expect_id: str | None = None,
    ) -> Image:
        """Store a config blob as an image whose layers are all present; set refs."""
        cfg = orjson.loads(config_bytes)
        diff_ids = cfg.get("rootfs", {}).get("diff_ids")
        if not isinstance(diff_ids, list):
            raise BadContent("image config: rootfs.diff_ids missing")
        for d in diff_ids:
            if self.get_layer(d) is None:
                raise BadContent(f"image config: layer {d} is not in the store")
        async with self._lock:
            image_id = self.put_blob_bytes(config_bytes, expect=expect_id)
            meta = self._images.get(image_id)
            if meta is None:
                meta = {"id": image_id, "parent": parent, "created_at": now_rfc3339()}
                self._images[image_id] = meta
            for r in refs_to_set:
                self._refs[str(r)] = image_id
                if r.tag:
                    meta["last_tag_time"] = now_rfc3339()
            self._save_image(meta)
            self._save_refs()
        return self._build(image_id)

    async def create_image(
        self, config: dict[str, Any], layers: list[Layer], *, tags: Iterable[str] = (),
        parent: str = "", history: list[dict[str, Any]] | None = None,
    ) -> Image:
        cfg = dict(config)
        cfg.setdefault("architecture", _go_arch())
        cfg.setdefault("os", "linux")
        cfg.setdefault("created", now_rfc3339())
        cfg["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}
        if history is not None:
            cfg["history"] = list(cfg.get("history", [])) + history
        to_set = [refs.with_default_tag(refs.parse_normalized(t)) for t in tags]
        return await self.register(orjson.dumps(cfg), refs_to_set=to_set, parent=parent)

    async def tag(self, image_id: str, text: str) -> refs.Reference:
        ref = refs.with_default_tag(refs.parse_normalized(text))
        if ref.digest:
            raise BadContent("refusing to create a tag with a digest reference")
        async with self._lock:
            if image_id not in self._images:
                raise ImageNotFound(f"No such image: {image_id}")
            self._refs[str(ref)] = image_id
            self._images[image_id]["last_tag_time"] = now_rfc3339()
            self._save_image(self._images[image_id])
            self._save_refs()
        return ref

    async def delete(self, text: str, *, force: bool = False, prune: bool = True) -> list[dict[str, str]]:
        """``docker rmi`` semantics (daemon/images/image_delete.go); returns Docker's
        ``[{"Untagged": ...}, {"Deleted": ...}]`` records.

        Simplification: an image some container uses is only untagged, never
        deleted, even with ``force`` (its layers stay under the container).
        """
        async with self._lock:
            image_id = self.resolve_id(text)
            if image_id is None:
                raise ImageNotFound(f"No such image: {text}")
            out: list[dict[str, str]] = []
            users = self.users_of(image_id)
            by_ref = self._ref_key(text, image_id)
            if by_ref is not None:
                mine = self._refs_of(image_id)
                if not force and _single_reference(mine) and users:
                    raise ImageConflict(
                        f'conflict: unable to remove repository reference "{text}" (must force) '
                        f"- container {users[0][:12]} is using its referenced image {image_id[7:19]}"
                    )
                self._untag(by_ref, out)
                removed = refs.parse_normalized(by_ref)
                rest = self._refs_of(image_id)
                if removed.digest is None and not any(
                    "@" not in r and refs.parse_normalized(r).name == removed.name for r in rest
                ):
                    for r in rest:
                        if "@" in r and refs.parse_normalized(r).name == removed.name:
                            self._untag(r, out)
                if self._refs_of(image_id) or users:
                    self._save_refs()
                    return out
            else:
                mine = self._refs_of(image_id)
                if not _single_reference(mine) and not force:
                    raise ImageConflict(
                        f"conflict: unable to delete {image_id[7:19]} (must be forced) - image "
                        "is referenced in multiple repositories"
                    )
                if users and not force:
                    raise ImageConflict(
                        f"conflict: unable to delete {image_id[7:19]} (must be forced) - image "
                        f"is being used by stopped container {users[0][:12]}"
                    )
                for r in mine:
                    self._untag(r, out)
                if users:
                    self._save_refs()
                    return out
            out.extend(self._delete_image(image_id, prune=prune))
            self._save_refs()
            return out

    def _refs_of(self, image_id: str) -> list[str]:
        return sorted(r for r, t in self._refs.items() if t == image_id)

    def _ref_key(self, text: str, image_id: str) -> str | None:
        """The reference key ``text`` names, or None when it is an ID (prefix)."""
        if text.startswith("sha256:"):
            return None
        try:
            ref = refs.with_default_tag(refs.parse_normalized(text))
        except refs.ReferenceError:
            return None
        return str(ref) if self._refs.get(str(ref)) == image_id else None

    def _untag(self, ref: str, out: list[dict[str, str]]) -> None:
        self._refs.pop(ref, None)
        out.append({"Untagged": refs.parse_normalized(ref).familiar()})

    def _forget_image(self, image_id: str) -> list[str]:
        """Drop an image's metadata and config blob; return its layers (GC candidates)."""
        cfg = self._configs.pop(image_id, None) or orjson.loads(self.read_blob(image_id))
        self._images.pop(image_id, None)
        (self.images_dir / f"{_hex(image_id)}.json").unlink(missing_ok=True)
        if image_id not in self._pins:
            self.blob_path(image_id).unlink(missing_ok=True)
        return list(cfg.get("rootfs", {}).get("diff_ids", []))

    def _delete_image(self, image_id: str, *, prune: bool) -> list[dict[str, str]]:
        out = [{"Deleted": image_id}]
        parent = self._images.get(image_id, {}).get("parent", "")
        layers = self._forget_image(image_id)
        if prune:
            layers += self._delete_parents(parent, out)
            out.extend({"Deleted": d} for d in self._gc(layers))
        return out

    def _has_children(self, image_id: str) -> bool:
        return any(m.get("parent") == image_id for m in self._images.values())

    def _delete_parents(self, parent: str, out: list[dict[str, str]]) -> list[str]:
        """Untagged parents (a build's intermediate images) go with their last child, up to
        the first one that is tagged, has other children or is used (dockerd's rmi)."""
        layers: list[str] = []
        while parent and parent in self._images and not self._refs_of(parent) \
                and not self._has_children(parent) and not self.users_of(parent):
            nxt = self._images[parent].get("parent", "")
            layers += self._forget_image(parent)
            out.append({"Deleted": parent})
            parent = nxt
        return layers

    def _gc(self, candidates: Iterable[str] | None = None) -> list[str]:
        """Remove unreferenced, unpinned layers among ``candidates`` (the layers of
        images just deleted, or of a failed pull/load) with their blobs; return their IDs.

        Only candidates are considered, so a layer another request has just
        unpacked but not yet registered is never swept. ``None`` sweeps everything
        unreferenced: only at open, when nothing else runs.
        """
        live_layers: set[str] = set(self._pins)
        for image_id in self._images:
            cfg = self._configs.get(image_id) or orjson.loads(self.read_blob(image_id))
            live_layers.update(cfg.get("rootfs", {}).get("diff_ids", []))
        full = candidates is None
        if candidates is None:
            candidates = ["sha256:" + d.name for d in self.layers_dir.iterdir()]
        removed = []
        for diff_id in sorted(set(candidates)):
            path = self.layer_path(diff_id)
            if diff_id in live_layers or not path.exists():
                continue
            layer = self.get_layer(diff_id)
            blobs = [b["digest"] for b in layer.blobs] if layer else []
            shutil.rmtree(path, ignore_errors=True)
            removed.append(diff_id)
            for digest in blobs:
                if digest not in self._pins:
                    self.blob_path(digest).unlink(missing_ok=True)
                    (self.root / "blobindex" / _hex(digest)).unlink(missing_ok=True)
        if full:
            live_blobs: set[str] = set(self._images) | set(self._pins)
            for d in self.layers_dir.iterdir():
                layer = self.get_layer("sha256:" + d.name)
                if layer is not None:
                    live_blobs.update(b["digest"] for b in layer.blobs)
            for f in self.blobs.iterdir():
                if "sha256:" + f.name not in live_blobs:
                    f.unlink(missing_ok=True)
            for f in (self.root / "blobindex").iterdir():
                if "sha256:" + f.name not in live_blobs or not self.layer_path(f.read_text().strip()).exists():
                    f.unlink(missing_ok=True)
        return removed

    def _manifest_blobs(self) -> set[str]:
        # manifests are kept while some image still has a repo digest pointing at them
        return {r.split("@", 1)[1] for r in self._refs if "@" in r}

    async def prune(
        self, *, all_images: bool = False, select: Callable[[Image], bool] | None = None,
    ) -> tuple[list[dict[str, str]], int]:
        """Delete dangling (or, with ``all_images``, all) images no container uses;
        ``select`` narrows further (``until``/``label`` filters)."""
        deleted: list[dict[str, str]] = []
        candidates: list[str] = []
        before = self.disk_usage()
        async with self._lock:
            targeted = set(self._refs.values())
            for image_id in list(self._images):
                if image_id not in self._images:
                    continue  # went with a child, as an untagged parent
                dangling = image_id not in targeted
                if not (dangling or all_images):
                    continue
                if dangling and not all_images and self._has_children(image_id):
                    continue  # an intermediate image of a build: it goes with its child
                if select is not None and not select(self._build(image_id)):
                    continue
                if self.users_of(image_id):
                    continue
                for r in sorted(r for r, t in self._refs.items() if t == image_id):
                    self._untag(r, deleted)
                parent = self._images[image_id].get("parent", "")
                candidates.extend(self._forget_image(image_id))
                deleted.append({"Deleted": image_id})
                candidates.extend(self._delete_parents(parent, deleted))
            if deleted:
                deleted.extend({"Deleted": d} for d in self._gc(candidates))
                self._save_refs()
        return deleted, max(0, before - self.disk_usage())

    def disk_usage(self) -> int:
        total = 0
        for d in self.layers_dir.iterdir():
            layer = self.get_layer("sha256:" + d.name)
            if layer:
                total += layer.size
        return total

    def set_repo_digest(self, repo: refs.Reference, digest: str, image_id: str) -> None:
        self._refs[str(repo.with_digest(digest))] = image_id
        self._save_refs()


def _go_arch() -> str:
    import platform

    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def _single_reference(ref_keys: list[str]) -> bool:
    """All references in one repository and at most one of them a tag."""
    if not ref_keys:
        return True
    names = {refs.parse_normalized(r).name for r in ref_keys}
    tags = [r for r in ref_keys if "@" not in r]
    return len(names) == 1 and len(tags) <= 1
