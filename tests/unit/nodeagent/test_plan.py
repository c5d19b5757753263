"""plan_pod: what the agent does next for a pod, from its spec and what CRI reports (tables)."""
from __future__ import annotations

from typing import Any

import pytest

from skiff.nodeagent.kubelet.observed import ContainerObs, CState, PodObs, SandboxObs
from skiff.nodeagent.kubelet.plan import (
    NS,
    Action,
    Backoff,
    Kind,
    backoff_delay,
    plan_pod,
)

NOW = 1_000_000 * NS
SB = SandboxObs(id="sb1", attempt=0, ready=True, ip="10.244.0.5")


def new_pod(*containers: str, init: tuple[str, ...] = (), policy: str = "Always", deleting: bool = False,
            phase: str = "Pending", grace: int | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "default", "uid": "u1"}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        meta["deletionGracePeriodSeconds"] = 5
    spec: dict[str, Any] = {"restartPolicy": policy, "containers": [{"name": n, "image": "busybox"} for n in containers]}
    if init:
        spec["initContainers"] = [{"name": n, "image": "busybox"} for n in init]
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": meta, "spec": spec, "status": {"phase": phase}}


def c(name: str, state: CState, *, attempt: int = 0, code: int = 0, finished: int = 0, started: int = 0,
      cid: str | None = None) -> ContainerObs:
    return ContainerObs(id=cid or f"{name}-{attempt}", name=name, attempt=attempt, state=state, exit_code=code,
                        started_at=started, finished_at=finished, created_at=attempt + 1)


def obs(*containers: ContainerObs, sandboxes: tuple[SandboxObs, ...] = (SB,)) -> PodObs:
    return PodObs(sandboxes=list(sandboxes), containers=list(containers))


R, X = CState.RUNNING, CState.EXITED
START = Kind.START_CONTAINER


@pytest.mark.parametrize("pod,observed,actions", [
    (new_pod("a"), PodObs(), [Action(Kind.CREATE_SANDBOX, attempt=0)]),
    (new_pod("a"), obs(sandboxes=(SandboxObs("old", 0, ready=False),)), [Action(Kind.CREATE_SANDBOX, attempt=1)]),
    (new_pod("a"), obs(c("a", R), sandboxes=(SandboxObs("old", 0, ready=False),)),
     [Action(Kind.STOP_CONTAINER, id="a-0", name="a", grace=30), Action(Kind.CREATE_SANDBOX, attempt=1)]),
    (new_pod("a", "b"), obs(), [Action(START, name="a"), Action(START, name="b")]),
    (new_pod("a", "b"), obs(c("a", R)), [Action(START, name="b")]),
    (new_pod("a"), obs(c("a", R)), []),
    (new_pod("a", init=("i1", "i2")), obs(), [Action(START, name="i1", init=True)]),
    (new_pod("a", init=("i1", "i2")), obs(c("i1", R)), []),
    (new_pod("a", init=("i1", "i2")), obs(c("i1", X)), [Action(START, name="i2", init=True)]),
    (new_pod("a", init=("i1",)), obs(c("i1", X)), [Action(START, name="a")]),
    (new_pod("a", init=("i1",)), obs(c("i1", X, code=1, finished=NOW)),
     [Action(START, name="i1", attempt=1, init=True)]),
    (new_pod("a", init=("i1",), policy="Never"), obs(c("i1", X, code=1)), [Action(Kind.STOP_SANDBOX, id="sb1")]),
    (new_pod("a", policy="Always"), obs(c("a", X, code=0, finished=NOW)), [Action(START, name="a", attempt=1)]),
    (new_pod("a", policy="OnFailure"), obs(c("a", X, code=0, finished=NOW)),
     [Action(Kind.STOP_SANDBOX, id="sb1")]),
    (new_pod("a", policy="OnFailure"), obs(c("a", X, code=2, finished=NOW)), [Action(START, name="a", attempt=1)]),
    (new_pod("a", policy="Never"), obs(c("a", X, code=2)), [Action(Kind.STOP_SANDBOX, id="sb1")]),
    (new_pod("a", "b", policy="Never"), obs(c("a", X), c("b", R)), []),
    (new_pod("a", deleting=True), obs(c("a", R)),
     [Action(Kind.STOP_CONTAINER, id="a-0", name="a", grace=5), Action(Kind.STOP_SANDBOX, id="sb1"),
      Action(Kind.REMOVE_POD)]),
    (new_pod("a", deleting=True), obs(c("a", X), sandboxes=(SandboxObs("sb1", 0, ready=False),)),
     [Action(Kind.REMOVE_POD)]),
    (new_pod("a", phase="Succeeded"), obs(c("a", X)), [Action(Kind.STOP_SANDBOX, id="sb1")]),
    (new_pod("a", phase="Failed"), PodObs(), []),
    (new_pod("a"), obs(c("a", X, attempt=3, cid="new", finished=NOW - 100 * NS), c("a", X, attempt=2, cid="prev"),
                       c("a", X, attempt=1, cid="older")),
     [Action(Kind.REMOVE_CONTAINER, id="older", name="a"), Action(START, name="a", attempt=4)]),
    (new_pod("a"), obs(c("gone", X)), [Action(Kind.REMOVE_CONTAINER, id="gone-0", name="gone"),
                                        Action(START, name="a")]),
], ids=["no-sandbox", "sandbox-lost", "sandbox-lost-kills-containers", "start-all", "start-missing", "steady",
        "init-first", "init-running-blocks", "init-next", "init-done-start-main", "init-failed-retries",
        "init-failed-never", "always-restarts-success", "onfailure-success-ends", "onfailure-failure-restarts",
        "never-ends", "never-one-still-running", "deleting-kills-then-removes", "deleting-stopped-removes",
        "terminal-phase-kills", "terminal-nothing-left", "gc-keeps-previous", "gc-unknown-name"])
