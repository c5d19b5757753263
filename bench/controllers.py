"""Controller throughput: a 1000-replica Deployment to 1000 Running hollow pods, then a full rolling update.

Starts a real ``skiff server`` (embedded etcd, its own scheduler and controller manager,
as a user runs it) and ``skiff hollow-nodes`` in a separate process (``--nodes`` nodes
of 110 pods), then, watching pods from the API:

  * creates a Deployment of ``--replicas`` and times until that many of its pods are
    Running and Ready;
  * changes its image (maxSurge 25 %, maxUnavailable 25 %, the defaults) and times until
    every pod runs the new image and no old pod is left, recording the fewest ready pods,
    the most live pods and the largest sum of the ReplicaSets' replicas seen by watches.

There is no published Kubernetes measurement of this exact case. The reference printed
beside ours is derived from kube-controller-manager's documented client defaults
(``--kube-api-qps 20``, ``--kube-api-burst 30``): creating N pods needs N requests, so
it takes at least ``(N - 30) / 20`` seconds; a rolling update creates and deletes N pods,
at least ``(2N - 30) / 20`` seconds. It is a lower bound implied by configuration, not a
run of Kubernetes, and is labelled so.

    .venv/bin/python bench/controllers.py [--replicas 1000] [--nodes 20]
"""
from __future__ import annotations

import argparse
import asyncio
import os
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
from skiff.machinery.objects import is_pod_ready  # noqa: E402
from tests.support.engine import stop_process  # noqa: E402
from tests.support.server import SKIFF, skiff_server  # noqa: E402

PODS = find("pods")
NODES = find("nodes")
DEPLOYMENTS = find("deployments.apps")
REPLICASETS = find("replicasets.apps")
NAMESPACES = find("namespaces")
KCM_QPS, KCM_BURST = 20.0, 30.0  # kube-controller-manager --kube-api-qps / --kube-api-burst defaults
V1, V2 = "registry.local/web:v1", "registry.local/web:v2"


def deployment(replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "big"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "big"}},
                     "template": {"metadata": {"labels": {"app": "big"}},
                                  "spec": {"containers": [{"name": "web", "image": V1}]}}}}


