"""The scheduler process: informers → queue → one pod at a time → bind through ``pods/binding``.

The scheduling cycle (``framework.schedule``) runs synchronously on the cache; binding
runs concurrently, with the pod assumed on its node meanwhile. A pod that fits nowhere
may preempt lower-priority pods; otherwise it gets ``PodScheduled=False`` with the
Kubernetes message and a ``FailedScheduling`` event, and waits for a cluster event.
``run_scheduler`` is what ``skiff server`` calls; it elects a leader first.
"""
from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any

import orjson

from skiff.api.resources import find
from skiff.client import ApiError
from skiff.client import requests as rq
from skiff.machinery.events import EventRecorder
from skiff.machinery.informer import InformerFactory
from skiff.machinery.leader import LeaderElector
from skiff.machinery.objects import (Obj, fmt_time, get_condition, is_deleting, is_pod_terminal, key_of, meta,
                                     node_name, now_utc)

from .cache import Cache
from .framework import preempt, schedule
from .nodeinfo import PodInfo
from .queue import SchedulingQueue

log = logging.getLogger(__name__)
PODS = find("pods")
NODES = find("nodes")
PRIORITY_CLASSES = find("priorityclasses.scheduling.k8s.io")
DEFAULT_SCHEDULER = "default-scheduler"


@dataclass
class SchedulerOptions:
    scheduler_name: str = DEFAULT_SCHEDULER
    bind_concurrency: int = 64
    percentage_of_nodes_to_score: int = 0
    events: bool = True
    seed: int | None = None


def binding_request(pod: Obj, node: str) -> rq.Request:
    ns, name = meta(pod).get("namespace"), meta(pod)["name"]
    body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": ns},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
    path = rq.resource_path(PODS, namespace=ns, name=name, subresource="binding")
    return rq.Request("POST", path, (), {"Content-Type": rq.JSON, "Accept": rq.JSON}, orjson.dumps(body))


def _node_changed_for_scheduling(old: Obj, new: Obj) -> bool:
    return (meta(old).get("labels") != meta(new).get("labels") or old.get("spec") != new.get("spec")
            or (old.get("status") or {}).get("allocatable") != (new.get("status") or {}).get("allocatable"))


