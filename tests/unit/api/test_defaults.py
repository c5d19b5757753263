"""apply_defaults(): what a real cluster adds to objects, and nothing else."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from skiff.api.defaults import apply_defaults, image_pull_policy, qos_class
from skiff.api.resources import RESOURCES, by_kind

from .builders import new_cronjob, new_deployment, new_job, new_pod, new_service


def defaulted(obj: dict[str, Any]) -> dict[str, Any]:
    res = by_kind(obj["apiVersion"], obj["kind"])
    assert res is not None
    out = copy.deepcopy(obj)
    apply_defaults(res, out)
    return out


def test_pod_defaults_match_a_real_cluster() -> None:
    pod = defaulted(new_pod(containers=[{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}],
                                         "resources": {"limits": {"cpu": "0.5", "memory": "128Mi"}}}]))
    spec = pod["spec"]
    assert {k: spec[k] for k in ("restartPolicy", "dnsPolicy", "terminationGracePeriodSeconds", "schedulerName",
                                 "securityContext", "enableServiceLinks", "serviceAccountName", "serviceAccount",
                                 "priority", "preemptionPolicy")} == {
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
        "schedulerName": "default-scheduler", "securityContext": {}, "enableServiceLinks": True,
        "serviceAccountName": "default", "serviceAccount": "default", "priority": 0,
        "preemptionPolicy": "PreemptLowerPriority"}
    assert spec["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "Always"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["resources"] == {"limits": {"cpu": "500m", "memory": "128Mi"},
                              "requests": {"cpu": "500m", "memory": "128Mi"}}
    assert pod["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("localhost:5000/busybox", "Always"), ("localhost:5000/busybox:1", "IfNotPresent"),
    ("busybox@sha256:" + "0" * 64, "IfNotPresent"), ("", "IfNotPresent"),
])
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


@pytest.mark.parametrize(("resources", "qos"), [
    ([{}], "BestEffort"),
    ([{"requests": {"cpu": "100m"}}], "Burstable"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}], "Burstable"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),
], ids=["besteffort", "burstable", "guaranteed", "unequal", "one-container-bare"])
def test_qos_class(resources, qos) -> None:
    spec = {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]}
    assert qos_class(spec) == qos


def test_deployment_defaults() -> None:
    d = defaulted(new_deployment())["spec"]
    assert d["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert (d["revisionHistoryLimit"], d["progressDeadlineSeconds"], d["replicas"]) == (10, 600, 2)
    assert defaulted(new_deployment(replicas=None))["spec"]["replicas"] == 1
    tspec = d["template"]["spec"]
    assert tspec["restartPolicy"] == "Always" and "enableServiceLinks" not in tspec and "tolerations" not in tspec
    recreate = defaulted(new_deployment(strategy={"type": "Recreate"}))["spec"]["strategy"]
    assert recreate == {"type": "Recreate"}


def test_service_defaults() -> None:
    s = defaulted(with_cluster_ip(new_service(ports=[{"port": 80}, {"port": 443, "targetPort": "https", "name": "b"}])))
    assert s["spec"]["type"] == "ClusterIP" and s["spec"]["sessionAffinity"] == "None"
    assert s["spec"]["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    assert s["spec"]["ports"][1]["targetPort"] == "https"
    assert s["spec"]["internalTrafficPolicy"] == "Cluster"
    assert s["spec"]["clusterIPs"] == ["10.96.0.10"]
    assert s["spec"]["ipFamilies"] == ["IPv4"] and s["spec"]["ipFamilyPolicy"] == "SingleStack"
    assert s["status"] == {"loadBalancer": {}}
    np = defaulted(new_service(type="NodePort"))["spec"]
    assert np["externalTrafficPolicy"] == "Cluster"


def with_cluster_ip(svc: dict[str, Any]) -> dict[str, Any]:
    svc["spec"]["clusterIP"] = "10.96.0.10"
    return svc


def test_job_defaults_and_generated_selector() -> None:
    j = defaulted(new_job())
    spec, uid = j["spec"], j["metadata"]["uid"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed" and spec["suspend"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert spec["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "j",
        "controller-uid": uid, "job-name": "j"}
    assert defaulted(new_job(completions=5))["spec"]["parallelism"] == 1
    assert defaulted(new_job(parallelism=3))["spec"].get("completions") is None


def test_cronjob_defaults() -> None:
    spec = defaulted(new_cronjob())["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    jspec = spec["jobTemplate"]["spec"]
    assert "backoffLimit" not in jspec  # only PodSpec defaults reach a CronJob's job template
    assert jspec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


def test_statefulset_and_daemonset_defaults() -> None:
    sts = defaulted({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s", "namespace": "d"},
                     "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": []}}}})
    s = sts["spec"]
    assert s["podManagementPolicy"] == "OrderedReady" and s["replicas"] == 1 and s["revisionHistoryLimit"] == 10
    assert s["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert s["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    ds = defaulted({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "s", "namespace": "d"},
                    "spec": {"template": {"spec": {"containers": []}}}})["spec"]
    assert ds["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}


def test_secret_string_data_is_merged() -> None:
    s = defaulted({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"},
                   "data": {"a": "eA=="}, "stringData": {"b": "hello", "a": "y"}})
    assert s["type"] == "Opaque" and "stringData" not in s
    assert s["data"] == {"a": "eQ==", "b": "aGVsbG8="}


def test_namespace_gets_its_name_label() -> None:
    ns = defaulted({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}


def test_volume_defaults() -> None:
    pod = defaulted(new_pod(volumes=[{"name": "a"}, {"name": "b", "secret": {"secretName": "s"}},
                                     {"name": "c", "configMap": {"name": "c"}}, {"name": "d", "hostPath": {"path": "/x"}}]))
    vols = pod["spec"]["volumes"]
    assert vols[0] == {"name": "a", "emptyDir": {}}
    assert vols[1]["secret"]["defaultMode"] == 420 and vols[2]["configMap"]["defaultMode"] == 420
    assert vols[3]["hostPath"]["type"] == ""


def test_probe_defaults() -> None:
    pod = defaulted(new_pod(containers=[{"name": "w", "image": "x:1", "readinessProbe": {"httpGet": {"port": 80}}}]))
    probe = pod["spec"]["containers"][0]["readinessProbe"]
    assert probe == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10,
                     "successThreshold": 1, "failureThreshold": 3}


def test_quantities_come_back_canonical_everywhere() -> None:
    node = defaulted({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
                      "status": {"capacity": {"cpu": "2", "memory": "2048Mi", "pods": "110"}}})
    assert node["status"]["capacity"] == {"cpu": "2", "memory": "2Gi", "pods": "110"}
    assert node["status"]["allocatable"] == node["status"]["capacity"]
    d = defaulted(new_deployment(template={"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
        {"name": "w", "image": "x:1", "resources": {"requests": {"cpu": 0.25, "memory": "1.5Gi"}}}]}}))
    assert d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "250m", "memory": "1536Mi"}


@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: r.kind)
def test_defaults_are_idempotent_and_keep_unmodelled_fields(res) -> None:
    obj: dict[str, Any] = {"apiVersion": res.api_version, "kind": res.kind,
                           "metadata": {"name": "x", "annotations": {"a": "b"}}}
    if res.kind == "Deployment":
        obj = new_deployment()
    if res.kind == "Pod":
        obj = new_pod()
    once = copy.deepcopy(obj)
    apply_defaults(res, once)
    twice = copy.deepcopy(once)
    apply_defaults(res, twice)
    assert once == twice
    assert once["metadata"]["name"] == obj["metadata"]["name"]
