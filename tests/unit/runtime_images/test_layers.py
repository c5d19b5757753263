"""Layer tar unpacking: overlayfs whiteouts, metadata, and refusal of unsafe archives."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from skiff.nodeagent.runtime.images.errors import BadContent
from skiff.nodeagent.runtime.images.layers import OPAQUE_XATTR, unpack_layer, write_layer_tar


def member(name: str, *, data: bytes = b"", type: bytes = tarfile.REGTYPE, linkname: str = "",
           mode: int = 0o644, uid: int = 0, mtime: int = 1_600_000_000) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = type
    info.linkname = linkname
    info.size = len(data) if type == tarfile.REGTYPE else 0
    info.mode = mode
    info.uid = uid
    info.mtime = mtime
    return info, data


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def test_unpack_files_links_modes_and_diff_id(tmp_path: Path) -> None:
    raw = tar_bytes([
        member("bin", type=tarfile.DIRTYPE, mode=0o755),
        member("bin/busybox", data=b"#!bin", mode=0o4755, uid=1000),
        member("bin/sh", type=tarfile.SYMTYPE, linkname="/bin/busybox"),
        member("bin/ls", type=tarfile.LNKTYPE, linkname="bin/busybox"),
        member("./etc/conf", data=b"k=v"),
        member("run/fifo", type=tarfile.FIFOTYPE),
    ])
    for payload in (raw, gzip.compress(raw)):
        dest = tmp_path / ("gz" if payload is not raw else "plain")
        dest.mkdir()
        diff_id, size, tar_size = unpack_layer(io.BytesIO(payload), dest)
        assert diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
        assert tar_size == len(raw)
        assert size == len(b"#!bin") + len(b"k=v")
        st = os.lstat(dest / "bin/busybox")
        assert stat.S_IMODE(st.st_mode) == 0o4755 and st.st_uid == 1000
        assert st.st_mtime == 1_600_000_000
        assert os.readlink(dest / "bin/sh") == "/bin/busybox"
        assert os.lstat(dest / "bin/ls").st_ino == st.st_ino
        assert (dest / "etc/conf").read_bytes() == b"k=v"
        assert stat.S_ISFIFO(os.lstat(dest / "run/fifo").st_mode)


def test_whiteouts_become_overlayfs_form(tmp_path: Path) -> None:
    raw = tar_bytes([
        member("etc", type=tarfile.DIRTYPE),
        member("etc/.wh.motd"),
        member("var/cache", type=tarfile.DIRTYPE),
        member("var/cache/.wh..wh..opq"),
        member("var/cache/new", data=b"n"),
    ])
    unpack_layer(io.BytesIO(raw), tmp_path)
    st = os.lstat(tmp_path / "etc/motd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(tmp_path / "var/cache", OPAQUE_XATTR) == b"y"
    assert not (tmp_path / "var/cache/.wh..wh..opq").exists()


def test_write_layer_tar_round_trips_whiteouts(tmp_path: Path) -> None:
    src = tmp_path / "upper"
    (src / "etc").mkdir(parents=True)
    (src / "etc/new").write_text("n")
    os.mknod(src / "etc/gone", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    (src / "opq").mkdir()
    os.setxattr(src / "opq", OPAQUE_XATTR, b"y")
    (src / "lnk").symlink_to("/etc/new")
    buf = io.BytesIO()
    write_layer_tar(src, buf)
    names = tarfile.open(fileobj=io.BytesIO(buf.getvalue())).getnames()
    assert "etc/.wh.gone" in names and "opq/.wh..wh..opq" in names and "lnk" in names
    out = tmp_path / "out"
    out.mkdir()
    unpack_layer(io.BytesIO(buf.getvalue()), out)
    assert stat.S_ISCHR(os.lstat(out / "etc/gone").st_mode)
    assert os.getxattr(out / "opq", OPAQUE_XATTR) == b"y"
    assert (out / "etc/new").read_text() == "n"


BAD = [
    ("absolute", [member("/etc/passwd", data=b"x")], "absolute path"),
    ("dotdot", [member("a/../../x", data=b"x")], "contains '..'"),
    ("block-device", [member("dev/sda", type=tarfile.BLKTYPE)], "device node"),
    ("char-device", [member("dev/null", type=tarfile.CHRTYPE)], "device node"),
    ("write-through-symlink", [member("l", type=tarfile.SYMTYPE, linkname="/"), member("l/x", data=b"x")], "symlink"),
    ("hardlink-through-symlink", [member("l", type=tarfile.SYMTYPE, linkname="/etc"),
                                  member("h", type=tarfile.LNKTYPE, linkname="l/passwd")], "symlink"),
    ("symlink-climbs-out", [member("a/b", type=tarfile.SYMTYPE, linkname="../../x")], "escapes the root"),
    ("hardlink-dotdot", [member("h", type=tarfile.LNKTYPE, linkname="../x")], "contains '..'"),
    ("hardlink-missing", [member("h", type=tarfile.LNKTYPE, linkname="nothere")], "target missing"),
    ("file-as-parent", [member("f", data=b"1"), member("f/x", data=b"2")], "not a directory"),
    ("bad-whiteout", [member("a/.wh.")], "bad whiteout"),
]


@pytest.mark.parametrize(("members", "needle"), [(m, n) for _, m, n in BAD], ids=[i for i, _, _ in BAD])
def test_unsafe_archives_are_refused(tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]], needle: str) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(BadContent) as info:
        unpack_layer(io.BytesIO(tar_bytes(members)), dest)
    assert needle in str(info.value)
    assert not (tmp_path / "x").exists()


def test_symlink_within_root_is_fine(tmp_path: Path) -> None:
    unpack_layer(io.BytesIO(tar_bytes([member("a/b/c", type=tarfile.SYMTYPE, linkname="../../d")])), tmp_path)
    assert os.readlink(tmp_path / "a/b/c") == "../../d"


def test_truncated_and_garbage_streams(tmp_path: Path) -> None:
    raw = tar_bytes([member("f", data=os.urandom(50000))])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(BadContent):
        unpack_layer(io.BytesIO(gzip.compress(raw)[:-100]), tmp_path / "a")
    with pytest.raises(BadContent):
        unpack_layer(io.BytesIO(raw[:20000]), tmp_path / "b")


def test_overlay_xattrs_from_the_archive_are_dropped(tmp_path: Path) -> None:
    info, data = member("etc", type=tarfile.DIRTYPE)
    info.pax_headers = {"SCHILY.xattr.trusted.overlay.redirect": "/../../x", "SCHILY.xattr.user.keep": "1"}
    unpack_layer(io.BytesIO(tar_bytes([(info, data)])), tmp_path)
    assert os.getxattr(tmp_path / "etc", "user.keep") == b"1"
    with pytest.raises(OSError):
        os.getxattr(tmp_path / "etc", "trusted.overlay.redirect")
