"""What a hollow kubelet decides, without I/O: Node and Lease objects, and each pod's next step.

A hollow node runs no containers. A pod bound to it becomes Running (with an IP from the
node's podCIDR) at once; the annotation ``hollow.skiff.io/exit-code`` makes its
containers exit with that code after ``hollow.skiff.io/run-seconds`` (default 0), which
ends the pod (restartPolicy Never, or OnFailure with code 0) or restarts it in place;
``hollow.skiff.io/start-seconds`` (or the node's ``start_seconds``) delays Running and
Ready after binding, as an image pull and a readiness probe would, so rollouts have
something to wait for; a pod being deleted is removed after
``min(grace period, termination_seconds)``.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from skiff.machinery.objects import Obj, annotations_of, fmt_micro, fmt_time, meta, parse_time, pod_phase

EXIT_CODE = "hollow.skiff.io/exit-code"
RUN_SECONDS = "hollow.skiff.io/run-seconds"
START_SECONDS = "hollow.skiff.io/start-seconds"
HOLLOW_LABEL = "skiff.io/hollow"
KUBELET_VERSION = "v1.30.0-skiff-hollow"
LEASE_NAMESPACE = "kube-node-lease"
RESTART_DELAY = 10.0


@dataclass(frozen=True)
class NodeShape:
    cpu: str = "4"
    memory: str = "16Gi"
    pods: int = 110
    labels: tuple[tuple[str, str], ...] = ()


def node_object(name: str, index: int, shape: NodeShape) -> Obj:
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "node.kubernetes.io/instance-type": "hollow", HOLLOW_LABEL: "true", **dict(shape.labels)}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": {}}


def node_address(index: int) -> str:
    # addresses in a documentation-only range: nothing is ever sent to them
    return str(ipaddress.ip_address("198.18.0.0") + index + 1)


def node_status(name: str, index: int, shape: NodeShape, now: datetime) -> Obj:
    resources = {"cpu": shape.cpu, "memory": shape.memory, "pods": str(shape.pods), "ephemeral-storage": "100Gi"}
    stamp = fmt_time(now)

    def cond(ctype: str, status: str, reason: str, message: str) -> Obj:
        return {"type": ctype, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}

    return {
        "capacity": resources, "allocatable": resources,
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": node_address(index)}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {"machineID": f"hollow-{index}", "systemUUID": f"hollow-{index}", "bootID": f"hollow-{index}",
                     "kernelVersion": "hollow", "osImage": "Skiff hollow node", "containerRuntimeVersion": "hollow://0.1",
                     "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                     "operatingSystem": "linux", "architecture": "amd64"},
    }


def merge_conditions(previous: list[Obj], fresh: list[Obj]) -> list[Obj]:
    """Keep lastTransitionTime of conditions whose status did not change."""
    old = {c.get("type"): c for c in previous or []}
    out = []
    for c in fresh:
        p = old.get(c["type"])
        if p is not None and p.get("status") == c["status"] and p.get("lastTransitionTime"):
            c = {**c, "lastTransitionTime": p["lastTransitionTime"]}
        out.append(c)
    return out


def lease_object(name: str, now: datetime, *, duration: int) -> Obj:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": duration, "renewTime": fmt_micro(now)}}


class Step(str, Enum):
    NONE = "none"
    START = "start"
    EXIT = "exit"
    RESTART = "restart"
    REMOVE = "remove"


@dataclass(frozen=True)
class Decision:
    step: Step
    wait: float = 0.0  # seconds until the step is due (0: now)
    exit_code: int = 0


def _exit_spec(pod: Obj) -> tuple[int | None, float]:
    a = annotations_of(pod)
    try:
        code = int(a[EXIT_CODE]) if EXIT_CODE in a else None
    except ValueError:
        code = 1
    try:
        run = float(a.get(RUN_SECONDS) or 0)
    except ValueError:
        run = 0.0
    return code, max(run, 0.0)


def _start_delay(pod: Obj, default: float) -> float:
    try:
        return max(float(annotations_of(pod).get(START_SECONDS, default)), 0.0)
    except ValueError:
        return default


def _bound_at(pod: Obj) -> datetime | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "True":
            return parse_time(c.get("lastTransitionTime"))
    return None


def _running_since(pod: Obj) -> datetime | None:
    times = []
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        t = parse_time(((cs.get("state") or {}).get("running") or {}).get("startedAt"))
        if t is not None:
            times.append(t)
    return max(times) if times else None


def decide(pod: Obj, *, now: datetime, termination_seconds: float = 0.0, start_seconds: float = 0.0) -> Decision:
    m = meta(pod)
    if m.get("deletionTimestamp"):
        deadline = parse_time(m["deletionTimestamp"]) or now
        grace = float(m.get("deletionGracePeriodSeconds") or 0)
        requested = deadline - timedelta(seconds=grace)
        due = requested + timedelta(seconds=min(grace, termination_seconds))
        return Decision(Step.REMOVE, max((due - now).total_seconds(), 0.0))
    phase = pod_phase(pod)
    if phase in ("Succeeded", "Failed"):
        return Decision(Step.NONE)
    since = _running_since(pod)
    if phase != "Running" or since is None:
        delay = _start_delay(pod, start_seconds)
        bound = _bound_at(pod) or now
        return Decision(Step.START, max((bound + timedelta(seconds=delay) - now).total_seconds(), 0.0) if delay else 0.0)
    code, run = _exit_spec(pod)
    if code is None:
        return Decision(Step.NONE)
    restarts = sum(int(cs.get("restartCount") or 0) for cs in (pod.get("status") or {}).get("containerStatuses") or [])
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    ends = policy == "Never" or (policy == "OnFailure" and code == 0)
    run_for = run if (ends or restarts == 0) else max(run, RESTART_DELAY)
    due = since + timedelta(seconds=run_for)
    wait = max((due - now).total_seconds(), 0.0)
    return Decision(Step.EXIT if ends else Step.RESTART, wait, code)


def _container_statuses(pod: Obj, state: Obj, *, ready: bool, restarts: int = 0,
                        last: Obj | None = None) -> list[Obj]:
    out = []
    for i, c in enumerate((pod.get("spec") or {}).get("containers") or []):
        cs: Obj = {"name": c.get("name"), "image": c.get("image"), "imageID": f"hollow://{c.get('image')}",
                   "containerID": f"hollow://{meta(pod).get('uid')}-{i}", "ready": ready, "started": ready,
                   "restartCount": restarts, "state": state}
        if last:
            cs["lastState"] = last
        out.append(cs)
    return out


def _conditions(now: datetime, *, ready: bool, previous: list[Obj]) -> list[Obj]:
    stamp = fmt_time(now)
    fresh = [{"type": t, "status": "True" if (ready or t in ("Initialized", "PodScheduled")) else "False",
              "lastProbeTime": None, "lastTransitionTime": stamp}
             for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    return merge_conditions(previous, fresh)


def qos_class(pod: Obj) -> str:
    any_req = False
    for c in (pod.get("spec") or {}).get("containers") or []:
        res = c.get("resources") or {}
        if res.get("requests") or res.get("limits"):
            any_req = True
    return "Burstable" if any_req else "BestEffort"


def running_status(pod: Obj, *, now: datetime, host_ip: str, pod_ip: str) -> Obj:
    stamp = fmt_time(now)
    old = pod.get("status") or {}
    return {"phase": "Running", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}], "startTime": old.get("startTime") or stamp,
            "conditions": _conditions(now, ready=True, previous=old.get("conditions") or []),
            "containerStatuses": _container_statuses(pod, {"running": {"startedAt": stamp}}, ready=True),
            "qosClass": qos_class(pod)}


def exited_status(pod: Obj, *, now: datetime, exit_code: int) -> Obj:
    old = pod.get("status") or {}
    since = _running_since(pod)
    term = {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                           "startedAt": fmt_time(since or now), "finishedAt": fmt_time(now),
                           "containerID": f"hollow://{meta(pod).get('uid')}"}}
    restarts = sum(int(cs.get("restartCount") or 0) for cs in old.get("containerStatuses") or [])
    return {**old, "phase": "Succeeded" if exit_code == 0 else "Failed",
            "conditions": _conditions(now, ready=False, previous=old.get("conditions") or []),
            "containerStatuses": _container_statuses(pod, term, ready=False, restarts=restarts)}


def restarted_status(pod: Obj, *, now: datetime, exit_code: int) -> Obj:
    old = pod.get("status") or {}
    restarts = sum(int(cs.get("restartCount") or 0) for cs in old.get("containerStatuses") or []) + 1
    last = {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                           "finishedAt": fmt_time(now)}}
    return {**old, "containerStatuses": _container_statuses(pod, {"running": {"startedAt": fmt_time(now)}},
                                                            ready=True, restarts=restarts, last=last)}


class IPAllocator:
    """Pod IPs from a node's podCIDR, reused after release."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        self._used: dict[str, str] = {}
        self._free: list[str] = []
        self._next = 2

    def allocate(self, uid: str) -> str:
        if uid in self._used:
            return self._used[uid]
        if self._free:
            ip = self._free.pop()
        else:
            if self._next >= self.network.num_addresses - 1:
                raise RuntimeError(f"podCIDR {self.network} is exhausted")
            ip = str(self.network.network_address + self._next)
            self._next += 1
        self._used[uid] = ip
        return ip

    def release(self, uid: str) -> None:
        ip = self._used.pop(uid, None)
        if ip is not None:
            self._free.append(ip)
