"""One scheduling decision: filter nodes, score the feasible ones, pick one — or explain why none fit.

``schedule`` is pure: it reads NodeInfos and returns a ``Result``. Like Kubernetes it
stops filtering once it has found ``num_feasible_nodes_to_find`` nodes (a share of a
big cluster), starting where the previous cycle stopped, and breaks score ties at
random (a seeded ``random.Random`` in tests). ``fit_error`` builds the
``0/3 nodes are available: …`` message. ``preempt`` picks victims for a pod that fits
nowhere.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from .nodeinfo import NodeInfo, PodInfo
from .plugins import UNRESOLVABLE, PreState, prepare, run_filters, score_nodes

MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENT = 5


def num_feasible_nodes_to_find(total: int, *, percentage: int = 0) -> int:
    """Kubernetes' adaptive percentageOfNodesToScore."""
    if total < MIN_FEASIBLE_NODES or percentage >= 100:
        return total
    pct = percentage or max(50 - total // 125, MIN_FEASIBLE_PERCENT)
    return max(total * pct // 100, MIN_FEASIBLE_NODES)


def fit_error(total: int, reasons: dict[str, list[str]]) -> str:
    """``0/N nodes are available: <count> <reason>, ….`` with reasons sorted as Kubernetes does."""
    counts: Counter[str] = Counter()
    for rs in reasons.values():
        for r in rs:
            counts[r] += 1
    parts = sorted(f"{n} {r}" for r, n in counts.items())
    return f"0/{total} nodes are available: {', '.join(parts)}."


@dataclass
class Result:
    node: str | None
    feasible: int = 0
    evaluated: int = 0
    reasons: dict[str, list[str]] = field(default_factory=dict)
    next_start: int = 0

    def message(self, total: int) -> str:
        return fit_error(total, self.reasons)


def schedule(pod: PodInfo, nodes: list[NodeInfo], *, start: int = 0, rng: random.Random | None = None,
             anti_pods: list[tuple[PodInfo, NodeInfo]] = (), percentage: int = 0) -> Result:  # type: ignore[assignment]
    # ``nodes`` come from Cache.node_list: every one has its Node
    total = len(nodes)
    if total == 0:
        return Result(None)
    state = prepare(pod, nodes, anti_pods=anti_pods)
    want = num_feasible_nodes_to_find(total, percentage=percentage)
    feasible: list[NodeInfo] = []
    reasons: dict[str, list[str]] = {}
    evaluated = 0
    for i in range(total):
        n = nodes[(start + i) % total]
        evaluated += 1
        r = run_filters(state, n)
        if r:
            reasons[n.name] = r
        else:
            feasible.append(n)
            if len(feasible) >= want:
                break
    next_start = (start + evaluated) % total
    if not feasible:
        return Result(None, 0, evaluated, reasons, next_start)
    if len(feasible) == 1:
        return Result(feasible[0].name, 1, evaluated, reasons, next_start)
    scores = score_nodes(state, feasible)
    best = max(scores)
    top = [n for n, s in zip(feasible, scores) if s == best]
    chosen = (rng or random).choice(top) if len(top) > 1 else top[0]
    return Result(chosen.name, len(feasible), evaluated, reasons, next_start)


# --- preemption -------------------------------------------------------------------------------------

@dataclass
class Preemption:
    node: str
    victims: list[PodInfo]


def _fits(pod: PodInfo, node: NodeInfo, all_nodes: list[NodeInfo],
          anti_pods: list[tuple[PodInfo, NodeInfo]]) -> bool:
    state: PreState = prepare(pod, [node] + [n for n in all_nodes if n.name != node.name], anti_pods=anti_pods)
    return run_filters(state, node) is None


def preempt(pod: PodInfo, nodes: list[NodeInfo], reasons: dict[str, list[str]], *,
            anti_pods: list[tuple[PodInfo, NodeInfo]] = ()) -> Preemption | None:  # type: ignore[assignment]
    """DefaultPreemption: on each node whose failure preemption could fix, remove every lower-priority
    pod, check the pod fits, then reprieve victims highest priority first while it still fits.
    Pick the node whose worst victim has the lowest priority, then the smallest priority sum,
    then the fewest victims."""
    if ((pod.pod.get("spec") or {}).get("preemptionPolicy") or "PreemptLowerPriority") == "Never":
        return None
    candidates: list[tuple[tuple[int, int, int, str], Preemption]] = []
    for n in nodes:
        if n.node is None or any(r in UNRESOLVABLE or r.startswith("node(s) had untolerated taint")
                                 for r in reasons.get(n.name, [])):
            continue
        lower = [i for i in n.pods.values() if i.priority < pod.priority]
        if not lower:
            continue
        trial = n.clone_without({i.key for i in lower})
        if not _fits(pod, trial, nodes, anti_pods):
            continue
        victims = []
        for info in sorted(lower, key=lambda i: -i.priority):
            trial.add_pod(info)
            if not _fits(pod, trial, nodes, anti_pods):
                trial.remove_pod(info.key)
                victims.append(info)
        if not victims:
            continue
        rank = (max(v.priority for v in victims), sum(v.priority for v in victims), len(victims), n.name)
        candidates.append((rank, Preemption(n.name, victims)))
    if not candidates:
        return None
    return min(candidates, key=lambda c: c[0])[1]