@dataclass
class PodView:
    """Live pods of the Deployment as the watch reports them: name -> (ready, image)."""

    pods: dict[str, tuple[bool, str]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    min_ready: int | None = None
    max_live: int = 0
    tracking: bool = False

    def apply(self, etype: str, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        if etype == "DELETED" or pod["metadata"].get("deletionTimestamp"):
            self.pods.pop(name, None)
        elif etype in ("ADDED", "MODIFIED"):
            running = (pod.get("status") or {}).get("phase") == "Running" and is_pod_ready(pod)
            self.pods[name] = (running, pod["spec"]["containers"][0]["image"])
        if self.tracking:
            ready = self.ready()
            self.min_ready = ready if self.min_ready is None else min(self.min_ready, ready)
            self.max_live = max(self.max_live, len(self.pods))
        self.changed.set()

    def ready(self, image: str | None = None) -> int:
        return sum(1 for r, img in self.pods.values() if r and (image is None or img == image))


async def watch_pods(api: ApiClient, ns: str, view: PodView, started: asyncio.Event) -> None:
    rv = ""
    while True:
        if not rv:
            listed = await api.list(PODS, namespace=ns, label_selector="app=big")
            view.pods.clear()
            for p in listed["items"]:
                view.apply("ADDED", p)
            rv = listed["metadata"]["resourceVersion"]
            started.set()
        try:
            async for etype, pod in api.watch(PODS, namespace=ns, label_selector="app=big", resource_version=rv,
                                              allow_bookmarks=True, timeout_seconds=600):
                rv = pod["metadata"].get("resourceVersion") or rv
                if etype != "BOOKMARK":
                    view.apply(etype, pod)
        except Exception:  # a broken watch: re-list
            rv = ""


async def watch_rs_specs(api: ApiClient, ns: str, peak: list[int], tracking: list[bool]) -> None:
    """The largest sum of the Deployment's ReplicaSets' spec.replicas seen while ``tracking``."""
    wanted: dict[str, int] = {}
    listed = await api.list(REPLICASETS, namespace=ns, label_selector="app=big")
    wanted.update({rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in listed["items"]})
    async for etype, rs in api.watch(REPLICASETS, namespace=ns, label_selector="app=big",
                                     resource_version=listed["metadata"]["resourceVersion"], timeout_seconds=600):
        if etype == "DELETED":
            wanted.pop(rs["metadata"]["name"], None)
        elif etype != "BOOKMARK":
            wanted[rs["metadata"]["name"]] = rs["spec"]["replicas"]
        if tracking[0]:
            peak[0] = max(peak[0], sum(wanted.values()))


async def until(view: PodView, predicate: Any, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        view.changed.clear()
        left = deadline - loop.time()
        if left <= 0:
            return False
        try:
            await asyncio.wait_for(view.changed.wait(), min(left, 1.0))
        except asyncio.TimeoutError:
            pass
    return True


async def wait_nodes_ready(api: ApiClient, n: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        nodes = (await api.list(NODES))["items"]
        ready = [x for x in nodes if (x.get("spec") or {}).get("podCIDR")
                 and any(c.get("type") == "Ready" and c.get("status") == "True"
                         for c in (x.get("status") or {}).get("conditions") or [])]
        if len(ready) >= n:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"{n} hollow nodes did not become Ready within {timeout}s")


async def run(kubeconfig: str, args: argparse.Namespace) -> dict[str, Any]:
    r = args.replicas
    async with ApiClient.from_kubeconfig(kubeconfig) as api:
        await wait_nodes_ready(api, args.nodes, 120)
        ns = "bench"
        await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        view = PodView()
        started = asyncio.Event()
        watcher = asyncio.create_task(watch_pods(api, ns, view, started))
        await started.wait()
        try:
            t0 = time.perf_counter()
            await api.create(DEPLOYMENTS, deployment(r), namespace=ns)
            ok = await until(view, lambda: view.ready(V1) >= r, args.timeout)
            t_create = time.perf_counter() - t0
            created_ready = view.ready(V1)

            view.tracking, view.min_ready, view.max_live = True, None, len(view.pods)
            peak, tracking = [r], [True]
            rs_watcher = asyncio.create_task(watch_rs_specs(api, ns, peak, tracking))
            await asyncio.sleep(0.5)  # let the ReplicaSet watch start before the change
            t0 = time.perf_counter()
            await api.patch(DEPLOYMENTS, "big", {"spec": {"template": {"spec": {"containers": [
                {"name": "web", "image": V2}]}}}}, namespace=ns)
            ok2 = await until(view, lambda: view.ready(V2) >= r and len(view.pods) == r, args.timeout)
            t_roll = time.perf_counter() - t0
            view.tracking, tracking[0] = False, False
            rs_watcher.cancel()
            await asyncio.gather(rs_watcher, return_exceptions=True)
            return {"max_rs_sum": peak[0], "replicas": r, "nodes": args.nodes, "create_s": t_create, "create_ok": ok,
                    "created_ready": created_ready, "roll_s": t_roll, "roll_ok": ok2,
                    "rolled_ready": view.ready(V2), "min_ready": view.min_ready, "max_live": view.max_live}
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)


def start_hollow(kubeconfig: Path, nodes: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([*SKIFF, "hollow-nodes", "--kubeconfig", str(kubeconfig), "--count", str(nodes),
                                 "--name-prefix", "bench-", "--pods", "110"],
                                stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))


def report(res: dict[str, Any]) -> None:
    r = res["replicas"]
    ref_create = max(r - KCM_BURST, 0) / KCM_QPS
    ref_roll = max(2 * r - KCM_BURST, 0) / KCM_QPS
    print(f"controllers: Deployment of {r} replicas on {res['nodes']} hollow nodes (skiff server with its own "
          f"scheduler and controllers)")
    print(f"{'':42}{'skiff':>10}{'kubernetes*':>13}{'ratio':>8}")
    print(f"{'apply -> all pods Running and Ready (s)':42}{res['create_s']:>10.1f}{ref_create:>13.1f}"
          f"{ref_create / res['create_s'] if res['create_s'] else 0:>8.2f}")
    print(f"{'full rolling update (s)':42}{res['roll_s']:>10.1f}{ref_roll:>13.1f}"
          f"{ref_roll / res['roll_s'] if res['roll_s'] else 0:>8.2f}")
    max_unavailable, max_surge = r // 4, -(-r // 4)
    print(f"{'fewest ready pods during the rollout':42}{res['min_ready']:>10}{r - max_unavailable:>13}  (floor)")
    print(f"{'most pods the ReplicaSets asked for':42}{res['max_rs_sum']:>10}{r + max_surge:>13}  (replicas+maxSurge)")
    print(f"{'most live pods during the rollout':42}{res['max_live']:>10}")
    print("* kubernetes: not a measurement. A lower bound implied by kube-controller-manager's default client "
          f"rate limit (--kube-api-qps {KCM_QPS:.0f}, --kube-api-burst {KCM_BURST:.0f}): N creates take at least "
          "(N-30)/20 s, a rolling update (N creates + N deletes) at least (2N-30)/20 s. ratio = reference/skiff "
          "(above 1: skiff is faster).")
    print("  maxSurge bounds the sum of the ReplicaSets' spec.replicas, as in Kubernetes; pods of a scaled-down "
          "set stay live until the ReplicaSet controller's deletes land, so the live pod count may pass it briefly.")
    if not res["create_ok"]:
        print(f"NOTE: only {res['created_ready']}/{r} pods became Running before the timeout")
    if not res["roll_ok"]:
        print(f"NOTE: only {res['rolled_ready']}/{r} pods were updated before the timeout")


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--replicas", type=int, default=1000)
    p.add_argument("--nodes", type=int, default=20, help="hollow nodes of 110 pods each (default %(default)s)")
    p.add_argument("--timeout", type=float, default=600.0, help="give up a phase after this many seconds")
    args = p.parse_args()
    if args.nodes * 110 < args.replicas * 5 // 4 + 1:
        p.error("--nodes too few: the rollout needs room for replicas + maxSurge pods")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="skiff-bench-ctrl-") as tmp:
        with skiff_server(Path(tmp) / "server", timeout=120) as server:
            hollow = start_hollow(server.kubeconfig, args.nodes, Path(tmp) / "hollow.log")
            try:
                res = asyncio.run(run(str(server.kubeconfig), args))
            finally:
                stop_process(hollow, 20)
    print(f"host: {os.cpu_count()} CPUs, load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after "
          "(other work on the machine slows every figure)")
    report(res)
    return 0 if res["create_ok"] and res["roll_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
