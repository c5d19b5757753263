"""Filters, scores, Kubernetes' unschedulable message, preemption and the queue (pure parts)."""
from __future__ import annotations

import random
from typing import Any

import pytest

from skiff.scheduler.cache import Cache
from skiff.scheduler.framework import fit_error, num_feasible_nodes_to_find, preempt, schedule
from skiff.scheduler.nodeinfo import PodInfo
from skiff.scheduler.queue import SchedulingQueue


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: int = 110, labels: dict[str, str] | None = None,
         taints: list[dict[str, Any]] | None = None, unschedulable: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    res = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": spec, "status": {"allocatable": res, "capacity": res}}


def pod(name: str, *, cpu: str | None = None, memory: str | None = None, node_name: str | None = None,
        labels: dict[str, str] | None = None, priority: int = 0, owner: str | None = None,
        **spec: Any) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    m: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": labels or {}}
    if owner:
        m["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "ReplicaSet", "name": owner}]
    s = {"containers": [{"name": "c", "image": "x", "resources": {"requests": requests}}], "priority": priority,
         **spec}
    if node_name:
        s["nodeName"] = node_name
    return {"metadata": m, "spec": s, "status": {"phase": "Running" if node_name else "Pending"}}


def cluster(nodes: list[dict[str, Any]], pods: list[dict[str, Any]] = ()) -> Cache:  # type: ignore[assignment]
    c = Cache()
    for n in nodes:
        c.set_node(n)
    for p in pods:
        c.add_pod(p)
    return c


def run(c: Cache, p: dict[str, Any], seed: int = 0):  # type: ignore[no-untyped-def]
    return schedule(PodInfo.of(p), c.node_list(), rng=random.Random(seed), anti_pods=c.anti_pods())


TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}


@pytest.mark.parametrize("nodes,existing,incoming,message", [
    ([node("a", taints=[TAINT]), node("b", cpu="1"), node("c", cpu="1")], [], pod("p", cpu="2"),
     "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu."),
    ([node("a", unschedulable=True), node("b", labels={"disk": "hdd"})], [], pod("p", nodeSelector={"disk": "ssd"}),
     "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were unschedulable."),
    ([node("a", pods=1)], [pod("x", node_name="a")], pod("p"),
     "0/1 nodes are available: 1 Too many pods."),
    ([node("a", cpu="1", memory="1Gi")], [], pod("p", cpu="2", memory="2Gi"),
     "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."),
    ([node("a"), node("b")], [pod("x", node_name="a", containers=[{"name": "c", "ports": [{"hostPort": 80, "containerPort": 80}]}])],
     pod("p", containers=[{"name": "c", "ports": [{"hostPort": 80, "containerPort": 8080}]}], nodeName="a"),
     "0/2 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 1 node(s) didn't match the requested node name."),
], ids=["taint-and-cpu", "selector-and-cordon", "pod-count", "cpu-and-memory", "ports-and-nodename"])
def test_unschedulable_message_has_kubernetes_shape(nodes: list[dict[str, Any]], existing: list[dict[str, Any]],
                                                    incoming: dict[str, Any], message: str) -> None:
    c = cluster(nodes, existing)
    result = run(c, incoming)
    assert result.node is None
    assert result.message(len(nodes)) == message


def test_tolerated_taint_and_cpu_fit_pick_the_only_feasible_node() -> None:
    c = cluster([node("a", taints=[TAINT]), node("b", cpu="1"), node("c", cpu="4")])
    assert run(c, pod("p", cpu="2")).node == "c"
    tolerating = pod("q", cpu="2", tolerations=[{"key": "dedicated", "operator": "Exists"}])
    assert run(c, tolerating).node in ("a", "c")


def test_least_allocated_prefers_the_emptier_node() -> None:
    c = cluster([node("a"), node("b")], [pod("x", cpu="3", node_name="a")])
    assert all(run(c, pod("p", cpu="500m"), seed).node == "b" for seed in range(5))


