"""CronJob controller: create Jobs on a cron schedule (macros like ``@hourly``, ``spec.timeZone``),
with concurrencyPolicy Allow/Forbid/Replace, startingDeadlineSeconds, history limits and suspend.

``plan`` is pure: (cronjob, its jobs, now) → the Job to create (named
``<cronjob>-<scheduled minutes since epoch>`` as Kubernetes does, so a retry never
duplicates it), Jobs to delete, the status, and when the next run is due.
Schedules are parsed by croniter.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

from skiff.api.resources import find
from skiff.client import ApiError
from skiff.machinery.informer import index_by_controller
from skiff.machinery.objects import Obj, controller_ref, fmt_time, get_condition, meta, now_utc, owner_ref, parse_time

from .base import Controller

CRONJOBS = find("cronjobs.batch")
JOBS = find("jobs.batch")
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MAX_MISSED = 100


class ScheduleError(ValueError):
    pass


def parse_schedule(schedule: str, tz: str | None) -> tuple[str, Any]:
    """Validate ``spec.schedule`` and ``spec.timeZone``; return (expression, tzinfo)."""
    try:
        zone: Any = ZoneInfo(tz) if tz else timezone.utc
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"spec.timeZone: unknown time zone {tz!r}") from exc
    expr = schedule.strip()
    if not croniter.is_valid(expr):
        raise ScheduleError(f"spec.schedule: unparseable schedule {schedule!r}")
    return expr, zone


def scheduled_times(schedule: str, tz: str | None, *, earliest: datetime, now: datetime,
                    limit: int = MAX_MISSED + 1) -> tuple[list[datetime], datetime]:
    """Times in (earliest, now] the schedule fired (at most ``limit``, most recent last), and the next one."""
    expr, zone = parse_schedule(schedule, tz)
    it = croniter(expr, earliest.astimezone(zone))
    missed: list[datetime] = []
    while True:
        t = it.get_next(datetime)
        if t > now:
            return missed, t
        missed.append(t)
        if len(missed) > limit:
            missed.pop(0)


def job_finished(job: Obj) -> str | None:
    for ctype in ("Complete", "Failed"):
        c = get_condition(job, ctype)
        if c is not None and c.get("status") == "True":
            return ctype
    return None


def job_name(cj: Obj, scheduled: datetime) -> str:
    return f"{meta(cj)['name']}-{int(scheduled.timestamp()) // 60}"


def job_from_template(cj: Obj, scheduled: datetime) -> Obj:
    tmpl = copy.deepcopy((cj.get("spec") or {}).get("jobTemplate") or {})
    tmeta = tmpl.get("metadata") or {}
    annotations = {**(tmeta.get("annotations") or {}), SCHEDULED_TIMESTAMP: scheduled.astimezone(timezone.utc)
                   .strftime("%Y-%m-%dT%H:%M:%SZ")}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": job_name(cj, scheduled), "namespace": meta(cj).get("namespace"),
                         "labels": tmeta.get("labels") or {}, "annotations": annotations,
                         "ownerReferences": [owner_ref(cj)]},
            "spec": tmpl.get("spec") or {}}


def _ref(job: Obj) -> Obj:
    m = meta(job)
    return {"apiVersion": "batch/v1", "kind": "Job", "name": m.get("name"), "namespace": m.get("namespace"),
            "uid": m.get("uid"), "resourceVersion": m.get("resourceVersion")}


@dataclass
class CronPlan:
    create: Obj | None = None
    delete: list[Obj] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    requeue_after: float | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)


def _history(jobs: list[Obj], limit: int) -> list[Obj]:
    jobs = sorted(jobs, key=lambda j: (meta(j).get("creationTimestamp") or "", meta(j).get("name") or ""))
    return jobs[:max(len(jobs) - limit, 0)]


def plan(cj: Obj, jobs: list[Obj], *, now: datetime) -> CronPlan:
    spec = cj.get("spec") or {}
    old = cj.get("status") or {}
    out = CronPlan()
    active = [j for j in jobs if not job_finished(j)]
    succeeded = [j for j in jobs if job_finished(j) == "Complete"]
    failed = [j for j in jobs if job_finished(j) == "Failed"]
    status: dict[str, Any] = {k: v for k, v in old.items() if k in ("lastScheduleTime", "lastSuccessfulTime")}
    if active:
        status["active"] = [_ref(j) for j in sorted(active, key=lambda j: meta(j).get("name") or "")]
    done_times = [parse_time((j.get("status") or {}).get("completionTime")) for j in succeeded]
    done_times = [t for t in done_times if t is not None]
    if done_times:
        status["lastSuccessfulTime"] = fmt_time(max(done_times))
    out.status = status
    out.delete = (_history(succeeded, int(spec.get("successfulJobsHistoryLimit", 3)))
                  + _history(failed, int(spec.get("failedJobsHistoryLimit", 1))))
    if spec.get("suspend"):
        return out
    created = parse_time(meta(cj).get("creationTimestamp")) or now
    earliest = parse_time(old.get("lastScheduleTime")) or created
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None:
        earliest = max(earliest, now - timedelta(seconds=int(deadline)))
    try:
        missed, nxt = scheduled_times(spec.get("schedule") or "", spec.get("timeZone"), earliest=earliest, now=now)
    except ScheduleError as exc:
        out.events.append(("Warning", "UnparseableSchedule", str(exc)))
        return out
    out.requeue_after = max((nxt - now).total_seconds(), 0.0) + 0.01
    if not missed:
        return out
    if len(missed) > MAX_MISSED:
        out.events.append(("Warning", "TooManyMissedTimes",
                           "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"))
    scheduled = missed[-1]
    if deadline is not None and scheduled + timedelta(seconds=int(deadline)) < now:
        out.events.append(("Warning", "MissSchedule", f"Missed scheduled time to start a job: {fmt_time(scheduled)}"))
        return out
    name = job_name(cj, scheduled)
    if any(meta(j).get("name") == name for j in jobs):
        status["lastScheduleTime"] = fmt_time(scheduled)
        return out
    policy = spec.get("concurrencyPolicy") or "Allow"
    if policy == "Forbid" and active:
        return out  # tried again at the next schedule, or when the active job finishes
    if policy == "Replace":
        out.delete.extend(active)
        status.pop("active", None)
    out.create = job_from_template(cj, scheduled)
    status["lastScheduleTime"] = fmt_time(scheduled)
    out.events.append(("Normal", "SuccessfulCreate", f"Created job {name}"))
    return out


def _status_key(s: dict[str, Any]) -> tuple[Any, ...]:
    return (tuple(sorted(str(a.get("name")) for a in s.get("active") or [])), s.get("lastScheduleTime"),
            s.get("lastSuccessfulTime"))


class CronJobController(Controller):
    name = "cronjob"

    def __init__(self, client: Any, factory: Any, *, recorder: Any, options: Any) -> None:
        super().__init__(client, factory, recorder=recorder)
        self.cronjobs = factory.informer(CRONJOBS)
        self.jobs = factory.informer(JOBS, indexers={"controller": index_by_controller})
        self.cronjobs.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self.jobs.add_handler(on_add=self._job, on_update=lambda o, n: self._job(n), on_delete=self._job)

    def _job(self, job: Obj) -> None:
        ref = controller_ref(job)
        if ref is not None and ref.get("kind") == "CronJob":
            self.enqueue_key(f"{meta(job).get('namespace')}/{ref.get('name')}")

    async def sync(self, key: str) -> None:
        cj = self.cronjobs.store.get(key)
        if cj is None or meta(cj).get("deletionTimestamp"):
            return
        ns, name = meta(cj).get("namespace"), meta(cj)["name"]
        jobs = self.jobs.store.by_index("controller", str(meta(cj).get("uid")))
        p = plan(cj, jobs, now=now_utc())
        for etype, reason, message in p.events:
            self.recorder.event(cj, etype, reason, message)
        for job in p.delete:
            try:
                await self.client.delete(JOBS, meta(job)["name"], namespace=ns, propagation_policy="Background")
                self.recorder.event(cj, "Normal", "SuccessfulDelete", f"Deleted job {meta(job)['name']}")
            except ApiError as e:
                if e.code != 404:
                    raise
        if p.create is not None:
            try:
                created = await self.client.create(JOBS, p.create, namespace=ns)
                p.status.setdefault("active", []).append(_ref(created))
            except ApiError as e:
                if e.code != 409:
                    raise
        if _status_key(p.status) != _status_key(cj.get("status") or {}):
            await self.client.update_status(CRONJOBS, {**cj, "status": p.status}, namespace=ns)
        if p.requeue_after is not None:
            self.queue.add_after(key, p.requeue_after)
