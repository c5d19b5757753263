"""StatefulSet controller: stable pod names ``<set>-<ordinal>``, PVCs from volumeClaimTemplates,
OrderedReady or Parallel management, RollingUpdate (with partition) or OnDelete.

``plan`` is pure and returns one step's actions in Kubernetes' order: claims first, then
missing pods in ascending ordinal (OrderedReady stops at the first pod not yet Running
and Ready), then surplus pods from the highest ordinal, then one rolling-update deletion
from the highest ordinal down to the partition. New pods always get the update
revision's template (Skiff keeps no ControllerRevision per revision: a simplification).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from skiff.api.resources import find
from skiff.client import ApiError
from skiff.machinery.informer import index_by_controller
from skiff.machinery.objects import (Obj, controller_ref, is_deleting, is_pod_available, is_pod_ready, is_pod_terminal,
                                     meta, now_utc, pod_from_template, pod_phase, template_hash)

from .base import Controller

STATEFULSETS = find("statefulsets.apps")
PODS = find("pods")
PVCS = find("persistentvolumeclaims")
REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def ordinal(sts: Obj, pod: Obj) -> int | None:
    prefix = f"{meta(sts)['name']}-"
    name = meta(pod).get("name") or ""
    if not name.startswith(prefix) or not name[len(prefix):].isdigit():
        return None
    return int(name[len(prefix):])


def update_revision(sts: Obj) -> str:
    template = (sts.get("spec") or {}).get("template") or {}
    count = int((sts.get("status") or {}).get("collisionCount") or 0)
    return f"{meta(sts)['name']}-{template_hash(template, collision_count=count)}"


def claim_name(claim: Obj, sts: Obj, i: int) -> str:
    return f"{meta(claim).get('name')}-{meta(sts)['name']}-{i}"


def new_pod(sts: Obj, i: int, revision: str) -> Obj:
    name = f"{meta(sts)['name']}-{i}"
    spec = sts.get("spec") or {}
    pod = pod_from_template(spec.get("template") or {}, owner=sts, name=name,
                            extra_labels={POD_NAME_LABEL: name, POD_INDEX_LABEL: str(i), REVISION_LABEL: revision})
    pod["spec"]["hostname"] = name
    if spec.get("serviceName"):
        pod["spec"]["subdomain"] = spec["serviceName"]
    claims = spec.get("volumeClaimTemplates") or []
    if claims:
        names = {meta(c).get("name") for c in claims}
        vols = [v for v in pod["spec"].get("volumes") or [] if v.get("name") not in names]
        for c in claims:
            vols.append({"name": meta(c).get("name"), "persistentVolumeClaim": {"claimName": claim_name(c, sts, i)}})
        pod["spec"]["volumes"] = vols
    return pod


def new_claim(sts: Obj, claim: Obj, i: int) -> Obj:
    labels = dict(((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim_name(claim, sts, i), "namespace": meta(sts).get("namespace"),
                         "labels": {**(meta(claim).get("labels") or {}), **labels}},
            "spec": copy.deepcopy(claim.get("spec") or {})}


def _running_ready(pod: Obj) -> bool:
    return pod_phase(pod) == "Running" and is_pod_ready(pod) and not is_deleting(pod)


@dataclass
class StsPlan:
    create_claims: list[Obj] = field(default_factory=list)
    create_pods: list[Obj] = field(default_factory=list)
    delete_pods: list[Obj] = field(default_factory=list)


def plan(sts: Obj, pods: list[Obj], *, claims: set[str]) -> StsPlan:
    out = StsPlan()
    spec = sts.get("spec") or {}
    if is_deleting(sts):
        return out
    replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    ordered = (spec.get("podManagementPolicy") or "OrderedReady") == "OrderedReady"
    rev = update_revision(sts)
    by_ord: dict[int, Obj] = {}
    for p in pods:
        i = ordinal(sts, p)
        if i is not None:
            by_ord[i] = p
    for c in spec.get("volumeClaimTemplates") or []:
        for i in range(replicas):
            if claim_name(c, sts, i) not in claims:
                out.create_claims.append(new_claim(sts, c, i))
    blocked = False
    for i in range(replicas):
        pod = by_ord.get(i)
        if pod is None:
            out.create_pods.append(new_pod(sts, i, rev))
            if ordered:
                blocked = True
                break
            continue
        if is_pod_terminal(pod) and not is_deleting(pod):
            out.delete_pods.append(pod)  # recreated on a later pass
            if ordered:
                blocked = True
                break
            continue
        if ordered and not _running_ready(pod):
            blocked = True
            break
    condemned = sorted((i for i in by_ord if i >= replicas), reverse=True)
    if condemned and not (ordered and blocked):
        if ordered:
            if any(is_deleting(by_ord[i]) for i in by_ord):
                return out
            out.delete_pods.append(by_ord[condemned[0]])
            return out
        out.delete_pods.extend(by_ord[i] for i in condemned if not is_deleting(by_ord[i]))
    if blocked or condemned or out.create_pods or out.delete_pods:
        return out
    strategy = spec.get("updateStrategy") or {}
    if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
        return out
    partition = int(((strategy.get("rollingUpdate") or {}).get("partition")) or 0)
    if any(is_deleting(p) or not _running_ready(p) for p in by_ord.values()):
        return out
    for i in range(replicas - 1, partition - 1, -1):
        pod = by_ord.get(i)
        if pod is not None and (meta(pod).get("labels") or {}).get(REVISION_LABEL) != rev:
            out.delete_pods.append(pod)
            break
    return out


def compute_status(sts: Obj, pods: list[Obj], *, now: datetime) -> dict[str, Any]:
    spec = sts.get("spec") or {}
    rev = update_revision(sts)
    old = sts.get("status") or {}
    active = [p for p in pods if ordinal(sts, p) is not None and not is_pod_terminal(p) and not is_deleting(p)]
    current_rev = old.get("currentRevision") or rev
    updated = sum(1 for p in active if (meta(p).get("labels") or {}).get(REVISION_LABEL) == rev)
    current = sum(1 for p in active if (meta(p).get("labels") or {}).get(REVISION_LABEL) == current_rev)
    replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    if updated == replicas == len(active):
        current_rev, current = rev, updated
    status = {"observedGeneration": meta(sts).get("generation", 0), "replicas": len(active),
              "readyReplicas": sum(1 for p in active if is_pod_ready(p)),
              "availableReplicas": sum(1 for p in active if is_pod_available(
                  p, min_ready_seconds=int(spec.get("minReadySeconds") or 0), now=now)),
              "currentReplicas": current, "updatedReplicas": updated,
              "currentRevision": current_rev, "updateRevision": rev}
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    return status


class StatefulSetController(Controller):
    name = "statefulset"

    def __init__(self, client: Any, factory: Any, *, recorder: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.sets = factory.informer(STATEFULSETS)
        self.pods = factory.informer(PODS, indexers={"controller": index_by_controller})
        self.claims = factory.informer(PVCS)
        self.sets.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self.pods.add_handler(on_add=self._pod, on_update=lambda o, n: self._pod(n), on_delete=self._pod)

    def _pod(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is not None and ref.get("kind") == "StatefulSet":
            self.enqueue_key(f"{meta(pod).get('namespace')}/{ref.get('name')}")

    async def sync(self, key: str) -> None:
        sts = self.sets.store.get(key)
        if sts is None:
            return
        ns, name = meta(sts).get("namespace"), meta(sts)["name"]
        pods = self.pods.store.by_index("controller", str(meta(sts).get("uid")))
        claims = {meta(c)["name"] for c in self.claims.store.by_index("namespace", ns or "")}
        p = plan(sts, pods, claims=claims)
        for c in p.create_claims:
            try:
                await self.client.create(PVCS, c, namespace=ns)
            except ApiError as e:
                if e.code != 409:
                    raise
        for pod in p.create_pods:
            try:
                await self.client.create(PODS, pod, namespace=ns)
                self.recorder.event(sts, "Normal", "SuccessfulCreate",
                                    f"create Pod {pod['metadata']['name']} in StatefulSet {name} successful")
            except ApiError as e:
                if e.code != 409:
                    raise
        for pod in p.delete_pods:
            try:
                await self.client.delete(PODS, meta(pod)["name"], namespace=ns)
                self.recorder.event(sts, "Normal", "SuccessfulDelete",
                                    f"delete Pod {meta(pod)['name']} in StatefulSet {name} successful")
            except ApiError as e:
                if e.code != 404:
                    raise
        status = compute_status(sts, pods, now=now_utc())
        old = sts.get("status") or {}
        if any(old.get(k) != v for k, v in status.items()):
            await self.client.update_status(STATEFULSETS, {**sts, "status": status}, namespace=ns)
