"""Disruption controller: the status of each PodDisruptionBudget, which the eviction subresource obeys.

For a budget it counts the pods its selector matches in its namespace (``expectedPods``:
for an integer ``minAvailable`` the pods themselves; otherwise the scale of their
controllers, a Deployment's through its ReplicaSet), the healthy ones (Ready, not being
deleted, not just evicted), the healthy count the budget needs, and from them
``disruptionsAllowed``. Evictions the API server granted are listed in ``disruptedPods``
until the pod is seen going or ``DELETION_TIMEOUT`` passes, so a granted eviction is not
granted twice. ``compute_status`` is pure.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from skiff.api.resources import find
from skiff.api.selectors import SelectorError, from_label_selector
from skiff.machinery.objects import (Obj, controller_ref, fmt_time, get_condition, is_deleting, is_pod_ready,
                                     labels_of, meta, now_utc, parse_time)

from .base import Controller

PDBS = find("poddisruptionbudgets.policy")
PODS = find("pods")
REPLICASETS = find("replicasets.apps")
DEPLOYMENTS = find("deployments.apps")
STATEFULSETS = find("statefulsets.apps")
DELETION_TIMEOUT = timedelta(minutes=2)


def _int_or_percent(value: Any, total: int) -> int:
    """A budget's percentages round up, as Kubernetes' GetScaledValueFromIntOrPercent(…, true)."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def selected_pods(pdb: Obj, pods: list[Obj]) -> list[Obj]:
    try:
        sel = from_label_selector((pdb.get("spec") or {}).get("selector"))
    except SelectorError:
        return []
    return [p for p in pods if sel.matches(labels_of(p))]


def compute_status(pdb: Obj, pods: list[Obj], *, expected_scale: int | None, now: datetime) -> dict[str, Any]:
    """``pods``: the budget's pods; ``expected_scale``: their controllers' replicas (None: unknown)."""
    spec = pdb.get("spec") or {}
    old = pdb.get("status") or {}
    names = {meta(p)["name"]: p for p in pods}
    disrupted = {}
    for name, stamp in (old.get("disruptedPods") or {}).items():
        since = parse_time(stamp)
        pod = names.get(name)
        if pod is None or is_deleting(pod) or since is None or since + DELETION_TIMEOUT < now:
            continue  # gone, going, or the eviction never happened
        disrupted[name] = stamp
    healthy = sum(1 for p in pods if is_pod_ready(p) and not is_deleting(p) and meta(p)["name"] not in disrupted)
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None and not isinstance(min_available, str):
        expected = len(pods)
        desired = int(min_available)
    else:
        expected = expected_scale if expected_scale is not None else len(pods)
        if max_unavailable is not None:
            desired = max(expected - _int_or_percent(max_unavailable, expected), 0)
        elif min_available is not None:
            desired = _int_or_percent(min_available, expected)
        else:
            desired = expected  # neither set: no disruption allowed
    allowed = max(healthy - desired, 0) if expected > 0 or desired == 0 else 0
    status: dict[str, Any] = {"observedGeneration": meta(pdb).get("generation", 0), "currentHealthy": healthy,
                              "desiredHealthy": desired, "expectedPods": expected, "disruptionsAllowed": allowed}
    if disrupted:
        status["disruptedPods"] = disrupted
    prev = get_condition(pdb, "DisruptionAllowed")
    cond_status, reason = ("True", "SufficientPods") if allowed > 0 else ("False", "InsufficientPods")
    transition = prev.get("lastTransitionTime") if prev and prev.get("status") == cond_status else fmt_time(now)
    status["conditions"] = [{"type": "DisruptionAllowed", "status": cond_status, "reason": reason, "message": "",
                             "observedGeneration": status["observedGeneration"], "lastTransitionTime": transition}]
    return status


def next_expiry(status: dict[str, Any], *, now: datetime) -> float | None:
    times = [parse_time(t) for t in (status.get("disruptedPods") or {}).values()]
    due = [(t + DELETION_TIMEOUT - now).total_seconds() for t in times if t is not None]
    return max(min(due), 0.0) + 0.5 if due else None


class DisruptionController(Controller):
    name = "disruption"
    workers = 2

    def __init__(self, client: Any, factory: Any, *, recorder: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.pdbs = factory.informer(PDBS)
        self.pods = factory.informer(PODS)
        self.rss = factory.informer(REPLICASETS)
        self.deployments = factory.informer(DEPLOYMENTS)
        self.statefulsets = factory.informer(STATEFULSETS)
        self.pdbs.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self.pods.add_handler(on_add=self._pod, on_update=lambda o, n: self._pod(n), on_delete=self._pod)

    def _pod(self, pod: Obj) -> None:
        ns = meta(pod).get("namespace") or ""
        for pdb in self.pdbs.store.by_index("namespace", ns):
            if selected_pods(pdb, [pod]):
                self.enqueue(pdb)

    def _scale_of(self, ns: str, pod: Obj) -> tuple[str, int] | None:
        """(controller uid, replicas) of the pod's scalable controller, Deployment over ReplicaSet."""
        ref = controller_ref(pod)
        if ref is None:
            return None
        if ref.get("kind") == "ReplicaSet":
            rs = self.rss.store.get(f"{ns}/{ref.get('name')}")
            if rs is None:
                return None
            dref = controller_ref(rs)
            d = self.deployments.store.get(f"{ns}/{dref.get('name')}") if dref and dref.get("kind") == "Deployment" \
                else None
            owner = d if d is not None else rs
        elif ref.get("kind") == "StatefulSet":
            owner = self.statefulsets.store.get(f"{ns}/{ref.get('name')}")
            if owner is None:
                return None
        else:
            return None
        replicas = (owner.get("spec") or {}).get("replicas")
        return str(meta(owner).get("uid")), 1 if replicas is None else int(replicas)

    def expected_scale(self, ns: str, pods: list[Obj]) -> int | None:
        scales: dict[str, int] = {}
        for p in pods:
            found = self._scale_of(ns, p)
            if found is None:
                return None
            scales[found[0]] = found[1]
        return sum(scales.values()) if scales else None

    async def sync(self, key: str) -> None:
        pdb = self.pdbs.store.get(key)
        if pdb is None:
            return
        ns = meta(pdb).get("namespace") or ""
        pods = selected_pods(pdb, self.pods.store.by_index("namespace", ns))
        now = now_utc()
        status = compute_status(pdb, pods, expected_scale=self.expected_scale(ns, pods), now=now)
        if _meaning(status) != _meaning(pdb.get("status") or {}):
            # a compare-and-swap on the cached resourceVersion: an eviction granted since we read
            # the budget makes this fail (409) and the key is synced again with the newer budget
            await self.client.update_status(PDBS, {**pdb, "status": status})
        wait = next_expiry(status, now=now)
        if wait is not None:
            self.queue.add_after(key, wait)


def _meaning(status: dict[str, Any]) -> Any:
    return {**status, "disruptedPods": status.get("disruptedPods") or {},
            "conditions": [(c.get("type"), c.get("status"), c.get("reason")) for c in status.get("conditions") or []]}