class Scheduler:
    def __init__(self, client: Any, *, options: SchedulerOptions | None = None) -> None:
        self.client = client
        self.options = options or SchedulerOptions()
        self.factory = InformerFactory(client)
        self.pods = self.factory.informer(PODS)
        self.nodes = self.factory.informer(NODES)
        self.priority_classes = self.factory.informer(PRIORITY_CLASSES)
        self.cache = Cache()
        self.queue = SchedulingQueue()
        self.recorder = EventRecorder(client, self.options.scheduler_name)
        self.rng = random.Random(self.options.seed)
        self._next_start = 0
        self._binds = asyncio.Semaphore(self.options.bind_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.scheduled = 0
        self.pods.add_handler(on_add=self._pod_add, on_update=lambda o, n: self._pod_update(o, n),
                              on_delete=self._pod_delete)
        self.nodes.add_handler(on_add=self._node_add, on_update=self._node_update, on_delete=self._node_delete)

    # --- priorities ---------------------------------------------------------------------------

    def priority(self, pod: Obj) -> int:
        spec = pod.get("spec") or {}
        if spec.get("priority") is not None:
            return int(spec["priority"])
        name = spec.get("priorityClassName")
        if name:
            pc = self.priority_classes.store.get(name)
            if pc is not None:
                return int(pc.get("value") or 0)
        for pc in self.priority_classes.store.list():
            if pc.get("globalDefault"):
                return int(pc.get("value") or 0)
        return 0

    # --- informer handlers (only bookkeeping and enqueueing) --------------------------------

    def _responsible(self, pod: Obj) -> bool:
        return ((pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER) == self.options.scheduler_name

    def _pod_add(self, pod: Obj) -> None:
        key = key_of(pod)
        if node_name(pod):
            self.queue.remove(key)
            self.cache.add_pod(pod, priority=self.priority(pod))
            if is_pod_terminal(pod):
                self.queue.move_all_to_active()
        elif not is_deleting(pod) and not is_pod_terminal(pod) and self._responsible(pod) \
                and key not in self.cache.assumed:
            self.queue.add(key, priority=self.priority(pod))

    def _pod_update(self, old: Obj, new: Obj) -> None:
        if node_name(new) and is_pod_terminal(new) and not is_pod_terminal(old):
            self.cache.remove_pod(key_of(new))
            self.queue.move_all_to_active()
            return
        if not node_name(new) and is_deleting(new):
            self.queue.remove(key_of(new))
            return
        if node_name(new) or old.get("spec") != new.get("spec") or meta(old).get("labels") != meta(new).get("labels"):
            self._pod_add(new)

    def _pod_delete(self, pod: Obj) -> None:
        key = key_of(pod)
        self.queue.remove(key)
        if node_name(pod) or key in self.cache.assumed:
            self.cache.remove_pod(key)
            self.queue.move_all_to_active()

    def _node_add(self, node: Obj) -> None:
        self.cache.set_node(node)
        self.queue.move_all_to_active()

    def _node_update(self, old: Obj, new: Obj) -> None:
        self.cache.set_node(new)
        if _node_changed_for_scheduling(old, new):
            self.queue.move_all_to_active()

    def _node_delete(self, node: Obj) -> None:
        self.cache.remove_node(meta(node)["name"])

    # --- the cycle ------------------------------------------------------------------------------

    def schedule_one(self, key: str) -> None:
        pod = self.pods.store.get(key)
        if pod is None or node_name(pod) or is_deleting(pod) or is_pod_terminal(pod) or not self._responsible(pod):
            self.queue.remove(key)
            return
        info = PodInfo.of(pod, priority=self.priority(pod))
        nodes = self.cache.node_list()
        result = schedule(info, nodes, start=self._next_start, rng=self.rng, anti_pods=self.cache.anti_pods(),
                          percentage=self.options.percentage_of_nodes_to_score)
        self._next_start = result.next_start
        if result.node is not None:
            self.cache.assume(info, result.node)
            self._spawn(self._bind(pod, result.node))
            return
        message = result.message(len(nodes)) if nodes else "no nodes available to schedule pods"
        victims = preempt(info, nodes, result.reasons, anti_pods=self.cache.anti_pods()) if nodes else None
        self.queue.requeue_unschedulable(key)
        self._spawn(self._unschedulable(pod, message, victims))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bind(self, pod: Obj, node: str) -> None:
        key = key_of(pod)
        async with self._binds:
            try:
                await self.client.send(binding_request(pod, node))
            except Exception as exc:
                self.cache.forget(key)
                if isinstance(exc, ApiError) and exc.code in (404, 409):
                    self.queue.remove(key)
                    return
                log.warning("binding %s to %s failed: %s", key, node, exc)
                self.queue.requeue_error(key)
                return
        self.scheduled += 1
        if self.options.events:
            self.recorder.event(pod, "Normal", "Scheduled", f"Successfully assigned {key} to {node}")

    async def _unschedulable(self, pod: Obj, message: str, victims: Any) -> None:
        ns, name = meta(pod).get("namespace"), meta(pod)["name"]
        if self.options.events:
            self.recorder.event(pod, "Warning", "FailedScheduling", message)
        status: dict[str, Any] = {}
        cond = get_condition(pod, "PodScheduled")
        if cond is None or cond.get("status") != "False" or cond.get("message") != message:
            status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": message, "lastProbeTime": None,
                                     "lastTransitionTime": fmt_time(now_utc())}]
        if victims is not None:
            status["nominatedNodeName"] = victims.node
            for v in victims.victims:
                vns, vname = meta(v.pod).get("namespace"), meta(v.pod)["name"]
                self.recorder.event(v.pod, "Normal", "Preempted",
                                    f"Preempted by pod {meta(pod).get('uid')} on node {victims.node}")
                try:
                    await self.client.delete(PODS, vname, namespace=vns)
                except ApiError as exc:
                    if exc.code != 404:
                        log.warning("preempting %s/%s: %s", vns, vname, exc)
        if status:
            try:
                await self.client.patch(PODS, name, {"status": status}, namespace=ns, subresource="status")
            except ApiError as exc:
                log.debug("status of unschedulable %s/%s: %s", ns, name, exc)

    async def run(self, stop: asyncio.Event) -> None:
        self.factory.start(stop)
        await self.factory.wait_synced()
        popper = asyncio.create_task(self._loop())
        try:
            await stop.wait()
        finally:
            self.queue.close()
            popper.cancel()
            await asyncio.gather(popper, return_exceptions=True)
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.recorder.close()
            await self.factory.join()

    async def _loop(self) -> None:
        while True:
            key = await self.queue.pop()
            if key is None:
                return
            try:
                self.schedule_one(key)
            except Exception:
                log.exception("scheduling %s failed", key)
                self.queue.requeue_error(key)
            await asyncio.sleep(0)  # let informers and binds run between cycles


async def run_scheduler(client: Any, *, stop: asyncio.Event, identity: str,
                        options: SchedulerOptions | None = None, lease_duration: int = 15,
                        renew_deadline: float = 10.0, retry_period: float = 2.0) -> None:
    """Elect a leader on the ``kube-system/kube-scheduler`` Lease, then schedule until ``stop``."""
    elector = LeaderElector(client, "kube-scheduler", identity, lease_duration=lease_duration,
                            renew_deadline=renew_deadline, retry_period=retry_period)

    async def lead(lead_stop: asyncio.Event) -> None:
        await Scheduler(client, options=options).run(lead_stop)

    await elector.run(stop, lead)
