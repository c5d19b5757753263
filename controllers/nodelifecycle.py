"""Node lifecycle and node IPAM.

Lifecycle (every ``node_monitor_period``, per node): the last heartbeat is the newer of the
node's Lease ``renewTime`` and its Ready condition's ``lastHeartbeatTime``. Past
``node_monitor_grace_period`` the node's conditions become ``Unknown``
(``NodeStatusUnknown``, "Kubelet stopped posting node status."), its pods are marked not
Ready, and it gets the ``node.kubernetes.io/unreachable`` NoExecute and NoSchedule taints
(``not-ready`` when Ready is False). Pods on a NoExecute-tainted node are deleted once
their toleration runs out: ``tolerationSeconds`` of a matching toleration, or
``pod_eviction_timeout`` (300 s) for a pod without one, standing in for the
DefaultTolerationSeconds admission plugin. Pods bound to nodes that no longer exist are
force-deleted (pod GC).

IPAM: each node without ``spec.podCIDR`` gets the next free /24 of ``cluster_cidr``.
``node_health``, ``desired_taints`` and ``eviction_due`` are pure.
"""
from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from skiff.api.resources import find
from skiff.client import ApiError
from skiff.machinery.informer import index_by_node
from skiff.machinery.objects import (Obj, fmt_time, get_condition, is_deleting, is_pod_terminal, meta, node_name,
                                     now_utc, parse_time)
from skiff.machinery.placement import TAINT_NOT_READY, TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE, toleration_seconds

from .base import Controller

NODES = find("nodes")
LEASES = find("leases.coordination.k8s.io")
PODS = find("pods")
LEASE_NS = "kube-node-lease"
MANAGED_TAINTS = {TAINT_NOT_READY, TAINT_UNREACHABLE}
UNSCHEDULABLE_TAINT = {"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"}


@dataclass
class Health:
    ready: str  # "True" | "False" | "Unknown" after this check
    mark_unknown: bool  # conditions must be written as Unknown now
    last_heartbeat: datetime


def last_heartbeat(node: Obj, lease: Obj | None) -> datetime:
    times = [parse_time(meta(node).get("creationTimestamp"))]
    ready = get_condition(node, "Ready")
    if ready is not None:
        times.append(parse_time(ready.get("lastHeartbeatTime")))
    if lease is not None:
        times.append(parse_time((lease.get("spec") or {}).get("renewTime")))
    valid = [t for t in times if t is not None]
    return max(valid) if valid else datetime.min.replace(tzinfo=now_utc().tzinfo)


def node_health(node: Obj, lease: Obj | None, *, now: datetime, grace: float) -> Health:
    beat = last_heartbeat(node, lease)
    ready = get_condition(node, "Ready")
    status = (ready or {}).get("status") or "Unknown"
    if (now - beat).total_seconds() > grace:
        return Health("Unknown", status != "Unknown", beat)
    return Health(status, False, beat)


def unknown_conditions(node: Obj, *, now: datetime) -> list[Obj]:
    stamp = fmt_time(now)
    out = []
    seen = set()
    for c in (node.get("status") or {}).get("conditions") or []:
        seen.add(c.get("type"))
        if c.get("status") == "Unknown":
            out.append(c)
            continue
        out.append({**c, "status": "Unknown", "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.", "lastTransitionTime": stamp})
    if "Ready" not in seen:
        out.append({"type": "Ready", "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                    "message": "Kubelet never posted node status.", "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp})
    return out


def desired_taints(node: Obj, ready: str, *, now: datetime) -> list[Obj]:
    """The node's taints with the not-ready/unreachable ones matching ``ready`` (timeAdded kept),
    and ``node.kubernetes.io/unschedulable:NoSchedule`` exactly while the node is cordoned."""
    current = list((node.get("spec") or {}).get("taints") or [])
    others = [t for t in current if t.get("key") not in MANAGED_TAINTS
              and not (t.get("key") == TAINT_UNSCHEDULABLE and t.get("effect") == "NoSchedule")]
    if (node.get("spec") or {}).get("unschedulable"):
        others.append(next((t for t in current if t.get("key") == TAINT_UNSCHEDULABLE
                            and t.get("effect") == "NoSchedule"), dict(UNSCHEDULABLE_TAINT)))
    want_key = {"False": TAINT_NOT_READY, "Unknown": TAINT_UNREACHABLE}.get(ready)
    if want_key is None:
        return others
    out = list(others)
    for effect in ("NoSchedule", "NoExecute"):
        existing = next((t for t in current if t.get("key") == want_key and t.get("effect") == effect), None)
        if existing is not None:
            out.append(existing)
        else:
            taint: Obj = {"key": want_key, "effect": effect}
            if effect == "NoExecute":
                taint["timeAdded"] = fmt_time(now)
            out.append(taint)
    return out


