"""Fixtures for runtime tests: a busybox rootfs, bundles, and a runtime runner that
cleans up its containers and cgroups even when a test fails."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skiff.nodeagent.runtime.cgroups.detect import own_cgroups, read_hierarchies
from skiff.nodeagent.runtime.oci.defaults import docker_spec
from tests.support.busybox_rootfs import make_rootfs

SKIFF = [sys.executable, "-m", "skiff.cmd.main"]


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


class Runtime:
    """``skiff runtime`` (or runc/crun) with its own --root and cgroup parent."""

    def __init__(self, tmp: Path, rootfs: Path, cmd: list[str]) -> None:
        self.tmp = tmp
        self.rootfs = rootfs
        self.root = tmp / "state"
        self.cmd = cmd
        self.cgroup_parent = f"skiff-test-{uuid.uuid4().hex[:10]}"
        self.ids: list[str] = []

    def bundle(self, args: list[str], *, name: str | None = None, **kw: Any) -> tuple[str, Path]:
        cid = name or f"c{uuid.uuid4().hex[:8]}"
        b = self.tmp / f"bundle-{cid}"
        b.mkdir()
        kw.setdefault("hostname", cid)
        spec = docker_spec(args, rootfs=str(self.rootfs), cgroups_path=f"{self.cgroup_parent}/{cid}", **kw)
        spec["root"]["readonly"] = kw.get("readonly", True)
        (b / "config.json").write_text(json.dumps(spec))
        self.ids.append(cid)
        return cid, b

    def __call__(self, *args: str, check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        # Files, not pipes: a detached container inherits the caller's stdio and would
        # keep a pipe open (runc behaves the same).
        import tempfile

        argv = [*self.cmd, "--root", str(self.root), *args]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=timeout)
            out.seek(0)
            err.seek(0)
            res = subprocess.CompletedProcess(argv, p.returncode, out.read(), err.read())
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr}")
        return res

    def state(self, cid: str) -> dict[str, Any]:
        out = self("state", cid, check=True).stdout
        return json.loads(out)  # type: ignore[no-any-return]

    def cgroup_dir(self, controller: str, cid: str) -> Path:
        hier = read_hierarchies()
        own = own_cgroups()
        return Path(hier.v1[controller]) / own.get(controller, "/").lstrip("/") / self.cgroup_parent / cid

    def cleanup(self) -> None:
        for cid in self.ids:
            self("delete", "--force", cid)
        hier = read_hierarchies()
        own = own_cgroups()
        roots = [(c, m) for c, m in hier.v1.items()] + ([("", hier.unified)] if hier.unified else [])
        for ctrl, mnt in roots:
            # Under our own cgroup (skiff, runc) or the hierarchy root (crun's reading).
            for parent in {Path(mnt) / own.get(ctrl, "/").lstrip("/") / self.cgroup_parent,
                           Path(mnt) / self.cgroup_parent}:
                if parent.is_dir():
                    for child in parent.iterdir():
                        if child.is_dir():
                            child.rmdir()
                    parent.rmdir()


@pytest.fixture
def runtime(tmp_path: Path, busybox_rootfs: Path) -> Iterator[Runtime]:
    rt = Runtime(tmp_path, busybox_rootfs, SKIFF + ["runtime"])
    try:
        yield rt
    finally:
        rt.cleanup()


def leftover_cgroups(rt: Runtime) -> list[str]:
    hier = read_hierarchies()
    own = own_cgroups()
    out = []
    for ctrl, mnt in hier.v1.items():
        parent = Path(mnt) / own.get(ctrl, "/").lstrip("/") / rt.cgroup_parent
        if parent.is_dir() and any(p.is_dir() for p in parent.iterdir()):
            out.append(str(parent))
    return out


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def wait_for(cond, timeout: float = 20.0, interval: float = 0.02) -> bool:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(interval)
    return bool(cond())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ------------------------------------------------------------ engine (docker CLI) tests
from tests.support.engine import ContainerEngine, container_engine  # noqa: E402


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerEngine]:
    """``skiff daemon`` in a test netns with busybox loaded, shared by a module's tests."""
    with container_engine(tmp_path_factory.mktemp("engine")) as eng:
        yield eng


@pytest.fixture
def own_engine(tmp_path: Path) -> Iterator[ContainerEngine]:
    """An engine for one test (restart tests kill it)."""
    with container_engine(tmp_path / "engine") as eng:
        yield eng


def unique(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
