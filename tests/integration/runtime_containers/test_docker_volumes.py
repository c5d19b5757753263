"""Bind mounts and named/anonymous volumes through the docker CLI."""
from __future__ import annotations

import json
from pathlib import Path

from tests.integration.runtime_containers.conftest import unique
from tests.support.engine import ContainerEngine


def test_bind_mounts_rw_and_ro(engine: ContainerEngine, tmp_path: Path) -> None:
    host = tmp_path / "shared"
    host.mkdir()
    (host / "in.txt").write_text("from host\n")
    out = engine.docker("run", "--rm", "-v", f"{host}:/data", "busybox",
                        "sh", "-c", "cat /data/in.txt; echo from container > /data/out.txt").stdout
    assert out == "from host\n"
    assert (host / "out.txt").read_text() == "from container\n"
    res = engine.docker("run", "--rm", "-v", f"{host}:/data:ro", "busybox", "sh", "-c", "echo x > /data/no.txt",
                        check=False)
    assert res.returncode != 0 and "Read-only file system" in res.stderr
    assert not (host / "no.txt").exists()
    out = engine.docker("run", "--rm", "--mount", f"type=bind,source={host},target=/m,readonly", "busybox",
                        "ls", "/m").stdout
    assert out.split() == ["in.txt", "out.txt"]
    # -v creates a missing host directory; --mount refuses it, as Docker
    missing = tmp_path / "made-by-v"
    engine.docker("run", "--rm", "-v", f"{missing}:/x", "busybox", "true")
    assert missing.is_dir()
    res = engine.docker("run", "--rm", "--mount", f"type=bind,source={tmp_path / 'absent'},target=/x",
                        "busybox", "true", check=False)
    assert res.returncode == 125 and "bind source path does not exist" in res.stderr
    assert not [m for m in engine.mounts() if "/overlay2/" in m]


def test_named_volume_lifecycle(engine: ContainerEngine) -> None:
    vol = unique("vol")
    assert engine.docker("volume", "create", vol).stdout.strip() == vol
    info = json.loads(engine.docker("volume", "inspect", vol).stdout)[0]
    assert (info["Name"], info["Driver"], info["Scope"]) == (vol, "local", "local")
    assert info["Mountpoint"].endswith(f"/volumes/{vol}/_data")
    engine.docker("run", "--rm", "-v", f"{vol}:/v", "busybox", "sh", "-c", "echo kept > /v/f")
    assert engine.docker("run", "--rm", "-v", f"{vol}:/v", "busybox", "cat", "/v/f").stdout == "kept\n"
    assert vol in engine.docker("volume", "ls", "-q").stdout.split()

    name = unique()
    cid = engine.docker("run", "-d", "--name", name, "-v", f"{vol}:/v", "busybox", "sleep", "300").stdout.strip()
    mounts = json.loads(engine.docker("inspect", name).stdout)[0]["Mounts"]
    assert [(m["Type"], m["Name"], m["Destination"]) for m in mounts] == [("volume", vol, "/v")]
    res = engine.docker("volume", "rm", vol, check=False)
    assert res.returncode != 0 and f"remove {vol}: volume is in use - [{cid}]" in res.stderr
    engine.docker("rm", "-f", name)
    engine.docker("volume", "rm", vol)
    res = engine.docker("volume", "inspect", vol, check=False)
    assert res.returncode != 0 and "no such volume" in res.stderr.lower()


def test_anonymous_volume_removed_with_rm_v(engine: ContainerEngine) -> None:
    before = set(engine.docker("volume", "ls", "-q").stdout.split())
    name = unique()
    engine.docker("run", "--name", name, "-v", "/scratch", "busybox", "sh", "-c", "echo a > /scratch/f")
    new = set(engine.docker("volume", "ls", "-q").stdout.split()) - before
    assert len(new) == 1 and len(next(iter(new))) == 64
    engine.docker("rm", "-v", name)
    assert set(engine.docker("volume", "ls", "-q").stdout.split()) == before


def test_volume_prune(engine: ContainerEngine) -> None:
    named = unique("keepme")
    engine.docker("volume", "create", named)
    name = unique()
    engine.docker("create", "--name", name, "-v", "/anon", "busybox", "true")
    engine.docker("rm", name)  # without -v: the anonymous volume stays, unused
    out = engine.docker("volume", "prune", "-f").stdout
    assert named not in out  # named volumes only go with --all
    assert named in engine.docker("volume", "ls", "-q").stdout.split()
    out = engine.docker("volume", "prune", "-af").stdout
    assert named in out
    assert named not in engine.docker("volume", "ls", "-q").stdout.split()


def test_bad_volume_specs(engine: ContainerEngine) -> None:
    res = engine.docker("run", "--rm", "-v", "relative:dst", "busybox", "true", check=False)
    assert res.returncode == 125 and "invalid volume specification: 'relative:dst'" in res.stderr
    res = engine.docker("volume", "create", "bad/name", check=False)
    assert res.returncode != 0 and "includes invalid characters for a local volume name" in res.stderr
    res = engine.docker("volume", "rm", "no-such-volume", check=False)
    assert res.returncode != 0 and "no such volume" in res.stderr