def eviction_due(pod: Obj, taints: list[Obj], *, now: datetime, default_seconds: int) -> float | None:
    """Seconds until the pod must be evicted for the node's NoExecute taints (<= 0: now; None: never)."""
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    due: float | None = None
    for t in taints:
        if t.get("effect") != "NoExecute":
            continue
        default = default_seconds if t.get("key") in MANAGED_TAINTS else None
        secs = toleration_seconds(tolerations, t, default=default)
        if secs is None:
            continue
        added = parse_time(t.get("timeAdded")) or now
        left = (added + timedelta(seconds=secs) - now).total_seconds()
        due = left if due is None else min(due, left)
    return due


def not_ready_conditions(pod: Obj, *, now: datetime) -> list[Obj] | None:
    """The pod's conditions with Ready False, or None if already not Ready."""
    conds = (pod.get("status") or {}).get("conditions") or []
    ready = next((c for c in conds if c.get("type") == "Ready"), None)
    if ready is None or ready.get("status") != "True":
        return None
    return [c if c.get("type") != "Ready" else {**c, "status": "False", "reason": "NodeNotReady",
                                                 "lastTransitionTime": fmt_time(now)} for c in conds]


class NodeLifecycleController(Controller):
    name = "nodelifecycle"
    workers = 4

    def __init__(self, client: Any, factory: Any, *, recorder: Any, options: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.options = options
        self.nodes = factory.informer(NODES)
        self.leases = factory.informer(LEASES)
        self.pods = factory.informer(PODS, indexers={"node": index_by_node})
        self.nodes.add_handler(on_add=self.enqueue, on_update=lambda o, n: self._node_updated(o, n),
                               on_delete=self._node_deleted)
        self.pods.add_handler(on_add=self._pod)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if ((old.get("spec") or {}).get("taints") != (new.get("spec") or {}).get("taints")
                or bool((old.get("spec") or {}).get("unschedulable")) != bool((new.get("spec") or {}).get("unschedulable"))):
            self.enqueue(new)

    def _node_deleted(self, node: Obj) -> None:
        for pod in self.pods.store.by_index("node", meta(node)["name"]):
            self.enqueue_key(f"pod|{meta(pod).get('namespace')}/{meta(pod)['name']}")

    def _pod(self, pod: Obj) -> None:
        n = node_name(pod)
        if n and self.nodes.store.get(n) is None and self.nodes.synced.is_set():
            self.enqueue_key(f"pod|{meta(pod).get('namespace')}/{meta(pod)['name']}")

    async def run(self, stop: asyncio.Event) -> None:
        ticker = asyncio.create_task(self._tick(stop))
        try:
            await super().run(stop)
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)

    async def _tick(self, stop: asyncio.Event) -> None:
        await self.factory.wait_synced()
        while not stop.is_set():
            for node in self.nodes.store.list():
                self.enqueue(node)
            for pod in self.pods.store.list():
                if node_name(pod) and self.nodes.store.get(node_name(pod)) is None:
                    self.enqueue_key(f"pod|{meta(pod).get('namespace')}/{meta(pod)['name']}")
            try:
                await asyncio.wait_for(stop.wait(), self.options.node_monitor_period)
            except asyncio.TimeoutError:
                pass

    async def sync(self, key: str) -> None:
        if key.startswith("pod|"):
            await self._orphan_pod(key[4:])
            return
        node = self.nodes.store.get(key)
        if node is None:
            return
        now = now_utc()
        lease = self.leases.store.get(f"{LEASE_NS}/{key}")
        health = node_health(node, lease, now=now, grace=self.options.node_monitor_grace_period)
        if health.mark_unknown:
            conditions = unknown_conditions(node, now=now)
            node = await self.client.update_status(NODES, {**node, "status": {**(node.get("status") or {}),
                                                                             "conditions": conditions}})
            self.recorder.event(node, "Normal", "NodeNotReady", f"Node {key} status is now: NodeNotReady")
            await self._mark_pods_not_ready(key, now)
        taints = desired_taints(node, health.ready, now=now)
        if taints != ((node.get("spec") or {}).get("taints") or []):
            spec = {**(node.get("spec") or {}), "taints": taints}
            if not taints:
                spec.pop("taints")
            node = await self.client.update(NODES, {**node, "spec": spec})
        await self._evict(node, taints, now)

    async def _mark_pods_not_ready(self, node: str, now: datetime) -> None:
        for pod in self.pods.store.by_index("node", node):
            conds = not_ready_conditions(pod, now=now)
            if conds is None or is_pod_terminal(pod):
                continue
            try:
                await self.client.update_status(PODS, {**pod, "status": {**(pod.get("status") or {}),
                                                                         "conditions": conds}})
            except ApiError as e:
                if e.code not in (404, 409):
                    raise

    async def _evict(self, node: Obj, taints: list[Obj], now: datetime) -> None:
        if not any(t.get("effect") == "NoExecute" for t in taints):
            return
        soonest: float | None = None
        for pod in self.pods.store.by_index("node", meta(node)["name"]):
            if is_deleting(pod) or is_pod_terminal(pod):
                continue
            due = eviction_due(pod, taints, now=now, default_seconds=self.options.pod_eviction_timeout)
            if due is None:
                continue
            if due > 0:
                soonest = due if soonest is None else min(soonest, due)
                continue
            try:
                await self.client.delete(PODS, meta(pod)["name"], namespace=meta(pod).get("namespace"))
                self.recorder.event(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {meta(pod).get('namespace')}/{meta(pod)['name']}")
            except ApiError as e:
                if e.code != 404:
                    raise
        if soonest is not None:
            self.queue.add_after(meta(node)["name"], soonest + 0.05)

    async def _orphan_pod(self, key: str) -> None:
        pod = self.pods.store.get(key)
        if pod is None or not node_name(pod) or self.nodes.store.get(node_name(pod)) is not None:
            return
        try:
            await self.client.get(NODES, node_name(pod))
            return  # the cache lags; the node exists
        except ApiError as e:
            if e.code != 404:
                raise
        try:
            await self.client.delete(PODS, meta(pod)["name"], namespace=meta(pod).get("namespace"),
                                     grace_period_seconds=0)
        except ApiError as e:
            if e.code != 404:
                raise


def next_free_cidr(cluster_cidr: str, mask: int, used: set[str]) -> str | None:
    net = ipaddress.ip_network(cluster_cidr, strict=False)
    for sub in net.subnets(new_prefix=mask):
        if str(sub) not in used:
            return str(sub)
    return None


class NodeIpamController(Controller):
    name = "nodeipam"
    workers = 1  # allocation must be serial

    def __init__(self, client: Any, factory: Any, *, recorder: Any, options: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.options = options
        self.nodes = factory.informer(NODES)
        self.nodes.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self.assigned: dict[str, str] = {}

    def used(self) -> set[str]:
        out = set(self.assigned.values())
        for n in self.nodes.store.list():
            cidr = (n.get("spec") or {}).get("podCIDR")
            if cidr:
                out.add(cidr)
        return out

    async def sync(self, key: str) -> None:
        node = self.nodes.store.get(key)
        if node is None:
            self.assigned.pop(key, None)
            return
        if (node.get("spec") or {}).get("podCIDR"):
            self.assigned.pop(key, None)
            return
        cidr = self.assigned.get(key) or next_free_cidr(self.options.cluster_cidr,
                                                        self.options.node_cidr_mask_size, self.used())
        if cidr is None:
            self.recorder.event(node, "Warning", "CIDRNotAvailable", f"Node {key} has no CIDR available in "
                                f"{self.options.cluster_cidr}")
            return
        self.assigned[key] = cidr
        await self.client.update(NODES, {**node, "spec": {**(node.get("spec") or {}), "podCIDR": cidr,
                                                          "podCIDRs": [cidr]}})
