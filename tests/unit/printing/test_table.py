"""Server-side Tables: the columns and cells Kubernetes' API server prints for each served kind."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from skiff.api.resources import RESOURCES, by_kind
from skiff.apiserver.printing import IncludeObjectError, table

NOW = dt.datetime(2024, 1, 1, 1, 0, 0, tzinfo=dt.timezone.utc)
CREATED = "2024-01-01T00:00:00Z"  # one hour before NOW: AGE "60m"


def meta(name: str = "x", **extra: Any) -> dict:
    return {"name": name, "namespace": "default", "creationTimestamp": CREATED, **extra}


def running(name: str, *, ready: bool = True, restarts: int = 0, last_finished: str | None = None) -> dict:
    cs: dict = {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {}}}
    if last_finished:
        cs["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": last_finished}}
    return cs


def waiting(name: str, reason: str, restarts: int = 0) -> dict:
    return {"name": name, "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}}


def terminated(name: str, reason: str | None, code: int = 0, signal: int = 0) -> dict:
    term: dict = {"exitCode": code}
    if reason:
        term["reason"] = reason
    if signal:
        term["signal"] = signal
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": term}}


def pod(status: dict, *, containers: int = 1, init: list | None = None, **meta_extra: Any) -> dict:
    spec: dict = {"containers": [{"name": f"c{i}", "image": "img"} for i in range(containers)]}
    if init is not None:
        spec["initContainers"] = init
    return {"metadata": meta("p", **meta_extra), "spec": spec, "status": status}


POD_CASES = [
    ("pending-unscheduled", pod({"phase": "Pending"}), ("0/1", "Pending", "0")),
    ("container-creating", pod({"phase": "Pending", "containerStatuses": [waiting("c0", "ContainerCreating")]}),
     ("0/1", "ContainerCreating", "0")),
    ("running-ready", pod({"phase": "Running", "containerStatuses": [running("c0")]}), ("1/1", "Running", "0")),
    ("running-not-ready", pod({"phase": "Running", "containerStatuses": [running("c0", ready=False)]}),
     ("0/1", "Running", "0")),
    ("crash-loop-with-restart-age", pod({"phase": "Running", "containerStatuses": [
        {**waiting("c0", "CrashLoopBackOff", restarts=5),
         "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-01-01T00:55:00Z"}}}]}),
     ("0/1", "CrashLoopBackOff", "5 (5m ago)")),
    ("restarts-without-termination-time", pod({"phase": "Running", "containerStatuses": [running("c0", restarts=3)]}),
     ("1/1", "Running", "3")),
    ("completed", pod({"phase": "Succeeded", "containerStatuses": [terminated("c0", "Completed")]}),
     ("0/1", "Completed", "0")),
    ("error", pod({"phase": "Failed", "containerStatuses": [terminated("c0", "Error", code=2)]}),
     ("0/1", "Error", "0")),
    ("exit-code-without-reason", pod({"phase": "Failed", "containerStatuses": [terminated("c0", None, code=3)]}),
     ("0/1", "ExitCode:3", "0")),
    ("signal-without-reason", pod({"phase": "Failed", "containerStatuses": [terminated("c0", None, code=137, signal=9)]}),
     ("0/1", "Signal:9", "0")),
    ("completed-but-one-running-not-ready", pod({"phase": "Running", "containerStatuses": [
        terminated("c0", "Completed"), running("c1")]}, containers=2), ("1/2", "NotReady", "0")),
    ("completed-but-one-running-ready", pod({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                                             "containerStatuses": [terminated("c0", "Completed"), running("c1")]},
                                            containers=2), ("1/2", "Running", "0")),
    ("terminating", pod({"phase": "Running", "containerStatuses": [running("c0")]},
                        deletionTimestamp="2024-01-01T00:59:00Z"), ("1/1", "Terminating", "0")),
    ("terminal-pod-being-deleted-keeps-status", pod({"phase": "Succeeded", "containerStatuses": [
        terminated("c0", "Completed")]}, deletionTimestamp="2024-01-01T00:59:00Z"), ("0/1", "Completed", "0")),
    ("node-lost", pod({"phase": "Running", "reason": "NodeLost", "containerStatuses": [running("c0")]},
                      deletionTimestamp="2024-01-01T00:59:00Z"), ("1/1", "Unknown", "0")),
    ("evicted", pod({"phase": "Failed", "reason": "Evicted"}), ("0/1", "Evicted", "0")),
    ("scheduling-gated", pod({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}), ("0/1", "SchedulingGated", "0")),
    ("init-waiting-index", pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i0", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]},
        init=[{"name": "i0"}, {"name": "i1"}]), ("0/1", "Init:0/2", "0")),
    ("init-second-running", pod({"phase": "Pending", "initContainerStatuses": [
        terminated("i0", "Completed"), {"name": "i1", "restartCount": 0, "state": {"running": {}}}]},
        init=[{"name": "i0"}, {"name": "i1"}]), ("0/1", "Init:1/2", "0")),
    ("init-crash-loop", pod({"phase": "Pending", "initContainerStatuses": [waiting("i0", "CrashLoopBackOff", 2)]},
                            init=[{"name": "i0"}]), ("0/1", "Init:CrashLoopBackOff", "2")),
    ("init-error", pod({"phase": "Pending", "initContainerStatuses": [terminated("i0", "Error", code=1)]},
                       init=[{"name": "i0"}]), ("0/1", "Init:Error", "0")),
    ("init-exit-code", pod({"phase": "Pending", "initContainerStatuses": [terminated("i0", None, code=4)]},
                           init=[{"name": "i0"}]), ("0/1", "Init:ExitCode:4", "0")),
    ("sidecar-counts-in-ready", pod({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
                                     "initContainerStatuses": [{**running("side", restarts=1), "started": True}],
                                     "containerStatuses": [running("c0")]},
                                    init=[{"name": "side", "restartPolicy": "Always"}]), ("2/2", "Running", "1")),
]


@pytest.mark.parametrize("obj,expected", [c[1:] for c in POD_CASES], ids=[c[0] for c in POD_CASES])
def test_pod_ready_status_restarts(obj: dict, expected: tuple) -> None:
    t = table(by_kind("v1", "Pod"), [obj], now=NOW)
    assert tuple(t["rows"][0]["cells"][1:4]) == expected
    assert t["rows"][0]["cells"][4] == "60m"


def test_pod_columns_and_wide_cells() -> None:
    p = pod({"phase": "Running", "podIP": "10.244.1.5", "nominatedNodeName": "n2",
             "conditions": [{"type": "www.example.com/gate", "status": "True"}],
             "containerStatuses": [running("c0")]})
    p["spec"].update(nodeName="n1", readinessGates=[{"conditionType": "www.example.com/gate"},
                                                    {"conditionType": "other"}])
    t = table(by_kind("v1", "Pod"), [p], now=NOW)
    cols = [(c["name"], c["type"], c["priority"]) for c in t["columnDefinitions"]]
    assert cols == [("Name", "string", 0), ("Ready", "string", 0), ("Status", "string", 0), ("Restarts", "string", 0),
                    ("Age", "string", 0), ("IP", "string", 1), ("Node", "string", 1),
                    ("Nominated Node", "string", 1), ("Readiness Gates", "string", 1)]
    assert t["columnDefinitions"][0]["format"] == "name"
    assert t["rows"][0]["cells"][5:] == ["10.244.1.5", "n1", "n2", "1/2"]


def test_completed_pod_row_condition() -> None:
    t = table(by_kind("v1", "Pod"), [pod({"phase": "Succeeded"})], now=NOW)
    assert t["rows"][0]["conditions"][0]["type"] == "Completed"


def dep(**status: Any) -> dict:
    return {"metadata": meta("web"), "spec": {
        "replicas": 3, "selector": {"matchLabels": {"app": "web"},
                                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
        "template": {"spec": {"containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "busybox"}],
                              "nodeSelector": {"disk": "ssd"}}}}, "status": status}


KIND_CASES: list[tuple[str, str, str, dict, list[str], list[Any]]] = [
    ("deployment", "apps/v1", "Deployment", dep(readyReplicas=2, updatedReplicas=3, availableReplicas=2),
     ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"],
     ["web", "2/3", 3, 2, "60m", "a,b", "nginx:1,busybox", "app=web,tier in (a,b)"]),
    ("replicaset", "apps/v1", "ReplicaSet", dep(replicas=3, readyReplicas=1),
     ["Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"],
     ["web", 3, 3, 1, "60m", "a,b", "nginx:1,busybox", "app=web,tier in (a,b)"]),
    ("statefulset", "apps/v1", "StatefulSet", dep(readyReplicas=1),
     ["Name", "Ready", "Age", "Containers", "Images"], ["web", "1/3", "60m", "a,b", "nginx:1,busybox"]),
    ("daemonset", "apps/v1", "DaemonSet", dep(desiredNumberScheduled=2, currentNumberScheduled=2, numberReady=1,
                                             updatedNumberScheduled=2, numberAvailable=1),
     ["Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age", "Containers",
      "Images", "Selector"],
     ["web", 2, 2, 1, 2, 1, "disk=ssd", "60m", "a,b", "nginx:1,busybox", "app=web,tier in (a,b)"]),
    ("job-complete", "batch/v1", "Job",
     {"metadata": meta("j"), "spec": {"completions": 3, "template": {"spec": {"containers": [{"name": "a", "image": "i"}]}}},
      "status": {"succeeded": 3, "startTime": "2024-01-01T00:00:00Z", "completionTime": "2024-01-01T00:03:20Z",
                 "conditions": [{"type": "Complete", "status": "True"}]}},
     ["Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"],
     ["j", "Complete", "3/3", "3m20s", "60m", "a", "i", "<none>"]),
    ("job-running-parallel", "batch/v1", "Job",
     {"metadata": meta("j"), "spec": {"parallelism": 2, "template": {"spec": {"containers": []}}},
      "status": {"startTime": "2024-01-01T00:50:00Z"}},
     None, ["j", "Running", "0/1 of 2", "10m", "60m", "", "", "<none>"]),
    ("job-failed", "batch/v1", "Job",
     {"metadata": meta("j"), "spec": {}, "status": {"conditions": [{"type": "Failed", "status": "True"}]}},
     None, ["j", "Failed", "0/1", "", "60m", "", "", "<none>"]),
    ("cronjob", "batch/v1", "CronJob",
     {"metadata": meta("c"), "spec": {"schedule": "*/5 * * * *", "suspend": False,
                                      "jobTemplate": {"spec": {"template": {"spec": {"containers": [
                                          {"name": "a", "image": "i"}]}}}}},
      "status": {"active": [{"name": "c-1"}], "lastScheduleTime": "2024-01-01T00:55:00Z"}},
     ["Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age", "Containers", "Images", "Selector"],
     ["c", "*/5 * * * *", "<none>", "False", 1, "5m", "60m", "a", "i", "<none>"]),
    ("service-clusterip", "v1", "Service",
     {"metadata": meta("svc"), "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                                        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 80, "protocol": "TCP"}],
                                        "selector": {"k8s-app": "dns"}}},
     ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"],
     ["svc", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,80/TCP", "60m", "k8s-app=dns"]),
    ("service-nodeport", "v1", "Service",
     {"metadata": meta("svc"), "spec": {"type": "NodePort", "clusterIP": "10.96.0.11",
                                        "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}},
     None, ["svc", "NodePort", "10.96.0.11", "<none>", "80:30080/TCP", "60m", "<none>"]),
    ("service-loadbalancer-pending", "v1", "Service",
     {"metadata": meta("svc"), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"], "ports": []}},
     None, ["svc", "LoadBalancer", "10.96.0.12", "<pending>", "<none>", "60m", "<none>"]),
    ("service-headless", "v1", "Service",
     {"metadata": meta("svc"), "spec": {"type": "ClusterIP", "clusterIP": "None", "ports": [{"port": 80}]}},
     None, ["svc", "ClusterIP", "None", "<none>", "80/TCP", "60m", "<none>"]),
    ("service-externalname", "v1", "Service",
     {"metadata": meta("svc"), "spec": {"type": "ExternalName", "externalName": "db.example.com"}},
     None, ["svc", "ExternalName", "<none>", "db.example.com", "<none>", "60m", "<none>"]),
    ("endpoints", "v1", "Endpoints",
     {"metadata": meta("svc"), "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::3"}],
                                            "ports": [{"port": 80}, {"port": 443}]}]},
     ["Name", "Endpoints", "Age"], ["svc", "10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 3 more...", "60m"]),
    ("endpoints-empty", "v1", "Endpoints", {"metadata": meta("svc")}, None, ["svc", "<none>", "60m"]),
    ("node-ready-control-plane", "v1", "Node",
     {"metadata": meta("n1", labels={"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}),
      "spec": {"unschedulable": True},
      "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                 "addresses": [{"type": "InternalIP", "address": "192.0.2.10"}],
                 "nodeInfo": {"kubeletVersion": "v1.30.0-skiff", "osImage": "Debian GNU/Linux 12",
                              "kernelVersion": "6.1.0", "containerRuntimeVersion": "skiff://0.1.0"}}},
     ["Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image", "Kernel-Version",
      "Container-Runtime"],
     ["n1", "Ready,SchedulingDisabled", "control-plane,worker", "60m", "v1.30.0-skiff", "192.0.2.10", "<none>",
      "Debian GNU/Linux 12", "6.1.0", "skiff://0.1.0"]),
    ("node-no-conditions", "v1", "Node", {"metadata": meta("n2"), "status": {}}, None,
     ["n2", "Unknown", "<none>", "60m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"]),
    ("node-not-ready", "v1", "Node", {"metadata": meta("n3"), "status": {"conditions": [
        {"type": "Ready", "status": "Unknown"}]}}, None,
     ["n3", "NotReady", "<none>", "60m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"]),
    ("namespace", "v1", "Namespace", {"metadata": meta("ns"), "status": {"phase": "Active"}},
     ["Name", "Status", "Age"], ["ns", "Active", "60m"]),
    ("configmap", "v1", "ConfigMap", {"metadata": meta("cm"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}},
     ["Name", "Data", "Age"], ["cm", 3, "60m"]),
    ("secret", "v1", "Secret", {"metadata": meta("s"), "type": "Opaque", "data": {"a": "MQ=="}},
     ["Name", "Type", "Data", "Age"], ["s", "Opaque", 1, "60m"]),
    ("serviceaccount", "v1", "ServiceAccount", {"metadata": meta("default")}, ["Name", "Secrets", "Age"],
     ["default", 0, "60m"]),
    ("event", "v1", "Event",
     {"metadata": meta("p.17a"), "type": "Normal", "reason": "Scheduled", "message": " Assigned to n1\n",
      "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{a}"},
      "source": {"component": "default-scheduler"}, "firstTimestamp": "2024-01-01T00:58:00Z",
      "lastTimestamp": "2024-01-01T00:59:00Z", "count": 2},
     ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count", "Name"],
     ["60s", "Normal", "Scheduled", "pod/p", "spec.containers{a}", "default-scheduler", "Assigned to n1", "2m", 2,
      "p.17a"]),
    ("event-new-api", "v1", "Event",
     {"metadata": meta("e"), "type": "Warning", "reason": "X", "message": "m", "involvedObject": {"kind": "Node"},
      "eventTime": "2024-01-01T00:59:30.000000Z", "reportingComponent": "skiff-agent", "reportingInstance": "n1"},
     None, ["30s", "Warning", "X", "node", "", "skiff-agent, n1", "m", "30s", 1, "e"]),
    ("pv", "v1", "PersistentVolume",
     {"metadata": meta("pv1"), "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                                        "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "local",
                                        "claimRef": {"namespace": "default", "name": "data"}},
      "status": {"phase": "Bound"}},
     ["Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass",
      "VolumeAttributesClass", "Reason", "Age", "VolumeMode"],
     ["pv1", "1Gi", "RWO,RWX", "Retain", "Bound", "default/data", "local", "<unset>", "", "60m", "<unset>"]),
    ("pvc-bound", "v1", "PersistentVolumeClaim",
     {"metadata": meta("data"), "spec": {"volumeName": "pv1", "storageClassName": "local", "volumeMode": "Filesystem"},
      "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}},
     ["Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass", "VolumeAttributesClass", "Age",
      "VolumeMode"],
     ["data", "Bound", "pv1", "1Gi", "RWO", "local", "<unset>", "60m", "Filesystem"]),
    ("pvc-pending", "v1", "PersistentVolumeClaim", {"metadata": meta("data"), "spec": {}, "status": {"phase": "Pending"}},
     None, ["data", "Pending", "", "", "", "", "<unset>", "60m", "<unset>"]),
    ("controllerrevision", "apps/v1", "ControllerRevision",
     {"metadata": meta("web-6d4", ownerReferences=[{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                                                   "uid": "u", "controller": True}]), "revision": 2},
     ["Name", "Controller", "Revision", "Age"], ["web-6d4", "statefulset.apps/web", 2, "60m"]),
    ("lease", "coordination.k8s.io/v1", "Lease", {"metadata": meta("n1"), "spec": {"holderIdentity": "n1"}},
     ["Name", "Holder", "Age"], ["n1", "n1", "60m"]),
    ("endpointslice", "discovery.k8s.io/v1", "EndpointSlice",
     {"metadata": meta("svc-abc"), "addressType": "IPv4", "ports": [{"port": 80}, {"name": "x"}],
      "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]},
     ["Name", "AddressType", "Ports", "Endpoints", "Age"], ["svc-abc", "IPv4", "80,x", "10.0.0.1,10.0.0.2", "60m"]),
    ("endpointslice-empty", "discovery.k8s.io/v1", "EndpointSlice", {"metadata": meta("e"), "addressType": "IPv4"},
     None, ["e", "IPv4", "<unset>", "<unset>", "60m"]),
    ("ingress", "networking.k8s.io/v1", "Ingress",
     {"metadata": meta("ing"), "spec": {"ingressClassName": "nginx", "rules": [{"host": "a.example"}, {}],
                                        "tls": [{"hosts": ["a.example"]}]},
      "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}},
     ["Name", "Class", "Hosts", "Address", "Ports", "Age"], ["ing", "nginx", "a.example", "192.0.2.1", "80, 443", "60m"]),
    ("rolebinding", "rbac.authorization.k8s.io/v1", "RoleBinding",
     {"metadata": meta("rb"), "roleRef": {"kind": "ClusterRole", "name": "view"},
      "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                   {"kind": "ServiceAccount", "name": "bot", "namespace": "ci"}]},
     ["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"],
     ["rb", "ClusterRole/view", "60m", "alice", "devs", "ci/bot"]),
    ("clusterrolebinding", "rbac.authorization.k8s.io/v1", "ClusterRoleBinding",
     {"metadata": meta("crb"), "roleRef": {"kind": "ClusterRole", "name": "admin"}}, None,
     ["crb", "ClusterRole/admin", "60m", "", "", ""]),
    ("role-default-table", "rbac.authorization.k8s.io/v1", "Role", {"metadata": meta("r")}, ["Name", "Created At"],
     ["r", "2024-01-01T00:00:00Z"]),
    ("clusterrole-default-table", "rbac.authorization.k8s.io/v1", "ClusterRole", {"metadata": meta("cr")}, None,
     ["cr", "2024-01-01T00:00:00Z"]),
    ("storageclass-default", "storage.k8s.io/v1", "StorageClass",
     {"metadata": meta("local", annotations={"storageclass.kubernetes.io/is-default-class": "true"}),
      "provisioner": "skiff.io/local"},
     ["Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode", "AllowVolumeExpansion", "Age"],
     ["local (default)", "skiff.io/local", "Delete", "Immediate", False, "60m"]),
    ("priorityclass", "scheduling.k8s.io/v1", "PriorityClass",
     {"metadata": meta("high"), "value": 1000, "globalDefault": False, "preemptionPolicy": "Never"},
     ["Name", "Value", "Global-Default", "Age", "PreemptionPolicy"], ["high", 1000, False, "60m", "Never"]),
]


@pytest.mark.parametrize("api_version,kind,obj,columns,cells", [c[1:] for c in KIND_CASES],
                         ids=[c[0] for c in KIND_CASES])
def test_kind_columns_and_cells(api_version: str, kind: str, obj: dict, columns: list[str] | None,
                                cells: list[Any]) -> None:
    res = by_kind(api_version, kind)
    assert res is not None
    t = table(res, [obj], now=NOW)
    if columns is not None:
        assert [c["name"] for c in t["columnDefinitions"]] == columns
    assert t["rows"][0]["cells"] == cells
    assert len(t["rows"][0]["cells"]) == len(t["columnDefinitions"])


WIDE_ONLY = {
    "Pod": ["IP", "Node", "Nominated Node", "Readiness Gates"],
    "Deployment": ["Containers", "Images", "Selector"],
    "Service": ["Selector"],
    "Node": ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"],
    "Event": ["Subobject", "Source", "First Seen", "Count", "Name"],
    "StatefulSet": ["Containers", "Images"],
    "PersistentVolume": ["VolumeMode"],
    "RoleBinding": ["Users", "Groups", "ServiceAccounts"],
}


@pytest.mark.parametrize("kind", sorted(WIDE_ONLY))
def test_priority_one_columns_are_the_wide_ones(kind: str) -> None:
    res = next(r for r in RESOURCES if r.kind == kind)
    cols = table(res, [], now=NOW)["columnDefinitions"]
    assert [c["name"] for c in cols if c["priority"] == 1] == WIDE_ONLY[kind]


@pytest.mark.parametrize("res", RESOURCES, ids=[r.kind for r in RESOURCES])
def test_every_served_kind_prints_an_empty_object(res: Any) -> None:
    t = table(res, [{"metadata": {"name": "n"}}], now=NOW)
    assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
    assert t["rows"][0]["cells"][0 if res.kind != "Event" else 9] == "n"
    assert len(t["rows"][0]["cells"]) == len(t["columnDefinitions"])
    for c in t["columnDefinitions"]:
        assert set(c) == {"name", "type", "format", "description", "priority"}


def test_include_object_modes() -> None:
    obj = {"metadata": meta("cm"), "data": {"a": "1"}}
    res = by_kind("v1", "ConfigMap")
    assert res is not None
    assert table(res, [obj], now=NOW)["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
    assert table(res, [obj], now=NOW, include_object="Object")["rows"][0]["object"] == obj
    assert table(res, [obj], now=NOW, include_object="None")["rows"][0]["object"] is None
    with pytest.raises(IncludeObjectError, match="includeObject"):
        table(res, [obj], now=NOW, include_object="Everything")


def test_table_does_not_change_objects() -> None:
    obj = pod({"phase": "Running", "containerStatuses": [running("c0")]})
    before = repr(obj)
    table(by_kind("v1", "Pod"), [obj], now=NOW, include_object="Object")
    assert repr(obj) == before
