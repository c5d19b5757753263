"""The agent's wiring: register the Node, keep its Lease and status fresh, and run the pods
bound to it through CRI.

Order at start: CRI version → Node registered (or adopted) → podCIDR from the node IPAM
controller handed to the runtime → Lease → pod informer (``spec.nodeName=<node>``) →
workers. A relist of the runtime every ``relist_interval`` (the kubelet's PLEG) enqueues
pods whose containers changed state and removes sandboxes of pods the API no longer has.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import grpc

from skiff.api.resources import find
from skiff.client import ApiError
from skiff.machinery.events import WARNING, EventRecorder
from skiff.machinery.hollow.kubelet import LEASE_NAMESPACE, lease_object, merge_conditions
from skiff.machinery.informer import Informer
from skiff.machinery.objects import fmt_micro, key_of, meta, node_name, now_utc
from skiff.machinery.stopping import stopped_within
from skiff.machinery.workqueue import WorkQueue

from . import node as nodemod
from .cri import CriClient, rpc_message
from .observed import POD_UID
from .plan import Backoff
from .plan import grace_seconds
from .podworker import PodWorkers, StepFailed
from .probes import Prober
from .objects import PodObjects
from .volumes import Volumes
from .specs import ClusterDNS

log = logging.getLogger(__name__)
NODES = find("nodes")
PODS = find("pods")
LEASES = find("leases.coordination.k8s.io")


@dataclass
class AgentOptions:
    node_name: str
    root: str
    node_ip: str = ""
    lease_duration: int = 40
    lease_interval: float = 10.0
    status_interval: float = 10.0
    relist_interval: float = 1.0
    workers: int = 4
    backoff: Backoff = field(default_factory=Backoff)
    labels: dict[str, str] = field(default_factory=dict)
    kubelet_port: int = nodemod.KUBELET_PORT  # 0: no kubelet API
    token: str = ""  # the bearer token the API server presents to the kubelet API
    cluster_dns: tuple[str, ...] = ()  # --cluster-dns: what ClusterFirst pods resolve through
    cluster_domain: str = "cluster.local"
    cgroup_root: str = ""  # the parent of every pod's cgroup; "": the runtime's own choice


def host_searches(path: str = "/etc/resolv.conf") -> tuple[str, ...]:
    """The node's own search domains: the kubelet appends them to a ClusterFirst pod's."""
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return ()
    found: tuple[str, ...] = ()
    for line in lines:
        words = line.split()
        if words and words[0] in ("search", "domain"):
            found = tuple(words[1:])  # the last one wins, as the resolver reads it
    return found


class Agent:
    def __init__(self, client: Any, cri: CriClient, options: AgentOptions) -> None:
        self.client = client
        self.cri = cri
        self.options = options
        self.name = options.node_name
        self.facts = nodemod.machine_facts(options.root)
        self.ip = options.node_ip or nodemod.node_ip()
        self.runtime = ("skiff", "0")
        self.pod_cidr = ""
        self.pods = Informer(client, PODS, field_selector=f"spec.nodeName={self.name}")
        self.pods.add_handler(on_add=self._enqueue, on_update=lambda _o, n: self._enqueue(n),
                              on_delete=self._enqueue)
        self.queue = WorkQueue(name="pods")
        self.workers = PodWorkers(client, cri, self.name, self.ip, f"{options.root}/pods",
                                  backoff=options.backoff,
                                  dns=ClusterDNS(options.cluster_dns, options.cluster_domain, host_searches()),
                                  volumes=None)
        self.objects = PodObjects(client, pods=self.pods.store.list, on_change=self._enqueue)
        self.workers.objects = self.objects
        self.workers.allocatable = nodemod.capacity(self.facts)
        self.workers.cgroup_root = options.cgroup_root
        self.workers.volumes = Volumes(client, f"{options.root}/volumes", objects=self.objects, host_ip=self.ip,
                                       allocatable=self.workers.allocatable)
        self.nodes = Informer(client, NODES)
        self._routes_dirty = asyncio.Event()
        self.nodes.add_handler(on_add=lambda _n: self._routes_dirty.set(),
                               on_update=lambda _o, _n: self._routes_dirty.set(),
                               on_delete=lambda _n: self._routes_dirty.set())
        self.recorder = EventRecorder(client, "kubelet", host=self.name)
        self.workers.recorder = self.recorder
        self.prober = Prober(cri, on_change=self._enqueue, on_kill=self._probe_kill)
        self.workers.gates = self.prober.gates
        self.registered = asyncio.Event()
        self._fingerprints: dict[str, tuple[Any, ...]] = {}
        self._tasks: list[asyncio.Task[Any]] = []

    def _enqueue(self, pod: dict[str, Any]) -> None:
        if node_name(pod) == self.name:
            self.queue.add(key_of(pod))

    # -- the Node --------------------------------------------------------------
    async def register(self) -> None:
        v = await self.cri.version()
        self.runtime = (v.runtime_name, v.runtime_version)
        self.workers.runtime_name = v.runtime_name
        try:
            current = await self.client.create(NODES, nodemod.node_object(self.name, self.facts,
                                                                          labels=self.options.labels))
        except ApiError as exc:
            if exc.code != 409:
                raise
            current = await self.client.get(NODES, self.name)
        await self.post_status(current)
        await self.renew_lease()
        self.registered.set()

    async def post_status(self, current: dict[str, Any] | None = None) -> None:
        if current is None:
            current = await self.client.get(NODES, self.name)
        cidr = (current.get("spec") or {}).get("podCIDR") or ""
        if cidr and cidr != self.pod_cidr:
            await self.cri.set_pod_cidr(cidr)
            self.pod_cidr = cidr
            log.info("node %s: podCIDR %s", self.name, cidr)
        status = nodemod.node_status(self.name, self.facts, ip=self.ip, now=now_utc(), runtime=self.runtime[0],
                                     runtime_version=self.runtime[1], network_ready=await self.cri.network_ready(),
                                     port=self.options.kubelet_port or nodemod.KUBELET_PORT)
        status["conditions"] = merge_conditions((current.get("status") or {}).get("conditions") or [],
                                                status["conditions"])
        try:
            status["images"] = nodemod.node_images(await self.cri.list_images())
        except grpc.aio.AioRpcError as exc:  # the status still goes out; the images come with the next
            log.warning("node %s: images: %s", self.name, rpc_message(exc))
        await self.client.patch(NODES, self.name, {"status": status}, subresource="status")

    async def wait_for_pod_cidr(self, stop: asyncio.Event) -> None:
        """The node IPAM controller assigns spec.podCIDR after registration."""
        delay = 0.1
        while not self.pod_cidr and not stop.is_set():
            await self.post_status()
            if self.pod_cidr:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def renew_lease(self) -> None:
        now = now_utc()
        try:
            lease = await self.client.get(LEASES, self.name, namespace=LEASE_NAMESPACE)
        except ApiError as exc:
            if exc.code != 404:
                raise
            await self._ensure_lease_namespace()
            await self.client.create(LEASES, lease_object(self.name, now, duration=self.options.lease_duration),
                                     namespace=LEASE_NAMESPACE)
            return
        spec = {**(lease.get("spec") or {}), "holderIdentity": self.name,
                "leaseDurationSeconds": self.options.lease_duration, "renewTime": fmt_micro(now)}
        await self.client.update(LEASES, {**lease, "spec": spec}, namespace=LEASE_NAMESPACE)

    async def _ensure_lease_namespace(self) -> None:
        try:
            await self.client.create(find("namespaces"), {"apiVersion": "v1", "kind": "Namespace",
                                                          "metadata": {"name": LEASE_NAMESPACE}})
        except ApiError as exc:
            if exc.code != 409:
                raise

    async def _every(self, interval: float, fn: Any, what: str, stop: asyncio.Event) -> None:
        while not await stopped_within(stop, interval):
            try:
                await fn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the next beat retries
                log.warning("node %s %s: %s", self.name, what, exc)

    # -- pods ------------------------------------------------------------------
    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            if key is None:
                return
            try:
                pod = self.pods.store.get(key)
                if pod is not None and node_name(pod) == self.name:
                    plan = await self.workers.sync(pod)
                    if plan.requeue_after is not None:
                        self.queue.add_after(key, plan.requeue_after)
                self.queue.forget(key)
            except asyncio.CancelledError:
                raise
            except StepFailed as exc:
                log.info("pod %s: %s", key, exc)
                self.queue.add_rate_limited(key)
            except ApiError as exc:
                if exc.code != 404:
                    log.warning("pod %s: %s", key, exc)
                    self.queue.add_rate_limited(key)
            except Exception:
                log.exception("pod %s", key)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    async def relist(self) -> None:
        """Enqueue pods whose runtime state changed; remove what belongs to no known pod."""
        sandboxes = await self.cri.list_sandboxes()
        containers = await self.cri.list_containers()
        prints: dict[str, list[tuple[Any, ...]]] = {}
        for s in sandboxes:
            prints.setdefault(s.labels.get(POD_UID, ""), []).append(("s", s.id, s.state))
        for c in containers:
            prints.setdefault(c.labels.get(POD_UID, ""), []).append(("c", c.id, c.state))
        by_uid = {str(meta(p).get("uid")): p for p in self.pods.store.list()}
        for uid, items in prints.items():
            fp = tuple(sorted(items))
            pod = by_uid.get(uid)
            if pod is not None:
                if self._fingerprints.get(uid) != fp:
                    self.queue.add(key_of(pod))
            elif uid and self.pods.synced.is_set():
                await self._remove_orphan(uid, sandboxes)
            self._fingerprints[uid] = fp
        for uid in set(self._fingerprints) - set(prints):
            del self._fingerprints[uid]
            self.workers.forget(uid)

    async def _remove_orphan(self, uid: str, sandboxes: list[Any]) -> None:
        for s in sandboxes:
            if s.labels.get(POD_UID) == uid:
                log.info("removing sandbox %s of a pod the API no longer has (uid %s)", s.id[:12], uid)
                await self.cri.stop_sandbox(s.id)
                await self.cri.remove_sandbox(s.id)

    async def _route_loop(self, stop: asyncio.Event) -> None:
        """Keep routes to the other nodes' podCIDRs, and the SNAT of traffic leaving them, in
        step with the Node objects."""
        from skiff.nodeagent.network import masquerade
        from skiff.nodeagent.network.routes import RouteTable, desired_routes

        table = RouteTable()
        while not stop.is_set():
            await self._routes_dirty.wait()
            self._routes_dirty.clear()
            try:
                put, gone = await asyncio.to_thread(table.sync, desired_routes(self.nodes.store.list(), me=self.name))
                if put or gone:
                    log.info("node %s: routes to pods on other nodes: +%s -%s", self.name, put, gone)
                if self.pod_cidr:
                    await asyncio.to_thread(masquerade.apply, self.pod_cidr,
                                            masquerade.cluster_cidrs(self.nodes.store.list()))
            except (RuntimeError, OSError, ValueError) as exc:
                log.warning("node %s: routes: %s", self.name, exc)
                await asyncio.sleep(2)
                self._routes_dirty.set()

    async def _probe_kill(self, pod: dict[str, Any], cid: str, reason: str) -> None:
        """A failed liveness or start-up probe: stop the container; its restart policy decides."""
        log.info("pod %s: container %s: %s, killing it", key_of(pod), cid[:12], reason)
        self.recorder.event(pod, WARNING, "Unhealthy", f"{reason}, container will be restarted")
        name = next((cs["name"] for cs in (pod.get("status") or {}).get("containerStatuses") or []
                     if str(cs.get("containerID", "")).endswith(cid)), "")
        probe = reason.split()[0].lower()
        await self.workers.kill_container(pod, cid, name, grace_seconds(pod),
                                          message=f"Container {name} failed {probe} probe, will be restarted")
        self._enqueue(pod)

    async def _probe_loop(self, stop: asyncio.Event) -> None:
        import time

        while not stop.is_set():
            self.prober.tick([p for p in self.pods.store.list() if node_name(p) == self.name], time.time())
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except asyncio.TimeoutError:
                pass

    # -- run -------------------------------------------------------------------
    async def _serve_kubelet_api(self) -> Any:
        from pathlib import Path

        from . import server, tls

        crt, key = tls.ensure_cert(Path(self.options.root) / "pki", node_name=self.name, ips=[self.ip, "127.0.0.1"])
        api = server.KubeletApi(pods=self.pods.store.get, cri=self.cri, logs_root=f"{self.options.root}/pods",
                                token=self.options.token)
        return await server.serve(api, host="", port=self.options.kubelet_port,
                                  ssl_ctx=tls.server_context(crt, key))

    async def run(self, stop: asyncio.Event) -> None:
        runner = await self._serve_kubelet_api() if self.options.kubelet_port else None
        try:
            await self._run(stop)
        finally:
            if runner is not None:
                await runner.cleanup()

    async def _run(self, stop: asyncio.Event) -> None:
        await self.register()
        await self.wait_for_pod_cidr(stop)
        self._tasks = [
            asyncio.create_task(self.pods.run(stop)),
            asyncio.create_task(self.nodes.run(stop)),
            *self.objects.tasks(stop),
            asyncio.create_task(self._route_loop(stop)),
            asyncio.create_task(self._probe_loop(stop)),
            asyncio.create_task(self._every(self.options.lease_interval, self.renew_lease, "lease", stop)),
            asyncio.create_task(self._every(self.options.status_interval, self.post_status, "status", stop)),
            asyncio.create_task(self._every(self.options.relist_interval, self.relist, "relist", stop)),
        ]
        await self.pods.synced.wait()
        self._tasks += [asyncio.create_task(self._worker()) for _ in range(self.options.workers)]
        log.info("node %s: running (%s %s, podCIDR %s, IP %s)", self.name, *self.runtime, self.pod_cidr, self.ip)
        await stop.wait()
        self.queue.shutdown()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.recorder.flush(2.0)
        await self.recorder.close()
