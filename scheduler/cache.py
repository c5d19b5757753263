"""The scheduler's cluster cache: NodeInfos kept from the node and pod informers plus its own
assumptions (pods it has placed but whose binding the informer has not shown yet).

An assumed pod counts on its node immediately, so the next cycle sees the capacity it
took; if binding fails the assumption is forgotten. Pure bookkeeping, no I/O.
"""
from __future__ import annotations

from skiff.machinery.objects import Obj, is_pod_terminal, key_of, meta, node_name

from .nodeinfo import NodeInfo, PodInfo


class Cache:
    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self._pod_node: dict[str, str] = {}
        self.assumed: set[str] = set()
        self.anti: dict[str, tuple[PodInfo, NodeInfo]] = {}
        self._order: list[NodeInfo] | None = None

    def node_list(self) -> list[NodeInfo]:
        if self._order is None:
            self._order = [self.nodes[n] for n in sorted(self.nodes) if self.nodes[n].node is not None]
        return self._order

    def _info(self, name: str) -> NodeInfo:
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(name)
            self._order = None
        return info

    def set_node(self, node: Obj) -> None:
        info = self._info(meta(node)["name"])
        had = info.node is not None
        info.set_node(node)
        if not had:
            self._order = None

    def remove_node(self, name: str) -> None:
        info = self.nodes.get(name)
        if info is None:
            return
        if info.pods:
            info.set_node(None)  # keep the pods' accounting until they go
        else:
            del self.nodes[name]
        self._order = None

    def add_pod(self, pod: Obj, *, priority: int | None = None) -> None:
        """An assigned pod from the informer (replacing any assumption for it)."""
        key = key_of(pod)
        self.assumed.discard(key)
        if is_pod_terminal(pod) or not node_name(pod):
            self.remove_pod(key)
            return
        self._place(PodInfo.of(pod, priority=priority), node_name(pod))

    def _place(self, info: PodInfo, node: str) -> None:
        old = self._pod_node.get(info.key)
        if old is not None and old != node:
            self._remove_from(old, info.key)
        target = self._info(node)
        target.add_pod(info)
        self._pod_node[info.key] = node
        if _has_required_anti(info.pod):
            self.anti[info.key] = (info, target)
        else:
            self.anti.pop(info.key, None)

    def _remove_from(self, node: str, key: str) -> None:
        info = self.nodes.get(node)
        if info is not None:
            info.remove_pod(key)
            if info.node is None and not info.pods:
                del self.nodes[node]

    def remove_pod(self, key: str) -> None:
        node = self._pod_node.pop(key, None)
        self.assumed.discard(key)
        self.anti.pop(key, None)
        if node is not None:
            self._remove_from(node, key)

    def assume(self, info: PodInfo, node: str) -> None:
        pod = dict(info.pod)
        pod["spec"] = {**(pod.get("spec") or {}), "nodeName": node}
        self._place(PodInfo(pod, info.key, info.requests, info.non_zero, info.ports, info.owner_uid,
                            info.priority), node)
        self.assumed.add(info.key)

    def forget(self, key: str) -> None:
        if key in self.assumed:
            self.remove_pod(key)

    def anti_pods(self) -> list[tuple[PodInfo, NodeInfo]]:
        return list(self.anti.values())


def _has_required_anti(pod: Obj) -> bool:
    anti = (((pod.get("spec") or {}).get("affinity") or {}).get("podAntiAffinity") or {})
    return bool(anti.get("requiredDuringSchedulingIgnoredDuringExecution"))