def test_default_spreading_places_a_controllers_pods_on_different_nodes() -> None:
    c = cluster([node("a"), node("b"), node("c")])
    placed = []
    for i in range(3):
        info = PodInfo.of(pod(f"p{i}", owner="rs1"))
        r = schedule(info, c.node_list(), rng=random.Random(i))
        c.assume(info, r.node)
        placed.append(r.node)
    assert sorted(placed) == ["a", "b", "c"]


def test_required_anti_affinity_both_ways() -> None:
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    c = cluster([node("a"), node("b")], [pod("x", node_name="a", labels={"app": "db"}, affinity=anti)])
    assert run(c, pod("p", labels={"app": "db"}, affinity=anti)).node == "b"
    # an existing pod's anti-affinity keeps matching pods away even if they have none
    r = run(cluster([node("a")], [pod("x", node_name="a", labels={"app": "db"}, affinity=anti)]),
            pod("q", labels={"app": "db"}))
    assert r.message(1) == "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."


def test_required_pod_affinity_follows_the_zone_and_allows_the_first_pod() -> None:
    aff = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}]}}
    nodes = [node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z2"})]
    c = cluster(nodes, [pod("x", node_name="b", labels={"app": "web"})])
    assert run(c, pod("p", affinity=aff)).node == "b"
    first = pod("first", labels={"app": "web"}, affinity=aff)
    assert run(cluster(nodes), first).node in ("a", "b")
    assert run(cluster(nodes), pod("lonely", affinity=aff)).message(2) == \
        "0/2 nodes are available: 2 node(s) didn't match pod affinity rules."


def test_topology_spread_do_not_schedule() -> None:
    spread = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "web"}}}]
    nodes = [node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z2"}), node("c")]
    c = cluster(nodes, [pod("x", node_name="a", labels={"app": "web"})])
    r = run(c, pod("p", labels={"app": "web"}, topologySpreadConstraints=spread))
    assert r.node == "b"
    assert r.reasons == {"a": ["node(s) didn't match pod topology spread constraints"],
                         "c": ["node(s) didn't match pod topology spread constraints (missing required label)"]}


def test_preferred_node_affinity_wins_among_feasible_nodes() -> None:
    aff = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}
    c = cluster([node("a"), node("b", labels={"disk": "ssd"}), node("c")])
    assert all(run(c, pod("p", affinity=aff), seed).node == "b" for seed in range(5))


def test_prefer_no_schedule_taint_is_avoided() -> None:
    soft = {"key": "k", "effect": "PreferNoSchedule"}
    c = cluster([node("a", taints=[soft]), node("b", taints=[soft]), node("c")])
    assert all(run(c, pod("p"), seed).node == "c" for seed in range(5))


def test_preemption_picks_the_node_with_the_lowest_priority_victims() -> None:
    c = cluster([node("a", cpu="2"), node("b", cpu="2")],
                [pod("low", cpu="2", node_name="a", priority=10), pod("mid", cpu="2", node_name="b", priority=100)])
    high = PodInfo.of(pod("high", cpu="2", priority=1000))
    r = schedule(high, c.node_list())
    assert r.node is None
    choice = preempt(high, c.node_list(), r.reasons)
    assert choice is not None and choice.node == "a" and [v.key for v in choice.victims] == ["default/low"]
    equal = PodInfo.of(pod("peer", cpu="2", priority=10))
    assert preempt(equal, c.node_list(), r.reasons) is None, "never preempt equal or higher priority"
    never = PodInfo.of(pod("polite", cpu="2", priority=1000, preemptionPolicy="Never"))
    assert preempt(never, c.node_list(), r.reasons) is None


def test_preemption_keeps_victims_that_need_not_go() -> None:
    c = cluster([node("a", cpu="3")], [pod("v1", cpu="1", node_name="a", priority=1),
                                        pod("v2", cpu="1", node_name="a", priority=2),
                                        pod("v3", cpu="1", node_name="a", priority=3)])
    high = PodInfo.of(pod("high", cpu="1", priority=100))
    choice = preempt(high, c.node_list(), run(c, pod("high", cpu="1", priority=100)).reasons)
    assert choice is not None and [v.key for v in choice.victims] == ["default/v1"]


