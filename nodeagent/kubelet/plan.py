"""What a pod needs next on this node, decided purely from its spec and what CRI reports.

:func:`plan_pod` mirrors the kubelet's ``computePodActions``: a pod being deleted (or
already terminal) is killed — containers stopped with the grace period, then the sandbox
— and, once deleted, removed; a pod without a ready sandbox gets one; init containers
run one at a time in order, each to success; then every container is started, and
restarted per ``restartPolicy`` with the kubelet's crash-loop back-off. The caller
applies the actions in order and plans again (so one plan never depends on the outcome
of an action in it); ``requeue_after`` says when a back-off ends.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .observed import ContainerObs, CState, PodObs

Obj = dict[str, Any]
NS = 1_000_000_000
BACKOFF_BASE = 10.0
BACKOFF_CAP = 300.0
BACKOFF_RESET = 600.0  # a container that ran this long starts its back-off afresh
DEFAULT_GRACE = 30


class Kind(str, Enum):
    CREATE_SANDBOX = "CreateSandbox"
    START_CONTAINER = "StartContainer"
    STOP_CONTAINER = "StopContainer"
    REMOVE_CONTAINER = "RemoveContainer"
    STOP_SANDBOX = "StopSandbox"
    REMOVE_POD = "RemovePod"  # remove every sandbox and container, then the API object


@dataclass(frozen=True)
class Action:
    kind: Kind
    name: str = ""  # container name (start)
    attempt: int = 0  # sandbox or container attempt (create/start)
    init: bool = False
    id: str = ""  # container or sandbox id (stop/remove)
    grace: int = 0


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    requeue_after: float | None = None


@dataclass(frozen=True)
class Backoff:
    base: float = BACKOFF_BASE
    cap: float = BACKOFF_CAP


def restart_policy(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("restartPolicy") or "Always")


def should_restart(policy: str, c: ContainerObs) -> bool:
    """Whether an exited container is restarted (regular containers)."""
    return policy == "Always" or (policy == "OnFailure" and c.exit_code != 0)


def backoff_delay(c: ContainerObs, b: Backoff) -> float:
    """Seconds after ``c`` exited before its next attempt: none for the first restart,
    then base, 2·base, … up to cap; a long healthy run resets it."""
    ran = (c.finished_at - c.started_at) / NS if c.started_at and c.finished_at else 0.0
    if c.attempt == 0 or ran >= BACKOFF_RESET:
        return 0.0
    return float(min(b.base * 2 ** (c.attempt - 1), b.cap))


def backoff_remaining(c: ContainerObs, b: Backoff, now_ns: int) -> float:
    due = c.finished_at + int(backoff_delay(c, b) * NS)
    return max(0.0, (due - now_ns) / NS)


def grace_seconds(pod: Obj) -> int:
    m = pod.get("metadata") or {}
    if m.get("deletionGracePeriodSeconds") is not None:
        return int(m["deletionGracePeriodSeconds"])
    g = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return int(g) if g is not None else DEFAULT_GRACE


def init_state(pod: Obj, obs: PodObs) -> tuple[str, ContainerObs | None, str]:
    """('done' | 'failed' | 'pending', the init container concerned, its name)."""
    for c in (pod.get("spec") or {}).get("initContainers") or []:
        last = obs.latest(c["name"])
        if last is None or last.state is not CState.EXITED:
            return "pending", last, c["name"]
        if last.exit_code != 0:
            return "failed", last, c["name"]
    return "done", None, ""


def finished(pod: Obj, obs: PodObs) -> bool:
    """Every container has run and none will run again (the pod is over on this node)."""
    policy = restart_policy(pod)
    state, _, _ = init_state(pod, obs)
    if state == "failed" and policy == "Never":
        return True
    if state != "done":
        return False
    for c in (pod.get("spec") or {}).get("containers") or []:
        last = obs.latest(c["name"])
        if last is None or last.state is not CState.EXITED or should_restart(policy, last):
            return False
    return True


def _kill(pod: Obj, obs: PodObs) -> list[Action]:
    grace = grace_seconds(pod)
    acts = [Action(Kind.STOP_CONTAINER, id=c.id, name=c.name, grace=grace) for c in obs.running()]
    acts += [Action(Kind.STOP_SANDBOX, id=s.id) for s in obs.sandboxes if s.ready]
    return acts


def _start(obs: PodObs, name: str, *, init: bool, policy: str, backoff: Backoff, now_ns: int,
           always: bool) -> Plan | None:
    """The plan for one container, or None when it needs nothing."""
    last = obs.latest(name)
    if last is None:
        return Plan([Action(Kind.START_CONTAINER, name=name, attempt=0, init=init)])
    if last.state is not CState.EXITED:
        return Plan() if init else None  # an init container blocks the ones after it
    if init and last.exit_code == 0:
        return None
    if not always:
        return Plan() if init else None
    wait = backoff_remaining(last, backoff, now_ns)
    if wait > 0:
        return Plan(requeue_after=wait)
    return Plan([Action(Kind.START_CONTAINER, name=name, attempt=last.attempt + 1, init=init)])


def _gc(pod: Obj, obs: PodObs) -> list[Action]:
    """Exited containers older than the previous attempt of their name (kept for logs --previous)."""
    names = {c["name"] for key in ("initContainers", "containers") for c in (pod.get("spec") or {}).get(key) or []}
    out = []
    for name in sorted({c.name for c in obs.containers}):
        for old in obs.attempts(name)[2 if name in names else 0:]:
            if old.state is CState.EXITED:
                out.append(Action(Kind.REMOVE_CONTAINER, id=old.id, name=name))
    return out


def deadline_left(pod: Obj, now_ns: int) -> float | None:
    """Seconds until ``activeDeadlineSeconds`` (counted from status.startTime) runs out;
    None without a deadline or before the pod started."""
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    start = (pod.get("status") or {}).get("startTime")
    if deadline is None or not start:
        return None
    started = dt.datetime.strptime(start[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp()
    return started + float(deadline) - now_ns / NS


def plan_pod(pod: Obj, obs: PodObs, *, now_ns: int, backoff: Backoff = Backoff()) -> Plan:
    meta = pod.get("metadata") or {}
    phase = (pod.get("status") or {}).get("phase")
    if meta.get("deletionTimestamp"):
        kill = _kill(pod, obs)
        return Plan(kill + [Action(Kind.REMOVE_POD)])
    left = deadline_left(pod, now_ns)
    if phase in ("Succeeded", "Failed") or finished(pod, obs) or (left is not None and left <= 0):
        return Plan(_kill(pod, obs))
    plan = _plan_running(pod, obs, now_ns=now_ns, backoff=backoff)
    if left is not None:
        plan.requeue_after = min(left, plan.requeue_after) if plan.requeue_after is not None else left
    return plan


def _plan_running(pod: Obj, obs: PodObs, *, now_ns: int, backoff: Backoff) -> Plan:
    sandbox = obs.sandbox()
    if sandbox is None:
        attempt = max((s.attempt + 1 for s in obs.sandboxes), default=0)
        # a lost sandbox takes its containers with it (the kubelet kills the pod first)
        return Plan(_kill(pod, obs) + [Action(Kind.CREATE_SANDBOX, attempt=attempt)])
    policy = restart_policy(pod)
    spec = pod.get("spec") or {}
    for c in spec.get("initContainers") or []:
        step = _start(obs, c["name"], init=True, policy=policy, backoff=backoff, now_ns=now_ns,
                      always=policy != "Never")
        if step is not None:
            return step
    plan = Plan(_gc(pod, obs))
    waits = []
    for c in spec.get("containers") or []:
        last = obs.latest(c["name"])
        step = _start(obs, c["name"], init=False, policy=policy, backoff=backoff, now_ns=now_ns,
                      always=last is not None and should_restart(policy, last))
        if step is None:
            continue
        plan.actions += step.actions
        if step.requeue_after is not None:
            waits.append(step.requeue_after)
    plan.requeue_after = min(waits) if waits else None
    return plan
