"""Job and CronJob decisions as tables."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from skiff.controllers import cronjob as cj
from skiff.controllers import job as jc
from skiff.machinery.objects import fmt_time

NOW = datetime(2026, 1, 1, 12, 0, 30, tzinfo=timezone.utc)


def job(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "default", "uid": "job-uid"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}},
                     **spec}, "status": {}}


def jpod(name: str, phase: str, *, index: int | None = None, finished_ago: float = 100) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "namespace": "default", "creationTimestamp": fmt_time(NOW - timedelta(seconds=200))}
    if index is not None:
        m["annotations"] = {jc.INDEX_KEY: str(index)}
    status: dict[str, Any] = {"phase": phase}
    if phase in ("Succeeded", "Failed"):
        status["containerStatuses"] = [{"state": {"terminated": {
            "exitCode": 0 if phase == "Succeeded" else 1, "finishedAt": fmt_time(NOW - timedelta(seconds=finished_ago))}}}]
    return {"metadata": m, "status": status}


@pytest.mark.parametrize("spec,pods,create,finished", [
    ({}, [], 1, None),
    ({"completions": 5, "parallelism": 2}, [], 2, None),
    ({"completions": 5, "parallelism": 2}, [jpod("a", "Succeeded")] * 4, 1, None),
    ({"completions": 2}, [jpod("a", "Succeeded"), jpod("b", "Succeeded")], 0, "Complete"),
    ({"parallelism": 3}, [jpod("a", "Succeeded"), jpod("b", "Running")], 0, None),
    ({"parallelism": 3}, [jpod("a", "Succeeded")], 0, "Complete"),
    ({"backoffLimit": 2}, [jpod("a", "Failed"), jpod("b", "Failed")], 1, None),
    ({"backoffLimit": 2}, [jpod(x, "Failed") for x in "abc"], 0, "Failed"),
    ({"activeDeadlineSeconds": 10}, [jpod("a", "Running")], 0, "Failed"),
], ids=["default-one", "parallel", "last-completion", "complete", "workqueue-waits", "workqueue-done",
        "retry-within-limit", "backoff-limit", "deadline"])
def test_job_plan(spec: dict[str, Any], pods: list[dict[str, Any]], create: int, finished: str | None) -> None:
    j = job(**spec)
    j["status"]["startTime"] = fmt_time(NOW - timedelta(seconds=60))
    p = jc.plan(j, pods, now=NOW, backoff_base=1)
    assert len(p.create) == create
    conds = {c["type"]: c for c in p.status.get("conditions") or []}
    if finished:
        assert conds[finished]["status"] == "True"
    else:
        assert not conds


def test_failed_job_reason_and_active_pods_deleted() -> None:
    j = job(backoffLimit=0)
    running = jpod("r", "Running")
    p = jc.plan(j, [jpod("a", "Failed"), running], now=NOW)
    failed = next(c for c in p.status["conditions"] if c["type"] == "Failed")
    assert (failed["reason"], failed["message"]) == ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert p.delete == [running] and p.status["failed"] == 1


def test_retry_waits_for_exponential_backoff() -> None:
    j = job(backoffLimit=6)
    recent = [jpod("a", "Failed", finished_ago=1), jpod("b", "Failed", finished_ago=1)]
    p = jc.plan(j, recent, now=NOW, backoff_base=10)
    assert p.create == [] and p.requeue_after == pytest.approx(19)
    assert len(jc.plan(j, recent, now=NOW + timedelta(seconds=20), backoff_base=10).create) == 1


def test_indexed_job_creates_missing_indexes_and_reports_completed_ones() -> None:
    j = job(completions=5, parallelism=2, completionMode="Indexed")
    pods = [jpod("a", "Succeeded", index=0), jpod("b", "Succeeded", index=1), jpod("c", "Running", index=3)]
    p = jc.plan(j, pods, now=NOW)
    assert p.create == [2]
    assert p.status["completedIndexes"] == "0-1"
    made = jc.job_pod(j, 2)
    assert made["metadata"]["annotations"][jc.INDEX_KEY] == "2" and made["spec"]["hostname"] == "pi-2"
    assert made["metadata"]["generateName"] == "pi-2-"


def test_suspended_job_deletes_active_pods_and_ttl_deletes_finished_job() -> None:
    running = jpod("r", "Running")
    p = jc.plan(job(suspend=True), [running], now=NOW)
    assert p.delete == [running] and p.create == []
    assert next(c for c in p.status["conditions"] if c["type"] == "Suspended")["status"] == "True"
    done = job(ttlSecondsAfterFinished=5)
    done["status"] = {"completionTime": fmt_time(NOW - timedelta(seconds=6)),
                      "conditions": [{"type": "Complete", "status": "True"}]}
    assert jc.plan(done, [], now=NOW).delete_job
    assert not jc.plan(done, [], now=NOW - timedelta(seconds=2)).delete_job


@pytest.mark.parametrize("indexes,text", [(set(), ""), ({0}, "0"), ({0, 1, 2, 4}, "0-2,4"), ({1, 3, 4, 5, 9}, "1,3-5,9")])
def test_completed_indexes_format(indexes: set[int], text: str) -> None:
    assert jc.format_indexes(indexes) == text


# --- CronJob ---------------------------------------------------------------------------------------

def cron(schedule: str = "*/1 * * * *", *, created_ago: float = 3600, last: datetime | None = None,
         **spec: Any) -> dict[str, Any]:
    status = {"lastScheduleTime": fmt_time(last)} if last else {}
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "tick", "namespace": "default", "uid": "cj-uid",
                         "creationTimestamp": fmt_time(NOW - timedelta(seconds=created_ago))},
            "spec": {"schedule": schedule, "jobTemplate": {"metadata": {"labels": {"a": "b"}},
                                                           "spec": {"template": {"spec": {}}}}, **spec},
            "status": status}


def cjob(name: str, state: str | None, created: int = 0) -> dict[str, Any]:
    conds = [{"type": state, "status": "True"}] if state else []
    return {"metadata": {"name": name, "namespace": "default", "uid": f"u-{name}",
                         "creationTimestamp": fmt_time(NOW - timedelta(seconds=1000 - created))},
            "status": {"conditions": conds, **({"completionTime": fmt_time(NOW)} if state == "Complete" else {})}}


def test_cronjob_creates_the_most_recent_missed_run_with_a_stable_name() -> None:
    p = cj.plan(cron(last=NOW - timedelta(minutes=3)), [], now=NOW)
    assert p.create is not None
    scheduled = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert p.create["metadata"]["name"] == f"tick-{int(scheduled.timestamp()) // 60}"
    assert p.create["metadata"]["labels"] == {"a": "b"}
    assert p.create["metadata"]["ownerReferences"][0]["uid"] == "cj-uid"
    assert p.status["lastScheduleTime"] == "2026-01-01T12:00:00Z"
    assert p.requeue_after == pytest.approx(30, abs=0.1)


@pytest.mark.parametrize("policy,jobs,creates,deletes", [
    ("Allow", [cjob("old", None)], True, []),
    ("Forbid", [cjob("old", None)], False, []),
    ("Replace", [cjob("old", None)], True, ["old"]),
    ("Forbid", [cjob("old", "Complete")], True, []),
])
def test_concurrency_policy(policy: str, jobs: list[dict[str, Any]], creates: bool, deletes: list[str]) -> None:
    p = cj.plan(cron(concurrencyPolicy=policy, last=NOW - timedelta(minutes=1)), jobs, now=NOW)
    assert (p.create is not None) == creates
    assert [j["metadata"]["name"] for j in p.delete] == deletes


def test_starting_deadline_skips_a_run_missed_too_long_ago() -> None:
    p = cj.plan(cron("0 * * * *", startingDeadlineSeconds=10, last=NOW - timedelta(hours=2)), [], now=NOW)
    assert p.create is None, "the 12:00 run is 30s late, beyond the 10s deadline"
    assert p.requeue_after == pytest.approx(3570, abs=1)
    on_time = cj.plan(cron("0 * * * *", startingDeadlineSeconds=60, last=NOW - timedelta(hours=2)), [], now=NOW)
    assert on_time.create is not None


def test_history_limits_and_suspend_and_macros_and_time_zone() -> None:
    jobs = [cjob(f"ok{i}", "Complete", i) for i in range(5)] + [cjob(f"bad{i}", "Failed", i) for i in range(3)]
    p = cj.plan(cron(suspend=True), jobs, now=NOW)
    assert p.create is None
    assert sorted(j["metadata"]["name"] for j in p.delete) == ["bad0", "bad1", "ok0", "ok1"]
    missed, nxt = cj.scheduled_times("@hourly", None, earliest=NOW - timedelta(hours=2), now=NOW)
    assert [t.hour for t in missed] == [11, 12] and nxt.hour == 13
    _, nxt = cj.scheduled_times("0 9 * * *", "America/New_York", earliest=NOW, now=NOW)
    assert nxt.astimezone(timezone.utc).hour == 14
    with pytest.raises(cj.ScheduleError, match="spec.schedule"):
        cj.parse_schedule("every minute", None)
    with pytest.raises(cj.ScheduleError, match="spec.timeZone"):
        cj.parse_schedule("* * * * *", "Mars/Olympus")
