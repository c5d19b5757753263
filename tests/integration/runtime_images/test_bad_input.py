"""Bad input (digest mismatch, malicious or broken tars, bad references) changes nothing."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engine import RunningDaemon, RunningRegistry, docker_registry, push_test_images

pytestmark = pytest.mark.integration


def snapshot(root: Path) -> list[tuple[str, int]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root / "image"):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            out.append((os.path.relpath(p, root), os.lstat(p).st_size if n in filenames else -1))
    return sorted(out)


@pytest.fixture(scope="module")
def corrupt_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with docker_registry(tmp_path_factory.mktemp("corrupt-reg")) as reg:
        push_test_images(reg, only="busybox-multi")
        yield reg


def _member(name: str, *, data: bytes = b"", type: bytes = tarfile.REGTYPE, linkname: str = "",
            devmajor: int = 0, devminor: int = 0) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = type
    info.linkname = linkname
    info.size = len(data) if type == tarfile.REGTYPE else 0
    info.devmajor, info.devminor = devmajor, devminor
    info.mode = 0o644
    return info, data


def layer_tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def archive_with(layer: bytes, tmp: Path, *, tag: str, diff_id: str | None = None) -> Path:
    diff = diff_id or "sha256:" + hashlib.sha256(layer).hexdigest()
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    path = tmp / f"{tag.replace(':', '_').replace('/', '_')}.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in (("l/layer.tar", layer), (cfg_name, cfg),
                           ("manifest.json", json.dumps([{"Config": cfg_name, "RepoTags": [tag], "Layers": ["l/layer.tar"]}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


MALICIOUS = {
    "absolute-path": ([_member("/evil-abs", data=b"x")], "absolute path"),
    "dotdot": ([_member("../../evil-dotdot", data=b"x")], "contains '..'"),
    "device-node": ([_member("dev/sda", type=tarfile.BLKTYPE, devmajor=8)], "device node"),
    "char-device": ([_member("dev/mem", type=tarfile.CHRTYPE, devmajor=1, devminor=1)], "device node"),
    "symlink-then-write-through": ([_member("escape", type=tarfile.SYMTYPE, linkname="/tmp"),
                                    _member("escape/evil-through-link", data=b"x")], "symlink"),
    "relative-symlink-escape": ([_member("a/up", type=tarfile.SYMTYPE, linkname="../../../../etc")], "escapes the root"),
    "hardlink-escape": ([_member("pw", type=tarfile.LNKTYPE, linkname="../../etc/passwd")], "contains '..'"),
    "hardlink-absolute": ([_member("pw", type=tarfile.LNKTYPE, linkname="/etc/passwd")], "absolute path"),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS), ids=sorted(MALICIOUS))
def test_malicious_layer_is_refused_and_store_unchanged(daemon: RunningDaemon, tmp_path: Path, case: str) -> None:
    members, needle = MALICIOUS[case]
    daemon.docker("images")
    before = snapshot(daemon.root)
    archive = archive_with(layer_tar(members), tmp_path, tag=f"evil/{case}:1")
    res = daemon.docker("load", "-i", str(archive), check=False)
    assert res.returncode != 0, res.stdout
    assert needle in res.stderr + res.stdout
    assert snapshot(daemon.root) == before
    assert daemon.docker("images", "-q", f"evil/{case}").stdout.strip() == ""
    assert not Path("/evil-abs").exists() and not Path("/tmp/evil-through-link").exists()


def test_malicious_import_is_refused(daemon: RunningDaemon, tmp_path: Path) -> None:
    before = snapshot(daemon.root)
    bad = tmp_path / "bad.tar"
    bad.write_bytes(layer_tar([_member("ok", data=b"1"), _member("../evil-import", data=b"x")]))
    res = daemon.docker("import", str(bad), "evilimport", check=False)
    assert res.returncode != 0 and "contains '..'" in res.stderr
    assert snapshot(daemon.root) == before


def test_truncated_layer_and_wrong_diff_id_are_refused(daemon: RunningDaemon, tmp_path: Path) -> None:
    import gzip

    good = layer_tar([_member("etc/file", data=os.urandom(20000))])
    before = snapshot(daemon.root)
    truncated = archive_with(gzip.compress(good)[:-200], tmp_path, tag="broken/trunc:1",
                             diff_id="sha256:" + hashlib.sha256(good).hexdigest())
    res = daemon.docker("load", "-i", str(truncated), check=False)
    assert res.returncode != 0 and ("truncated" in res.stderr or "corrupt" in res.stderr)
    wrong = archive_with(good, tmp_path, tag="broken/diffid:1", diff_id="sha256:" + "0" * 64)
    res = daemon.docker("load", "-i", str(wrong), check=False)
    assert res.returncode != 0 and "diff ID mismatch" in res.stderr
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"this is not a tar archive" * 100)
    res = daemon.docker("load", "-i", str(garbage), check=False)
    assert res.returncode != 0 and "invalid archive" in res.stderr
    assert snapshot(daemon.root) == before


def test_blob_digest_mismatch_from_registry(daemon: RunningDaemon, corrupt_registry: RunningRegistry) -> None:
    import subprocess

    raw = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{corrupt_registry.host}/busybox-multi"],
        check=True, capture_output=True, text=True).stdout)
    top = raw["layers"][-1]["digest"]
    data_path = corrupt_registry.blob_data_path(top)
    original = data_path.read_bytes()
    data_path.write_bytes(bytes([original[0] ^ 0xFF]) + original[1:])  # same length, other content
    try:
        daemon.docker("images")
        before = snapshot(daemon.root)
        res = daemon.docker("pull", f"{corrupt_registry.host}/busybox-multi", check=False)
        assert res.returncode != 0
        assert "digest mismatch" in res.stderr + res.stdout
        assert snapshot(daemon.root) == before
        assert daemon.docker("images", "-q", f"{corrupt_registry.host}/busybox-multi").stdout.strip() == ""
    finally:
        data_path.write_bytes(original)
    out = daemon.docker("pull", f"{corrupt_registry.host}/busybox-multi").stdout
    assert "Downloaded newer image" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("pull", "127.0.0.1:1/x:"), "invalid reference format"),
        (("tag", "nosuch", "ok"), "No such image: nosuch"),
        (("push", "never/pulled:1"), "An image does not exist locally with the tag: never/pulled"),
    ],
    ids=["trailing-colon", "tag-missing-source", "push-missing"],
)
def test_bad_requests_name_the_problem(daemon: RunningDaemon, args: tuple[str, ...], needle: str) -> None:
    res = daemon.docker(*args, check=False)
    assert res.returncode != 0
    assert needle in res.stderr
