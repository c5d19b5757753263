"""Filter and score plugins, as Kubernetes' default profile runs them.

A filter returns ``None`` (fits) or the reasons the node was rejected, with Kubernetes'
exact wording, so ``FitError`` messages read like the real scheduler's. A score
returns a raw number per node; ``normalize`` maps each plugin to 0..100 and the
framework applies the default weights. ``PreState`` holds what a pod's cycle computes
once over all nodes (spread counts, affinity domains). Pure functions.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from skiff.api.selectors import LabelSelector, SelectorError, from_label_selector
from skiff.machinery.objects import Obj, labels_of, meta
from skiff.machinery.placement import (CPU, MEMORY, PODS, TAINT_UNSCHEDULABLE, host_ports_conflict,
                                       matches_node_selector_and_affinity, node_selector_term_matches,
                                       required_affinity_terms, tolerates)

from .nodeinfo import NodeInfo, PodInfo


class Reason(str, Enum):
    NODE_NAME = "node(s) didn't match the requested node name"
    UNSCHEDULABLE = "node(s) were unschedulable"
    NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
    TOO_MANY_PODS = "Too many pods"
    PORTS = "node(s) didn't have free ports for the requested pod ports"
    AFFINITY = "node(s) didn't match pod affinity rules"
    ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
    EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
    SPREAD = "node(s) didn't match pod topology spread constraints"
    SPREAD_MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
    NOT_READY = "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"


# reasons preemption cannot fix by removing pods (UnschedulableAndUnresolvable)
UNRESOLVABLE = {Reason.NODE_NAME.value, Reason.UNSCHEDULABLE.value, Reason.NODE_AFFINITY.value,
                Reason.SPREAD_MISSING_LABEL.value}


def untolerated_reason(taint: dict[str, Any]) -> str:
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"


def _selector(sel: dict[str, Any] | None) -> LabelSelector:
    try:
        return from_label_selector(sel)
    except SelectorError:
        return from_label_selector(None)


@dataclass
class AffinityTerm:
    selector: LabelSelector
    namespaces: set[str]
    topology_key: str
    weight: int = 0

    def matches_pod(self, pod: Obj) -> bool:
        return (meta(pod).get("namespace") in self.namespaces or not self.namespaces) \
            and self.selector.matches(labels_of(pod))


def _terms(pod: Obj, kind: str, mode: str) -> list[AffinityTerm]:
    aff = ((pod.get("spec") or {}).get("affinity") or {}).get(kind) or {}
    out = []
    ns = meta(pod).get("namespace") or "default"
    for raw in aff.get(mode) or []:
        weight = 0
        if "podAffinityTerm" in raw:
            weight = int(raw.get("weight") or 0)
            raw = raw["podAffinityTerm"]
        namespaces = set(raw.get("namespaces") or []) or ({ns} if raw.get("namespaceSelector") is None else set())
        out.append(AffinityTerm(_selector(raw.get("labelSelector")), namespaces, raw.get("topologyKey") or "",
                                weight))
    return out


REQ = "requiredDuringSchedulingIgnoredDuringExecution"
PREF = "preferredDuringSchedulingIgnoredDuringExecution"


@dataclass
class SpreadConstraint:
    max_skew: int
    topology_key: str
    hard: bool
    selector: LabelSelector
    counts: dict[str, int] = field(default_factory=dict)
    min_count: int = 0
    self_match: int = 0


@dataclass
class PreState:
    """Per-pod facts computed once per scheduling cycle over all nodes."""

    pod: PodInfo
    affinity: list[AffinityTerm]
    anti_affinity: list[AffinityTerm]
    affinity_domains: list[set[tuple[str, str]]]
    anti_domains: list[set[tuple[str, str]]]
    existing_anti: set[tuple[str, str]]
    any_affinity_match: bool
    spread: list[SpreadConstraint]
    pref_affinity: list[AffinityTerm]
    pref_anti: list[AffinityTerm]
    # the plugins that can tell nodes apart for this pod (Kubernetes' PreFilter/PreScore "Skip")
    filters: list[Callable[[PreState, NodeInfo], list[str] | None]] = field(default_factory=list)
    wants: list[tuple[str, int]] = field(default_factory=list)  # requests NodeResourcesFit checks
    scores: list[tuple[str, Callable[[PreState, NodeInfo], float], int, bool]] = field(default_factory=list)


def _domain(node: NodeInfo, key: str) -> tuple[str, str] | None:
    v = node.labels.get(key)
    return None if v is None else (key, v)


def _spread_constraints(pod: Obj) -> list[SpreadConstraint]:
    out = []
    for c in (pod.get("spec") or {}).get("topologySpreadConstraints") or []:
        sel = _selector(c.get("labelSelector"))
        out.append(SpreadConstraint(int(c.get("maxSkew") or 1), c.get("topologyKey") or "",
                                    (c.get("whenUnsatisfiable") or "DoNotSchedule") == "DoNotSchedule", sel,
                                    self_match=1 if sel.matches(labels_of(pod)) else 0))
    return out


def prepare(pod_info: PodInfo, nodes: list[NodeInfo], *,
            anti_pods: list[tuple[PodInfo, NodeInfo]] = ()) -> PreState:  # type: ignore[assignment]
    """``anti_pods`` are the existing pods with required anti-affinity and their nodes (kept by
    the cache), so a pod without affinity or spread constraints never walks every pod."""
    pod = pod_info.pod
    ns = meta(pod).get("namespace")
    aff, anti = _terms(pod, "podAffinity", REQ), _terms(pod, "podAntiAffinity", REQ)
    pref_aff, pref_anti = _terms(pod, "podAffinity", PREF), _terms(pod, "podAntiAffinity", PREF)
    aff_domains: list[set[tuple[str, str]]] = [set() for _ in aff]
    anti_domains: list[set[tuple[str, str]]] = [set() for _ in anti]
    existing_anti: set[tuple[str, str]] = set()
    any_match = False
    spread = _spread_constraints(pod)
    for info, node in anti_pods:
        for t in _terms(info.pod, "podAntiAffinity", REQ):
            if t.matches_pod(pod):
                dom = _domain(node, t.topology_key)
                if dom:
                    existing_anti.add(dom)
    if aff or anti or spread:
        for node in nodes:
            if node.node is None:
                continue
            eligible = {c.topology_key: node.labels.get(c.topology_key) for c in spread}
            node_ok = bool(spread) and matches_node_selector_and_affinity(pod, node.node)
            for c in spread:
                d = eligible[c.topology_key]
                if d is not None and node_ok:
                    c.counts.setdefault(d, 0)
            for info in node.pods.values():
                other = info.pod
                for i, t in enumerate(aff):
                    if t.matches_pod(other):
                        any_match = True
                        dom = _domain(node, t.topology_key)
                        if dom:
                            aff_domains[i].add(dom)
                for i, t in enumerate(anti):
                    if t.matches_pod(other):
                        dom = _domain(node, t.topology_key)
                        if dom:
                            anti_domains[i].add(dom)
                for c in spread:
                    d = eligible[c.topology_key]
                    if d is not None and d in c.counts and meta(other).get("namespace") == ns \
                            and c.selector.matches(labels_of(other)) and not meta(other).get("deletionTimestamp"):
                        c.counts[d] += 1
    for c in spread:
        c.min_count = min(c.counts.values()) if c.counts else 0
    state = PreState(pod_info, aff, anti, aff_domains, anti_domains, existing_anti, any_match, spread,
                     pref_aff, pref_anti)
    state.wants = [(name, want) for name, want in pod_info.requests.items() if want > 0 and name != PODS]
    skip_filters, skip_scores = skipped_plugins(state)
    state.filters = [f for name, f in FILTERS if name not in skip_filters]
    state.scores = [entry for entry in SCORES if entry[0] not in skip_scores]
    return state


def skipped_plugins(s: PreState) -> tuple[set[str], set[str]]:
    """(filters, scores) that would accept every node, or score every node alike, for this pod."""
    spec = s.pod.pod.get("spec") or {}
    filters, scores = set(), set()
    if not spec.get("nodeName"):
        filters.add("NodeName")
    if not spec.get("nodeSelector") and required_affinity_terms(s.pod.pod) is None:
        filters.add("NodeAffinity")
    if not s.pod.ports:
        filters.add("NodePorts")
    if not (s.existing_anti or s.anti_affinity or s.affinity):
        filters.add("InterPodAffinity")
    if not any(c.hard for c in s.spread):
        filters.add("PodTopologySpread")
    if not ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(PREF):
        scores.add("NodeAffinity")
    if not (s.pref_affinity or s.pref_anti):
        scores.add("InterPodAffinity")
    if not any(not c.hard for c in s.spread) and (s.spread or not s.pod.owner_uid):
        scores.add("PodTopologySpread")
    return filters, scores


def _has_anti(pod: Obj) -> bool:
    return bool((((pod.get("spec") or {}).get("affinity") or {}).get("podAntiAffinity") or {}).get(REQ))


# --- filters --------------------------------------------------------------------------------------

def filter_node_name(s: PreState, n: NodeInfo) -> list[str] | None:
    want = (s.pod.pod.get("spec") or {}).get("nodeName")
    return [Reason.NODE_NAME.value] if want and want != n.name else None


def filter_unschedulable(s: PreState, n: NodeInfo) -> list[str] | None:
    if not n.unschedulable:
        return None
    taint = {"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"}
    if tolerates((s.pod.pod.get("spec") or {}).get("tolerations"), taint):
        return None
    return [Reason.UNSCHEDULABLE.value]


def filter_node_affinity(s: PreState, n: NodeInfo) -> list[str] | None:
    return None if matches_node_selector_and_affinity(s.pod.pod, n.node or {}) else [Reason.NODE_AFFINITY.value]


def filter_taints(s: PreState, n: NodeInfo) -> list[str] | None:
    if not n.taints:
        return None
    tolerations = (s.pod.pod.get("spec") or {}).get("tolerations")
    for taint in n.taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return [untolerated_reason(taint)]
    return None


def filter_ports(s: PreState, n: NodeInfo) -> list[str] | None:
    if s.pod.ports and host_ports_conflict(s.pod.ports, set(n.ports)):
        return [Reason.PORTS.value]
    return None


def filter_resources(s: PreState, n: NodeInfo) -> list[str] | None:
    reasons = None
    if len(n.pods) >= n.pod_capacity:
        reasons = [Reason.TOO_MANY_PODS.value]
    requested, allocatable = n.requested, n.allocatable
    for name, want in s.wants:
        if requested.get(name, 0) + want > allocatable.get(name, 0):
            reasons = (reasons or []) + [f"Insufficient {name}"]
    return reasons


def filter_inter_pod_affinity(s: PreState, n: NodeInfo) -> list[str] | None:
    if s.existing_anti:
        for key, value in s.existing_anti:
            if n.labels.get(key) == value:
                return [Reason.EXISTING_ANTI_AFFINITY.value]
    for t, domains in zip(s.anti_affinity, s.anti_domains):
        dom = _domain(n, t.topology_key)
        if dom is not None and dom in domains:
            return [Reason.ANTI_AFFINITY.value]
    if s.affinity:
        ok = all(_domain(n, t.topology_key) in domains for t, domains in zip(s.affinity, s.affinity_domains))
        if not ok:
            # the first pod of a group that matches its own affinity may go anywhere with the keys
            self_match = all(t.matches_pod(s.pod.pod) for t in s.affinity)
            has_keys = all(_domain(n, t.topology_key) is not None for t in s.affinity)
            if not (not s.any_affinity_match and self_match and has_keys):
                return [Reason.AFFINITY.value]
    return None


def filter_spread(s: PreState, n: NodeInfo) -> list[str] | None:
    for c in s.spread:
        if not c.hard:
            continue
        d = n.labels.get(c.topology_key)
        if d is None:
            return [Reason.SPREAD_MISSING_LABEL.value]
        if c.counts.get(d, 0) + c.self_match - c.min_count > c.max_skew:
            return [Reason.SPREAD.value]
    return None


FILTERS: list[tuple[str, Callable[[PreState, NodeInfo], list[str] | None]]] = [
    ("NodeUnschedulable", filter_unschedulable),
    ("NodeName", filter_node_name),
    ("TaintToleration", filter_taints),
    ("NodeAffinity", filter_node_affinity),
    ("NodePorts", filter_ports),
    ("NodeResourcesFit", filter_resources),
    ("PodTopologySpread", filter_spread),
    ("InterPodAffinity", filter_inter_pod_affinity),
]


def run_filters(s: PreState, n: NodeInfo) -> list[str] | None:
    for f in s.filters:
        reasons = f(s, n)
        if reasons:
            return reasons
    return None


# --- scores -----------------------------------------------------------------------------------------

def score_resources(s: PreState, n: NodeInfo) -> float:
    """LeastAllocated + BalancedAllocation (weight 1 each) in one pass: the two plugins every pod
    runs on every feasible node, so the hot loop reads the node's sums once."""
    alloc = n.allocatable
    cpu_alloc, mem_alloc = alloc.get(CPU, 0), alloc.get(MEMORY, 0)
    pod_nz, pod_req = s.pod.non_zero, s.pod.requests
    cpu_used, mem_used = n.non_zero_cpu + pod_nz[0], n.non_zero_mem + pod_nz[1]
    least = 0.0
    if 0 < cpu_alloc and cpu_used <= cpu_alloc:
        least += (cpu_alloc - cpu_used) * 100.0 / cpu_alloc
    if 0 < mem_alloc and mem_used <= mem_alloc:
        least += (mem_alloc - mem_used) * 100.0 / mem_alloc
    if cpu_alloc <= 0 or mem_alloc <= 0:
        return least / 2
    req = n.requested
    fc = min((req.get(CPU, 0) + pod_req.get(CPU, 0)) / cpu_alloc, 1.0)
    fm = min((req.get(MEMORY, 0) + pod_req.get(MEMORY, 0)) / mem_alloc, 1.0)
    return least / 2 + (1 - abs(fc - fm) / 2) * 100.0


