"""The build context on disk: unpacking (safely), .dockerignore removal, source hashes."""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from skiff.nodeagent.runtime.build.context import ContextError, apply_dockerignore, source_hash, unpack, walk


def tar(*members: tuple[str, str, str]) -> io.BytesIO:
    """(kind, name, data-or-linkname) with kind 'f', 'l' (symlink), 'h' (hard link), 'd'."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            if kind == "f":
                info.size, info.mode = len(data), 0o755
                t.addfile(info, io.BytesIO(data.encode()))
                continue
            info.type = {"l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE, "d": tarfile.DIRTYPE}[kind]
            info.linkname = data
            t.addfile(info)
    buf.seek(0)
    return buf


def test_unpack_keeps_modes_and_symlinks_anywhere(tmp_path: Path) -> None:
    unpack(tar(("f", "bin/run.sh", "#!/bin/sh"), ("l", "etc-link", "/etc"), ("l", "rel", "bin/run.sh")), tmp_path)
    assert os.stat(tmp_path / "bin/run.sh").st_mode & 0o777 == 0o755
    assert os.readlink(tmp_path / "etc-link") == "/etc"
    assert walk(tmp_path) == ["bin", "bin/run.sh", "etc-link", "rel"]


@pytest.mark.parametrize("members", [
    (("f", "../escape", "x"),),
    (("l", "link", "/tmp"), ("f", "link/through", "x")),
    (("l", "up", ".."), ("f", "up/escape", "x")),
], ids=["dotdot", "through-absolute-symlink", "through-relative-symlink"])
def test_unpack_refuses_escapes(tmp_path: Path, members: tuple[tuple[str, str, str], ...]) -> None:
    dest = tmp_path / "ctx"
    dest.mkdir()
    with pytest.raises(ContextError, match="invalid build context"):
        unpack(tar(*members), dest)
    assert not (tmp_path / "escape").exists() and not Path("/tmp/through").exists()


def test_absolute_names_and_hard_links_stay_inside(tmp_path: Path) -> None:
    dest = tmp_path / "ctx"
    dest.mkdir()
    unpack(tar(("f", "/abs", "x"), ("h", "hard", "/abs")), dest)  # names are read from the context root
    assert walk(dest) == ["abs", "hard"] and (dest / "hard").read_text() == "x"


def test_empty_body_is_an_empty_context(tmp_path: Path) -> None:
    unpack(io.BytesIO(b""), tmp_path)
    assert walk(tmp_path) == []


def test_apply_dockerignore_keeps_dockerfile_and_exceptions(tmp_path: Path) -> None:
    for name in ("Dockerfile", ".dockerignore", "a.log", "keep/x.log", "dir/sub/f", "dir/keep.txt", "src/main.c"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / ".dockerignore").write_text("*.log\nDockerfile\n.dockerignore\ndir\n!dir/keep.txt\n")
    apply_dockerignore(tmp_path, keep={"Dockerfile", ".dockerignore"})
    assert [p for p in walk(tmp_path) if (tmp_path / p).is_file()] == [
        ".dockerignore", "Dockerfile", "dir/keep.txt", "keep/x.log", "src/main.c"]


def test_source_hash_follows_content_not_mtime(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("one")
    h1 = source_hash(f)
    os.utime(f, (1, 1))
    assert source_hash(f) == h1 and h1.startswith("file:")
    f.write_text("two")
    assert source_hash(f) != h1
    d = tmp_path / "d"
    (d / "s").mkdir(parents=True)
    (d / "s" / "x").write_text("x")
    h2 = source_hash(d)
    assert h2.startswith("dir:")
    (d / "s" / "x").chmod(0o600)
    assert source_hash(d) != h2
