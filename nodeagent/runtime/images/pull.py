"""Pulling an image: manifest -> config -> layers (downloaded once, verified, unpacked).

Messages go to ``emit`` in the Docker Engine API's progress JSON, so the docker
CLI draws its per-layer bars; CRI callers may pass a no-op. Layers are fetched
three at a time; two pulls of the same blob share one download. Nothing is
registered until every layer is verified and unpacked.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from skiff.nodeagent.runtime.images import manifests as mf
from skiff.nodeagent.runtime.images import reference as refs
from skiff.nodeagent.runtime.images.auth import Credentials
from skiff.nodeagent.runtime.images.distribution import Registries
from skiff.nodeagent.runtime.images.errors import BadContent, ImageNotFound, RegistryError, Unauthorized
from skiff.nodeagent.runtime.images.registry import INDEX_TYPES
from skiff.nodeagent.runtime.images.store import Image, ImageStore, Layer

Emit = Callable[[dict[str, Any]], Awaitable[None]]
CONCURRENT_DOWNLOADS = 3


async def _noop(_: dict[str, Any]) -> None:
    return None


class _Throttle:
    """At most ~10 progress messages per second per layer."""

    def __init__(self) -> None:
        self.last = 0.0

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self.last >= 0.1:
            self.last = now
            return True
        return False


async def pull(
    store: ImageStore, registries: Registries, ref: refs.Reference, *,
    credentials: Credentials | None = None, emit: Emit = _noop,
    platform: dict[str, str] | None = None, progress_text: Callable[[int, int], str] | None = None,
) -> Image:
    ref = refs.with_default_tag(ref)
    client = registries.client(ref.domain, credentials)
    shown = ref.familiar()
    want = platform or mf.host_platform()
    target = ref.digest or ref.tag or "latest"
    try:
        body, media_type, top_digest = await client.get_manifest(ref.path, target)
    except Unauthorized as exc:
        raise ImageNotFound(
            f"pull access denied for {ref.familiar_name()}, repository does not exist or may "
            f"require 'docker login': {exc}"
        ) from exc
    except RegistryError as exc:
        if exc.status == 404:
            raise ImageNotFound(f"manifest for {shown} not found: {exc}") from exc
        raise
    await emit({"status": f"Pulling from {ref.path if ref.domain != refs.DEFAULT_DOMAIN else ref.familiar_name()}",
                "id": ref.tag or ref.digest})
    if media_type in INDEX_TYPES:
        desc = mf.choose_platform(orjson.loads(body), want)
        body, media_type, _ = await client.get_manifest(ref.path, desc["digest"])
        if media_type in INDEX_TYPES:
            raise BadContent("manifest: nested index is not supported")
    config_desc, layer_descs = mf.parse_manifest(body, media_type)
    image_id = config_desc["digest"]
    before = store.lookup_ref(ref) if ref.tag else None
    if store.has_blob(image_id):
        config_bytes = store.read_blob(image_id)
    else:
        config_bytes = await client.get_blob_bytes(ref.path, image_id)
    try:
        cfg = orjson.loads(config_bytes)
    except orjson.JSONDecodeError as exc:
        raise BadContent(f"image config {image_id}: not JSON") from exc
    diff_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
    if len(diff_ids) != len(layer_descs):
        raise BadContent(
            f"image config {image_id}: {len(diff_ids)} diff_ids for {len(layer_descs)} layers"
        )
    pins = [d["digest"] for d in layer_descs] + list(diff_ids) + [image_id]
    store.pin(pins)
    try:
        sem = asyncio.Semaphore(CONCURRENT_DOWNLOADS)
        # layers download and unpack in parallel, but report "Pull complete" bottom-up as dockerd
        done = [asyncio.Event() for _ in layer_descs]
        tasks = [
            asyncio.create_task(_layer(store, client, ref.path, desc, diff_id, sem, emit, progress_text,
                                       after=done[i - 1] if i else None, done=done[i]))
            for i, (desc, diff_id) in enumerate(zip(layer_descs, diff_ids))
        ]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for desc, diff_id in zip(layer_descs, diff_ids):
            store.note_blob_source(diff_id, desc["digest"], ref.repository().name)
        to_set = [ref.repository().with_digest(top_digest)]
        if ref.tag:
            to_set.insert(0, ref)
        image = await store.register(config_bytes, refs_to_set=to_set, expect_id=image_id)
    except BaseException:
        store.unpin(pins)
        await store.gc(diff_ids)  # what this pull added, unless another image uses it
        raise
    store.unpin(pins)
    await emit({"status": f"Digest: {top_digest}"})
    if before == image.id:
        await emit({"status": f"Status: Image is up to date for {shown}"})
    else:
        await emit({"status": f"Status: Downloaded newer image for {shown}"})
    return image


async def _layer(
    store: ImageStore, client: Any, repo: str, desc: dict[str, Any], diff_id: str,
    sem: asyncio.Semaphore, emit: Emit, progress_text: Callable[[int, int], str] | None,
    *, after: asyncio.Event | None, done: asyncio.Event,
) -> Layer:
    short = desc["digest"][7:19]
    existing = store.get_layer(diff_id)
    if existing is not None:
        await emit({"status": "Already exists", "progressDetail": {}, "id": short})
        done.set()
        return existing
    await emit({"status": "Pulling fs layer", "progressDetail": {}, "id": short})

    async def fetch_and_unpack() -> Layer:
        if sem.locked():
            await emit({"status": "Waiting", "progressDetail": {}, "id": short})
        async with sem:
            blob_path = store.blob_path(desc["digest"])
            if blob_path.exists():
                await emit({"status": "Download complete", "progressDetail": {}, "id": short})
                source = blob_path
            else:
                source = store.temp_path()
                throttle = _Throttle()

                async def progress(done: int, total: int) -> None:
                    if throttle.ready() or done == total:
                        msg: dict[str, Any] = {
                            "status": "Downloading",
                            "progressDetail": {"current": done, "total": total},
                            "id": short,
                        }
                        if progress_text is not None:
                            msg["progress"] = progress_text(done, total)
                        await emit(msg)

                try:
                    await client.download_blob(repo, desc["digest"], source, size=desc["size"], progress=progress)
                except BaseException:
                    source.unlink(missing_ok=True)
                    raise
                await emit({"status": "Verifying Checksum", "progressDetail": {}, "id": short})
                await emit({"status": "Download complete", "progressDetail": {}, "id": short})
        await emit({"status": "Extracting", "progressDetail": {"current": 0, "total": desc["size"]},
                    "id": short})
        loop = asyncio.get_running_loop()

        def extracting(done: int, total: int) -> None:  # called from the unpack thread
            msg: dict[str, Any] = {"status": "Extracting", "progressDetail": {"current": done, "total": total},
                                   "id": short}
            if progress_text is not None:
                msg["progress"] = progress_text(done, total)
            asyncio.run_coroutine_threadsafe(emit(msg), loop)

        try:
            layer = await store.add_layer(source, blob=desc, expect_diff_id=diff_id, progress=extracting)
        except BaseException:
            if source != blob_path:
                source.unlink(missing_ok=True)
            raise
        if source != blob_path:
            store.adopt_blob_file(source, desc["digest"])
        return layer

    layer: Layer = await store.once("layer:" + diff_id, fetch_and_unpack)
    if after is not None:
        await after.wait()
    await emit({"status": "Pull complete", "progressDetail": {}, "id": short})
    done.set()
    return layer
