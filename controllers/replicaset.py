"""ReplicaSet controller: keep ``spec.replicas`` active pods matching the selector.

``plan`` (claim/adopt/release, how many to create, which to delete) and
``compute_status`` are pure; ``ReplicaSetController.sync`` reads the cache, honours
expectations so a burst of creates is not repeated before the cache sees it, and applies.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from skiff.api.resources import find
from skiff.machinery.expectations import Expectations
from skiff.machinery.informer import index_by_controller
from skiff.machinery.objects import (Obj, controller_ref, is_deleting, is_pod_active, is_pod_available,
                                     is_pod_ready, key_of, labels_of, meta, node_name, now_utc, owner_ref,
                                     parse_time, pod_from_template, pod_phase, restart_count, selector_of)

from .base import Controller, slow_start_batch

PODS = find("pods")
REPLICASETS = find("replicasets.apps")
BURST_REPLICAS = 500


@dataclass
class Claim:
    owned: list[Obj] = field(default_factory=list)
    adopt: list[Obj] = field(default_factory=list)
    release: list[Obj] = field(default_factory=list)


def claim_pods(owner: Obj, pods: list[Obj]) -> Claim:
    """ControllerRefManager.ClaimPods: owned+matching kept, owned+not matching released,
    orphans that match adopted (unless the owner or the pod is being deleted)."""
    sel = selector_of(owner)
    uid = meta(owner).get("uid")
    out = Claim()
    for pod in pods:
        ref = controller_ref(pod)
        matches = sel.matches(labels_of(pod))
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches:
                out.owned.append(pod)
            elif not is_deleting(pod):
                out.release.append(pod)
        elif matches and not is_deleting(pod) and not is_deleting(owner):
            out.adopt.append(pod)
    return out


def _rank(pod: Obj, now: datetime) -> tuple[Any, ...]:
    """Deletion preference, most deletable first (controller.ActivePodsWithRanks)."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(pod_phase(pod), 0)
    ready = is_pod_ready(pod)
    created = parse_time(meta(pod).get("creationTimestamp"))
    ts = created.timestamp() if created else now.timestamp()
    return (1 if node_name(pod) else 0, phase_rank, 1 if ready else 0, -restart_count(pod), -ts,
            meta(pod).get("name") or "")


def pods_to_delete(pods: list[Obj], count: int, *, now: datetime) -> list[Obj]:
    return sorted(pods, key=lambda p: _rank(p, now))[:max(count, 0)]


@dataclass
class RSPlan:
    create: int = 0
    delete: list[Obj] = field(default_factory=list)
    adopt: list[Obj] = field(default_factory=list)
    release: list[Obj] = field(default_factory=list)


def plan(rs: Obj, pods: list[Obj], *, now: datetime) -> RSPlan:
    claim = claim_pods(rs, pods)
    out = RSPlan(adopt=claim.adopt, release=claim.release)
    if is_deleting(rs):
        return out
    active = [p for p in claim.owned + claim.adopt if is_pod_active(p)]
    want = int((rs.get("spec") or {}).get("replicas", 1))
    diff = len(active) - want
    if diff < 0:
        out.create = min(-diff, BURST_REPLICAS)
    elif diff > 0:
        out.delete = pods_to_delete(active, min(diff, BURST_REPLICAS), now=now)
    return out


def compute_status(rs: Obj, pods: list[Obj], *, now: datetime) -> dict[str, Any]:
    spec = rs.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    owned = [p for p in claim_pods(rs, pods).owned if is_pod_active(p)]
    tmpl_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    status: dict[str, Any] = {
        "replicas": len(owned),
        "fullyLabeledReplicas": sum(1 for p in owned
                                    if all(labels_of(p).get(k) == v for k, v in tmpl_labels.items())),
        "readyReplicas": sum(1 for p in owned if is_pod_ready(p)),
        "availableReplicas": sum(1 for p in owned if is_pod_available(p, min_ready_seconds=min_ready, now=now)),
        "observedGeneration": meta(rs).get("generation", 0),
    }
    conditions = [c for c in (rs.get("status") or {}).get("conditions") or [] if c.get("type") != "ReplicaFailure"]
    if conditions:
        status["conditions"] = conditions
    return status