def test_plan(pod: dict[str, Any], observed: PodObs, actions: list[Action]) -> None:
    plan = plan_pod(pod, observed, now_ns=NOW)
    assert plan.actions == actions


def test_crash_loop_waits_out_its_back_off() -> None:
    pod = new_pod("a")
    crashed = c("a", X, attempt=2, code=1, finished=NOW - 5 * NS)  # back-off after attempt 2: 20s
    plan = plan_pod(pod, obs(crashed), now_ns=NOW)
    assert plan.actions == [] and plan.requeue_after == pytest.approx(15.0)
    assert plan_pod(pod, obs(crashed), now_ns=NOW + 16 * NS).actions == [Action(START, name="a", attempt=3)]


@pytest.mark.parametrize("attempt,ran,delay", [
    (0, 1, 0.0), (1, 1, 10.0), (2, 1, 20.0), (3, 1, 40.0), (6, 1, 300.0), (20, 1, 300.0), (5, 700, 0.0),
], ids=["first-restart-at-once", "base", "double", "quadruple", "cap", "cap-large", "long-run-resets"])
def test_backoff_delay(attempt: int, ran: int, delay: float) -> None:
    obs_ = c("a", X, attempt=attempt, started=NOW, finished=NOW + ran * NS)
    assert backoff_delay(obs_, Backoff()) == delay


def test_grace_period_from_spec() -> None:
    pod = new_pod("a", grace=7)
    pod["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert plan_pod(pod, obs(c("a", R)), now_ns=NOW).actions[0].grace == 7


def test_active_deadline_kills_and_wakes_up_on_time() -> None:
    import datetime as dt

    pod = new_pod("a")
    start = dt.datetime.fromtimestamp(NOW / NS - 5, tz=dt.timezone.utc)
    pod["status"]["startTime"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    pod["spec"]["activeDeadlineSeconds"] = 30
    plan = plan_pod(pod, obs(c("a", R)), now_ns=NOW)
    assert plan.actions == [] and plan.requeue_after == pytest.approx(25, abs=1)
    pod["spec"]["activeDeadlineSeconds"] = 3
    assert plan_pod(pod, obs(c("a", R)), now_ns=NOW).actions == [
        Action(Kind.STOP_CONTAINER, id="a-0", name="a", grace=30), Action(Kind.STOP_SANDBOX, id="sb1")]
