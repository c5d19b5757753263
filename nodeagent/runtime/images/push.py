"""Pushing an image: layers (skip if present, cross-repo mount, else upload), config, manifest.

Emits the Docker Engine API's push progress JSON ("Preparing", "Pushing",
"Pushed", "Layer already exists", "Mounted from ...", then
``<tag>: digest: sha256:... size: N`` and the ``aux`` record the CLI reads).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from skiff.nodeagent.runtime.images import manifests as mf
from skiff.nodeagent.runtime.images import reference as refs
from skiff.nodeagent.runtime.images.auth import Credentials
from skiff.nodeagent.runtime.images.distribution import Registries
from skiff.nodeagent.runtime.images.errors import RegistryError, Unauthorized
from skiff.nodeagent.runtime.images.registry import MT_DOCKER_MANIFEST
from skiff.nodeagent.runtime.images.store import (
    MEDIA_DOCKER_LAYER_GZIP,
    MEDIA_OCI_LAYER_GZIP,
    Image,
    ImageStore,
)

Emit = Callable[[dict[str, Any]], Awaitable[None]]


async def _noop(_: dict[str, Any]) -> None:
    return None


async def push(
    store: ImageStore, registries: Registries, ref: refs.Reference, image: Image, *,
    credentials: Credentials | None = None, emit: Emit = _noop,
    progress_text: Callable[[int, int], str] | None = None,
) -> str:
    """Push ``image`` as ``ref`` (with a tag); returns the manifest digest."""
    assert ref.tag
    client = registries.client(ref.domain, credentials)
    repo = ref.path
    sem = asyncio.Semaphore(3)
    for diff_id in reversed(image.diff_ids):
        await emit({"status": "Preparing", "progressDetail": {}, "id": diff_id[7:19]})

    async def one(diff_id: str) -> dict[str, Any]:
        short = diff_id[7:19]
        async with sem:
            desc = await asyncio.to_thread(store.compressed_blob_sync, diff_id)
            if await client.blob_exists(repo, desc["digest"]):
                await emit({"status": "Layer already exists", "progressDetail": {}, "id": short})
            else:
                mounted = None
                for src in desc.get("sources", []):
                    src_ref = refs.parse_normalized(src)
                    if src_ref.domain == ref.domain and src_ref.path != repo:
                        if await client.mount_blob(repo, desc["digest"], src_ref.path):
                            mounted = src_ref.path
                            break
                if mounted is not None:
                    await emit({"status": f"Mounted from {mounted}", "progressDetail": {}, "id": short})
                else:
                    last = [0.0]

                    async def progress(done: int, total: int) -> None:
                        now = time.monotonic()
                        if now - last[0] >= 0.1 or done == total:
                            last[0] = now
                            msg: dict[str, Any] = {"status": "Pushing", "progressDetail": {"current": done, "total": total}, "id": short}
                            if progress_text is not None:
                                msg["progress"] = progress_text(done, total)
                            await emit(msg)

                    await client.upload_blob(repo, desc["digest"], store.blob_path(desc["digest"]), progress=progress)
                    await emit({"status": "Pushed", "progressDetail": {}, "id": short})
            store.note_blob_source(diff_id, desc["digest"], ref.repository().name)
            return desc

    try:
        descs = await asyncio.gather(*(one(d) for d in image.diff_ids))
        config_bytes = store.read_blob(image.id)
        if not await client.blob_exists(repo, image.id):
            await client.upload_blob_bytes(repo, image.id, config_bytes)
        layers = [
            {**d, "mediaType": MEDIA_DOCKER_LAYER_GZIP if d["mediaType"] in (MEDIA_DOCKER_LAYER_GZIP, MEDIA_OCI_LAYER_GZIP) else d["mediaType"]}
            for d in descs
        ]
        manifest = mf.build_v2s2(image.id, len(config_bytes), layers)
        digest = await client.put_manifest(repo, ref.tag, manifest, MT_DOCKER_MANIFEST)
    except Unauthorized as exc:
        raise RegistryError(f"denied: requested access to the resource is denied ({exc})", status=401) from exc
    store.set_repo_digest(ref.repository(), digest, image.id)
    await emit({"status": f"{ref.tag}: digest: {digest} size: {len(manifest)}"})
    await emit({"progressDetail": {}, "aux": {"Tag": ref.tag, "Digest": digest, "Size": len(manifest)}})
    return digest
