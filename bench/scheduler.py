"""Scheduler throughput on many nodes, beside Kubernetes' scheduler_perf floor, in one run.

Starts a ``skiff server --disable scheduler,controllers`` (embedded etcd), registers
``--nodes`` Node objects (4 CPU / 16Gi / 110 pods, as hollow nodes report), creates
``--pods`` pending pods (100m CPU / 500Mi, scheduler_perf's default pod), then starts
Skiff's scheduler (in this process) and measures how fast it binds them all, while a
probe in a separate process measures API GET latency (p50/p99) during the run. Prints the figures beside Kubernetes'
scheduler_perf threshold for SchedulingBasic 5000 nodes / 10000 pods (680 pods/s).

    .venv/bin/python bench/scheduler.py [--nodes 5000] [--pods 10000] [--no-events]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skiff.api.resources import find  # noqa: E402
from skiff.client import ApiClient  # noqa: E402
from skiff.machinery.hollow.kubelet import NodeShape, node_object, node_status  # noqa: E402
from skiff.machinery.objects import now_utc  # noqa: E402
from skiff.scheduler.runner import Scheduler, SchedulerOptions  # noqa: E402
from tests.support.engine import stop_process  # noqa: E402
from tests.support.server import skiff_server  # noqa: E402

K8S_FLOOR = 680.0  # scheduler_perf SchedulingBasic/5000Nodes_10000Pods threshold (pods/s)
NODES = find("nodes")
PODS = find("pods")
NAMESPACES = find("namespaces")


async def bounded(items: list[Any], fn: Any, *, concurrency: int = 64) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(x: Any) -> None:
        async with sem:
            await fn(x)

    await asyncio.gather(*(one(x) for x in items))


async def register_nodes(api: ApiClient, n: int) -> None:
    shape = NodeShape()

    async def reg(i: int) -> None:
        name = f"bench-node-{i}"
        await api.create(NODES, node_object(name, i, shape))
        await api.patch(NODES, name, {"status": node_status(name, i, shape, now_utc())}, subresource="status")

    await bounded(list(range(n)), reg)


def pod(i: int, ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i:06d}", "namespace": ns},
            "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9",
                                     "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]}}


async def probe(api: ApiClient, stop: asyncio.Event, samples: list[float]) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await api.get(NODES, "bench-node-0")
        samples.append(time.perf_counter() - t)
        await asyncio.sleep(0.02)


def probe_main(kubeconfig: str, out: str) -> int:
    """``--probe``: GET a node every 20 ms until SIGTERM, then write the latencies (seconds), one a line.
    It runs as its own process so the scheduler's event loop does not delay its measurements."""
    async def go() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        samples: list[float] = []
        async with ApiClient.from_kubeconfig(kubeconfig) as api:
            await probe(api, stop, samples)
        Path(out).write_text("".join(f"{x}\n" for x in samples))

    asyncio.run(go())
    return 0


def start_probe(kubeconfig: str, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, "--probe", kubeconfig, str(out)])


def stop_probe(proc: subprocess.Popen[bytes], out: Path) -> list[float]:
    stop_process(proc, 30)
    try:
        return [float(x) for x in out.read_text().split()]
    except OSError:
        return []


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(int(q * len(s)), len(s) - 1)]


async def run(kubeconfig: str, args: argparse.Namespace, probe_out: Path) -> dict[str, float]:
    async with ApiClient.from_kubeconfig(kubeconfig) as api:
        ns = "bench"
        await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        t = time.perf_counter()
        await register_nodes(api, args.nodes)
        t_nodes = time.perf_counter() - t
        t = time.perf_counter()
        await bounded(list(range(args.pods)), lambda i: api.create(PODS, pod(i, ns), namespace=ns))
        t_pods = time.perf_counter() - t
        sched_api = ApiClient.from_kubeconfig(kubeconfig)
        scheduler = Scheduler(sched_api, options=SchedulerOptions(events=not args.no_events, seed=1))
        stop = asyncio.Event()
        task = asyncio.create_task(scheduler.run(stop))
        await scheduler.factory.wait_synced()
        prober = start_probe(kubeconfig, probe_out)
        t0 = time.perf_counter()
        while scheduler.scheduled < args.pods:
            await asyncio.sleep(0.05)
            if time.perf_counter() - t0 > args.timeout:
                break
        elapsed = time.perf_counter() - t0
        samples = stop_probe(prober, probe_out)
        bound = scheduler.scheduled
        stop.set()
        await task
        await sched_api.close()
        return {"nodes": args.nodes, "pods": args.pods, "bound": bound, "seconds": elapsed,
                "pods_per_s": bound / elapsed if elapsed else 0.0, "node_reg_s": t_nodes, "pod_create_s": t_pods,
                "p50_ms": statistics.median(samples) * 1000 if samples else float("nan"),
                "p99_ms": pct(samples, 0.99) * 1000}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--pods", type=int, default=10000)
    p.add_argument("--timeout", type=float, default=600.0, help="give up measuring after this many seconds")
    p.add_argument("--no-events", action="store_true", help="do not record Scheduled events")
    p.add_argument("--probe", nargs=2, metavar=("KUBECONFIG", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.probe:
        return probe_main(*args.probe)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="skiff-bench-sched-") as tmp:
        with skiff_server(Path(tmp) / "server", args=("--disable", "scheduler,controllers"), timeout=120) as server:
            r = asyncio.run(run(str(server.kubeconfig), args, Path(tmp) / "probe.txt"))
    print(f"host: {os.cpu_count()} CPUs, load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after "
          "(other work on the machine slows every figure)")
    print(f"scheduler: {r['nodes']} nodes, {r['pods']} pods (setup: nodes {r['node_reg_s']:.1f}s, "
          f"pods {r['pod_create_s']:.1f}s; {r['bound']} bound)")
    print(f"{'':28}{'skiff':>12}{'kubernetes':>14}{'ratio':>8}")
    print(f"{'pods scheduled per second':28}{r['pods_per_s']:>12.0f}{K8S_FLOOR:>14.0f}"
          f"{r['pods_per_s'] / K8S_FLOOR:>8.2f}")
    print(f"{'API GET p50 during run (ms)':28}{r['p50_ms']:>12.1f}")
    print(f"{'API GET p99 during run (ms)':28}{r['p99_ms']:>12.1f}")
    print("kubernetes: scheduler_perf SchedulingBasic 5000Nodes_10000Pods threshold (a floor, not a measurement here)")
    return 0 if r["bound"] == r["pods"] else 1


if __name__ == "__main__":
    sys.exit(main())
