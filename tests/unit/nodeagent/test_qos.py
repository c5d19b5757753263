"""QoS classes, the pod cgroup's place and its pod-level limits (pure)."""
from __future__ import annotations

from typing import Any

import pytest

from skiff.nodeagent.kubelet.qos import QOSClass, pod_cgroup_parent, pod_resources, qos_class
from skiff.nodeagent.runtime.cri import api_pb2 as pb
from skiff.nodeagent.runtime.cri.runtime import pod_cgroup_path, pod_cgroup_resources, qos_level_shares


def pod(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"uid": "u1"}, "spec": {"containers": [{"name": f"c{i}", "resources": r}
                                                               for i, r in enumerate(containers)],
                                              "initContainers": [{"name": f"i{i}", "resources": r}
                                                                 for i, r in enumerate(init or [])]}}


FULL = {"limits": {"cpu": "500m", "memory": "64Mi"}}


@pytest.mark.parametrize("p,qos", [
    (pod({}), QOSClass.BEST_EFFORT),
    (pod({"requests": {"cpu": "0"}}), QOSClass.BEST_EFFORT),
    (pod(FULL), QOSClass.GUARANTEED),
    (pod({"limits": {"cpu": "0.5", "memory": "64Mi"}, "requests": {"cpu": "500m", "memory": "67108864"}}),
     QOSClass.GUARANTEED),
    (pod(FULL, {}), QOSClass.BURSTABLE),
    (pod({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}), QOSClass.BURSTABLE),
    (pod({"limits": {"memory": "1Gi"}}), QOSClass.BURSTABLE),
    (pod(FULL, init=[{"requests": {"cpu": "1"}}]), QOSClass.BURSTABLE),
], ids=["none", "zero", "limits-only", "equal-quantities", "one-without", "request-below", "memory-only",
        "init-counts"])
def test_qos_class(p: dict[str, Any], qos: QOSClass) -> None:
    assert qos_class(p) is qos


def test_cgroup_parent_per_class() -> None:
    assert pod_cgroup_parent(pod(FULL)) == "kubepods/podu1"
    assert pod_cgroup_parent(pod({"requests": {"cpu": "1"}}), "/k8s/") == "/k8s/burstable/podu1"
    assert pod_cgroup_parent(pod({}), "kp") == "kp/besteffort/podu1"
    assert pod_cgroup_parent(pod({}), "/") == "/besteffort/podu1"


def test_pod_resources() -> None:
    r = pod_resources(pod(FULL, {"limits": {"cpu": "250m", "memory": "16Mi"}}))
    assert (r.cpu_shares, r.cpu_quota, r.cpu_period, r.memory_limit_in_bytes) == (768, 75000, 100000, 80 << 20)
    # a container without limits leaves the pod without them; shares still sum the requests
    r = pod_resources(pod(FULL, {"requests": {"cpu": "100m"}}))
    assert (r.cpu_shares, r.cpu_quota, r.memory_limit_in_bytes) == (614, 0, 0)
    # an init container that needs more than the regular ones together sets the floor
    r = pod_resources(pod(FULL, init=[{"limits": {"cpu": "2", "memory": "1Gi"}}]))
    assert (r.cpu_shares, r.cpu_quota, r.memory_limit_in_bytes) == (2048, 200000, 1 << 30)
    assert pod_resources(pod({})).cpu_shares == 2


def test_engine_places_pod_cgroups_under_its_own() -> None:
    assert pod_cgroup_path("skiff", "kubepods/burstable/podu1") == "skiff/kubepods/burstable/podu1"
    assert pod_cgroup_path("/custom/", "kubepods/podu1") == "/custom/kubepods/podu1"
    assert pod_cgroup_path("skiff", "/abs/podu1/") == "/abs/podu1"
    assert pod_cgroup_path("skiff", "") == ""
    res = pod_cgroup_resources(pb.LinuxContainerResources(memory_limit_in_bytes=5, cpu_shares=2))
    assert res == {"devices": [{"allow": True, "access": "rwm"}], "memory": {"limit": 5}, "cpu": {"shares": 2}}


def test_qos_level_shares_follow_their_pods() -> None:
    pods = [("skiff/kubepods/burstable/poda", 102), ("skiff/kubepods/burstable/podb", 512),
            ("skiff/kubepods/besteffort/podc", 2), ("skiff/kubepods/podd", 1024), ("", 0)]
    assert qos_level_shares(pods) == {"skiff/kubepods/burstable": 614, "skiff/kubepods/besteffort": 2}
    assert qos_level_shares([("k/burstable/pode", 0)]) == {"k/burstable": 2}