@pytest.mark.parametrize("total,expected", [(50, 50), (100, 100), (1000, 420), (5000, 500), (100000, 5000)])
def test_number_of_nodes_to_find(total: int, expected: int) -> None:
    assert num_feasible_nodes_to_find(total) == expected


def test_fit_error_counts_and_sorts() -> None:
    msg = fit_error(3, {"a": ["Insufficient cpu", "Insufficient memory"], "b": ["Insufficient cpu"], "c": ["Too many pods"]})
    assert msg == "0/3 nodes are available: 1 Insufficient memory, 1 Too many pods, 2 Insufficient cpu."


def test_cache_assume_then_confirm_then_forget() -> None:
    c = cluster([node("a", cpu="2")])
    info = PodInfo.of(pod("p", cpu="1"))
    c.assume(info, "a")
    assert c.nodes["a"].requested["cpu"] == 1000 and "default/p" in c.assumed
    c.add_pod(pod("p", cpu="1", node_name="a"))
    assert "default/p" not in c.assumed and c.nodes["a"].requested["cpu"] == 1000
    c.remove_pod("default/p")
    assert c.nodes["a"].requested["cpu"] == 0


async def test_queue_orders_by_priority_and_backs_off() -> None:
    now = [0.0]
    q = SchedulingQueue(clock=lambda: now[0])
    q.add("low", priority=1)
    q.add("high", priority=100)
    q.add("low", priority=1)
    assert q.pop_nowait() == "high" and q.pop_nowait() == "low" and q.pop_nowait() is None
    q.requeue_error("high")
    assert q.pop_nowait() is None
    now[0] = 1.5
    assert q.pop_nowait() == "high"
    q.requeue_unschedulable("high")
    assert q.pop_nowait() is None
    q.move_all_to_active()
    assert q.pop_nowait() == "high"
    q.requeue_unschedulable("high")
    now[0] = 1000
    assert q.pop_nowait() == "high", "unschedulable pods are retried after a timeout"


@pytest.mark.parametrize("existing,incoming,expected", [
    # empty 4-CPU/8Gi node, pod of 1 CPU / 2Gi: least = (75 + 75) / 2, balanced = 100 (same fractions)
    ([], pod("p", cpu="1", memory="2Gi"), 75.0 + 100.0),
    # a pod asking nothing is scored as 100m / 200Mi for LeastAllocated, and as 0/0 for BalancedAllocation
    ([], pod("p"), ((3900 / 4000) * 100 + (1 - 200 / 8192) * 100) / 2 + 100.0),
    # 2 CPU already used, pod of 1 CPU and no memory: cpu fraction .75, memory fraction 0
    ([pod("x", cpu="2", node_name="a")], pod("p", cpu="1"),
     ((1000 / 4000) * 100 + (1 - 400 / 8192) * 100) / 2 + (1 - 0.75 / 2) * 100),
], ids=["balanced-request", "best-effort-pod", "cpu-heavy"])
def test_resource_score_is_least_allocated_plus_balanced(existing: list[dict[str, Any]], incoming: dict[str, Any],
                                                         expected: float) -> None:
    from skiff.scheduler.plugins import prepare, score_resources

    c = cluster([node("a")], existing)
    info = c.node_list()[0]
    assert score_resources(prepare(PodInfo.of(incoming), [info]), info) == pytest.approx(expected)


def test_plugins_that_cannot_tell_nodes_apart_are_skipped() -> None:
    from skiff.scheduler.plugins import prepare

    c = cluster([node("a"), node("b")])
    plain = prepare(PodInfo.of(pod("p", cpu="1")), c.node_list())
    assert {f.__name__ for f in plain.filters} == {"filter_unschedulable", "filter_taints", "filter_resources"}
    assert [name for name, *_ in plain.scores] == ["NodeResources", "TaintToleration"]
    owned = prepare(PodInfo.of(pod("p", owner="rs1", nodeSelector={"disk": "ssd"})), c.node_list())
    assert "filter_node_affinity" in {f.__name__ for f in owned.filters}
    assert "PodTopologySpread" in [name for name, *_ in owned.scores], "default spreading of a controller's pods"
