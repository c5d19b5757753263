"""``docker save`` / ``docker load`` archives (docker-archive; OCI layouts load too).

Layout written by :func:`write_archive` (what dockerd < 25 writes, and what
skopeo's ``docker-archive:`` reads)::

    manifest.json             [{"Config": "<id>.json", "RepoTags": [...], "Layers": [...]}]
    repositories              {"repo": {"tag": "<top layer dir>"}}
    <id>.json                 image config
    <diffhex>/layer.tar       uncompressed layer, plus VERSION and json

:func:`read_archive` reads that (and skopeo's variant, whose layers are
``<digest>.tar``), verifying every layer against the config's diff IDs; entry
names are only looked up, never extracted, so the archive cannot write outside
the store. An OCI image layout tar (``index.json`` + ``blobs/``, what docker 25+,
``skopeo copy oci-archive:`` and buildkit write) loads as well; its names come from
the ``io.containerd.image.name`` / ``org.opencontainers.image.ref.name`` annotations.
"""
from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from skiff.nodeagent.runtime.images import reference as refs
from skiff.nodeagent.runtime.images.errors import BadContent
from skiff.nodeagent.runtime.images.store import Image, ImageStore


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float = 0) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def write_archive(
    store: ImageStore, images: list[tuple[Image, list[str]]], out: BinaryIO
) -> None:
    """Write images (each with the familiar tags to record) as a docker-archive tar.

    Blocking; ``out`` is any writable stream (the HTTP response through a pipe).
    """
    manifest = []
    repositories: dict[str, dict[str, str]] = {}
    written: set[str] = set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for image, tags in images:
            layer_paths = []
            for diff_id in image.diff_ids:
                hexid = diff_id[7:]
                path = f"{hexid}/layer.tar"
                layer_paths.append(path)
                if hexid in written:
                    continue
                written.add(hexid)
                _add_dir(tar, hexid)
                _add_bytes(tar, f"{hexid}/VERSION", b"1.0")
                _add_bytes(tar, f"{hexid}/json", orjson.dumps({"id": hexid}))
                src, size = store.open_layer_tar(diff_id)
                with src:
                    info = tarfile.TarInfo(path)
                    info.size = size
                    info.mode = 0o644
                    tar.addfile(info, src)
            cfg_name = f"{image.id[7:]}.json"
            if cfg_name not in written:
                written.add(cfg_name)
                _add_bytes(tar, cfg_name, store.read_blob(image.id))
            manifest.append({"Config": cfg_name, "RepoTags": tags or None, "Layers": layer_paths})
            for t in tags:
                r = refs.parse_normalized(t)
                if r.tag and layer_paths:
                    repositories.setdefault(r.familiar_name(), {})[r.tag] = layer_paths[-1].split("/")[0]
        _add_bytes(tar, "manifest.json", orjson.dumps(manifest))
        if repositories:
            _add_bytes(tar, "repositories", orjson.dumps(repositories))


