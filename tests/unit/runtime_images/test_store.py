"""The image store on a temp dir: register, resolve, tag, rmi semantics, GC, restart."""
from __future__ import annotations

import asyncio
import io
import tarfile
from pathlib import Path

import pytest

from skiff.nodeagent.runtime.images.errors import ImageConflict, ImageNotFound
from skiff.nodeagent.runtime.images.store import ImageStore


def layer(files: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


async def make(store: ImageStore, tags: list[str], files: dict[str, bytes] | None = None, *, base: bool = True):  # type: ignore[no-untyped-def]
    layers = []
    if base:
        layers.append(await store.add_layer(layer({"bin/base": b"base"})))
    if files:
        layers.append(await store.add_layer(layer(files)))
    return await store.create_image({"config": {"Cmd": ["sh"]}}, layers, tags=tags)


async def test_register_resolve_and_layer_dirs(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    img = await make(store, ["busybox", "reg:5000/team/app:v1"], {"etc/x": b"1"})
    assert img.repo_tags == ["busybox:latest", "reg:5000/team/app:v1"]
    for text in ("busybox", "busybox:latest", "docker.io/library/busybox", img.id, img.id[7:19], img.id[:15]):
        assert store.resolve(text).id == img.id
    dirs = store.layer_dirs(img)
    assert [d.name for d in dirs] == ["diff", "diff"]
    assert (dirs[0] / "bin/base").read_bytes() == b"base" and (dirs[1] / "etc/x").read_bytes() == b"1"
    assert img.config["rootfs"]["diff_ids"] == img.diff_ids
    with pytest.raises(ImageNotFound):
        store.resolve("busybox:other")


async def test_shared_layer_stored_once_and_gc_keeps_it(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    a = await make(store, ["a"], {"a": b"a"})
    b = await make(store, ["b"], {"b": b"b"})
    assert a.diff_ids[0] == b.diff_ids[0]
    assert len(list((tmp_path / "layers").iterdir())) == 3
    out = await store.delete("a")
    assert out[0] == {"Untagged": "a:latest"} and {"Deleted": a.id} in out
    remaining = {p.name for p in (tmp_path / "layers").iterdir()}
    assert remaining == {d[7:] for d in b.diff_ids}


@pytest.mark.parametrize(
    ("tags", "target", "force", "expect_untagged", "deleted"),
    [
        (["x:1", "x:2"], "x:1", False, ["x:1"], False),
        (["x:1"], "x:1", False, ["x:1"], True),
        (["x:1", "y:1"], "ID", True, ["x:1", "y:1"], True),
        (["x:1"], "ID", False, ["x:1"], True),
    ],
    ids=["untag-one-of-two", "last-tag-deletes", "id-forced", "id-single-repo"],
)
async def test_rmi_semantics(tmp_path: Path, tags: list[str], target: str, force: bool,
                             expect_untagged: list[str], deleted: bool) -> None:
    store = ImageStore(tmp_path)
    img = await make(store, tags)
    out = await store.delete(img.id[7:19] if target == "ID" else target, force=force)
    assert [r["Untagged"] for r in out if "Untagged" in r] == [t.replace(":", ":") for t in expect_untagged]
    assert ({"Deleted": img.id} in out) is deleted


async def test_rmi_conflicts(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    img = await make(store, ["x:1", "y:1"])
    with pytest.raises(ImageConflict, match="referenced in multiple repositories"):
        await store.delete(img.id[7:19])
    store.add_usage_checker(lambda image_id: ["c0ffee" * 10] if image_id == img.id else [])
    await store.delete("y:1")
    with pytest.raises(ImageConflict, match="container c0ffeec0ffee is using its referenced image"):
        await store.delete("x:1")
    out = await store.delete("x:1", force=True)
    assert out == [{"Untagged": "x:1"}]  # used by a container: untagged, kept
    assert store.get(img.id).repo_tags == []


async def test_store_survives_restart_and_drops_half_layers(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    img = await make(store, ["keep:1"], {"f": b"f"})
    (tmp_path / "layers" / ("0" * 64)).mkdir()  # a layer dir whose metadata never got written
    (tmp_path / "tmp" / "dl-partial").write_bytes(b"partial")
    again = ImageStore(tmp_path)
    assert again.resolve("keep:1").id == img.id
    assert not (tmp_path / "layers" / ("0" * 64)).exists()
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_prune_dangling_and_all(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    dangling = await make(store, [], {"d": b"d"})
    tagged = await make(store, ["t:1"], {"t": b"t"})
    deleted, reclaimed = await store.prune()
    assert {"Deleted": dangling.id} in deleted and reclaimed > 0
    assert store.resolve("t:1").id == tagged.id
    deleted, _ = await store.prune(all_images=True)
    assert {"Deleted": tagged.id} in deleted
    assert store.list_images() == []


async def test_once_shares_one_run(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    runs = 0
    gate = asyncio.Event()

    async def work() -> str:
        nonlocal runs
        runs += 1
        await gate.wait()
        return "done"

    tasks = [asyncio.create_task(store.once("k", work)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*tasks) == ["done"] * 5
    assert runs == 1


async def test_once_waiter_takes_over_when_owner_is_cancelled(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    started = asyncio.Event()
    calls: list[str] = []

    async def slow() -> str:
        calls.append("owner")
        started.set()
        await asyncio.sleep(3600)
        return "never"

    async def quick() -> str:
        calls.append("waiter")
        return "waiter-result"

    owner = asyncio.create_task(store.once("k", slow))
    await started.wait()
    waiter = asyncio.create_task(store.once("k", quick))
    await asyncio.sleep(0)
    owner.cancel()
    assert await waiter == "waiter-result"
    assert calls == ["owner", "waiter"]
    with pytest.raises(asyncio.CancelledError):
        await owner


async def test_failed_candidates_gc_keeps_fresh_unregistered_layers(tmp_path: Path) -> None:
    """rmi collects only the deleted image's layers, never a layer another request just added."""
    store = ImageStore(tmp_path)
    img = await make(store, ["gone:1"], {"g": b"g"})
    fresh = await store.add_layer(layer({"fresh": b"f"}))  # e.g. an import between unpack and register
    await store.delete("gone:1")
    assert store.get_layer(fresh.diff_id) is not None
    assert all(store.get_layer(d) is None for d in img.diff_ids)
    # a restart sweeps what never got registered
    again = ImageStore(tmp_path)
    assert again.get_layer(fresh.diff_id) is None
