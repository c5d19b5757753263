"""Workloads on a real server + etcd + hollow nodes, driven with the real kubectl.

Every test runs this process's scheduler and controller manager (short node timings)
against a ``skiff server --disable scheduler,controllers``, on three fresh hollow nodes.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
from typing import Any

import pytest

from skiff.api.resources import find
from skiff.machinery.hollow import EXIT_CODE, START_SECONDS, HollowCluster, HollowOptions
from skiff.machinery.objects import get_condition, is_pod_ready

from tests.support.server import SKIFF

from .conftest import Cluster, wait_until

pytestmark = pytest.mark.integration
PODS = find("pods")
DEPLOYMENTS = find("deployments.apps")
REPLICASETS = find("replicasets.apps")


def deployment(name: str, replicas: int, image: str = "registry.local/web:v1", **strategy: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                            "template": {"metadata": {"labels": {"app": name}},
                                         "spec": {"containers": [{"name": "web", "image": image}]}}}
    if strategy:
        spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": strategy}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


async def live_pods(c: Cluster, selector: str) -> list[dict[str, Any]]:
    items = (await c.api.list(PODS, namespace=c.namespace, label_selector=selector))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def running(c: Cluster, selector: str, n: int) -> list[dict[str, Any]] | None:
    pods = await live_pods(c, selector)
    ok = [p for p in pods if (p.get("status") or {}).get("phase") == "Running" and is_pod_ready(p)]
    return ok if len(ok) == n and len(pods) == n else None


async def test_deployment_scale_rolling_update_undo_and_self_healing(cluster: Cluster) -> None:
    c = cluster
    d = deployment("web", 10, maxSurge=2, maxUnavailable=1)
    # new pods take a moment to become Ready, so a rollout that outran its budget would show
    d["spec"]["template"]["metadata"]["annotations"] = {START_SECONDS: "1"}
    await c.apply(d)
    pods = await wait_until(lambda: running(c, "app=web", 10), timeout=60, what="10 Running pods")
    per_node: dict[str, int] = {}
    for p in pods:
        per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
    assert set(per_node) == set(c.hollow.nodes), f"pods not spread over every node: {per_node}"
    cidrs = {n["metadata"]["name"]: ipaddress.ip_network(n["spec"]["podCIDR"])
             for n in (await c.get_json("nodes"))["items"] if n["metadata"]["name"] in c.hollow.nodes}
    assert all(ipaddress.ip_address(p["status"]["podIP"]) in cidrs[p["spec"]["nodeName"]] for p in pods), \
        "pod IPs come from their node's podCIDR (node IPAM)"
    rs = await c.get_json("rs", "-l", "app=web")
    assert len(rs["items"]) == 1 and rs["items"][0]["metadata"]["ownerReferences"][0]["kind"] == "Deployment"

    await c.kubectl("scale", "deployment/web", "--replicas=20")
    await wait_until(lambda: running(c, "app=web", 20), timeout=60, what="20 Running pods")
    await c.kubectl("scale", "deployment/web", "--replicas=10")
    await wait_until(lambda: running(c, "app=web", 10), timeout=60, what="back to 10 pods")

    # rolling update, watched from the API: never fewer than replicas - maxUnavailable ready pods, and
    # the ReplicaSets together never asked for more than replicas + maxSurge (as in Kubernetes, the
    # bound is on ReplicaSet specs; pods of a scaled-down set may linger a moment while deleted)
    lowest, highest = [10], [10]
    ready: dict[str, bool] = {}
    wanted: dict[str, int] = {}
    watching = [asyncio.Event(), asyncio.Event()]

    async def watch_pods() -> None:
        listed = await c.api.list(PODS, namespace=c.namespace, label_selector="app=web")
        ready.update({p["metadata"]["name"]: is_pod_ready(p) for p in listed["items"]
                      if not p["metadata"].get("deletionTimestamp")})
        watching[0].set()
        async for etype, pod in c.api.watch(PODS, namespace=c.namespace, label_selector="app=web",
                                            resource_version=listed["metadata"]["resourceVersion"]):
            name = pod["metadata"]["name"]
            if etype == "DELETED" or pod["metadata"].get("deletionTimestamp"):
                ready.pop(name, None)
            elif etype != "BOOKMARK":
                ready[name] = is_pod_ready(pod)
            lowest[0] = min(lowest[0], sum(ready.values()))

    async def watch_replicasets() -> None:
        listed = await c.api.list(REPLICASETS, namespace=c.namespace, label_selector="app=web")
        wanted.update({rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in listed["items"]})
        watching[1].set()
        async for etype, rs in c.api.watch(REPLICASETS, namespace=c.namespace, label_selector="app=web",
                                           resource_version=listed["metadata"]["resourceVersion"]):
            if etype == "DELETED":
                wanted.pop(rs["metadata"]["name"], None)
            elif etype != "BOOKMARK":
                wanted[rs["metadata"]["name"]] = rs["spec"]["replicas"]
            highest[0] = max(highest[0], sum(wanted.values()))

    watchers = [asyncio.create_task(watch_pods()), asyncio.create_task(watch_replicasets())]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in watching)), 30)
    await c.kubectl("set", "image", "deployment/web", "web=registry.local/web:v2")
    out = await c.kubectl("rollout", "status", "deployment/web", "--timeout=90s")
    assert "successfully rolled out" in out
    for w in watchers:
        w.cancel()
    assert lowest[0] >= 9, f"maxUnavailable=1 violated: only {lowest[0]} ready pods at one point"
    assert highest[0] <= 12, f"maxSurge=2 violated: the ReplicaSets wanted {highest[0]} pods at one point"
    assert lowest[0] < 10 or highest[0] > 10, "the watch saw the rollout happen"
    pods = await wait_until(lambda: running(c, "app=web", 10), timeout=60, what="10 updated pods")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"registry.local/web:v2"}
    d = await c.get_json("deployment", "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"

    await c.kubectl("rollout", "undo", "deployment/web")
    await c.kubectl("rollout", "status", "deployment/web", "--timeout=90s")

    async def back_to_v1() -> bool:
        pods = await running(c, "app=web", 10)
        return bool(pods) and {p["spec"]["containers"][0]["image"] for p in pods} == {"registry.local/web:v1"}

    await wait_until(back_to_v1, timeout=60, what="pods back on v1 after undo")
    d = await c.get_json("deployment", "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert len((await c.get_json("rs", "-l", "app=web"))["items"]) == 2

    victim = (await live_pods(c, "app=web"))[0]["metadata"]["name"]
    await c.kubectl("delete", "pod", victim)

    async def replaced() -> bool:
        pods = await running(c, "app=web", 10)
        return bool(pods) and victim not in {p["metadata"]["name"] for p in pods}

    await wait_until(replaced, timeout=60, what="the deleted pod to be replaced")
    events = await c.kubectl("get", "events", "--field-selector", "reason=ScalingReplicaSet", "-o", "name")
    assert events.strip(), "the deployment controller records events"


async def test_dead_hollow_node_loses_its_pods_to_healthy_nodes(cluster: Cluster) -> None:
    c = cluster
    d = deployment("svc", 6)
    # the API server gives pods 300 s tolerations by default (DefaultTolerationSeconds); shorten them
    d["spec"]["template"]["spec"]["tolerations"] = [
        {"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}
        for k in ("unreachable", "not-ready")]
    await c.apply(d)
    pods = await wait_until(lambda: running(c, "app=svc", 6), timeout=60, what="6 Running pods")
    dead = pods[0]["spec"]["nodeName"]
    on_dead = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == dead}
    c.hollow.stop_node(dead)

    async def node_unknown() -> bool:
        node = await c.get_json("node", dead)
        taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
        ready = get_condition(node, "Ready") or {}
        return ready.get("status") == "Unknown" and ("node.kubernetes.io/unreachable", "NoExecute") in taints

    await wait_until(node_unknown, timeout=30, what=f"{dead} to be Unknown and tainted unreachable")

    async def moved() -> bool:
        pods = await running(c, "app=svc", 6)
        return bool(pods) and all(p["spec"]["nodeName"] != dead for p in pods)

    await wait_until(moved, timeout=60, what="pods recreated on the healthy nodes")
    leftover = await c.api.list(PODS, namespace=c.namespace, label_selector="app=svc")
    evicted = [p for p in leftover["items"] if p["metadata"]["name"] in on_dead]
    assert all(p["metadata"].get("deletionTimestamp") for p in evicted), "evicted pods are terminating"


async def test_job_retries_failing_pods_up_to_backoff_limit(cluster: Cluster) -> None:
    c = cluster
    failing = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "fails"},
               "spec": {"backoffLimit": 2, "template": {
                   "metadata": {"annotations": {EXIT_CODE: "1"}},
                   "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}
    ok = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "works"},
          "spec": {"completions": 3, "parallelism": 2, "template": {
              "metadata": {"annotations": {EXIT_CODE: "0"}},
              "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}
    await c.apply(failing)
    await c.apply(ok)

    async def finished(name: str, ctype: str) -> dict[str, Any] | None:
        job = await c.get_json("job", name)
        cond = get_condition(job, ctype)
        return job if cond and cond["status"] == "True" else None

    job = await wait_until(lambda: finished("fails", "Failed"), timeout=60, what="the failing job to fail")
    assert get_condition(job, "Failed")["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 3
    pods = await c.get_json("pods", "-l", "job-name=fails")
    assert len(pods["items"]) == 3
    codes = {p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods["items"]}
    assert codes == {1}
    job = await wait_until(lambda: finished("works", "Complete"), timeout=60, what="the good job to complete")
    assert job["status"]["succeeded"] == 3 and job["status"].get("completionTime")
    out = await c.kubectl("wait", "--for=condition=complete", "job/works", "--timeout=10s")
    assert "condition met" in out


async def test_daemonset_covers_every_node_including_a_new_one(cluster: Cluster) -> None:
    c = cluster
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"metadata": {"labels": {"app": "agent"}},
                                "spec": {"containers": [{"name": "a", "image": "busybox"}]}}}}
    await c.apply(ds)
    pods = await wait_until(lambda: running(c, "app=agent", 3), timeout=60, what="a daemon pod per node")
    assert {p["spec"]["nodeName"] for p in pods} == set(c.hollow.nodes)
    prefix = next(iter(c.hollow.nodes)).rsplit("-", 1)[0]
    extra = HollowCluster(c.api, 1, options=HollowOptions(prefix=f"{prefix}-", start_index=3, lease_interval=1.0,
                                                          lease_duration=4, status_interval=2.0))
    await extra.start()
    try:
        pods = await wait_until(lambda: running(c, "app=agent", 4), timeout=60, what="a daemon pod on the new node")
        assert f"{prefix}-3" in {p["spec"]["nodeName"] for p in pods}
        status = (await c.get_json("ds", "agent"))["status"]
        assert status["desiredNumberScheduled"] == 4
    finally:
        await extra.stop()
        await c.api.delete(find("nodes"), f"{prefix}-3")


async def test_cascading_delete_background_orphan_and_foreground(cluster: Cluster) -> None:
    c = cluster
    for name in ("bg", "orph", "fg"):
        await c.apply(deployment(name, 2))
    for name in ("bg", "orph", "fg"):
        await wait_until(lambda name=name: running(c, f"app={name}", 2), timeout=60, what=f"{name} pods")

    await c.kubectl("delete", "deployment", "bg")
    await wait_until(lambda: _none_left(c, "app=bg"), timeout=60, what="background cascade to remove RS and pods")

    await c.kubectl("delete", "deployment", "orph", "--cascade=orphan")
    await asyncio.sleep(0)

    async def orphaned() -> bool:
        rss = (await c.get_json("rs", "-l", "app=orph"))["items"]
        return len(rss) == 1 and not rss[0]["metadata"].get("ownerReferences")

    await wait_until(orphaned, timeout=30, what="the orphaned ReplicaSet to lose its owner")
    assert await running(c, "app=orph", 2), "orphaned pods keep running"

    await c.kubectl("delete", "deployment", "fg", "--cascade=foreground", "--wait=true", "--timeout=60s")
    assert await _none_left(c, "app=fg"), "foreground deletion returns only after the dependents are gone"


async def _none_left(c: Cluster, selector: str) -> bool:
    rss = (await c.api.list(REPLICASETS, namespace=c.namespace, label_selector=selector))["items"]
    pods = (await c.api.list(PODS, namespace=c.namespace, label_selector=selector))["items"]
    return not rss and not pods


async def test_statefulset_ordered_names_and_service_endpoints(cluster: Cluster) -> None:
    c = cluster
    await c.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
                   "spec": {"selector": {"app": "db"}, "ports": [{"name": "sql", "port": 5432, "targetPort": "sql"}]}})
    await c.apply({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
                   "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [
                                {"name": "db", "image": "busybox", "ports": [{"name": "sql", "containerPort": 15432}]}]}}}})
    pods = await wait_until(lambda: running(c, "app=db", 3), timeout=60, what="3 StatefulSet pods")
    assert sorted(p["metadata"]["name"] for p in pods) == ["db-0", "db-1", "db-2"]
    created = sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"])
    assert [p["metadata"]["name"] for p in created][0] == "db-0"

    async def endpoints_ready() -> Any:
        ep = await c.get_json("endpoints", "db")
        subsets = ep.get("subsets") or []
        return subsets if subsets and len(subsets[0].get("addresses") or []) == 3 else None

    subsets = await wait_until(endpoints_ready, timeout=30, what="3 ready endpoints")
    assert subsets[0]["ports"] == [{"name": "sql", "port": 15432, "protocol": "TCP"}]
    slices = await c.get_json("endpointslices", "-l", "kubernetes.io/service-name=db")
    assert len(slices["items"]) == 1 and len(slices["items"][0]["endpoints"]) == 3
    sa = await c.get_json("serviceaccount", "default")
    assert sa["metadata"]["name"] == "default"


async def test_unschedulable_pod_gets_kubernetes_message(cluster: Cluster) -> None:
    c = cluster
    # created first, so popped first: a pod for another scheduler is left alone
    await c.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "elsewhere"},
                   "spec": {"schedulerName": "other-scheduler", "containers": [{"name": "c", "image": "busybox"}]}})
    await c.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge"},
                   "spec": {"containers": [{"name": "c", "image": "busybox",
                                            "resources": {"requests": {"cpu": "64"}}}]}})

    async def reported() -> Any:
        pod = await c.get_json("pod", "huge")
        cond = get_condition(pod, "PodScheduled")
        return cond if cond and cond["status"] == "False" else None

    cond = await wait_until(reported, timeout=30, what="PodScheduled=False")
    assert cond["reason"] == "Unschedulable"
    assert cond["message"] == "0/3 nodes are available: 3 Insufficient cpu."
    events = json.loads(await c.kubectl("get", "events", "--field-selector", "involvedObject.name=huge", "-o", "json"))
    assert any(e["reason"] == "FailedScheduling" for e in events["items"])
    described = await c.kubectl("describe", "pod", "huge")
    assert "FailedScheduling" in described and "0/3 nodes are available: 3 Insufficient cpu." in described
    other = await c.get_json("pod", "elsewhere")
    assert not other["spec"].get("nodeName") and get_condition(other, "PodScheduled") is None


async def test_cronjob_fires_on_its_schedule(cluster: Cluster) -> None:
    c = cluster
    await c.apply({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
                   "spec": {"schedule": "* * * * *", "concurrencyPolicy": "Forbid", "successfulJobsHistoryLimit": 1,
                            "jobTemplate": {"spec": {"template": {
                                "metadata": {"annotations": {EXIT_CODE: "0"}},
                                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}})

    async def completed_job() -> Any:
        jobs = (await c.get_json("jobs"))["items"]
        done = [j for j in jobs if (get_condition(j, "Complete") or {}).get("status") == "True"]
        return done or None

    # the next minute boundary is at most 60 s away
    done = await wait_until(completed_job, timeout=75, interval=0.5, what="a job created by the CronJob")
    assert done[0]["metadata"]["name"].startswith("tick-")
    assert done[0]["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    cron = await c.get_json("cronjob", "tick")
    assert cron["status"].get("lastScheduleTime") and cron["status"].get("lastSuccessfulTime")


async def test_high_priority_pod_preempts_a_lower_priority_one(cluster: Cluster) -> None:
    c = cluster
    tag = c.namespace
    for name, value in ((f"{tag}-low", 10), (f"{tag}-high", 1000)):
        await c.apply({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                       "value": value})
    try:
        filler = deployment("filler", 3)
        filler["spec"]["template"]["spec"]["priorityClassName"] = f"{tag}-low"
        filler["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "3"}}
        await c.apply(filler)
        pods = await wait_until(lambda: running(c, "app=filler", 3), timeout=60, what="a filler pod on every node")
        assert len({p["spec"]["nodeName"] for p in pods}) == 3
        await c.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "vip"},
                       "spec": {"priorityClassName": f"{tag}-high", "containers": [
                           {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "2"}}}]}})

        async def vip_running() -> Any:
            pod = await c.get_json("pod", "vip")
            return pod if (pod.get("status") or {}).get("phase") == "Running" else None

        vip = await wait_until(vip_running, timeout=60, what="the high-priority pod to run")
        before = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods}
        victims = [n for n, node in before.items() if node == vip["spec"]["nodeName"]]
        events = (await c.get_json("events", "--field-selector", "reason=Preempted"))["items"]
        assert {e["involvedObject"]["name"] for e in events} == set(victims)

        async def replacement_pending() -> Any:
            live = await live_pods(c, "app=filler")
            pending = [p for p in live if not (p.get("spec") or {}).get("nodeName")]
            if len(live) != 3 or len(pending) != 1:
                return None
            cond = get_condition(pending[0], "PodScheduled") or {}
            return cond if cond.get("status") == "False" else None

        # the preempted pod's replacement fits nowhere now, and cannot preempt the higher-priority pod
        cond = await wait_until(replacement_pending, timeout=30, what="the replacement filler pod to be unschedulable")
        assert cond["message"] == "0/3 nodes are available: 3 Insufficient cpu."
    finally:
        for name in (f"{tag}-low", f"{tag}-high"):
            await c.kubectl("delete", "priorityclass", name, "--ignore-not-found")


async def test_drain_cordons_and_evicts_to_the_other_nodes(cluster: Cluster) -> None:
    c = cluster
    await c.apply(deployment("drained", 6))
    pods = await wait_until(lambda: running(c, "app=drained", 6), timeout=60, what="6 Running pods")
    target = pods[0]["spec"]["nodeName"]
    out = await c.kubectl("drain", target, "--ignore-daemonsets", "--timeout=60s")
    assert f"node/{target} drained" in out
    node = await c.get_json("node", target)
    assert node["spec"].get("unschedulable") is True
    taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in taints

    async def moved() -> bool:
        pods = await running(c, "app=drained", 6)
        return bool(pods) and all(p["spec"]["nodeName"] != target for p in pods)

    await wait_until(moved, timeout=60, what="evicted pods recreated on the other nodes")
    await c.kubectl("uncordon", target)
    node = await c.get_json("node", target)
    assert not node["spec"].get("unschedulable")


async def test_drain_respects_the_pod_disruption_budget(cluster: Cluster) -> None:
    c = cluster
    d = deployment("guarded", 4)
    d["spec"]["template"]["metadata"]["annotations"] = {START_SECONDS: "1"}
    await c.apply(d)
    await c.apply({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "guarded"},
                   "spec": {"minAvailable": 4, "selector": {"matchLabels": {"app": "guarded"}}}})
    pods = await wait_until(lambda: running(c, "app=guarded", 4), timeout=60, what="4 Running pods")
    per_node: dict[str, int] = {}
    for p in pods:
        per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
    target = max(per_node, key=lambda n: per_node[n])

    async def budget(allowed: int) -> Any:
        pdb = await c.get_json("pdb", "guarded")
        st = pdb.get("status") or {}
        return st if st.get("currentHealthy") == 4 and st.get("disruptionsAllowed") == allowed else None

    st = await wait_until(lambda: budget(0), timeout=30, what="the budget to allow no disruption")
    assert (st["expectedPods"], st["desiredHealthy"]) == (4, 4)
    table = (await c.kubectl("get", "pdb", "guarded")).split()
    assert table[:9] == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE",
                         "guarded"] and table[9:12] == ["4", "N/A", "0"]
    blocked = await c.kubectl("drain", target, "--ignore-daemonsets", "--timeout=3s", check=False)
    assert "Cannot evict pod as it would violate the pod's disruption budget." in blocked
    assert len(await live_pods(c, "app=guarded")) == 4, "no pod was evicted"

    # one disruption at a time: watched from the API, never fewer than 3 ready pods while draining
    await c.kubectl("patch", "pdb", "guarded", "--type=merge", "-p", '{"spec": {"minAvailable": 3}}')
    await wait_until(lambda: budget(1), timeout=30, what="the budget to allow one disruption")
    lowest = [4]
    ready: dict[str, bool] = {}
    started = asyncio.Event()

    async def watch() -> None:
        listed = await c.api.list(PODS, namespace=c.namespace, label_selector="app=guarded")
        ready.update({p["metadata"]["name"]: is_pod_ready(p) for p in listed["items"]})
        started.set()
        async for etype, pod in c.api.watch(PODS, namespace=c.namespace, label_selector="app=guarded",
                                            resource_version=listed["metadata"]["resourceVersion"]):
            if etype == "DELETED" or pod["metadata"].get("deletionTimestamp"):
                ready.pop(pod["metadata"]["name"], None)
            elif etype != "BOOKMARK":
                ready[pod["metadata"]["name"]] = is_pod_ready(pod)
            lowest[0] = min(lowest[0], sum(ready.values()))

    watcher = asyncio.create_task(watch())
    await asyncio.wait_for(started.wait(), 30)
    try:
        out = await c.kubectl("drain", target, "--ignore-daemonsets", "--timeout=90s")
        assert f"node/{target} drained" in out
        pods = await wait_until(lambda: running(c, "app=guarded", 4), timeout=60, what="4 Running pods again")
        assert all(p["spec"]["nodeName"] != target for p in pods)
    finally:
        watcher.cancel()
    assert lowest[0] >= 3, f"the budget (minAvailable 3) was violated: {lowest[0]} ready pods at one point"


async def test_hollow_nodes_command_runs_pods_and_dies_like_a_node(cluster: Cluster) -> None:
    c = cluster
    prefix = f"cli{c.namespace[2:]}-"
    proc = await asyncio.create_subprocess_exec(
        *SKIFF, "hollow-nodes", "--kubeconfig", str(c.server.kubeconfig), "--count", "2", "--name-prefix", prefix,
        "--cpu", "2", "--memory", "4Gi", "--pods", "20", "--lease-interval", "1", "--status-interval", "2",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async def ready_nodes() -> Any:
            nodes = [n for n in (await c.get_json("nodes"))["items"] if n["metadata"]["name"].startswith(prefix)]
            ok = [n for n in nodes if (get_condition(n, "Ready") or {}).get("status") == "True"]
            return ok if len(ok) == 2 else None

        nodes = await wait_until(ready_nodes, timeout=60, what="2 Ready nodes from skiff hollow-nodes")
        assert nodes[0]["status"]["capacity"] == {"cpu": "2", "memory": "4Gi", "pods": "20",
                                                  "ephemeral-storage": "100Gi"}
        await c.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pinned"},
                       "spec": {"nodeSelector": {"kubernetes.io/hostname": f"{prefix}0"},
                                "containers": [{"name": "c", "image": "busybox"}]}})

        async def pinned_running() -> Any:
            pod = await c.get_json("pod", "pinned")
            return pod if (pod.get("status") or {}).get("phase") == "Running" else None

        pod = await wait_until(pinned_running, timeout=60, what="the pod on the command's node to run")
        assert pod["spec"]["nodeName"] == f"{prefix}0" and pod["status"]["podIP"]

        proc.terminate()  # the process stops: to the cluster its nodes died
        await asyncio.wait_for(proc.wait(), 30)

        async def unknown() -> bool:
            node = await c.get_json("node", f"{prefix}0")
            return (get_condition(node, "Ready") or {}).get("status") == "Unknown"

        await wait_until(unknown, timeout=30, what="the stopped node to become Unknown")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for i in range(2):
            await c.kubectl("delete", "node", f"{prefix}{i}", "--ignore-not-found", "--wait=false")


async def test_deleting_a_namespace_deletes_everything_in_it(cluster: Cluster) -> None:
    c = cluster
    ns = f"{c.namespace}-gone"
    await c.kubectl("create", "namespace", ns)
    await c.kubectl("-n", ns, "create", "deployment", "inside", "--image=busybox", "--replicas=2")
    await c.kubectl("-n", ns, "create", "configmap", "settings", "--from-literal=a=b")

    async def running_inside() -> bool:
        pods = (await c.api.list(PODS, namespace=ns, label_selector="app=inside"))["items"]
        return len([p for p in pods if (p.get("status") or {}).get("phase") == "Running"]) == 2

    await wait_until(running_inside, timeout=60, what="2 pods in the doomed namespace")
    sa = await c.kubectl("-n", ns, "get", "serviceaccount", "default", "-o", "name")
    assert sa.strip() == "serviceaccount/default", "the ServiceAccount controller made a default one"
    await c.kubectl("delete", "namespace", ns, "--timeout=60s")  # waits until the namespace is gone
    out = await c.kubectl("get", "namespace", ns, "--ignore-not-found")
    assert not out.strip()
    left = (await c.api.list(PODS, namespace=ns))["items"]
    assert not left, "the namespace controller deleted its pods before the namespace"
