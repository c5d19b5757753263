"""Pod start-up latency on a real lab cluster: Skiff's engine beside containerd, in one run.

For each runtime it starts ``skiff lab up --nodes 3`` (``--containerd-nodes 3`` for
containerd, Debian's containerd 1.6 with runc), warms every node with the image (one pod
per node, so no pull is timed), records the idle resident memory of the server, the agents
and the runtimes, then creates ``--pods`` bare pods at once and watches them: a pod's
start-up time is from just before its create request to the watch event that first shows
it Running — Kubernetes' pod start-up SLI with the image present. Kubernetes' SLO is
p99 <= 5 s; Skiff's goal is p99 <= 1 s. The machine is shared and noisy: the figures are
for comparison in the same run, not absolutes.

    .venv/bin/python bench/pod_startup.py [--pods 100] [--runtimes skiff,containerd]
"""
from __future__ import annotations

import argparse
import asyncio
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skiff.api.resources import find  # noqa: E402
from skiff.client import ApiClient  # noqa: E402
from skiff.cmd import lab  # noqa: E402
from tests.support.server import free_port  # noqa: E402

PODS = find("pods")
NAMESPACES = find("namespaces")
SKIFF = [sys.executable, "-m", "skiff.cmd.main"]
IMAGE = "busybox:1.36"
NODES = 3


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(int(q * len(s)), len(s) - 1)]


def pod(name: str, node: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                                            "command": ["sleep", "2147483647"]}],
                            "terminationGracePeriodSeconds": 0}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "startup"}},
            "spec": spec}


# --- memory ---------------------------------------------------------------------------------

def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int(d.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class Memory:
    server: int = 0  # skiff server and its embedded etcd
    agents: int = 0
    runtimes: int = 0  # skiff daemon, or containerd (their shims are counted per pod below)

    def row(self) -> list[str]:
        return [f"{self.server / 1024:.0f}", f"{self.agents / 1024 / NODES:.0f}", f"{self.runtimes / 1024 / NODES:.0f}"]


def lab_memory(data: Path) -> Memory:
    state = lab.load(data)
    assert state is not None
    m = Memory()
    for p in state[1]:
        if not p.alive():
            continue
        if p.role == "server":
            m.server += rss_kib(p.pid) + sum(rss_kib(c) for c in children(p.pid) if "etcd" in comm(c))
        elif p.role.startswith("node") and p.role.endswith("-containerd"):
            m.runtimes += rss_kib(p.pid)
        elif p.role.startswith("node") and "-" not in p.role:
            m.agents += rss_kib(p.pid)
            m.runtimes += sum(rss_kib(c) for c in children(p.pid) if " daemon " in comm(c))
    return m


def shims_kib(data: Path) -> tuple[int, int]:
    """(total RSS, count) of the per-container supervisors: Skiff's shims or containerd-shim-runc-v2."""
    total = count = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        cmd = comm(int(d.name))
        # containerd's shims name their containerd's socket, Skiff's their state directory: both under DATA
        if ("containerd-shim" in cmd or "skiff-shim" in cmd) and str(data) in cmd:
            total += rss_kib(int(d.name))
            count += 1
    return total, count


# --- the run --------------------------------------------------------------------------------

@dataclass
class Result:
    runtime: str
    latencies: list[float] = field(default_factory=list)
    all_running: float = 0.0
    idle: Memory = field(default_factory=Memory)
    shims: tuple[int, int] = (0, 0)
    failed: str = ""


async def measure(kubeconfig: Path, n: int, res: Result, timeout: float) -> None:
    async with ApiClient.from_kubeconfig(str(kubeconfig)) as api:
        ns = "bench-" + secrets.token_hex(3)
        await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        # warm every node: the image is present before the timed pods
        for i in range(NODES):
            await api.create(PODS, pod(f"warm-{i}", f"node{i + 1}"), namespace=ns)
        deadline = time.monotonic() + timeout
        while True:
            items = (await api.list(PODS, namespace=ns))["items"]
            if sum(p["status"].get("phase") == "Running" for p in items) == NODES:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"warm-up pods not Running: {[p['status'].get('phase') for p in items]}")
            await asyncio.sleep(0.5)
        await asyncio.sleep(5)  # settle: idle memory after the warm-up
        listed = await api.list(PODS, namespace=ns)
        sent: dict[str, float] = {}
        seen: dict[str, float] = {}
        done = asyncio.Event()

        async def watch() -> None:
            async for _etype, p in api.watch(PODS, namespace=ns, label_selector="bench=startup",
                                             resource_version=listed["metadata"]["resourceVersion"]):
                name = p["metadata"]["name"]
                if p["status"].get("phase") == "Running" and name not in seen:
                    seen[name] = time.monotonic()
                    if len(seen) == n:
                        done.set()
                        return
        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0.3)
        start = time.monotonic()

        async def create(i: int) -> None:
            name = f"p{i:03d}"
            sent[name] = time.monotonic()
            await api.create(PODS, pod(name), namespace=ns)
        await asyncio.gather(*(create(i) for i in range(n)))
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except asyncio.TimeoutError:
            res.failed = f"{len(seen)}/{n} Running after {timeout:.0f}s"
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        res.latencies = [seen[k] - sent[k] for k in seen]
        res.all_running = (max(seen.values()) - start) if seen else float("nan")


