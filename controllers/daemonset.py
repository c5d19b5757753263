"""DaemonSet controller: one pod per eligible node, including nodes that join later.

A node is eligible when the template's nodeSelector/required node affinity match it and
its NoSchedule/NoExecute taints are tolerated (with the tolerations Kubernetes adds to
daemon pods). Pods are pinned with a ``matchFields metadata.name`` node affinity and
placed by the scheduler, as in Kubernetes. RollingUpdate replaces old pods keeping at
most ``maxUnavailable`` nodes without an available pod. ``plan``/``compute_status`` are pure.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from skiff.api.resources import find
from skiff.client import ApiError
from skiff.machinery.expectations import Expectations
from skiff.machinery.informer import index_by_controller
from skiff.machinery.objects import (Obj, controller_ref, int_or_percent, is_deleting, is_pod_available,
                                     is_pod_ready, is_pod_terminal, meta, node_name, now_utc,
                                     pod_from_template, template_hash)
from skiff.machinery.placement import matches_node_selector_and_affinity, untolerated_taint

from .base import Controller

DAEMONSETS = find("daemonsets.apps")
PODS = find("pods")
NODES = find("nodes")
HASH_LABEL = "controller-revision-hash"

DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def template_of(ds: Obj) -> Obj:
    return (ds.get("spec") or {}).get("template") or {}


def daemon_tolerations(ds: Obj) -> list[Obj]:
    own = list((template_of(ds).get("spec") or {}).get("tolerations") or [])
    keys = {(t.get("key"), t.get("effect")) for t in own}
    return own + [t for t in DAEMON_TOLERATIONS if (t["key"], t["effect"]) not in keys]


def should_run(ds: Obj, node: Obj) -> bool:
    probe = {"spec": template_of(ds).get("spec") or {}}
    if not matches_node_selector_and_affinity(probe, node):
        return False
    return untolerated_taint((node.get("spec") or {}).get("taints"), daemon_tolerations(ds)) is None


def revision(ds: Obj) -> str:
    return template_hash(template_of(ds))


def target_node(pod: Obj) -> str:
    """The node a daemon pod is for: its nodeName, or the node its affinity pins it to."""
    if node_name(pod):
        return node_name(pod)
    aff = (((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {})
    req = aff.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in req.get("nodeSelectorTerms") or []:
        for f in term.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("values"):
                return str(f["values"][0])
    return ""


def new_pod(ds: Obj, node: str) -> Obj:
    pod = pod_from_template(template_of(ds), owner=ds, extra_labels={HASH_LABEL: revision(ds)})
    spec = pod["spec"]
    spec["tolerations"] = copy.deepcopy(daemon_tolerations(ds))
    affinity = spec.setdefault("affinity", {})
    na = affinity.setdefault("nodeAffinity", {})
    na["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}
    return pod


@dataclass
class DsPlan:
    create_on: list[str] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)


def _oldest_first(pods: list[Obj]) -> list[Obj]:
    return sorted(pods, key=lambda p: (meta(p).get("creationTimestamp") or "", meta(p).get("name") or ""))


def plan(ds: Obj, nodes: list[Obj], pods: list[Obj], *, now: datetime) -> DsPlan:
    out = DsPlan()
    if is_deleting(ds):
        return out
    spec = ds.get("spec") or {}
    rev = revision(ds)
    min_ready = int(spec.get("minReadySeconds") or 0)
    by_node: dict[str, list[Obj]] = {}
    for p in pods:
        if not is_deleting(p):
            by_node.setdefault(target_node(p), []).append(p)
    eligible = [meta(n)["name"] for n in nodes if should_run(ds, n)]
    eligible_set = set(eligible)
    unavailable = 0
    old_pods: list[tuple[bool, Obj]] = []
    for name in eligible:
        here = [p for p in by_node.get(name, []) if not is_pod_terminal(p)]
        failed = [p for p in by_node.get(name, []) if is_pod_terminal(p)]
        out.delete.extend(failed)
        if not here:
            out.create_on.append(name)
            unavailable += 1
            continue
        here = _oldest_first(here)
        out.delete.extend(here[1:])
        pod = here[0]
        available = is_pod_available(pod, min_ready_seconds=min_ready, now=now)
        if not available:
            unavailable += 1
        if (meta(pod).get("labels") or {}).get(HASH_LABEL) != rev:
            old_pods.append((available, pod))
    for name, here in by_node.items():
        if name not in eligible_set:
            out.delete.extend(here)
    strategy = spec.get("updateStrategy") or {}
    if (strategy.get("type") or "RollingUpdate") == "RollingUpdate" and old_pods:
        max_unavailable = int_or_percent((strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1),
                                         len(eligible), round_up=True) or 1
        # old pods that are already unavailable go first and cost nothing
        for available, pod in old_pods:
            if not available:
                out.delete.append(pod)
        budget = max_unavailable - unavailable
        for available, pod in old_pods:
            if available and budget > 0:
                out.delete.append(pod)
                budget -= 1
    return out


def compute_status(ds: Obj, nodes: list[Obj], pods: list[Obj], *, now: datetime) -> dict[str, Any]:
    rev = revision(ds)
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    eligible = {meta(n)["name"] for n in nodes if should_run(ds, n)}
    live = [p for p in pods if not is_deleting(p) and not is_pod_terminal(p)]
    scheduled = {node_name(p) for p in live if node_name(p)}
    on_eligible = [p for p in live if node_name(p) in eligible]
    available = sum(1 for p in on_eligible if is_pod_available(p, min_ready_seconds=min_ready, now=now))
    return {
        "observedGeneration": meta(ds).get("generation", 0),
        "desiredNumberScheduled": len(eligible),
        "currentNumberScheduled": len(scheduled & eligible),
        "numberMisscheduled": len(scheduled - eligible),
        "numberReady": sum(1 for p in on_eligible if is_pod_ready(p)),
        "updatedNumberScheduled": sum(1 for p in on_eligible if (meta(p).get("labels") or {}).get(HASH_LABEL) == rev),
        "numberAvailable": available,
        "numberUnavailable": max(len(eligible) - available, 0),
    }


class DaemonSetController(Controller):
    name = "daemonset"

    def __init__(self, client: Any, factory: Any, *, recorder: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.sets = factory.informer(DAEMONSETS)
        self.pods = factory.informer(PODS, indexers={"controller": index_by_controller})
        self.nodes = factory.informer(NODES)
        self.sets.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self.expectations = Expectations()
        self.pods.add_handler(on_add=self._pod_added, on_update=lambda o, n: self._pod(n), on_delete=self._pod)
        self.nodes.add_handler(on_add=self._all, on_update=self._node_updated, on_delete=self._all)

    def _pod(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is not None and ref.get("kind") == "DaemonSet":
            self.enqueue_key(f"{meta(pod).get('namespace')}/{ref.get('name')}")

    def _pod_added(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is not None and ref.get("kind") == "DaemonSet":
            key = f"{meta(pod).get('namespace')}/{ref.get('name')}"
            self.expectations.creation_observed(key)
            self.enqueue_key(key)

    def _all(self, _: Obj) -> None:
        for ds in self.sets.store.list():
            self.enqueue(ds)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if meta(old).get("labels") != meta(new).get("labels") or old.get("spec") != new.get("spec"):
            self._all(new)

    async def sync(self, key: str) -> None:
        ds = self.sets.store.get(key)
        if ds is None:
            return
        ns, name = meta(ds).get("namespace"), meta(ds)["name"]
        pods = self.pods.store.by_index("controller", str(meta(ds).get("uid")))
        nodes = self.nodes.store.list()
        now = now_utc()
        p = plan(ds, nodes, pods, now=now) if self.expectations.satisfied(key) else DsPlan()
        self.expectations.expect(key, add=len(p.create_on))
        for i, node in enumerate(p.create_on):
            try:
                await self.client.create(PODS, new_pod(ds, node), namespace=ns)
            except Exception:
                self.expectations.lower(key, add=len(p.create_on) - i)
                raise
        if p.create_on:
            self.recorder.event(ds, "Normal", "SuccessfulCreate", f"Created {len(p.create_on)} pod(s)")
        for pod in p.delete:
            try:
                await self.client.delete(PODS, meta(pod)["name"], namespace=ns)
                self.recorder.event(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {meta(pod)['name']}")
            except ApiError as e:
                if e.code != 404:
                    raise
        status = compute_status(ds, nodes, pods, now=now)
        old = ds.get("status") or {}
        if any(old.get(k, 0) != v for k, v in status.items()):
            await self.client.update_status(DAEMONSETS, {**ds, "status": status}, namespace=ns)
