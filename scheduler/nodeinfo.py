"""What the scheduler knows about one node: the Node, the pods on it and what they request.

Kept incrementally by the cache (pods added and removed as the informer and the
scheduler's own assumptions change), so filters and scores read sums instead of
walking pods. Pure data; no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skiff.machinery.objects import Obj, controller_ref, key_of, meta
from skiff.machinery.placement import (CPU, DEFAULT_MEMORY_REQUEST, DEFAULT_MILLI_CPU_REQUEST, MEMORY, PODS,
                                       node_allocatable, pod_host_ports, pod_requests)


def non_zero_requests(requests: dict[str, int]) -> tuple[int, int]:
    """The scheduler scores pods that request nothing as if they asked for 100m and 200Mi."""
    return (requests.get(CPU) or DEFAULT_MILLI_CPU_REQUEST, requests.get(MEMORY) or DEFAULT_MEMORY_REQUEST)


@dataclass
class PodInfo:
    pod: Obj
    key: str
    requests: dict[str, int]
    non_zero: tuple[int, int]
    ports: set[tuple[str, str, int]]
    owner_uid: str | None
    priority: int

    @classmethod
    def of(cls, pod: Obj, *, priority: int | None = None) -> PodInfo:
        req = pod_requests(pod)
        ref = controller_ref(pod)
        prio = priority if priority is not None else int((pod.get("spec") or {}).get("priority") or 0)
        return cls(pod, key_of(pod), req, non_zero_requests(req), pod_host_ports(pod),
                   str(ref.get("uid")) if ref else None, prio)


@dataclass
class NodeInfo:
    name: str
    node: Obj | None = None
    allocatable: dict[str, int] = field(default_factory=dict)
    requested: dict[str, int] = field(default_factory=dict)
    non_zero_cpu: int = 0
    non_zero_mem: int = 0
    pods: dict[str, PodInfo] = field(default_factory=dict)
    ports: dict[tuple[str, str, int], int] = field(default_factory=dict)
    owner_counts: dict[str, int] = field(default_factory=dict)
    generation: int = 0
    # read from the Node once per change, not once per filter call
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, Any]] = field(default_factory=list)
    unschedulable: bool = False
    pod_capacity: int = 0

    def set_node(self, node: Obj | None) -> None:
        self.node = node
        self.allocatable = node_allocatable(node) if node is not None else {}
        spec = (node or {}).get("spec") or {}
        self.labels = (meta(node).get("labels") or {}) if node else {}
        self.taints = spec.get("taints") or []
        self.unschedulable = bool(spec.get("unschedulable"))
        self.pod_capacity = self.allocatable.get(PODS, 110) if node is not None else 0
        self.generation += 1

    def add_pod(self, info: PodInfo) -> None:
        if info.key in self.pods:
            self.remove_pod(info.key)
        self.pods[info.key] = info
        for k, v in info.requests.items():
            self.requested[k] = self.requested.get(k, 0) + v
        self.non_zero_cpu += info.non_zero[0]
        self.non_zero_mem += info.non_zero[1]
        for p in info.ports:
            self.ports[p] = self.ports.get(p, 0) + 1
        if info.owner_uid:
            self.owner_counts[info.owner_uid] = self.owner_counts.get(info.owner_uid, 0) + 1
        self.generation += 1

    def remove_pod(self, key: str) -> PodInfo | None:
        info = self.pods.pop(key, None)
        if info is None:
            return None
        for k, v in info.requests.items():
            self.requested[k] = self.requested.get(k, 0) - v
        self.non_zero_cpu -= info.non_zero[0]
        self.non_zero_mem -= info.non_zero[1]
        for p in info.ports:
            n = self.ports.get(p, 0) - 1
            if n > 0:
                self.ports[p] = n
            else:
                self.ports.pop(p, None)
        if info.owner_uid:
            n = self.owner_counts.get(info.owner_uid, 0) - 1
            if n > 0:
                self.owner_counts[info.owner_uid] = n
            else:
                self.owner_counts.pop(info.owner_uid, None)
        self.generation += 1
        return info

    def pod_count(self) -> int:
        return len(self.pods)

    def clone_without(self, keys: set[str]) -> NodeInfo:
        """A copy with some pods removed (preemption's what-if)."""
        out = NodeInfo(self.name)
        out.set_node(self.node)
        for k, info in self.pods.items():
            if k not in keys:
                out.add_pod(info)
        return out

    def max_pods(self) -> int:
        return self.pod_capacity
