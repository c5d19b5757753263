#!/usr/bin/env python3
"""Container start benchmark: Skiff's runtime and engine beside runc and crun, in one run.

    .venv/bin/python bench/runtime.py [--runs 10]

Prints medians side by side, as ratios to Skiff (ratio > 1: the peer is slower):

* ``create+start+wait`` of ``/bin/true`` on one busybox bundle with ``skiff runtime``,
  ``runc`` and ``crun`` (crun runs inside ``unshare -m`` with
  ``/sys/fs/cgroup/unified`` unmounted in that private mount namespace, since it
  refuses this machine's hybrid layout);
* ``docker run --rm --network none busybox true`` through ``skiff daemon`` (in a
  network namespace the benchmark makes);
* idle RSS of the engine, and the RSS a running container adds (its shim).

Everything lives in a temp dir, cgroups nest under this process's own cgroup,
and all of it is removed at the end; no network traffic leaves the namespace.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from skiff.nodeagent.runtime.oci.defaults import docker_spec  # noqa: E402
from tests.support.busybox_rootfs import make_rootfs  # noqa: E402
from tests.support.engine import container_engine  # noqa: E402


def bundle(tmp: Path, rootfs: Path, parent: str) -> Path:
    b = tmp / "bundle"
    b.mkdir()
    spec = docker_spec(["/bin/true"], rootfs=str(rootfs), hostname="bench", cgroups_path=f"{parent}/bench")
    spec["root"]["readonly"] = True
    (b / "config.json").write_text(json.dumps(spec))
    return b


def time_runtime(argv: list[str], root: Path, b: Path, runs: int, wrap: list[str] | None = None) -> float | None:
    samples = []
    for i in range(runs):
        cid = f"bench{i}-{uuid.uuid4().hex[:6]}"
        cmd = [*argv, "--root", str(root), "run", "-b", str(b), cid]
        if wrap:
            cmd = [*wrap, " ".join(cmd)]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            print(f"  {argv[0]}: {r.stderr.strip()[-200:]}", file=sys.stderr)
            return None
        samples.append(dt)
    return statistics.median(samples)


def remove_cgroups(parent: str) -> None:
    """The (empty) parent cgroups the runtimes left, under our own cgroup or a hierarchy root."""
    from skiff.nodeagent.runtime.cgroups.detect import own_cgroups, read_hierarchies

    hier, own = read_hierarchies(), own_cgroups()
    mounts = [(c, m) for c, m in hier.v1.items()] + ([("", hier.unified)] if hier.unified else [])
    for ctrl, mnt in mounts:
        for base in {Path(mnt) / own.get(ctrl, "/").lstrip("/") / parent, Path(mnt) / parent}:
            for d in (base / "bench", base):
                try:
                    d.rmdir()
                except OSError:
                    pass


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    rows: list[tuple[str, str, float | None]] = []
    with tempfile.TemporaryDirectory(prefix="skiff-bench-") as d:
        tmp = Path(d)
        rootfs = make_rootfs(tmp / "rootfs")
        parent = f"skiff-bench-{uuid.uuid4().hex[:8]}"
        b = bundle(tmp, rootfs, parent)
        skiff = time_runtime([sys.executable, "-m", "skiff.cmd.main", "runtime"], tmp / "skiff-state", b, args.runs)
        rows.append(("create+start+wait /bin/true", "skiff runtime", skiff))
        if shutil.which("runc"):
            rows.append(("", "runc", time_runtime(["runc"], tmp / "runc-state", b, args.runs)))
        if shutil.which("crun"):
            wrap = ["unshare", "-m", "sh", "-c"]
            crun = time_runtime(["umount /sys/fs/cgroup/unified 2>/dev/null; exec crun"], tmp / "crun-state", b,
                                args.runs, wrap=wrap)
            rows.append(("", "crun", crun))
        with container_engine(tmp / "engine") as eng:
            assert eng.daemon is not None
            samples = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                eng.docker("run", "--rm", "--network", "none", "busybox", "true")
                samples.append(time.perf_counter() - t0)
            rows.append(("docker run --rm --network none busybox true", "skiff daemon", statistics.median(samples)))
            idle = rss_kib(eng.daemon.process.pid)
            cid = eng.docker("run", "-d", "--network", "none", "busybox", "sleep", "600").stdout.strip()
            shim_pid = int((eng.root / "containers" / cid / "shim" / "shim.pid").read_text())
            per_container = rss_kib(shim_pid)
            eng.docker("rm", "-f", cid)
        remove_cgroups(parent)
    base = {r[0] or prev: r[2] for prev, r in _with_prev(rows)}
    print(f"{'what':<48} {'who':<16} {'median':>10} {'vs skiff':>9}")
    current = ""
    for what, who, t in rows:
        current = what or current
        ref = base.get(current)
        ratio = f"{t / ref:.2f}x" if t and ref else "-"
        print(f"{what:<48} {who:<16} {('%.1f ms' % (t * 1000)) if t else 'failed':>10} {ratio:>9}")
    print(f"{'idle RSS of the engine':<48} {'skiff daemon':<16} {idle / 1024:>7.1f} MiB")
    print(f"{'RSS added per running container (its shim)':<48} {'skiff-shim':<16} {per_container / 1024:>7.1f} MiB")
    return 0


def _with_prev(rows: list[tuple[str, str, float | None]]) -> list[tuple[str, tuple[str, str, float | None]]]:
    out, prev = [], ""
    for r in rows:
        prev = r[0] or prev
        if r[0]:
            out.append((prev, r))
    return out


if __name__ == "__main__":
    sys.exit(main())
