"""Two controller managers on one Lease: one acts; when it dies, the other takes over."""
from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from skiff.api.resources import find
from skiff.client import ApiClient, ApiError
from skiff.controllers.manager import run_controllers
from skiff.machinery.hollow import HollowCluster, HollowOptions
from skiff.scheduler.runner import SchedulerOptions, run_scheduler
from tests.support.server import RunningServer

from .conftest import fast_controller_options, wait_until

pytestmark = pytest.mark.integration
LEASES = find("leases.coordination.k8s.io")
REPLICASETS = find("replicasets.apps")
DEPLOYMENTS = find("deployments.apps")
NAMESPACES = find("namespaces")
NODES = find("nodes")


def deployment(name: str, ns: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


async def test_standby_takes_over_when_the_leader_dies(server: RunningServer) -> None:
    tag = secrets.token_hex(3)
    ns = f"le-{tag}"
    api = ApiClient.from_kubeconfig(str(server.kubeconfig))
    stop = asyncio.Event()
    hollow = HollowCluster(api, 1, options=HollowOptions(prefix=f"le{tag}-", lease_interval=1.0, lease_duration=4))
    await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    tasks: list[asyncio.Task[None]] = []
    try:
        await hollow.start()
        tasks.append(asyncio.create_task(run_scheduler(api, stop=stop, identity=f"sched-{tag}",
                                                       options=SchedulerOptions(), retry_period=0.5)))
        leader = asyncio.create_task(run_controllers(api, stop=stop, identity=f"first-{tag}",
                                                     options=fast_controller_options(), lease_duration=3,
                                                     renew_deadline=2, retry_period=0.5))

        async def holder() -> str:
            lease = await api.get(LEASES, "kube-controller-manager", namespace="kube-system")
            return str(lease["spec"].get("holderIdentity") or "")

        await wait_until(lambda: _eq(holder(), f"first-{tag}"), timeout=30, what="the first manager to lead")
        standby = asyncio.create_task(run_controllers(api, stop=stop, identity=f"second-{tag}",
                                                      options=fast_controller_options(), lease_duration=3,
                                                      renew_deadline=2, retry_period=0.5))
        tasks.append(standby)
        await api.create(DEPLOYMENTS, deployment("one", ns))
        await wait_until(lambda: _has_rs(api, ns, "one"), timeout=30, what="the leader to act")
        await asyncio.sleep(1.5)
        assert await holder() == f"first-{tag}", "the standby must not take a live lease"

        leader.cancel()  # dies without releasing: the lease must lapse
        await asyncio.gather(leader, return_exceptions=True)
        await wait_until(lambda: _eq(holder(), f"second-{tag}"), timeout=30, what="the standby to take over")
        await api.create(DEPLOYMENTS, deployment("two", ns))
        await wait_until(lambda: _has_rs(api, ns, "two"), timeout=30, what="the new leader to act")
    finally:
        stop.set()
        await hollow.stop()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        for name in hollow.nodes:
            try:
                await api.delete(NODES, name)
            except ApiError:
                pass
        await api.close()


async def _eq(value: Any, expected: str) -> bool:
    return await value == expected


async def _has_rs(api: ApiClient, ns: str, app: str) -> bool:
    return bool((await api.list(REPLICASETS, namespace=ns, label_selector=f"app={app}"))["items"])
