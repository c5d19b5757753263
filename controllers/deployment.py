"""Deployment controller: ReplicaSets per pod template, rolled out by RollingUpdate or Recreate.

``plan`` is pure and returns what to do to ReplicaSets (create, scale, annotate, delete)
for one step of the rollout, following Kubernetes' sync/rolloutRolling/rolloutRecreate:
scale the new ReplicaSet up within maxSurge, then old ones down within maxUnavailable,
then trim history to revisionHistoryLimit. Rollback is the revision's template becoming
the Deployment's template again (what ``kubectl rollout undo`` writes); the legacy
``deprecated.deployment.rollback.to`` annotation is honoured the same way.
``compute_status`` derives counts and the Available/Progressing conditions.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from skiff.api.resources import find
from skiff.client import ApiError
from skiff.machinery.informer import index_by_controller
from skiff.machinery.objects import (Obj, annotations_of, controller_ref, get_condition, int_or_percent,
                                     is_deleting, is_pod_active, key_of, meta, now_utc, owner_ref, parse_time,
                                     fmt_time, template_hash)

from .base import Controller

DEPLOYMENTS = find("deployments.apps")
REPLICASETS = find("replicasets.apps")
PODS = find("pods")

REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
HASH_LABEL = "pod-template-hash"


class Reason(str, Enum):
    MIN_AVAILABLE = "MinimumReplicasAvailable"
    MIN_UNAVAILABLE = "MinimumReplicasUnavailable"
    NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
    RS_UPDATED = "ReplicaSetUpdated"
    NEW_RS_CREATED = "NewReplicaSetCreated"
    DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    PAUSED = "DeploymentPaused"
    RESUMED = "DeploymentResumed"


# --- reading Deployments and ReplicaSets ------------------------------------------------------

def replicas_of(obj: Obj) -> int:
    v = (obj.get("spec") or {}).get("replicas")
    return 1 if v is None else int(v)


def status_int(obj: Obj, name: str) -> int:
    return int((obj.get("status") or {}).get(name) or 0)


def revision(rs: Obj) -> int:
    try:
        return int(annotations_of(rs).get(REVISION) or 0)
    except ValueError:
        return 0


def strip_hash(template: Obj) -> Obj:
    t = copy.deepcopy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels and HASH_LABEL in labels:
        del labels[HASH_LABEL]
    return t


def _norm(template: Obj) -> Obj:
    t = strip_hash(template)
    m = t.get("metadata") or {}
    t["metadata"] = {k: v for k, v in m.items() if v not in (None, {}, [])}
    return t


def templates_equal(a: Obj, b: Obj) -> bool:
    return _norm(a) == _norm(b)


def _created(rs: Obj) -> tuple[float, str]:
    t = parse_time(meta(rs).get("creationTimestamp"))
    return (t.timestamp() if t else 0.0, meta(rs).get("name") or "")


def find_new_rs(d: Obj, rss: list[Obj]) -> Obj | None:
    template = (d.get("spec") or {}).get("template") or {}
    same = [rs for rs in rss if templates_equal((rs.get("spec") or {}).get("template") or {}, template)]
    return min(same, key=_created) if same else None


def surge_and_unavailable(d: Obj) -> tuple[int, int]:
    """MaxSurge rounds up, maxUnavailable down; both zero means one unavailable allowed."""
    replicas = replicas_of(d)
    ru = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    surge = int_or_percent(ru.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = int_or_percent(ru.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def strategy(d: Obj) -> str:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type") or "RollingUpdate"


# --- the plan ------------------------------------------------------------------------------------

@dataclass
class DeploymentPlan:
    create_rs: Obj | None = None
    scale: dict[str, int] = field(default_factory=dict)
    annotate: dict[str, dict[str, str]] = field(default_factory=dict)
    delete_rs: list[str] = field(default_factory=list)
    deployment_annotations: dict[str, str | None] = field(default_factory=dict)
    rollback_template: Obj | None = None
    rollback_event: str = ""


def new_rs_object(d: Obj, *, revision_number: int, replicas: int, collision_count: int = 0) -> Obj:
    spec = d.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    h = template_hash(template, collision_count=collision_count)
    tmeta = template.setdefault("metadata", {})
    labels = {**(tmeta.get("labels") or {}), HASH_LABEL: h}
    tmeta["labels"] = labels
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: h}
    max_surge, _ = surge_and_unavailable(d)
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{meta(d)['name']}-{h}", "namespace": meta(d).get("namespace"),
                     "labels": labels, "ownerReferences": [owner_ref(d)],
                     "annotations": {REVISION: str(revision_number), DESIRED_REPLICAS: str(replicas_of(d)),
                                     MAX_REPLICAS: str(replicas_of(d) + (max_surge if strategy(d) != "Recreate" else 0))}},
        "spec": {"replicas": replicas, "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                 "selector": selector, "template": template},
    }


def new_rs_replicas(d: Obj, all_rss: list[Obj], new_rs: Obj | None) -> int:
    """NewRSNewReplicas: how big the new ReplicaSet may be now."""
    replicas = replicas_of(d)
    if strategy(d) == "Recreate":
        return replicas
    new_spec = replicas_of(new_rs) if new_rs is not None else 0
    if new_spec > replicas:
        return replicas
    surge, _ = surge_and_unavailable(d)
    current = sum(replicas_of(rs) for rs in all_rss)
    max_total = replicas + surge
    if current >= max_total:
        return new_spec
    return new_spec + min(max_total - current, replicas - new_spec)


def scale_down_old(d: Obj, new_rs: Obj, old: list[Obj]) -> dict[str, int]:
    """reconcileOldReplicaSets: unhealthy old replicas first, then available ones, oldest first,
    never dropping total availability below replicas - maxUnavailable."""
    old = sorted((rs for rs in old if replicas_of(rs) > 0), key=_created)
    if not old:
        return {}
    all_rss = [new_rs, *old]
    replicas = replicas_of(d)
    _, max_unavailable = surge_and_unavailable(d)
    min_available = replicas - max_unavailable
    all_pods = sum(replicas_of(rs) for rs in all_rss)
    new_unavailable = replicas_of(new_rs) - status_int(new_rs, "availableReplicas")
    budget = all_pods - min_available - new_unavailable
    if budget <= 0:
        return {}
    out: dict[str, int] = {}
    cleaned = 0
    for rs in old:
        if cleaned >= budget:
            break
        spec_n, avail = replicas_of(rs), status_int(rs, "availableReplicas")
        if spec_n <= avail:
            continue
        down = min(budget - cleaned, spec_n - avail)
        out[meta(rs)["name"]] = spec_n - down
        cleaned += down
    # a ReplicaSet cannot keep more available pods than its spec once its controller acts, and
    # the status may lag our own scale-down: count the smaller, and never exceed the budget
    available = sum(min(status_int(rs, "availableReplicas"), out.get(meta(rs)["name"], replicas_of(rs)))
                    for rs in all_rss)
    if available <= min_available:
        return out
    total = min(available - min_available, budget - cleaned)
    done = 0
    for rs in old:
        if done >= total:
            break
        current = out.get(meta(rs)["name"], replicas_of(rs))
        if current == 0:
            continue
        down = min(current, total - done)
        out[meta(rs)["name"]] = current - down
        done += down
    return out


def rollback_target(d: Obj, rss: list[Obj], to_revision: int) -> Obj | None:
    """The ReplicaSet of ``to_revision`` (0: the previous revision), as kubectl picks it."""
    by_rev = sorted(((revision(rs), rs) for rs in rss), key=lambda t: t[0])
    if to_revision == 0:
        return by_rev[-2][1] if len(by_rev) >= 2 else None
    for rev, rs in by_rev:
        if rev == to_revision:
            return rs
    return None


def history_to_delete(d: Obj, old: list[Obj]) -> list[str]:
    limit = (d.get("spec") or {}).get("revisionHistoryLimit")
    limit = 10 if limit is None else int(limit)
    dead = [rs for rs in old if replicas_of(rs) == 0 and status_int(rs, "replicas") == 0 and not is_deleting(rs)]
    dead.sort(key=lambda rs: (revision(rs), _created(rs)))
    return [meta(rs)["name"] for rs in dead[:max(len(dead) - limit, 0)]]


def deployment_complete(d: Obj, status: dict[str, Any]) -> bool:
    r = replicas_of(d)
    return (status.get("updatedReplicas", 0) == r and status.get("replicas", 0) == r
            and status.get("availableReplicas", 0) == r
            and status.get("observedGeneration", 0) >= meta(d).get("generation", 0))


def plan(d: Obj, rss: list[Obj], *, old_pods_active: int = 0) -> DeploymentPlan:
    """One reconcile step. ``rss`` are the ReplicaSets this Deployment controls; ``old_pods_active``
    counts active pods of old ReplicaSets (Recreate waits for zero)."""
    out = DeploymentPlan()
    spec = d.get("spec") or {}
    if is_deleting(d):
        return out
    rollback = annotations_of(d).get(ROLLBACK_TO)
    if rollback is not None:
        out.deployment_annotations[ROLLBACK_TO] = None
        try:
            target = rollback_target(d, rss, int(rollback))
        except ValueError:
            target = None
        if target is None:
            out.rollback_event = f"Unable to find the revision to rollback to ({rollback})"
        elif not templates_equal((target.get("spec") or {}).get("template") or {}, spec.get("template") or {}):
            out.rollback_template = strip_hash((target.get("spec") or {}).get("template") or {})
            out.rollback_event = f"Rolled back deployment to revision {revision(target)}"
        return out
    new_rs = find_new_rs(d, rss)
    old = [rs for rs in rss if rs is not new_rs]
    max_old_rev = max((revision(rs) for rs in old), default=0)
    replicas = replicas_of(d)

    if spec.get("paused"):
        active = [rs for rs in rss if replicas_of(rs) > 0]
        target = new_rs if new_rs is not None else (max(active, key=revision) if active else None)
        if target is not None:
            others = sum(replicas_of(rs) for rs in rss if rs is not target)
            want = max(replicas - others, 0)
            if want != replicas_of(target):
                out.scale[meta(target)["name"]] = want
        out.delete_rs = history_to_delete(d, old)
        return out

    if new_rs is None:
        if strategy(d) == "Recreate" and (any(replicas_of(rs) > 0 for rs in old) or old_pods_active):
            for rs in old:
                if replicas_of(rs) > 0:
                    out.scale[meta(rs)["name"]] = 0
            return out
        n = new_rs_replicas(d, rss, None)
        collision = int((d.get("status") or {}).get("collisionCount") or 0)
        out.create_rs = new_rs_object(d, revision_number=max_old_rev + 1, replicas=n, collision_count=collision)
        out.deployment_annotations[REVISION] = str(max_old_rev + 1)
        return out

    name = meta(new_rs)["name"]
    rev = revision(new_rs)
    if rev <= max_old_rev:
        rev = max_old_rev + 1
    wanted_annotations = {REVISION: str(rev), DESIRED_REPLICAS: str(replicas)}
    if any(annotations_of(new_rs).get(k) != v for k, v in wanted_annotations.items()):
        out.annotate[name] = wanted_annotations
    if annotations_of(d).get(REVISION) != str(rev):
        out.deployment_annotations[REVISION] = str(rev)

    if strategy(d) == "Recreate":
        active_old = [rs for rs in old if replicas_of(rs) > 0]
        if active_old:
            for rs in active_old:
                out.scale[meta(rs)["name"]] = 0
            return out
        if old_pods_active:
            return out
        if replicas_of(new_rs) != replicas:
            out.scale[name] = replicas
            return out
    else:
        n = new_rs_replicas(d, rss, new_rs)
        if n != replicas_of(new_rs):
            out.scale[name] = n
            if n > replicas_of(new_rs):
                return out
        down = scale_down_old(d, new_rs, old)
        down = {k: v for k, v in down.items() if v != next(replicas_of(rs) for rs in old if meta(rs)["name"] == k)}
        if down:
            out.scale.update(down)
            return out
    if all(replicas_of(rs) == 0 for rs in old) and status_int(new_rs, "availableReplicas") >= replicas:
        out.delete_rs = history_to_delete(d, old)
    return out


# --- status --------------------------------------------------------------------------------------

def _progressed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return (new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
            or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or new.get("availableReplicas", 0) > old.get("availableReplicas", 0)
            or (new.get("replicas", 0) - new.get("updatedReplicas", 0))
            < (old.get("replicas", 0) - old.get("updatedReplicas", 0)))


def _cond(ctype: str, status: str, reason: str, message: str, *, now: datetime,
          previous: Obj | None, touch: bool) -> Obj:
    same = previous is not None and previous.get("status") == status
    stamp = fmt_time(now)
    return {"type": ctype, "status": status, "reason": reason, "message": message,
            "lastUpdateTime": stamp if (touch or not same or previous is None or previous.get("reason") != reason)
            else previous.get("lastUpdateTime", stamp),
            "lastTransitionTime": previous.get("lastTransitionTime", stamp) if same and previous else stamp}


def compute_status(d: Obj, rss: list[Obj], *, now: datetime) -> dict[str, Any]:
    new_rs = find_new_rs(d, rss)
    old_status = d.get("status") or {}
    replicas = replicas_of(d)
    _, max_unavailable = surge_and_unavailable(d)
    available = sum(status_int(rs, "availableReplicas") for rs in rss)
    status: dict[str, Any] = {
        "observedGeneration": meta(d).get("generation", 0),
        "replicas": sum(status_int(rs, "replicas") for rs in rss),
        "updatedReplicas": status_int(new_rs, "replicas") if new_rs is not None else 0,
        "readyReplicas": sum(status_int(rs, "readyReplicas") for rs in rss),
        "availableReplicas": available,
        "unavailableReplicas": max(replicas - available, 0),
    }
    if old_status.get("collisionCount") is not None:
        status["collisionCount"] = old_status["collisionCount"]
    prev_avail = get_condition(d, "Available")
    if available >= replicas - max_unavailable:
        avail = _cond("Available", "True", Reason.MIN_AVAILABLE.value, "Deployment has minimum availability.",
                      now=now, previous=prev_avail, touch=False)
    else:
        avail = _cond("Available", "False", Reason.MIN_UNAVAILABLE.value,
                      "Deployment does not have minimum availability.", now=now, previous=prev_avail, touch=False)
    prev = get_condition(d, "Progressing")
    rs_name = meta(new_rs).get("name") if new_rs is not None else ""
    spec = d.get("spec") or {}
    deadline = spec.get("progressDeadlineSeconds", 600)
    if spec.get("paused"):
        prog = _cond("Progressing", "Unknown", Reason.PAUSED.value, "Deployment is paused", now=now,
                     previous=prev, touch=False)
    elif new_rs is not None and deployment_complete(d, status):
        prog = _cond("Progressing", "True", Reason.NEW_RS_AVAILABLE.value,
                     f'ReplicaSet "{rs_name}" has successfully progressed.', now=now, previous=prev,
                     touch=prev is None or prev.get("reason") != Reason.NEW_RS_AVAILABLE.value)
    elif (prev is None or prev.get("reason") in (Reason.PAUSED.value, Reason.NEW_RS_AVAILABLE.value)
          or _progressed(old_status, status) or (prev.get("message") or "").find(f'"{rs_name}"') < 0):
        prog = _cond("Progressing", "True", Reason.RS_UPDATED.value, f'ReplicaSet "{rs_name}" is progressing.',
                     now=now, previous=prev, touch=True)
    elif (deadline is not None and prev.get("reason") != Reason.DEADLINE_EXCEEDED.value
          and (parse_time(prev.get("lastUpdateTime")) or now) + timedelta(seconds=int(deadline)) < now):
        prog = _cond("Progressing", "False", Reason.DEADLINE_EXCEEDED.value,
                     f'ReplicaSet "{rs_name}" has timed out progressing.', now=now, previous=prev, touch=True)
    else:
        prog = dict(prev)
    others = [c for c in old_status.get("conditions") or [] if c.get("type") not in ("Available", "Progressing")]
    status["conditions"] = [avail, prog, *others]
    return status


def _meaning(status: dict[str, Any]) -> Any:
    s = dict(status)
    s["conditions"] = sorted((c.get("type"), c.get("status"), c.get("reason"), c.get("message"),
                              c.get("lastUpdateTime")) for c in s.get("conditions") or [])
    return s


def next_deadline_check(d: Obj, status: dict[str, Any], *, now: datetime) -> float | None:
    prog = next((c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), None)
    deadline = (d.get("spec") or {}).get("progressDeadlineSeconds", 600)
    if prog is None or prog.get("reason") != Reason.RS_UPDATED.value or deadline is None:
        return None
    t = parse_time(prog.get("lastUpdateTime")) or now
    return max((t + timedelta(seconds=int(deadline)) - now).total_seconds(), 0) + 1


# --- the controller -----------------------------------------------------------------------------

class DeploymentController(Controller):
    name = "deployment"
    workers = 4

    def __init__(self, client: Any, factory: Any, *, recorder: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.d_informer = factory.informer(DEPLOYMENTS)
        self.rs_informer = factory.informer(REPLICASETS, indexers={"controller": index_by_controller})
        self.pod_informer = factory.informer(PODS, indexers={"controller": index_by_controller})
        self.d_informer.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n),
                                    on_delete=self.enqueue)
        self.rs_informer.add_handler(on_add=self._rs_event, on_update=lambda o, n: self._rs_event(n),
                                     on_delete=self._rs_event)
        self.pod_informer.add_handler(on_delete=self._pod_deleted)

    def _rs_event(self, rs: Obj) -> None:
        ref = controller_ref(rs)
        if ref is not None and ref.get("kind") == "Deployment":
            self.enqueue_key(f"{meta(rs).get('namespace')}/{ref.get('name')}")

    def _pod_deleted(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rs_informer.store.get(f"{meta(pod).get('namespace')}/{ref.get('name')}")
        if rs is not None:
            self._rs_event(rs)

    def owned_rss(self, d: Obj) -> list[Obj]:
        return [rs for rs in self.rs_informer.store.by_index("controller", meta(d).get("uid") or "")]

    async def sync(self, key: str) -> None:
        d = self.d_informer.store.get(key)
        if d is None:
            return
        ns, name = meta(d).get("namespace"), meta(d)["name"]
        rss = self.owned_rss(d)
        new_rs = find_new_rs(d, rss)
        old_uids = {meta(rs).get("uid") for rs in rss if rs is not new_rs}
        old_pods = sum(1 for uid in old_uids for p in self.pod_informer.store.by_index("controller", uid or "")
                       if is_pod_active(p))
        p = plan(d, rss, old_pods_active=old_pods)
        await self._apply(d, p)
        rss = self.owned_rss(d)
        now = now_utc()
        status = compute_status(d, rss, now=now)
        if _meaning(status) != _meaning(d.get("status") or {}):
            await self.client.patch(DEPLOYMENTS, name, {"status": status}, namespace=ns, subresource="status")
        wait = next_deadline_check(d, status, now=now)
        if wait is not None:
            self.queue.add_after(key, wait)

    async def _apply(self, d: Obj, p: DeploymentPlan) -> None:
        ns, name = meta(d).get("namespace"), meta(d)["name"]
        if p.rollback_event:
            self.recorder.event(d, "Normal" if p.rollback_template else "Warning",
                                "DeploymentRollback", p.rollback_event)
        if p.rollback_template is not None or p.deployment_annotations:
            patch: dict[str, Any] = {"metadata": {"annotations": p.deployment_annotations}}
            if p.rollback_template is not None:
                patch["spec"] = {"template": p.rollback_template}
            await self.client.patch(DEPLOYMENTS, name, patch, namespace=ns)
        if p.create_rs is not None:
            await self._create_rs(d, p.create_rs)
        for rs_name, annotations in p.annotate.items():
            await self.client.patch(REPLICASETS, rs_name, {"metadata": {"annotations": annotations}}, namespace=ns)
        for rs_name, replicas in p.scale.items():
            await self.client.patch(REPLICASETS, rs_name, {"spec": {"replicas": replicas}, "metadata": {
                "annotations": {DESIRED_REPLICAS: str(replicas_of(d))}}}, namespace=ns)
            self.recorder.event(d, "Normal", "ScalingReplicaSet", f"Scaled replica set {rs_name} to {replicas}")
        for rs_name in p.delete_rs:
            try:
                await self.client.delete(REPLICASETS, rs_name, namespace=ns)
            except ApiError as e:
                if e.code != 404:
                    raise

    async def _create_rs(self, d: Obj, rs: Obj) -> None:
        ns = meta(d).get("namespace")
        try:
            await self.client.create(REPLICASETS, rs, namespace=ns)
        except ApiError as e:
            if e.code != 409:
                raise
            existing = await self.client.get(REPLICASETS, rs["metadata"]["name"], namespace=ns)
            ref = controller_ref(existing)
            if (ref is not None and ref.get("uid") == meta(d).get("uid")
                    and templates_equal((existing.get("spec") or {}).get("template") or {},
                                        (d.get("spec") or {}).get("template") or {})):
                return  # our own, the cache had not seen it yet
            count = int((d.get("status") or {}).get("collisionCount") or 0) + 1
            await self.client.patch(DEPLOYMENTS, meta(d)["name"], {"status": {"collisionCount": count}},
                                    namespace=ns, subresource="status")
            raise
        self.recorder.event(d, "Normal", "ScalingReplicaSet",
                            f"Scaled up replica set {rs['metadata']['name']} to {rs['spec']['replicas']}")