async def read_archive(
    store: ImageStore, path: Path, *, say: Callable[[str], Any] | None = None,
) -> list[str]:
    """Load every image of the archive at ``path``; returns the "Loaded image" lines.

    On any error the layers this call added are collected again and nothing
    is tagged.
    """
    import asyncio

    try:
        tar = await asyncio.to_thread(tarfile.open, path, "r:*")
    except (tarfile.TarError, EOFError) as exc:
        raise BadContent(f"invalid archive: {exc}") from exc
    with tar:
        members = {posixpath.normpath(m.name.lstrip("/")): m for m in tar.getmembers()}

        def read(name: str, *, what: str) -> bytes:
            m = members.get(posixpath.normpath(name))
            if m is None or not m.isreg():
                raise BadContent(f"invalid archive: {what} {name!r} not found")
            f = tar.extractfile(m)
            assert f is not None
            return f.read()

        if "manifest.json" in members:
            try:
                manifest = orjson.loads(read("manifest.json", what="file"))
            except orjson.JSONDecodeError as exc:
                raise BadContent(f"invalid archive: manifest.json: {exc}") from exc
        elif "index.json" in members:
            manifest = oci_layout_entries(lambda name: read(name, what="OCI blob"))
        else:
            raise BadContent("invalid archive: neither manifest.json (docker save) nor index.json (OCI layout) found")
        if not isinstance(manifest, list):
            raise BadContent("invalid archive: manifest.json is not a list")
        lines: list[str] = []
        pins: list[str] = []
        try:
            for n, entry in enumerate(manifest):
                config_bytes = read(str(entry.get("Config", "")), what=f"manifest[{n}].Config")
                try:
                    cfg = orjson.loads(config_bytes)
                except orjson.JSONDecodeError as exc:
                    raise BadContent(f"invalid archive: manifest[{n}].Config is not JSON") from exc
                diff_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
                layer_names = entry.get("Layers") or []
                if len(diff_ids) != len(layer_names):
                    raise BadContent(
                        f"invalid archive: manifest[{n}]: {len(layer_names)} layers, config lists {len(diff_ids)}"
                    )
                store.pin(diff_ids)
                pins.extend(diff_ids)
                for i, (lname, diff_id) in enumerate(zip(layer_names, diff_ids)):
                    if store.get_layer(diff_id) is not None:
                        continue
                    m = members.get(posixpath.normpath(str(lname)))
                    if m is None or not (m.isreg() or m.issym()):
                        raise BadContent(f"invalid archive: manifest[{n}].Layers[{i}] {lname!r} not found")
                    if m.issym():
                        target = posixpath.normpath(posixpath.join(posixpath.dirname(m.name), m.linkname))
                        m = members.get(target)
                        if m is None or not m.isreg():
                            raise BadContent(f"invalid archive: layer link {lname!r} is dangling")
                    tmp = store.temp_path("load-")
                    src = tar.extractfile(m)
                    assert src is not None
                    await asyncio.to_thread(_copy, src, tmp)
                    await store.add_layer(tmp, expect_diff_id=diff_id, consume=True)
                tags = [refs.with_default_tag(refs.parse_normalized(t)) for t in entry.get("RepoTags") or []]
                image = await store.register(config_bytes, refs_to_set=tags)
                if tags:
                    for t in tags:
                        lines.append(f"Loaded image: {t.familiar()}")
                else:
                    lines.append(f"Loaded image ID: {image.id}")
                if say is not None:
                    for line in lines[-max(1, len(tags)):]:
                        await say(line)
        except BaseException:
            store.unpin(pins)
            await store.gc(pins)  # layers this load added, unless something uses them
            raise
        store.unpin(pins)
    return lines


def _blob_name(digest: str) -> str:
    algo, _, hexpart = str(digest).partition(":")
    if algo != "sha256" or len(hexpart) != 64:
        raise BadContent(f"invalid archive: OCI descriptor digest {digest!r}")
    return f"blobs/sha256/{hexpart}"


def oci_layout_entries(read: Callable[[str], bytes]) -> list[dict[str, Any]]:
    """An OCI image layout (``index.json`` + ``blobs/``) as docker-archive manifest entries."""
    from skiff.nodeagent.runtime.images.manifests import choose_platform, host_platform
    from skiff.nodeagent.runtime.images.registry import INDEX_TYPES

    try:
        index = orjson.loads(read("index.json"))
    except orjson.JSONDecodeError as exc:
        raise BadContent(f"invalid archive: index.json: {exc}") from exc
    entries = []
    for desc in index.get("manifests") or []:
        annotations = desc.get("annotations") or {}
        name = annotations.get("io.containerd.image.name") or annotations.get("org.opencontainers.image.ref.name", "")
        tags = []
        try:
            r = refs.parse_normalized(name) if name else None
            if r is not None and r.tag:
                tags = [r.familiar()]
        except refs.ReferenceError:
            pass
        doc = orjson.loads(read(_blob_name(desc.get("digest", ""))))
        if desc.get("mediaType") in INDEX_TYPES or "manifests" in doc:
            inner = choose_platform(doc, host_platform())
            doc = orjson.loads(read(_blob_name(inner["digest"])))
        entries.append({
            "Config": _blob_name((doc.get("config") or {}).get("digest", "")),
            "RepoTags": tags,
            "Layers": [_blob_name(layer.get("digest", "")) for layer in doc.get("layers") or []],
        })
    return entries


def _copy(src: BinaryIO, dest: Path) -> None:
    with open(dest, "wb") as out:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
