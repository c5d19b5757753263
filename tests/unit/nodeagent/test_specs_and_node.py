"""CRI configs built from pod specs, and the Node object/status (pure)."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from skiff.nodeagent.kubelet import node as nodemod
from skiff.nodeagent.kubelet import specs
from skiff.nodeagent.runtime.cri import api_pb2 as pb


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "prod", "uid": "u-1", "labels": {"app": "web"},
                         "annotations": {"a": "b"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}], **spec}}


def test_sandbox_config() -> None:
    conf = specs.sandbox_config(pod(hostNetwork=True), attempt=2, logs_root="/var/log/pods")
    assert (conf.metadata.name, conf.metadata.namespace, conf.metadata.uid, conf.metadata.attempt) == (
        "web", "prod", "u-1", 2)
    assert conf.log_directory == "/var/log/pods/prod_web_u-1" and conf.hostname == "web"
    assert dict(conf.labels) == {"app": "web", "io.kubernetes.pod.name": "web",
                                 "io.kubernetes.pod.namespace": "prod", "io.kubernetes.pod.uid": "u-1"}
    assert conf.linux.security_context.namespace_options.network == pb.NODE


def test_container_config() -> None:
    c = {"name": "app", "image": "reg/busybox:1", "command": ["sh", "-c"], "args": ["echo $(GREETING) $$(x)"],
         "workingDir": "/w", "env": [
             {"name": "GREETING", "value": "hi"}, {"name": "FULL", "value": "$(GREETING)-there"},
             {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
             {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
             {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}],
         "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}, "requests": {"cpu": "250m"}},
         "securityContext": {"runAsUser": 1000, "capabilities": {"drop": ["ALL"]}}}
    conf = specs.container_config(pod(), c, attempt=3, image_ref="sha256:abc", pod_ip="10.1.0.2", host_ip="h")
    assert (conf.metadata.name, conf.metadata.attempt, conf.image.image, conf.image.user_specified_image) == (
        "app", 3, "sha256:abc", "reg/busybox:1")
    assert list(conf.args) == ["echo hi $(x)"] and conf.working_dir == "/w" and conf.log_path == "app/3.log"
    assert [(e.key, e.value) for e in conf.envs] == [("GREETING", "hi"), ("FULL", "hi-there"), ("NAME", "web"),
                                                     ("IP", "10.1.0.2"), ("APP", "web")]
    res = conf.linux.resources
    assert (res.memory_limit_in_bytes, res.cpu_quota, res.cpu_period, res.cpu_shares) == (
        64 << 20, 50000, 100000, 256)
    assert conf.linux.security_context.run_as_user.value == 1000
    assert list(conf.linux.security_context.capabilities.drop_capabilities) == ["ALL"]
    assert conf.labels["io.kubernetes.container.name"] == "app"


def test_unsupported_env_source_names_the_field() -> None:
    c = {"name": "app", "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]}
    with pytest.raises(specs.SpecError, match=r"containers\[app\]\.env\[0\]\.valueFrom"):
        specs.container_config(pod(), c, attempt=0, image_ref="i", pod_ip="", host_ip="")


@pytest.mark.parametrize("image,policy", [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.36", "IfNotPresent"),
    ("127.0.0.1:5000/busybox", "Always"), ("127.0.0.1:5000/busybox:v1", "IfNotPresent"),
    ("busybox@sha256:" + "a" * 64, "IfNotPresent"),
], ids=["no-tag", "latest", "tag", "registry-port-no-tag", "registry-port-tag", "digest"])
def test_default_pull_policy(image: str, policy: str) -> None:
    assert specs.default_pull_policy(image) == policy


@pytest.mark.parametrize("text,out", [
    ("$(A)", "1"), ("$$(A)", "$(A)"), ("$(MISSING)", "$(MISSING)"), ("x$(A", "x$(A"), ("$(A)$(A)", "11"),
], ids=["ref", "escaped", "unknown-kept", "unclosed", "twice"])
def test_expand(text: str, out: str) -> None:
    assert specs.expand(text, {"A": "1"}) == out


FACTS = nodemod.Facts(cpus=4, memory_kib=8_000_000, disk_bytes=100 << 30, kernel="6.1", os_image="Debian",
                      machine_id="m", boot_id="b")


def test_node_status() -> None:
    now = dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)
    st = nodemod.node_status("n1", FACTS, ip="10.0.0.7", now=now, runtime="skiff", runtime_version="0.1",
                             network_ready=True)
    assert st["capacity"] == {"cpu": "4", "memory": "8000000Ki", "pods": "110",
                              "ephemeral-storage": f"{(100 << 30) // 1024}Ki"}
    assert st["addresses"] == [{"type": "InternalIP", "address": "10.0.0.7"}, {"type": "Hostname", "address": "n1"}]
    assert st["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert st["nodeInfo"]["containerRuntimeVersion"] == "skiff://0.1"
    assert {c["type"]: c["status"] for c in st["conditions"]}["Ready"] == "True"
    not_ready = nodemod.node_status("n1", FACTS, ip="", now=now, runtime="skiff", runtime_version="0.1",
                                    network_ready=False)
    assert {c["type"]: c["status"] for c in not_ready["conditions"]}["Ready"] == "False"
    assert not_ready["addresses"] == [{"type": "Hostname", "address": "n1"}]


def test_machine_parsers() -> None:
    assert nodemod._mem_kib("MemFree: 1 kB\nMemTotal:       16384 kB\n") == 16384
    assert nodemod._os_image('NAME="x"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n') == \
        "Debian GNU/Linux 12 (bookworm)"
    assert nodemod.node_object("n1", FACTS)["metadata"]["labels"]["kubernetes.io/hostname"] == "n1"


def test_node_images_biggest_first_capped_and_named() -> None:
    images = [(["busybox:1.36", "busybox@sha256:aa"], 2_000_000), ([], 9_000_000), (["web:v1"], 5_000_000)]
    assert nodemod.node_images(images) == [{"names": ["web:v1"], "sizeBytes": 5_000_000},
                                           {"names": ["busybox:1.36", "busybox@sha256:aa"], "sizeBytes": 2_000_000}]
    assert len(nodemod.node_images([([f"i{n}"], n) for n in range(80)])) == nodemod.MAX_IMAGES
