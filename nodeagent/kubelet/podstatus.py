"""The pod status the kubelet reports, computed purely from the spec and what CRI reports.

Phase follows the kubelet's ``getPhase``; containerStatuses carry state, lastState,
restartCount, exit codes and the kubelet's reasons (``ContainerCreating``,
``PodInitializing``, ``CrashLoopBackOff``, ``Completed``, ``Error``, ``OOMKilled``,
``ErrImagePull``); conditions keep their lastTransitionTime while their status holds.
A terminal phase already written is never left.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import qos
from .observed import ContainerObs, CState, PodObs
from .plan import NS, Backoff, backoff_delay, deadline_left, finished, init_state, restart_policy, should_restart

Obj = dict[str, Any]


@dataclass(frozen=True)
class Failure:
    """A step the agent could not take for a container (e.g. its image pull)."""

    reason: str
    message: str


def fmt_ns(ns: int) -> str | None:
    if not ns:
        return None
    return dt.datetime.fromtimestamp(ns / NS, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_now(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def terminated(c: ContainerObs, runtime: str) -> Obj:
    reason = c.reason or ("Completed" if c.exit_code == 0 else "Error")
    out: Obj = {"exitCode": c.exit_code, "reason": reason, "startedAt": fmt_ns(c.started_at),
                "finishedAt": fmt_ns(c.finished_at), "containerID": f"{runtime}://{c.id}"}
    if c.message:
        out["message"] = c.message
    return out


def container_status(pod: Obj, spec: Obj, obs: PodObs, *, runtime: str, waiting_reason: str,
                     failure: Failure | None, backoff: Backoff, init: bool,
                     gates: Callable[[Obj, str], tuple[bool, bool]] | None = None, final: bool = False) -> Obj:
    name = spec["name"]
    last, prev = obs.latest(name), obs.previous(name)
    policy = restart_policy(pod)
    cs: Obj = {"name": name, "image": spec.get("image", ""), "imageID": "", "ready": False, "started": False,
               "restartCount": last.attempt if last else 0, "state": {}, "lastState": {}}
    if last is not None:
        cs["containerID"] = f"{runtime}://{last.id}"
        cs["imageID"] = last.image_ref
    if prev is not None and prev.state is CState.EXITED:
        cs["lastState"] = {"terminated": terminated(prev, runtime)}
    deleting = final or bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    if last is None or last.state is CState.CREATED:
        w = {"reason": failure.reason, "message": failure.message} if failure else {"reason": waiting_reason}
        cs["state"] = {"waiting": w}
    elif last.state in (CState.RUNNING, CState.UNKNOWN):
        cs["state"] = {"running": {"startedAt": fmt_ns(last.started_at)}}
        started, ready = gates(spec, last.id) if gates is not None and not init else (True, True)
        cs["started"] = started
        cs["ready"] = ready and not init
    else:
        restarts = (should_restart(policy, last) if not init else (last.exit_code != 0 and policy != "Never"))
        if restarts and not deleting:
            cs["lastState"] = {"terminated": terminated(last, runtime)}
            if failure:
                cs["state"] = {"waiting": {"reason": failure.reason, "message": failure.message}}
            else:
                m = pod.get("metadata") or {}
                delay = int(backoff_delay(last, backoff))
                cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message":
                               f"back-off {delay}s restarting failed container={name} "
                               f"pod={m.get('name')}_{m.get('namespace')}({m.get('uid')})"}}
        else:
            cs["state"] = {"terminated": terminated(last, runtime)}
    return cs


def phase(pod: Obj, obs: PodObs) -> str:
    policy = restart_policy(pod)
    istate, _, _ = init_state(pod, obs)
    if istate == "failed" and policy == "Never":
        return "Failed"
    if istate != "done":
        return "Pending"
    spec_names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    lasts = [obs.latest(n) for n in spec_names]
    if finished(pod, obs):
        return "Succeeded" if all(c is not None and c.exit_code == 0 for c in lasts) else "Failed"
    if any(c is not None and c.state in (CState.RUNNING, CState.UNKNOWN) for c in lasts):
        return "Running"
    if all(c is not None for c in lasts) and any(c is not None and c.state is CState.EXITED for c in lasts):
        return "Running"  # restarting
    return "Pending"


def qos_class(pod: Obj) -> str:
    return qos.qos_class(pod).value


def _condition(previous: Mapping[str, Obj], ctype: str, ok: bool, stamp: str, reason: str = "") -> Obj:
    status = "True" if ok else "False"
    old = previous.get(ctype)
    c: Obj = {"type": ctype, "status": status, "lastProbeTime": None,
              "lastTransitionTime": old["lastTransitionTime"] if old and old.get("status") == status
              and old.get("lastTransitionTime") else stamp}
    if reason and not ok:
        c["reason"] = reason
    return c


def compute_status(pod: Obj, obs: PodObs, *, now: dt.datetime, host_ip: str, runtime: str = "skiff",
                   failures: Mapping[str, Failure] | None = None, backoff: Backoff = Backoff(),
                   gates: Callable[[Obj, str], tuple[bool, bool]] | None = None) -> Obj:
    """``gates(container spec, container id) -> (started, ready)``: what probes say of a
    running container (all true without probes)."""
    old = pod.get("status") or {}
    failures = failures or {}
    left = deadline_left(pod, int(now.timestamp() * NS))
    terminal = old.get("phase") if old.get("phase") in ("Succeeded", "Failed") else None
    over_deadline = terminal is None and left is not None and left <= 0
    final = terminal is not None or over_deadline
    spec = pod.get("spec") or {}
    stamp = fmt_now(now)
    istate, _, _ = init_state(pod, obs)
    inits = [container_status(pod, c, obs, runtime=runtime, waiting_reason="PodInitializing",
                              failure=failures.get(c["name"]), backoff=backoff, init=True, final=final)
             for c in spec.get("initContainers") or []]
    mains = [container_status(pod, c, obs, runtime=runtime,
                              waiting_reason="ContainerCreating" if istate == "done" else "PodInitializing",
                              failure=failures.get(c["name"]), backoff=backoff, init=False, gates=gates,
                              final=final)
             for c in spec.get("containers") or []]
    ph = terminal or ("Failed" if over_deadline else phase(pod, obs))
    if not terminal and over_deadline and phase(pod, obs) == "Succeeded":
        ph = "Succeeded"
    sandbox = obs.sandbox()
    all_ready = bool(mains) and all(c["ready"] for c in mains)
    prev = {c.get("type"): c for c in old.get("conditions") or []}
    done_reason = "PodCompleted" if ph in ("Succeeded", "Failed") else ""
    conditions = [
        _condition(prev, "PodReadyToStartContainers", sandbox is not None, stamp),
        _condition(prev, "Initialized", istate == "done", stamp,
                   done_reason or "ContainersNotInitialized"),
        _condition(prev, "Ready", all_ready, stamp, done_reason or "ContainersNotReady"),
        _condition(prev, "ContainersReady", all_ready, stamp, done_reason or "ContainersNotReady"),
        _condition(prev, "PodScheduled", True, stamp),
    ]
    status: Obj = {"phase": ph, "conditions": conditions, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                   "startTime": old.get("startTime") or stamp, "containerStatuses": mains,
                   "qosClass": qos_class(pod)}
    if inits:
        status["initContainerStatuses"] = inits
    if over_deadline and ph == "Failed":
        status["reason"] = "DeadlineExceeded"
        status["message"] = "Pod was active on the node longer than the specified deadline"
    for key in ("reason", "message"):
        if terminal and key in old:
            status[key] = old[key]  # a terminal pod keeps why it ended
    ip = sandbox.ip if sandbox is not None else old.get("podIP")
    if spec.get("hostNetwork"):
        ip = host_ip
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return status


def _strip(status: Mapping[str, Any]) -> Obj:
    conds = [{k: v for k, v in c.items() if k not in ("lastTransitionTime", "lastProbeTime")}
             for c in status.get("conditions") or []]
    return {**status, "conditions": conds}


def changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether writing ``new`` changes anything but condition timestamps."""
    return _strip(old) != _strip(new)