def score_node_affinity(s: PreState, n: NodeInfo) -> float:
    aff = ((s.pod.pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    total = 0.0
    for pref in aff.get(PREF) or []:
        if node_selector_term_matches(pref.get("preference") or {}, n.node or {}):
            total += int(pref.get("weight") or 0)
    return total


def score_taints(s: PreState, n: NodeInfo) -> float:
    """Counts intolerable PreferNoSchedule taints; normalised in reverse (fewer is better)."""
    if not n.taints:
        return 0.0
    tolerations = [t for t in (s.pod.pod.get("spec") or {}).get("tolerations") or []
                   if not t.get("effect") or t.get("effect") == "PreferNoSchedule"]
    return float(sum(1 for t in n.taints if t.get("effect") == "PreferNoSchedule" and not tolerates(tolerations, t)))


def score_inter_pod_affinity(s: PreState, n: NodeInfo) -> float:
    if not (s.pref_affinity or s.pref_anti):
        return 0.0
    total = 0.0
    for info in n.pods.values():
        for t in s.pref_affinity:
            if t.matches_pod(info.pod):
                total += t.weight
        for t in s.pref_anti:
            if t.matches_pod(info.pod):
                total -= t.weight
    return total


def score_spread(s: PreState, n: NodeInfo) -> float:
    """Soft constraints, or the default spreading of a controller's pods over hostnames;
    raw value is a count (fewer is better), reversed by normalisation."""
    soft = [c for c in s.spread if not c.hard]
    if soft:
        return float(sum(c.counts.get(n.labels.get(c.topology_key, ""), 0) for c in soft))
    if not s.spread and s.pod.owner_uid:
        return float(n.owner_counts.get(s.pod.owner_uid, 0))
    return 0.0


# (name, function, weight, reverse): reverse plugins prefer low raw scores
SCORES: list[tuple[str, Callable[[PreState, NodeInfo], float], int, bool]] = [
    ("NodeResources", score_resources, 1, False),  # Fit (LeastAllocated) + BalancedAllocation
    ("NodeAffinity", score_node_affinity, 2, False),
    ("TaintToleration", score_taints, 3, True),
    ("InterPodAffinity", score_inter_pod_affinity, 2, False),
    ("PodTopologySpread", score_spread, 2, True),
]

# plugins whose raw score is already on the 0..100 scale
_ABSOLUTE = {"NodeResources"}


def normalize(name: str, raw: list[float], *, reverse: bool) -> list[float]:
    if name in _ABSOLUTE or not raw:
        return raw
    lo, hi = min(raw), max(raw)
    if reverse:
        if hi <= 0:
            return [100.0] * len(raw)
        return [100.0 * (hi - r) / hi for r in raw]
    if hi == lo:
        return [0.0 if hi == 0 else 100.0] * len(raw)
    if lo >= 0:
        return [100.0 * r / hi for r in raw]
    return [100.0 * (r - lo) / (hi - lo) for r in raw]


def score_nodes(s: PreState, nodes: list[NodeInfo]) -> list[float]:
    totals = [0.0] * len(nodes)
    for name, fn, weight, reverse in s.scores:
        raw = [fn(s, n) for n in nodes]
        for i, v in enumerate(normalize(name, raw, reverse=reverse)):
            totals[i] += v * weight
    return totals
