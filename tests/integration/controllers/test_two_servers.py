"""Two ``skiff server`` processes on one etcd: one leads scheduler and controllers; SIGKILL it and
the other takes its Leases over and the cluster keeps working, driven with the real kubectl."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from skiff.api.resources import find
from skiff.apiserver.etcd.embedded import EmbeddedEtcd
from skiff.client import ApiClient
from skiff.machinery.hollow import HollowCluster, HollowOptions
from skiff.machinery.objects import is_pod_ready
from tests.support.server import RunningServer, skiff_server

from .conftest import KUBECTL, wait_until

pytestmark = pytest.mark.integration
LEASES = find("leases.coordination.k8s.io")
PODS = find("pods")
LEASE_NAMES = ("kube-scheduler", "kube-controller-manager")
# short leader leases so the takeover is quick; node timings stay at their defaults
FAST_ELECTION = ("--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline", "2",
                 "--leader-elect-retry-period", "0.5")


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


async def kubectl(server: RunningServer, *args: str, input: str | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, *args, env=server.env(), stdin=asyncio.subprocess.PIPE if input else None,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(input.encode() if input else None), 60)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
    return out.decode()


async def holders(api: ApiClient) -> dict[str, str]:
    out = {}
    for name in LEASE_NAMES:
        lease = await api.get(LEASES, name, namespace="kube-system")
        out[name] = str(lease["spec"].get("holderIdentity") or "")
    return out


async def running_pods(api: ApiClient, app: str, n: int) -> bool:
    items = (await api.list(PODS, namespace="default", label_selector=f"app={app}"))["items"]
    ok = [p for p in items if (p.get("status") or {}).get("phase") == "Running" and is_pod_ready(p)
          and not p["metadata"].get("deletionTimestamp")]
    return len(ok) == n


def pid_of(identity: str) -> int:
    """``skiff server`` identifies itself as HOSTNAME-PID."""
    return int(identity.rsplit("-", 1)[1])


async def test_killing_the_leading_server_hands_work_to_the_other(tmp_path: Path) -> None:
    etcd = EmbeddedEtcd(tmp_path / "etcd")
    etcd.start()
    try:
        args = ("--etcd-servers", etcd.endpoint, *FAST_ELECTION)
        with skiff_server(tmp_path / "a", args=args) as a, skiff_server(tmp_path / "b", args=args) as b:
            await _scenario(a, b)
    finally:
        etcd.stop()


async def _scenario(a: RunningServer, b: RunningServer) -> None:
    by_pid = {a.process.pid: a, b.process.pid: b}
    api_a = ApiClient.from_kubeconfig(str(a.kubeconfig))
    try:
        async def both_held() -> dict[str, str] | None:
            hs = await holders(api_a)
            return hs if all(hs.values()) else None

        held = await wait_until(both_held, timeout=30, what="both Leases to be held")
        identity = held["kube-controller-manager"]
        leader = by_pid[pid_of(identity)]
        survivor = b if leader is a else a
    finally:
        await api_a.close()

    api = ApiClient.from_kubeconfig(str(survivor.kubeconfig))
    hollow = HollowCluster(api, 2, options=HollowOptions(prefix="two-", lease_interval=1.0))
    try:
        await hollow.start()
        await kubectl(survivor, "apply", "-f", "-", input=json.dumps(deployment("before", 3)))
        await wait_until(lambda: running_pods(api, "before", 3), timeout=60, what="the leader to place 3 pods")

        os.kill(leader.process.pid, signal.SIGKILL)  # dies without releasing its Leases
        leader.process.wait()

        async def survivor_leads() -> bool:
            hs = await holders(api)
            return all(pid_of(h) == survivor.process.pid for h in hs.values())

        await wait_until(survivor_leads, timeout=30, what="the surviving server to take both Leases")
        await kubectl(survivor, "apply", "-f", "-", input=json.dumps(deployment("after", 3)))
        await kubectl(survivor, "scale", "deployment/before", "--replicas=5")
        await wait_until(lambda: running_pods(api, "after", 3), timeout=60, what="the new leader to place new pods")
        await wait_until(lambda: running_pods(api, "before", 5), timeout=60, what="the new leader to scale up")
        out = await kubectl(survivor, "rollout", "status", "deployment/after", "--timeout=30s")
        assert "successfully rolled out" in out
    finally:
        await hollow.stop()
        with contextlib.suppress(Exception):
            await api.close()
