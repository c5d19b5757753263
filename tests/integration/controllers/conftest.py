"""A real ``skiff server`` (embedded etcd) without its own scheduler/controllers, plus, per test,
this process's scheduler, controller manager and hollow nodes with short timings.

Each test gets fresh hollow nodes (unique names, deleted afterwards) and a namespace of its own.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from skiff.api.resources import find
from skiff.client import ApiClient, ApiError
from skiff.controllers.manager import ControllerOptions, run_controllers
from skiff.machinery.hollow import HollowCluster, HollowOptions
from skiff.scheduler.runner import SchedulerOptions, run_scheduler
from tests.support.server import RunningServer, skiff_server

KUBECTL = shutil.which("kubectl") or "/usr/lib/google-cloud-sdk/bin/kubectl"
NODES = find("nodes")
NAMESPACES = find("namespaces")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with skiff_server(tmp_path_factory.mktemp("controllers"), args=("--disable", "scheduler,controllers")) as s:
        yield s


@dataclass
class Cluster:
    server: RunningServer
    api: ApiClient
    hollow: HollowCluster
    namespace: str
    stop: asyncio.Event

    async def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                      timeout: float = 120) -> str:
        env = dict(os.environ, KUBECONFIG=str(self.server.kubeconfig))
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, "-n", self.namespace, *args, env=env, stdin=asyncio.subprocess.PIPE if input else None,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(input.encode() if input else None), timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {err.decode()}{out.decode()}")
        return out.decode() + (err.decode() if not check else "")

    async def apply(self, manifest: dict[str, Any]) -> str:
        return await self.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    async def get_json(self, *args: str) -> Any:
        return json.loads(await self.kubectl("get", *args, "-o", "json"))


async def wait_until(predicate: Callable[[], Awaitable[Any]], *, timeout: float = 60.0, what: str = "condition",
                     interval: float = 0.2) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while True:
        try:
            last = await predicate()
        except (ApiError, AssertionError) as exc:
            last = exc
        else:
            if last:
                return last
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        await asyncio.sleep(interval)


def fast_controller_options() -> ControllerOptions:
    return ControllerOptions(node_monitor_grace_period=4.0, node_monitor_period=0.5, pod_eviction_timeout=2,
                             job_backoff_seconds=0.2, job_max_backoff_seconds=1.0, cronjob_resync=1.0)


@pytest.fixture
async def cluster(server: RunningServer) -> AsyncIterator[Cluster]:
    tag = secrets.token_hex(3)
    api = ApiClient.from_kubeconfig(str(server.kubeconfig))
    stop = asyncio.Event()
    hollow = HollowCluster(api, 3, options=HollowOptions(prefix=f"h{tag}-", lease_interval=1.0, lease_duration=4,
                                                         status_interval=2.0))
    ns = f"t-{tag}"
    await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    tasks = [
        asyncio.create_task(run_scheduler(api, stop=stop, identity=f"test-{tag}",
                                          options=SchedulerOptions(seed=1), retry_period=0.5)),
        asyncio.create_task(run_controllers(api, stop=stop, identity=f"test-{tag}",
                                            options=fast_controller_options(), retry_period=0.5)),
    ]
    try:
        await hollow.start()
        yield Cluster(server, api, hollow, ns, stop)
    finally:
        stop.set()
        await hollow.stop()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        for name in hollow.nodes:
            try:
                await api.delete(NODES, name)
            except ApiError:
                pass
        try:
            await api.delete(NAMESPACES, ns)
        except ApiError:
            pass
        await api.close()
