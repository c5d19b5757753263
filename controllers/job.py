"""Job controller: run pods until ``completions`` succeed, within ``parallelism``, ``backoffLimit``,
``activeDeadlineSeconds`` and ``suspend``; delete finished Jobs after ``ttlSecondsAfterFinished``.

``plan`` is pure (job, its pods, now, backoff) → pods to create/delete, the new status and
when to look again. Failed pods are kept (they are the failure count, as in Kubernetes
without pod-tracking finalizers); re-runs after a failure wait an exponential backoff.
Indexed mode gives each pod a ``batch.kubernetes.io/job-completion-index``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from skiff.api.resources import find
from skiff.client import ApiError
from skiff.machinery.expectations import Expectations
from skiff.machinery.informer import index_by_controller
from skiff.machinery.objects import (Obj, annotations_of, controller_ref, fmt_time, get_condition, is_deleting,
                                     is_pod_active, is_pod_ready, meta, now_utc, parse_time, pod_from_template,
                                     pod_phase)

from .base import Controller, slow_start_batch

JOBS = find("jobs.batch")
PODS = find("pods")
INDEX_KEY = "batch.kubernetes.io/job-completion-index"
DEFAULT_BACKOFF_LIMIT = 6


class Reason(str, Enum):
    BACKOFF_LIMIT = "BackoffLimitExceeded"
    DEADLINE = "DeadlineExceeded"
    COMPLETIONS = "CompletionsReached"
    SUSPENDED = "JobSuspended"
    RESUMED = "JobResumed"


@dataclass
class JobPlan:
    create: list[int | None] = field(default_factory=list)  # completion indexes (None: NonIndexed)
    delete: list[Obj] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    requeue_after: float | None = None
    delete_job: bool = False
    events: list[tuple[str, str, str]] = field(default_factory=list)


def is_finished(job: Obj) -> str | None:
    for ctype in ("Complete", "Failed"):
        c = get_condition(job, ctype)
        if c is not None and c.get("status") == "True":
            return ctype
    return None


def pod_index(pod: Obj) -> int | None:
    v = annotations_of(pod).get(INDEX_KEY) or (meta(pod).get("labels") or {}).get(INDEX_KEY)
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def format_indexes(indexes: set[int]) -> str:
    """``{0,1,2,4}`` → ``"0-2,4"`` (status.completedIndexes)."""
    out, run = [], []
    for i in sorted(indexes):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def _finished_at(pod: Obj) -> datetime | None:
    times = []
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        t = parse_time(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        if t:
            times.append(t)
    return max(times) if times else parse_time(meta(pod).get("creationTimestamp"))


def _condition(ctype: str, reason: str, message: str, now: datetime, status: str = "True") -> Obj:
    stamp = fmt_time(now)
    return {"type": ctype, "status": status, "reason": reason, "message": message,
            "lastProbeTime": stamp, "lastTransitionTime": stamp}


def plan(job: Obj, pods: list[Obj], *, now: datetime, backoff_base: float = 10.0,
         backoff_max: float = 360.0) -> JobPlan:
    spec = job.get("spec") or {}
    old = job.get("status") or {}
    out = JobPlan()
    indexed = spec.get("completionMode") == "Indexed"
    completions = spec.get("completions")
    parallelism = int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
    backoff_limit = int(spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT)
                        if spec.get("backoffLimit") is not None else DEFAULT_BACKOFF_LIMIT)
    active = [p for p in pods if is_pod_active(p)]
    succeeded_pods = [p for p in pods if pod_phase(p) == "Succeeded"]
    failed_pods = [p for p in pods if pod_phase(p) == "Failed"]
    succeeded = max(len(succeeded_pods), int(old.get("succeeded") or 0))
    failed = max(len(failed_pods), int(old.get("failed") or 0))
    conditions = [dict(c) for c in old.get("conditions") or []]
    status: dict[str, Any] = {**old, "active": len(active), "succeeded": succeeded, "failed": failed,
                              "ready": sum(1 for p in active if is_pod_ready(p))}
    done_idx = {i for i in (pod_index(p) for p in succeeded_pods) if i is not None}
    if indexed:
        status["completedIndexes"] = format_indexes(done_idx)
    out.status = status
    finished = is_finished(job)
    if finished:
        out.delete = active
        ttl = spec.get("ttlSecondsAfterFinished")
        done_at = parse_time(old.get("completionTime")) or next(
            (parse_time(c.get("lastTransitionTime")) for c in conditions if c.get("type") == finished), None)
        if ttl is not None and done_at is not None:
            due = done_at + timedelta(seconds=int(ttl))
            if due <= now:
                out.delete_job = True
            else:
                out.requeue_after = (due - now).total_seconds()
        return out

    def finish(ctype: str, reason: str, message: str) -> JobPlan:
        conds = [c for c in conditions if c.get("type") != ctype]
        conds.append(_condition(ctype, reason, message, now))
        status["conditions"] = conds
        if ctype == "Complete":
            status["completionTime"] = fmt_time(now)
        status["active"] = 0
        out.delete = active
        out.events.append(("Normal" if ctype == "Complete" else "Warning",
                           "Completed" if ctype == "Complete" else reason, message))
        if spec.get("ttlSecondsAfterFinished") is not None:
            out.requeue_after = float(spec["ttlSecondsAfterFinished"]) or 0.01
        return out

    if spec.get("suspend"):
        out.delete = active
        status["active"] = 0
        if (get_condition(job, "Suspended") or {}).get("status") != "True":
            conds = [c for c in conditions if c.get("type") != "Suspended"]
            conds.append(_condition("Suspended", Reason.SUSPENDED.value, "Job suspended", now))
            status["conditions"] = conds
            out.events.append(("Normal", "Suspended", "Job suspended"))
        return out
    if (get_condition(job, "Suspended") or {}).get("status") == "True":
        conds = [c for c in conditions if c.get("type") != "Suspended"]
        conds.append(_condition("Suspended", Reason.RESUMED.value, "Job resumed", now, status="False"))
        status["conditions"] = conds
        conditions = conds
        status.pop("startTime", None)
        out.events.append(("Normal", "Resumed", "Job resumed"))
    start = parse_time(status.get("startTime"))
    if start is None:
        start = now
        status["startTime"] = fmt_time(now)

    if failed > backoff_limit:
        return finish("Failed", Reason.BACKOFF_LIMIT.value, "Job has reached the specified backoff limit")
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None:
        due = start + timedelta(seconds=int(deadline))
        if due <= now:
            return finish("Failed", Reason.DEADLINE.value, "Job was active longer than specified deadline")
        out.requeue_after = (due - now).total_seconds()

    if indexed:
        total = int(completions or 0)
        if len(done_idx & set(range(total))) >= total:
            return finish("Complete", Reason.COMPLETIONS.value, "Reached expected number of succeeded pods")
        active_idx = {pod_index(p) for p in active}
        missing = [i for i in range(total) if i not in done_idx and i not in active_idx]
        want_new: list[int | None] = list(missing[:max(parallelism - len(active), 0)])
        excess = max(len(active) - parallelism, 0)
    else:
        if completions is not None:
            if succeeded >= int(completions):
                return finish("Complete", Reason.COMPLETIONS.value, "Reached expected number of succeeded pods")
            wanted = min(parallelism, int(completions) - succeeded)
        else:
            if succeeded > 0 and not active:
                return finish("Complete", Reason.COMPLETIONS.value, "Reached expected number of succeeded pods")
            wanted = 0 if succeeded > 0 else parallelism
        want_new = [None] * max(wanted - len(active), 0)
        excess = max(len(active) - wanted, 0)
    if excess:
        newest = sorted(active, key=lambda p: meta(p).get("creationTimestamp") or "", reverse=True)
        out.delete = newest[:excess]
    if want_new and failed_pods:
        last = max((_finished_at(p) for p in failed_pods if _finished_at(p)), default=None)
        delay = min(backoff_base * (2 ** max(len(failed_pods) - 1, 0)), backoff_max)
        if last is not None and last + timedelta(seconds=delay) > now:
            wait = (last + timedelta(seconds=delay) - now).total_seconds()
            out.requeue_after = wait if out.requeue_after is None else min(wait, out.requeue_after)
            return out
    out.create = want_new
    return out


def job_pod(job: Obj, index: int | None) -> Obj:
    name = meta(job)["name"]
    uid = str(meta(job).get("uid"))
    labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
              "controller-uid": uid, "job-name": name}
    annotations = {}
    if index is not None:
        labels[INDEX_KEY] = str(index)
        annotations[INDEX_KEY] = str(index)
    pod = pod_from_template((job.get("spec") or {}).get("template") or {}, owner=job,
                            generate_name=f"{name}-{index}-" if index is not None else f"{name}-",
                            extra_labels=labels, extra_annotations=annotations)
    if index is not None:
        pod["spec"].setdefault("hostname", f"{name}-{index}")
        if (job.get("spec") or {}).get("completionMode") == "Indexed":
            env = {"name": "JOB_COMPLETION_INDEX", "value": str(index)}
            for c in pod["spec"].get("containers") or []:
                c["env"] = [*(c.get("env") or []), env]
    return pod


def _status_meaning(s: dict[str, Any]) -> Any:
    return {**s, "conditions": sorted((c.get("type"), c.get("status"), c.get("reason"))
                                      for c in s.get("conditions") or [])}


class JobController(Controller):
    name = "job"
    workers = 4

    def __init__(self, client: Any, factory: Any, *, recorder: Any, options: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.options = options
        self.jobs = factory.informer(JOBS)
        self.pods = factory.informer(PODS, indexers={"controller": index_by_controller})
        self.jobs.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self.expectations = Expectations()
        self.pods.add_handler(on_add=self._pod_added, on_update=lambda o, n: self._pod(n), on_delete=self._pod)

    def _job_key(self, pod: Obj) -> str | None:
        ref = controller_ref(pod)
        if ref is not None and ref.get("kind") == "Job":
            return f"{meta(pod).get('namespace')}/{ref.get('name')}"
        return None

    def _pod_added(self, pod: Obj) -> None:
        key = self._job_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.enqueue_key(key)

    def _pod(self, pod: Obj) -> None:
        key = self._job_key(pod)
        if key is not None:
            self.enqueue_key(key)

    async def sync(self, key: str) -> None:
        job = self.jobs.store.get(key)
        if job is None or is_deleting(job):
            self.expectations.delete(key)
            return
        if not self.expectations.satisfied(key):
            return
        ns, name = meta(job).get("namespace"), meta(job)["name"]
        pods = self.pods.store.by_index("controller", str(meta(job).get("uid")))
        p = plan(job, pods, now=now_utc(), backoff_base=self.options.job_backoff_seconds,
                 backoff_max=self.options.job_max_backoff_seconds)
        if p.delete_job:
            try:
                await self.client.delete(JOBS, name, namespace=ns, propagation_policy="Background")
            except ApiError as e:
                if e.code != 404:
                    raise
            return
        for etype, reason, message in p.events:
            self.recorder.event(job, etype, reason, message)
        for pod in p.delete:
            try:
                await self.client.delete(PODS, meta(pod)["name"], namespace=ns)
            except ApiError as e:
                if e.code != 404:
                    raise
        if p.create:
            self.expectations.expect(key, add=len(p.create))
            done, errors = await slow_start_batch(
                [self.client.create(PODS, job_pod(job, i), namespace=ns) for i in p.create])
            if done:
                self.recorder.event(job, "Normal", "SuccessfulCreate", f"Created {done} pod(s)")
            p.status["active"] = p.status.get("active", 0) + done
            if done < len(p.create):
                self.expectations.lower(key, add=len(p.create) - done)
            if errors:
                raise errors[0]
        if _status_meaning(p.status) != _status_meaning(job.get("status") or {}):
            await self.client.patch(JOBS, name, {"status": p.status}, namespace=ns, subresource="status")
        if p.requeue_after is not None:
            self.queue.add_after(key, p.requeue_after)
