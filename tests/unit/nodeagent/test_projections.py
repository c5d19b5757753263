"""downwardAPI and projected volume payloads, tmpfs sizes, and what pods read (pure)."""
from __future__ import annotations

from typing import Any

import pytest

from skiff.nodeagent.kubelet.objects import pod_references, readers
from skiff.nodeagent.kubelet.projections import (
    ProjectionError,
    downward_files,
    projected_files,
    tmpfs_size,
)
from skiff.nodeagent.kubelet.volumes import VolumeError

POD: dict[str, Any] = {
    "metadata": {"name": "web", "namespace": "prod", "uid": "u-1", "labels": {"b": "2", "a": "1"},
                 "annotations": {"k": "v"}},
    "spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "32Mi"}}}]}}


def test_downward_files() -> None:
    items = [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
             {"path": "meta/name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o600},
             {"path": "mem", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory",
                                                  "divisor": "1Mi"}}]
    assert downward_files(items, POD, what="v", default_mode=0o644) == {
        "labels": (b'a="1"\nb="2"', 0o644), "meta/name": (b"web", 0o600), "mem": (b"32", 0o644)}


@pytest.mark.parametrize("item,message", [
    ({"path": "x", "resourceFieldRef": {"resource": "limits.cpu"}}, "containerName is required"),
    ({"path": "../x", "fieldRef": {"fieldPath": "metadata.name"}}, "relative"),
    ({"path": "x", "fieldRef": {"fieldPath": "spec.nope"}}, r"items\[0\]: fieldPath"),
], ids=["no-container", "escape", "bad-field"])
def test_downward_errors(item: dict[str, Any], message: str) -> None:
    with pytest.raises(ProjectionError, match=message):
        downward_files([item], POD, what="v", default_mode=0o644)


VOLUME = {"name": "all", "projected": {"defaultMode": 0o640, "sources": [
    {"configMap": {"name": "cm", "items": [{"key": "a", "path": "cfg/a"}]}},
    {"secret": {"name": "sec"}},
    {"secret": {"name": "opt", "optional": True}},
    {"downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
    {"serviceAccountToken": {"path": "token", "audience": "x"}},
]}}


def test_projected_files_merge_sources() -> None:
    objects = {("configMap", "cm"): {"a": b"1", "b": b"2"}, ("secret", "sec"): {"s": b"3"}, ("secret", "opt"): None}
    assert projected_files(VOLUME, POD, objects, {4: b"tok"}) == {
        "cfg/a": (b"1", 0o640), "s": (b"3", 0o640), "name": (b"web", 0o640), "token": (b"tok", 0o640)}


def test_projected_unknown_source_is_named() -> None:
    vol = {"name": "v", "projected": {"sources": [{"clusterTrustBundle": {"name": "b", "path": "ca"}}]}}
    with pytest.raises(ProjectionError, match=r"volume 'v': sources\[0\].clusterTrustBundle is not supported yet"):
        projected_files(vol, POD, {}, {})


def test_projected_missing_source() -> None:
    with pytest.raises(ProjectionError, match='configmap "cm" not found'):
        projected_files(VOLUME, POD, {("configMap", "cm"): None}, {})


@pytest.mark.parametrize("volume,pod_limits,size", [
    ({"emptyDir": {"medium": "Memory"}}, None, None),
    ({"emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}, None, 16 << 20),
    ({"emptyDir": {"medium": "Memory"}}, ["64Mi", "32Mi"], 96 << 20),
    ({"emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}, ["64Mi"], 64 << 20),
    ({"emptyDir": {"medium": "Memory"}}, ["64Mi", None], None),
], ids=["default", "size-limit", "pod-limit", "smaller-wins", "one-unlimited"])
def test_tmpfs_size(volume: dict[str, Any], pod_limits: list[str | None] | None, size: int | None) -> None:
    containers = [{"name": f"c{i}", "resources": {"limits": {"memory": m}} if m else {}}
                  for i, m in enumerate(pod_limits or [None])]
    assert tmpfs_size({"spec": {"containers": containers}}, volume) == size


def test_pod_references_and_readers() -> None:
    pod = {"metadata": {"namespace": "prod"}, "spec": {
        "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "e"}}]}],
        "volumes": [{"name": "v", "configMap": {"name": "cm"}}, {"name": "s", "secret": {"secretName": "sec"}},
                    VOLUME]}}
    assert pod_references(pod) == {("configMap", "e"), ("configMap", "cm"), ("secret", "sec"), ("secret", "opt")}
    other = {"metadata": {"namespace": "dev"}, "spec": pod["spec"]}
    assert readers([pod, other], "configMap", "prod", "cm") == [pod]
    assert readers([pod, other], "secret", "prod", "nosuch") == []


def test_volume_error_events() -> None:
    assert VolumeError('configmap "x" not found', volume="cm").event() == (
        'MountVolume.SetUp failed for volume "cm" : configmap "x" not found')
    assert VolumeError("error processing PVC ns/c: PVC is not bound", volume="data", processing=True).event() == (
        "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], "
        "failed to process volumes=[data]: error processing PVC ns/c: PVC is not bound")
