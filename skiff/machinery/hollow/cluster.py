"""Many hollow nodes in one process: registration, Lease heartbeats, node status, pod lifecycles.

All nodes share one pod informer and one work queue; a pod key is handled by the node
it is bound to, using ``kubelet.decide``. ``stop_node`` silences one node completely
(no heartbeats, no pod updates), which is how a dead machine looks to the cluster.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from skiff.api.resources import find
from skiff.client import ApiError
from skiff.machinery.informer import Informer
from skiff.machinery.objects import Obj, fmt_micro, key_of, meta, node_name, now_utc
from skiff.machinery.workqueue import WorkQueue

from . import kubelet as k

log = logging.getLogger(__name__)
NODES = find("nodes")
PODS = find("pods")
LEASES = find("leases.coordination.k8s.io")
NAMESPACES = find("namespaces")


@dataclass
class HollowOptions:
    shape: k.NodeShape = field(default_factory=k.NodeShape)
    prefix: str = "hollow-"
    lease_duration: int = 40
    lease_interval: float = 10.0
    status_interval: float = 60.0
    termination_seconds: float = 0.0
    start_seconds: float = 0.0
    workers: int = 32
    start_index: int = 0


# A kubelet starts no pod before its node has a podCIDR (the network is not ready); a hollow
# node waits as long as this for node IPAM, then falls back to an address range of its own.
POD_CIDR_WAIT = 30.0


@dataclass
class HollowNode:
    name: str
    index: int
    pod_cidr: str
    ips: k.IPAllocator
    running: bool = True
    task: asyncio.Task[None] | None = None
    cidr_assigned: bool = False
    registered_at: float = 0.0
    cidr_checked_at: float = 0.0


class HollowCluster:
    def __init__(self, client: Any, count: int, *, options: HollowOptions | None = None) -> None:
        self.client = client
        self.options = options or HollowOptions()
        self.nodes: dict[str, HollowNode] = {}
        for i in range(count):
            idx = self.options.start_index + i
            name = f"{self.options.prefix}{idx}"
            cidr = f"10.{200 + (idx >> 8) % 50}.{idx & 255}.0/24"  # replaced by the node's spec.podCIDR
            self.nodes[name] = HollowNode(name, idx, cidr, k.IPAllocator(cidr))
        self.pods = Informer(client, PODS)
        self.pods.add_handler(on_add=self._pod_event, on_update=lambda o, n: self._pod_event(n),
                              on_delete=self._pod_gone)
        self.queue = WorkQueue(name="hollow-pods")
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.registered = asyncio.Event()

    # --- pods ---------------------------------------------------------------------------------

    def _pod_event(self, pod: Obj) -> None:
        node = self.nodes.get(node_name(pod))
        if node is not None and node.running:
            self.queue.add(key_of(pod))

    def _pod_gone(self, pod: Obj) -> None:
        node = self.nodes.get(node_name(pod))
        if node is not None:
            node.ips.release(str(meta(pod).get("uid")))

    async def _pod_worker(self) -> None:
        while True:
            key = await self.queue.get()
            if key is None:
                return
            try:
                await self._sync_pod(key)
                self.queue.forget(key)
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                if exc.code not in (404, 409):
                    log.warning("hollow pod %s: %s", key, exc)
                if exc.code != 404:
                    self.queue.add_rate_limited(key)
            except Exception:
                log.exception("hollow pod %s", key)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    async def _sync_pod(self, key: str) -> None:
        pod = self.pods.store.get(key)
        if pod is None:
            return
        node = self.nodes.get(node_name(pod))
        if node is None or not node.running:
            return
        now = now_utc()
        d = k.decide(pod, now=now, termination_seconds=self.options.termination_seconds,
                     start_seconds=self.options.start_seconds)
        if d.step is k.Step.NONE:
            return
        if d.wait > 0:
            self.queue.add_after(key, d.wait)
            return
        ns, name, uid = meta(pod).get("namespace"), meta(pod)["name"], str(meta(pod).get("uid"))
        if d.step is k.Step.REMOVE:
            node.ips.release(uid)
            await self.client.delete(PODS, name, namespace=ns, grace_period_seconds=0, preconditions={"uid": uid})
            return
        if d.step is k.Step.START and not await self._network_ready(node):
            self.queue.add_after(key, 0.5)
            return
        if d.step is k.Step.START:
            status = k.running_status(pod, now=now, host_ip=k.node_address(node.index), pod_ip=node.ips.allocate(uid))
        elif d.step is k.Step.EXIT:
            status = k.exited_status(pod, now=now, exit_code=d.exit_code)
            node.ips.release(uid)
        else:
            status = k.restarted_status(pod, now=now, exit_code=d.exit_code)
        await self.client.patch(PODS, name, {"status": status}, namespace=ns,
                                subresource="status")

    # --- nodes ----------------------------------------------------------------------------------

    async def _ensure_namespace(self) -> None:
        try:
            await self.client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": k.LEASE_NAMESPACE}})
        except ApiError as exc:
            if exc.code != 409:
                raise

    async def _register(self, node: HollowNode) -> None:
        body = k.node_object(node.name, node.index, self.options.shape)
        try:
            created = await self.client.create(NODES, body)
        except ApiError as exc:
            if exc.code != 409:
                raise
            created = await self.client.get(NODES, node.name)
        node.registered_at = asyncio.get_running_loop().time()
        self._adopt_cidr(node, created)
        await self._post_status(node, created)

    def _adopt_cidr(self, node: HollowNode, obj: Obj) -> None:
        cidr = (obj.get("spec") or {}).get("podCIDR")
        if cidr and cidr != node.pod_cidr:
            node.pod_cidr = cidr
            node.ips = k.IPAllocator(cidr)
        if cidr:
            node.cidr_assigned = True

    async def _network_ready(self, node: HollowNode) -> bool:
        """True once the node has its podCIDR (read at most twice a second), or after POD_CIDR_WAIT."""
        if node.cidr_assigned:
            return True
        loop = asyncio.get_running_loop()
        if loop.time() - node.registered_at > POD_CIDR_WAIT:
            return True
        if loop.time() - node.cidr_checked_at >= 0.5:
            node.cidr_checked_at = loop.time()
            self._adopt_cidr(node, await self.client.get(NODES, node.name))
        return node.cidr_assigned

    async def _post_status(self, node: HollowNode, current: Obj | None = None) -> None:
        if current is None:
            current = await self.client.get(NODES, node.name)
            self._adopt_cidr(node, current)
        status = k.node_status(node.name, node.index, self.options.shape, now_utc())
        status["conditions"] = k.merge_conditions((current.get("status") or {}).get("conditions") or [],
                                                  status["conditions"])
        await self.client.patch(NODES, node.name, {"status": status}, subresource="status")

    async def _renew_lease(self, node: HollowNode) -> None:
        now = now_utc()
        try:
            lease = await self.client.get(LEASES, node.name, namespace=k.LEASE_NAMESPACE)
        except ApiError as exc:
            if exc.code != 404:
                raise
            await self.client.create(LEASES, k.lease_object(node.name, now, duration=self.options.lease_duration),
                                     namespace=k.LEASE_NAMESPACE)
            return
        spec = {**(lease.get("spec") or {}), "holderIdentity": node.name,
                "leaseDurationSeconds": self.options.lease_duration, "renewTime": fmt_micro(now)}
        await self.client.update(LEASES, {**lease, "spec": spec}, namespace=k.LEASE_NAMESPACE)

    async def _heartbeat(self, node: HollowNode) -> None:
        """Lease every lease_interval, full status every status_interval, until the node stops."""
        loop = asyncio.get_running_loop()
        # spread the first beats of many nodes over one interval
        await asyncio.sleep((node.index % 97) / 97 * self.options.lease_interval)
        last_status = loop.time()
        while node.running:
            try:
                await self._renew_lease(node)
                if loop.time() - last_status >= self.options.status_interval:
                    await self._post_status(node)
                    last_status = loop.time()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("hollow node %s heartbeat: %s", node.name, exc)
            await asyncio.sleep(self.options.lease_interval)

    async def start(self) -> None:
        await self._ensure_namespace()
        sem = asyncio.Semaphore(50)

        async def reg(n: HollowNode) -> None:
            async with sem:
                await self._register(n)
                await self._renew_lease(n)

        await asyncio.gather(*(reg(n) for n in self.nodes.values()))
        self.registered.set()
        self._tasks.append(asyncio.create_task(self.pods.run(self._stop)))
        self._tasks += [asyncio.create_task(self._pod_worker()) for _ in range(self.options.workers)]
        for node in self.nodes.values():
            node.task = asyncio.create_task(self._heartbeat(node))

    def stop_node(self, name: str) -> None:
        """The node dies: no more heartbeats, status or pod handling."""
        node = self.nodes[name]
        node.running = False
        if node.task is not None:
            node.task.cancel()

    async def stop(self) -> None:
        self._stop.set()
        self.queue.shutdown()
        for node in self.nodes.values():
            node.running = False
            if node.task is not None:
                node.task.cancel()
        tasks = self._tasks + [n.task for n in self.nodes.values() if n.task is not None]
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
