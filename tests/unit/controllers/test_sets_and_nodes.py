"""StatefulSet, DaemonSet, garbage collector, endpoints and node lifecycle decisions as tables."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from skiff.controllers import daemonset as dsc
from skiff.controllers import endpoints as ep
from skiff.controllers import gc
from skiff.controllers import nodelifecycle as nl
from skiff.controllers import statefulset as ssc
from skiff.machinery.objects import fmt_micro, fmt_time

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
READY = [{"type": "Ready", "status": "True", "lastTransitionTime": fmt_time(NOW - timedelta(seconds=60))}]


def sts(replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default", "uid": "sts-uid", "generation": 1},
            "spec": {"replicas": replicas, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "v1"}]}}, **spec}}


def spod(s: dict[str, Any], i: int, *, ready: bool = True, revision: str | None = None,
         deleting: bool = False) -> dict[str, Any]:
    rev = revision or ssc.update_revision(s)
    m: dict[str, Any] = {"name": f"web-{i}", "namespace": "default", "labels": {"app": "web", ssc.REVISION_LABEL: rev}}
    if deleting:
        m["deletionTimestamp"] = fmt_time(NOW)
    return {"metadata": m, "status": {"phase": "Running", "conditions": READY if ready else []}}


def names(pods: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_statefulset_ordered_creation_waits_for_each_pod() -> None:
    s = sts(3)
    assert names(ssc.plan(s, [], claims=set()).create_pods) == ["web-0"]
    assert ssc.plan(s, [spod(s, 0, ready=False)], claims=set()).create_pods == []
    assert names(ssc.plan(s, [spod(s, 0)], claims=set()).create_pods) == ["web-1"]
    parallel = sts(3, podManagementPolicy="Parallel")
    assert names(ssc.plan(parallel, [], claims=set()).create_pods) == ["web-0", "web-1", "web-2"]


def test_statefulset_pod_identity_and_claims() -> None:
    s = sts(2, volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}])
    p = ssc.plan(s, [], claims={"data-web-1"})
    assert [c["metadata"]["name"] for c in p.create_claims] == ["data-web-0"]
    pod = p.create_pods[0]
    assert pod["metadata"]["name"] == "web-0" and pod["spec"]["hostname"] == "web-0" and pod["spec"]["subdomain"] == "web"
    assert pod["metadata"]["labels"][ssc.POD_NAME_LABEL] == "web-0"
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}} in pod["spec"]["volumes"]


def test_statefulset_scales_down_from_the_highest_ordinal_one_at_a_time() -> None:
    s = sts(1)
    pods = [spod(s, 0), spod(s, 1), spod(s, 2)]
    assert names(ssc.plan(s, pods, claims=set()).delete_pods) == ["web-2"]
    pods[2] = spod(s, 2, deleting=True)
    assert ssc.plan(s, pods, claims=set()).delete_pods == []


def test_statefulset_rolling_update_respects_partition() -> None:
    s = sts(3, updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}})
    old = [spod(s, i, revision="web-old") for i in range(3)]
    assert names(ssc.plan(s, old, claims=set()).delete_pods) == ["web-2"]
    assert names(ssc.plan(s, [old[0], old[1], spod(s, 2)], claims=set()).delete_pods) == ["web-1"]
    updated = [old[0], spod(s, 1), spod(s, 2)]
    assert ssc.plan(s, updated, claims=set()).delete_pods == [], "ordinal 0 is below the partition"
    s_all = sts(3)
    assert names(ssc.plan(s_all, updated, claims=set()).delete_pods) == ["web-0"]
    on_delete = sts(3, updateStrategy={"type": "OnDelete"})
    assert ssc.plan(on_delete, old, claims=set()).delete_pods == []
    status = ssc.compute_status(s_all, updated, now=NOW)
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"]) == (3, 2, 3)


# --- DaemonSet -------------------------------------------------------------------------------------

def ds(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default",
                                                                      "uid": "ds-uid", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [], **spec}}}}


def dnode(name: str, labels: dict[str, str] | None = None, taints: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints} if taints else {}}


def dpod(d: dict[str, Any], node: str, *, name: str | None = None, revision: str | None = None,
         ready: bool = True) -> dict[str, Any]:
    return {"metadata": {"name": name or f"agent-{node}", "labels": {dsc.HASH_LABEL: revision or dsc.revision(d)},
                         "creationTimestamp": fmt_time(NOW)},
            "spec": {"nodeName": node}, "status": {"phase": "Running", "conditions": READY if ready else []}}


def test_daemonset_one_pod_per_eligible_node() -> None:
    d = ds(nodeSelector={"role": "worker"})
    nodes = [dnode("a", {"role": "worker"}), dnode("b", {"role": "worker"}), dnode("c"),
             dnode("d", {"role": "worker"}, taints=[{"key": "x", "effect": "NoSchedule"}]),
             dnode("e", {"role": "worker"}, taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}])]
    p = dsc.plan(d, nodes, [dpod(d, "a"), dpod(d, "a", name="dup"), dpod(d, "c")], now=NOW)
    assert p.create_on == ["b", "e"]
    assert sorted(names(p.delete)) == ["agent-c", "dup"]
    made = dsc.new_pod(d, "b")
    term = made["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchFields"] == [{"key": "metadata.name", "operator": "In", "values": ["b"]}]
    assert dsc.target_node(made) == "b"
    status = dsc.compute_status(d, nodes, [dpod(d, "a"), dpod(d, "c")], now=NOW)
    assert (status["desiredNumberScheduled"], status["currentNumberScheduled"], status["numberMisscheduled"]) == (3, 1, 1)


def test_daemonset_rolling_update_keeps_max_unavailable() -> None:
    d = ds()
    d["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    nodes = [dnode(n) for n in "abc"]
    old = [dpod(d, n, revision="old") for n in "abc"]
    assert len(dsc.plan(d, nodes, old, now=NOW).delete) == 1
    # one node already without an available pod: nothing more may go
    old[0] = dpod(d, "a", revision="old", ready=False)
    assert names(dsc.plan(d, nodes, old, now=NOW).delete) == ["agent-a"]


# --- garbage collector ---------------------------------------------------------------------------

def dependent(*uids: str, deleting: bool = False) -> dict[str, Any]:
    m: dict[str, Any] = {"name": "d", "ownerReferences": [{"uid": u, "blockOwnerDeletion": True} for u in uids]}
    if deleting:
        m["deletionTimestamp"] = fmt_time(NOW)
    return {"metadata": m}


P, A, W = gc.OwnerState.PRESENT, gc.OwnerState.ABSENT, gc.OwnerState.WAITING


@pytest.mark.parametrize("uids,states,action,dangling", [
    (("o1",), {"o1": P}, gc.Action.NONE, []),
    (("o1",), {"o1": A}, gc.Action.DELETE_BACKGROUND, []),
    (("o1", "o2"), {"o1": A, "o2": P}, gc.Action.STRIP_REFS, ["o1"]),
    (("o1",), {"o1": W}, gc.Action.DELETE_FOREGROUND, []),
    (("o1", "o2"), {"o1": W, "o2": P}, gc.Action.NONE, []),
    (("o1", "o2"), {"o1": W, "o2": A}, gc.Action.DELETE_FOREGROUND, []),
], ids=["owner-present", "owner-gone", "one-of-two-gone", "owner-foreground", "other-owner-keeps", "foreground-and-gone"])
def test_gc_decide(uids: tuple[str, ...], states: dict[str, gc.OwnerState], action: gc.Action,
                   dangling: list[str]) -> None:
    v = gc.decide(dependent(*uids), states)
    assert (v.action, v.dangling) == (action, dangling)
    assert gc.decide(dependent(*uids, deleting=True), states).action is gc.Action.NONE


def test_gc_owner_state_checks_uid_and_foreground_finalizer() -> None:
    ref = {"uid": "u1"}
    assert gc.owner_state(None, ref) is A
    assert gc.owner_state({"metadata": {"uid": "u2"}}, ref) is A, "a same-named new owner is not the owner"
    assert gc.owner_state({"metadata": {"uid": "u1"}}, ref) is P
    waiting = {"metadata": {"uid": "u1", "deletionTimestamp": "x", "finalizers": ["foregroundDeletion"]}}
    assert gc.owner_state(waiting, ref) is W
    owner = {"metadata": {"uid": "u1"}}
    deps = [dependent("u1"), {"metadata": {"ownerReferences": [{"uid": "u1"}]}}]
    assert len(gc.blocking_dependents(owner, deps)) == 1


# --- endpoints ---------------------------------------------------------------------------------------

def svc(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "web"}], **spec}}


def epod(name: str, ip: str, *, port: int = 8080, ready: bool = True, deleting: bool = False,
         app: str = "web") -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"u-{name}", "labels": {"app": app}}
    if deleting:
        m["deletionTimestamp"] = fmt_time(NOW)
    return {"metadata": m, "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [
        {"name": "web", "containerPort": port}]}]},
            "status": {"phase": "Running", "podIP": ip, "conditions": READY if ready else []}}


def test_endpoints_resolve_named_ports_and_split_ready() -> None:
    pods = [epod("a", "10.0.0.2"), epod("b", "10.0.0.3", ready=False), epod("c", "10.0.0.4", port=9090),
            epod("d", "10.0.0.5", deleting=True), epod("x", "10.0.0.9", app="other")]
    e = ep.desired_endpoints(svc(), pods)
    by_port = {s["ports"][0]["port"]: s for s in e["subsets"]}
    assert [a["ip"] for a in by_port[8080]["addresses"]] == ["10.0.0.2"]
    assert [a["ip"] for a in by_port[8080]["notReadyAddresses"]] == ["10.0.0.3"]
    assert [a["ip"] for a in by_port[9090]["addresses"]] == ["10.0.0.4"]
    assert by_port[8080]["ports"] == [{"port": 8080, "protocol": "TCP", "name": "http"}]
    slices = ep.desired_slices(svc(), pods)
    assert len(slices) == 2
    s8080 = next(s for s in slices.values() if s["ports"][0]["port"] == 8080)
    conds = {e["addresses"][0]: e["conditions"] for e in s8080["endpoints"]}
    assert conds["10.0.0.2"] == {"ready": True, "serving": True, "terminating": False}
    assert conds["10.0.0.3"] == {"ready": False, "serving": False, "terminating": False}
    assert conds["10.0.0.5"] == {"ready": False, "serving": True, "terminating": True}
    assert s8080["metadata"]["labels"][ep.SERVICE_NAME_LABEL] == "web"


@pytest.mark.parametrize(("hostname", "subdomain", "namespace", "published"), [
    ("web-0", "web", "default", "web-0"),
    ("web-0", "other", "default", None),
    ("web-0", "web", "elsewhere", None),
    (None, "web", "default", None),
], ids=["statefulset-pod", "other-subdomain", "other-namespace", "no-hostname"])
def test_endpoints_publish_pod_hostnames(hostname: str | None, subdomain: str, namespace: str,
                                         published: str | None) -> None:
    p = epod("web-0", "10.0.0.2")
    p["metadata"]["namespace"] = namespace
    p["spec"].update({"hostname": hostname, "subdomain": subdomain})
    assert ep.published_hostname(svc(clusterIP="None"), p) == published
    if namespace == "default":
        slice_ = next(iter(ep.desired_slices(svc(clusterIP="None"), [p]).values()))
        assert slice_["endpoints"][0].get("hostname") == published
        assert ep.desired_endpoints(svc(clusterIP="None"), [p])["subsets"][0]["addresses"][0].get("hostname") == \
            published


def test_services_without_selector_are_left_alone() -> None:
    assert not ep.service_selects(svc(selector=None))
    assert not ep.service_selects(svc(type="ExternalName"))


# --- node lifecycle ---------------------------------------------------------------------------------

def lnode(ready: str = "True", heartbeat_ago: float = 0, taints: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "n1", "creationTimestamp": fmt_time(NOW - timedelta(hours=1))},
            "spec": {"taints": taints} if taints else {},
            "status": {"conditions": [{"type": "Ready", "status": ready,
                                       "lastHeartbeatTime": fmt_time(NOW - timedelta(seconds=heartbeat_ago))}]}}


def lease(renewed_ago: float) -> dict[str, Any]:
    return {"spec": {"renewTime": fmt_micro(NOW - timedelta(seconds=renewed_ago))}}


@pytest.mark.parametrize("node,lease_obj,ready,mark", [
    (lnode(heartbeat_ago=100), lease(5), "True", False),
    (lnode(heartbeat_ago=100), lease(41), "Unknown", True),
    (lnode(heartbeat_ago=100), None, "Unknown", True),
    (lnode("Unknown", heartbeat_ago=100), lease(100), "Unknown", False),
    (lnode("False"), lease(1), "False", False),
], ids=["lease-fresh", "lease-stale", "no-lease", "already-unknown", "kubelet-not-ready"])
def test_node_health(node: dict[str, Any], lease_obj: dict[str, Any] | None, ready: str, mark: bool) -> None:
    h = nl.node_health(node, lease_obj, now=NOW, grace=40)
    assert (h.ready, h.mark_unknown) == (ready, mark)


def test_unknown_conditions_and_taints() -> None:
    node = lnode(heartbeat_ago=100, taints=[{"key": "user", "effect": "NoSchedule"}])
    conds = nl.unknown_conditions(node, now=NOW)
    assert conds[0]["status"] == "Unknown" and conds[0]["message"] == "Kubelet stopped posting node status."
    taints = nl.desired_taints(node, "Unknown", now=NOW)
    assert {(t["key"], t["effect"]) for t in taints} == {
        ("user", "NoSchedule"), ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute")}
    node["spec"]["taints"] = taints
    assert nl.desired_taints(node, "Unknown", now=NOW + timedelta(seconds=9)) == taints, "timeAdded is kept"
    assert nl.desired_taints(node, "True", now=NOW) == [{"key": "user", "effect": "NoSchedule"}]


@pytest.mark.parametrize("unschedulable,taints,expected", [
    (True, [], [("node.kubernetes.io/unschedulable", "NoSchedule")]),
    (True, [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}],
     [("node.kubernetes.io/unschedulable", "NoSchedule")]),
    (False, [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}, {"key": "u", "effect": "NoSchedule"}],
     [("u", "NoSchedule")]),
    (False, [], []),
], ids=["cordoned", "cordoned-kept-once", "uncordoned", "schedulable"])
def test_cordon_taint_follows_spec_unschedulable(unschedulable: bool, taints: list[dict[str, Any]],
                                                 expected: list[tuple[str, str]]) -> None:
    node = lnode(heartbeat_ago=0, taints=taints)
    node["spec"]["unschedulable"] = unschedulable
    assert [(t["key"], t["effect"]) for t in nl.desired_taints(node, "True", now=NOW)] == expected


@pytest.mark.parametrize("tolerations,added_ago,due", [
    ([], 0, 300), ([], 301, -1),
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}], 0, 5),
    ([{"operator": "Exists"}], 1000, None),
], ids=["default-300s", "default-expired", "own-toleration", "tolerates-forever"])
def test_eviction_due(tolerations: list[dict[str, Any]], added_ago: float, due: float | None) -> None:
    taint = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute",
             "timeAdded": fmt_time(NOW - timedelta(seconds=added_ago))}
    got = nl.eviction_due({"spec": {"tolerations": tolerations}}, [taint], now=NOW, default_seconds=300)
    assert got == (None if due is None else pytest.approx(due))


def test_next_free_cidr() -> None:
    assert nl.next_free_cidr("10.244.0.0/16", 24, set()) == "10.244.0.0/24"
    assert nl.next_free_cidr("10.244.0.0/16", 24, {"10.244.0.0/24", "10.244.1.0/24"}) == "10.244.2.0/24"
    assert nl.next_free_cidr("10.244.0.0/24", 25, {"10.244.0.0/25", "10.244.0.128/25"}) is None
