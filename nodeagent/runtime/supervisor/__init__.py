"""Per-container supervision: the ``skiff-shim`` C program and its Python side.

``binary(root)`` compiles shim.c once (at install time by deploy/install.sh, or on
first use into the engine root) and caches it by source hash; ``ShimFiles``
names the files a shim leaves in a container's directory.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import threading
from pathlib import Path

SOURCE = Path(__file__).with_name("shim.c")


class ShimBuildError(RuntimeError):
    pass


def binary(cache_dir: Path) -> Path:
    src = SOURCE.read_bytes()
    digest = hashlib.sha256(src).hexdigest()[:16]
    installed = os.environ.get("SKIFF_SHIM")
    if installed and os.access(installed, os.X_OK):
        return Path(installed)
    out = cache_dir / f"skiff-shim-{digest}"
    if out.exists():
        return out
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise ShimBuildError("skiff-shim: no C compiler found (install gcc, or set SKIFF_SHIM to a built shim)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Containers start concurrently: one caller compiles (under a lock, into a file of its own,
    # renamed into place), the others wait and use its result. Two compilers writing one
    # temporary file would leave a binary still open for writing: exec fails with ETXTBSY.
    with open(cache_dir / ".skiff-shim.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.exists():
            return out
        tmp = out.with_name(f"{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        r = subprocess.run([cc, "-O2", "-o", str(tmp), str(SOURCE)], capture_output=True, text=True)
        if r.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise ShimBuildError(f"skiff-shim: compile failed: {r.stderr.strip()}")
        os.replace(tmp, out)
    return out


class ShimFiles:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.init_pid = directory / "init.pid"
        self.shim_pid = directory / "shim.pid"
        self.exit = directory / "exit"
        self.ctl = directory / "ctl"

    def read_exit(self) -> tuple[int, int] | None:
        try:
            code, finished = self.exit.read_text().split()
        except (OSError, ValueError):
            return None
        return int(code), int(finished)

    def read_pid(self, path: Path) -> int | None:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None

    def shim_pidfd(self) -> int:
        """A pidfd of the running shim, to watch it exit; -1 when it is gone."""
        pid = self.read_pid(self.shim_pid)
        if not pid:
            return -1
        try:
            return os.pidfd_open(pid)
        except OSError:
            return -1
