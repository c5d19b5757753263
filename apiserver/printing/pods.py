"""The pod row: READY, STATUS and RESTARTS computed as Kubernetes' ``printPod`` does.

STATUS is the phase, overridden by the pod's reason, then by init container and container
states (``Init:1/2``, ``Init:CrashLoopBackOff``, ``ContainerCreating``, ``CrashLoopBackOff``,
``Completed``, ``Error``, ``ExitCode:3``), and ``Terminating`` while a non-terminal pod is
being deleted. Pure functions of the pod and ``now``.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from .duration import parse_time, since

Obj = dict[str, Any]

POD_SUCCESS_CONDITIONS = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                           "message": "The pod has completed successfully."}]
POD_FAILED_CONDITIONS = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]


def _later(current: dt.datetime | None, candidate: Any) -> dt.datetime | None:
    ts = parse_time(candidate)
    if ts is None:
        return current
    return ts if current is None or current < ts else current


def _condition_true(status: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or ())


def _terminated_reason(term: Obj, prefix: str) -> str:
    if term.get("reason"):
        return prefix + str(term["reason"])
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def pod_summary(pod: Obj, now: dt.datetime) -> tuple[str, str, str]:
    """(READY, STATUS, RESTARTS) cells of a pod."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    meta = pod.get("metadata") or {}
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or ():
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = {c.get("name"): c for c in spec.get("initContainers") or ()}
    restartable = {n for n, c in init_specs.items() if c.get("restartPolicy") == "Always"}
    total = len(spec.get("containers") or ()) + len(restartable)
    ready = restarts = restartable_restarts = 0
    last_restart: dt.datetime | None = None
    last_restartable: dt.datetime | None = None

    initializing = False
    init_statuses = status.get("initContainerStatuses") or ()
    for i, cs in enumerate(init_statuses):
        count = int(cs.get("restartCount") or 0)
        restarts += count
        finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        last_restart = _later(last_restart, finished)
        is_sidecar = cs.get("name") in restartable
        if is_sidecar:
            restartable_restarts += count
            last_restartable = _later(last_restartable, finished)
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term is not None and int(term.get("exitCode") or 0) == 0:
            continue
        if is_sidecar and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if term is not None:
            reason = _terminated_reason(term, "Init:")
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(status, "Initialized"):
        restarts, last_restart = restartable_restarts, last_restartable
        has_running = False
        for cs in reversed(status.get("containerStatuses") or ()):
            restarts += int(cs.get("restartCount") or 0)
            last_restart = _later(last_restart, ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
            state = cs.get("state") or {}
            waiting, term = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif term is not None:
                reason = _terminated_reason(term, "")
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"

    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts and last_restart is not None:
        restarts_cell = f"{restarts} ({since(last_restart.isoformat(), now)} ago)"
    return f"{ready}/{total}", reason, restarts_cell


def pod_wide(pod: Obj) -> list[str]:
    """IP, NODE, NOMINATED NODE, READINESS GATES."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    ips = status.get("podIPs") or ()
    ip = (ips[0].get("ip") if ips else None) or status.get("podIP") or "<none>"
    gates = spec.get("readinessGates") or ()
    gates_cell = "<none>"
    if gates:
        conditions = status.get("conditions") or ()
        true = 0
        for gate in gates:
            for cond in conditions:
                if cond.get("type") == gate.get("conditionType"):
                    true += cond.get("status") == "True"
                    break
        gates_cell = f"{true}/{len(gates)}"
    return [ip, spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>", gates_cell]


def pod_row_conditions(pod: Obj) -> list[Obj] | None:
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return POD_SUCCESS_CONDITIONS
    if phase == "Failed":
        return POD_FAILED_CONDITIONS
    return None
