"""Pure parts of attach and volumes: detach keys, their matcher, volume copy-up decisions."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from skiff.nodeagent.runtime.containers import volumes
from skiff.nodeagent.runtime.dockerapi.hijack import DetachKeysError, DetachMatcher, parse_detach_keys


@pytest.mark.parametrize(("text", "want"), [
    ("ctrl-p,ctrl-q", b"\x10\x11"),
    ("ctrl-x,y", b"\x18y"),
    ("ctrl-@", b"\x00"),
    ("ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", b"\x1b\x1c\x1d\x1e\x1f"),
    ("ctrl-A", b"\x01"),
    ("a,b", b"ab"),
], ids=["default", "ctrl-and-char", "ctrl-at", "ctrl-punctuation", "upper-case", "chars"])
def test_parse_detach_keys(text: str, want: bytes) -> None:
    assert parse_detach_keys(text) == want


@pytest.mark.parametrize("text", ["ctrl-", "ctrl-1", "ab", "ctrl-pq", ""], ids=["bare-ctrl", "ctrl-digit",
                                                                              "two-chars", "long-ctrl", "empty"])
def test_bad_detach_keys(text: str) -> None:
    with pytest.raises(DetachKeysError, match="Invalid detach keys"):
        parse_detach_keys(text)


def feed_all(keys: bytes, chunks: list[bytes]) -> tuple[bytes, bool]:
    m = DetachMatcher(keys)
    out = b""
    for c in chunks:
        data, detached = m.feed(c)
        out += data
        if detached:
            return out, True
    return out, False


@pytest.mark.parametrize(("chunks", "want"), [
    ([b"ls\r"], (b"ls\r", False)),
    ([b"\x10\x11"], (b"", True)),
    ([b"echo\r\x10\x11more"], (b"echo\r", True)),
    ([b"\x10", b"\x11"], (b"", True)),
    ([b"a\x10", b"b"], (b"a\x10b", False)),        # a lone ^P reaches the container with the next key
    ([b"\x10", b"\x10", b"\x11"], (b"\x10", True)),
    ([b"x\x10"], (b"x", False)),                     # held back: it may start the sequence
], ids=["plain", "both-at-once", "after-input", "split", "not-a-sequence", "repeated-first-key", "held"])
def test_detach_matcher(chunks: list[bytes], want: tuple[bytes, bool]) -> None:
    assert feed_all(b"\x10\x11", chunks) == want


def test_detach_matcher_without_keys_forwards_everything() -> None:
    assert DetachMatcher(b"").feed(b"\x10\x11") == (b"\x10\x11", False)


@pytest.mark.parametrize(("spec", "copy"), [
    ("data:/srv", True), ("data:/srv:ro", True), ("data:/srv:nocopy", False), ("/srv", True),
], ids=["named", "read-only", "nocopy", "anonymous"])
def test_bind_syntax_copy_flag(spec: str, copy: bool) -> None:
    assert volumes.parse_bind(spec)["CopyData"] is copy


def test_mount_volume_nocopy() -> None:
    assert volumes.parse_mount({"Type": "volume", "Source": "v", "Target": "/x"})["CopyData"] is True
    assert volumes.parse_mount({"Type": "volume", "Source": "v", "Target": "/x",
                                "VolumeOptions": {"NoCopy": True}})["CopyData"] is False


def test_bind_mounts_never_copy() -> None:
    assert "CopyData" not in volumes.parse_bind("/host:/ctr")


def make_image_dir(root: Path) -> None:
    d = root / "srv" / "site"
    (d / "sub").mkdir(parents=True)
    (d / "index.html").write_text("hello")
    (d / "sub" / "a.txt").write_text("a")
    os.link(d / "index.html", d / "hard.html")
    os.symlink("index.html", d / "link.html")
    os.chown(d / "sub" / "a.txt", 1234, 5678)
    os.chmod(d / "sub" / "a.txt", 0o640)
    os.chmod(d, 0o750)
    os.chown(d, 33, 33)


def test_copy_image_content(tmp_path: Path) -> None:
    rootfs, vol = tmp_path / "rootfs", tmp_path / "vol"
    make_image_dir(rootfs)
    vol.mkdir()
    assert volumes.copy_image_content(rootfs, "/srv/site", vol)
    assert (vol / "index.html").read_text() == "hello"
    assert (vol / "sub" / "a.txt").read_text() == "a"
    st = (vol / "sub" / "a.txt").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1234, 5678, 0o640)
    assert os.readlink(vol / "link.html") == "index.html"
    assert (vol / "hard.html").stat().st_ino == (vol / "index.html").stat().st_ino
    top = vol.stat()
    assert (top.st_uid, top.st_mode & 0o777) == (33, 0o750)  # the volume takes the image dir's owner and mode


def test_copy_only_into_an_empty_volume(tmp_path: Path) -> None:
    rootfs, vol = tmp_path / "rootfs", tmp_path / "vol"
    make_image_dir(rootfs)
    vol.mkdir()
    (vol / "mine").write_text("kept")
    assert not volumes.copy_image_content(rootfs, "/srv/site", vol)
    assert sorted(p.name for p in vol.iterdir()) == ["mine"]


@pytest.mark.parametrize("dest", ["/nowhere", "/srv/site/index.html"], ids=["missing", "a-file"])
def test_no_copy_from_what_is_not_a_directory(tmp_path: Path, dest: str) -> None:
    rootfs, vol = tmp_path / "rootfs", tmp_path / "vol"
    make_image_dir(rootfs)
    vol.mkdir()
    assert not volumes.copy_image_content(rootfs, dest, vol)
    assert list(vol.iterdir()) == []


def test_copy_resolves_symlinks_inside_the_image(tmp_path: Path) -> None:
    """/web -> /srv/site in the image: the path is resolved in the image, never on the host."""
    rootfs, vol = tmp_path / "rootfs", tmp_path / "vol"
    make_image_dir(rootfs)
    os.symlink("/srv/site", rootfs / "web")
    vol.mkdir()
    assert volumes.copy_image_content(rootfs, "/web", vol)
    assert (vol / "index.html").read_text() == "hello"