def status_differs(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    old = old or {}
    return any(old.get(k, 0 if k != "conditions" else None) != v for k, v in new.items())


def next_available_check(owner: Obj, pods: list[Obj], *, now: datetime) -> float | None:
    """Seconds until a ready pod becomes available under minReadySeconds (None: nothing pending)."""
    min_ready = int((owner.get("spec") or {}).get("minReadySeconds") or 0)
    if min_ready <= 0:
        return None
    waits = []
    for p in pods:
        if is_pod_ready(p) and not is_pod_available(p, min_ready_seconds=min_ready, now=now):
            c = next(c for c in (p.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready")
            since = parse_time(c.get("lastTransitionTime"))
            if since is not None:
                waits.append(min_ready - (now - since).total_seconds())
    return max(min(waits), 0.5) if waits else None


class ReplicaSetController(Controller):
    name = "replicaset"
    workers = 4

    def __init__(self, client: Any, factory: Any, *, recorder: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.expectations = Expectations()
        self.rs_informer = factory.informer(REPLICASETS, indexers={"controller": index_by_controller})
        self.pod_informer = factory.informer(PODS, indexers={"controller": index_by_controller})
        self.rs_informer.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n),
                                     on_delete=self._rs_deleted)
        self.pod_informer.add_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                      on_delete=self._pod_deleted)

    def _rs_deleted(self, rs: Obj) -> None:
        self.expectations.delete(key_of(rs))
        self.enqueue(rs)

    def _owner_key(self, pod: Obj) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return None
        return f"{meta(pod).get('namespace')}/{ref.get('name')}"

    def _enqueue_matching(self, pod: Obj) -> None:
        for rs in self.rs_informer.store.by_index("namespace", meta(pod).get("namespace") or ""):
            if selector_of(rs).matches(labels_of(pod)):
                self.enqueue(rs)

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.enqueue_key(key)
        elif controller_ref(pod) is None:
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        old_key, new_key = self._owner_key(old), self._owner_key(new)
        if old_key and old_key != new_key:
            self.enqueue_key(old_key)
        if new_key:
            self.enqueue_key(new_key)
        elif controller_ref(new) is None:
            self._enqueue_matching(new)
        if labels_of(old) != labels_of(new) and controller_ref(new) is None:
            self._enqueue_matching(old)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key)
            self.enqueue_key(key)

    async def sync(self, key: str) -> None:
        rs = self.rs_informer.store.get(key)
        if rs is None:
            self.expectations.delete(key)
            return
        ns = meta(rs).get("namespace") or ""
        pods = self.pod_informer.store.by_index("namespace", ns)
        now = now_utc()
        if self.expectations.satisfied(key):
            await self._apply(rs, plan(rs, pods, now=now), key)
            pods = self.pod_informer.store.by_index("namespace", ns)
        status = compute_status(rs, pods, now=now)
        if status_differs(rs.get("status"), status):
            await self.client.patch(REPLICASETS, meta(rs)["name"], {"status": status}, namespace=ns,
                                    subresource="status")
        wait = next_available_check(rs, claim_pods(rs, pods).owned, now=now)
        if wait is not None:
            self.queue.add_after(key, wait)

    async def _apply(self, rs: Obj, p: RSPlan, key: str) -> None:
        ns = meta(rs).get("namespace")
        ref = owner_ref(rs)
        for pod in p.adopt:
            refs = [*(meta(pod).get("ownerReferences") or []), ref]
            await self.client.patch(PODS, meta(pod)["name"], {"metadata": {
                "ownerReferences": refs, "resourceVersion": meta(pod).get("resourceVersion")}}, namespace=ns)
        for pod in p.release:
            refs = [r for r in meta(pod).get("ownerReferences") or [] if r.get("uid") != ref["uid"]]
            await self.client.patch(PODS, meta(pod)["name"], {"metadata": {
                "ownerReferences": refs, "resourceVersion": meta(pod).get("resourceVersion")}}, namespace=ns)
        if p.create:
            await self._create(rs, p.create, key)
        if p.delete:
            await self._delete(rs, p.delete, key)

    async def _create(self, rs: Obj, n: int, key: str) -> None:
        template = (rs.get("spec") or {}).get("template") or {}
        self.expectations.expect(key, add=n)
        coros = [self.client.create(PODS, pod_from_template(template, owner=rs),
                                    namespace=meta(rs).get("namespace")) for _ in range(n)]
        done, errors = await slow_start_batch(coros)
        if done < n:
            self.expectations.lower(key, add=n - done)
        if errors:
            self.recorder.event(rs, "Warning", "FailedCreate", f"Error creating: {errors[0]}")
            raise errors[0]
        self.recorder.event(rs, "Normal", "SuccessfulCreate", f"Created {n} pod(s)")

    async def _delete(self, rs: Obj, pods: list[Obj], key: str) -> None:
        self.expectations.expect(key, delete=len(pods))
        results = await asyncio.gather(*(self.client.delete(PODS, meta(p)["name"], namespace=meta(p).get("namespace"))
                                         for p in pods), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            self.expectations.lower(key, delete=len(errors))
            raise errors[0]
        names = ", ".join(meta(p)["name"] for p in pods[:5])
        self.recorder.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod(s): {names}")