def run_one(runtime: str, n: int, timeout: float) -> Result:
    res = Result(runtime)
    name = "b" + secrets.token_hex(3)
    data = Path(tempfile.mkdtemp(prefix=f"skiff-bench-{runtime}-"))
    up = [*SKIFF, "lab", "up", "--nodes", str(NODES), "--name", name, "--data-dir", str(data),
          "--port", str(free_port()), "--images"]
    if runtime == "containerd":
        up += ["--containerd-nodes", str(NODES)]
    try:
        r = subprocess.run(up, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            res.failed = f"lab up failed: {r.stderr.strip()[-400:]}"
            return res
        res.idle = lab_memory(data)
        asyncio.run(measure(data / "kubeconfig", n, res, timeout))
        res.shims = shims_kib(data)
    except Exception as e:  # noqa: BLE001 - report and go on to the next runtime
        res.failed = res.failed or f"{type(e).__name__}: {e}"
    finally:
        subprocess.run([*SKIFF, "lab", "down", "--name", name, "--data-dir", str(data)], capture_output=True,
                       timeout=300)
    return res


def report(results: list[Result], n: int) -> None:
    base = next((r for r in results if r.runtime == "containerd" and r.latencies), None)
    print(f"\npod start-up, {n} pods created at once on a {NODES}-node lab, image present "
          "(creation -> Running seen by a watch)")
    head = ["runtime", "p50 s", "p90 s", "p99 s", "max s", "all Running s", "p99 vs containerd"]
    rows = []
    for r in results:
        p99 = pct(r.latencies, 0.99)
        ratio = f"{p99 / pct(base.latencies, 0.99):.2f}x" if base and r.latencies else "-"
        rows.append([r.runtime, *(f"{pct(r.latencies, q):.2f}" for q in (0.5, 0.9, 0.99)),
                     f"{max(r.latencies):.2f}" if r.latencies else "-", f"{r.all_running:.2f}", ratio])
    _table(head, rows)
    print("\nresident memory, MiB (idle, after warm-up; per node for agent and runtime)")
    rows = []
    for r in results:
        total, count = r.shims
        rows.append([r.runtime, *r.idle.row(), f"{total / 1024 / count:.1f}" if count else "-", str(count)])
    _table(["runtime", "server+etcd", "agent", "runtime daemon", "per-pod shim", "shims"], rows)
    for r in results:
        if r.failed:
            print(f"{r.runtime}: {r.failed}")
    print("\nKubernetes' SLO: p99 <= 5 s; Skiff's goal: p99 <= 1 s.")


def _table(head: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    for row in (head, *rows):
        print("  ".join(x.ljust(w) for x, w in zip(row, widths)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--runtimes", default="skiff,containerd")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the pods of one runtime")
    args = ap.parse_args()
    results = [run_one(rt, args.pods, args.timeout) for rt in args.runtimes.split(",")]
    report(results, args.pods)
    return 0 if all(not r.failed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
