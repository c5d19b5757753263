"""imagePullSecrets and image pull policies end to end: a docker-registry with htpasswd auth
(over TLS) in the node's namespace, a kubernetes.io/dockerconfigjson Secret made by the real
``kubectl create secret docker-registry``, credentials handed to CRI PullImage as AuthConfig.
Fixtures of test_agent_pods.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agent.test_agent_pods import Cluster, cluster, pod_manifest, ready_node  # noqa: F401
from tests.integration.agent.test_agent_volumes import delete_pod, kubelet_events, phase
from tests.support.engine import RunningRegistry, docker_registry, push_test_images

pytestmark = pytest.mark.integration
USER, PASSWORD = "alice", "s3cret-pass"


@pytest.fixture(scope="module")
def private(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with docker_registry(tmp_path_factory.mktemp("private-reg"), htpasswd={USER: PASSWORD}, netns=cluster.netns,
                         bind="127.0.0.2") as reg:
        push_test_images(reg, only="busybox", creds=f"{USER}:{PASSWORD}")
        yield reg


def waiting(cluster: Cluster, name: str) -> dict[str, Any]:
    p = cluster.get("pod", name)
    cs = ((p or {}).get("status") or {}).get("containerStatuses") or [{}]
    return dict((cs[0].get("state") or {}).get("waiting") or {})


def test_private_image_needs_its_pull_secret(cluster: Cluster, private: RunningRegistry, tmp_path: Path) -> None:
    image = f"{private.host}/busybox:latest"
    anon = f"anon-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(anon, image, containers=[
        {"name": "main", "image": image, "command": ["sleep", "3600"]}]))
    w = cluster.wait(lambda: (w := waiting(cluster, anon)).get("reason") in ("ErrImagePull", "ImagePullBackOff") and w,
                     "the anonymous pull refused")
    assert "401" in w["message"] or "unauthorized" in w["message"].lower(), w
    cluster.wait(lambda: waiting(cluster, anon).get("reason") == "ImagePullBackOff", "ImagePullBackOff")
    assert waiting(cluster, anon)["message"].startswith(f'Back-off pulling image "{image}": ErrImagePull: ')
    assert phase(cluster, anon) == "Pending"
    delete_pod(cluster, anon)

    secret = f"regcred-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "secret", "docker-registry", secret, f"--docker-server={private.host}",
                    f"--docker-username={USER}", f"--docker-password={PASSWORD}")
    made = json.loads(cluster.kubectl("get", "secret", secret, "-o", "json").stdout)
    assert made["type"] == "kubernetes.io/dockerconfigjson"
    name = f"private-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, image, imagePullSecrets=[
        {"name": "does-not-exist"}, {"name": secret}], containers=[
        {"name": "main", "image": image, "imagePullPolicy": "Always", "command": ["sh", "-c", "echo pulled-ok"]}],
        restartPolicy="Never"))
    cluster.wait(lambda: phase(cluster, name) == "Succeeded", "the private image pulled with the secret")
    assert cluster.kubectl("logs", name).stdout == "pulled-ok\n"
    events = kubelet_events(cluster, name)
    assert ("FailedToRetrieveImagePullSecret", "Unable to retrieve some image pull secrets (default/does-not-exist); "
            "attempting to pull the image may not succeed.") in events
    assert ("Pulling", f'Pulling image "{image}"') in events
    assert any(r == "Pulled" and m.startswith(f'Successfully pulled image "{image}" in ') for r, m in events)
    delete_pod(cluster, name)

    # with the image on the node now, IfNotPresent pulls nothing (and needs no secret)
    cached = f"cached-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(cached, image, restartPolicy="Never", containers=[
        {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent", "command": ["true"]}]))
    cluster.wait(lambda: phase(cluster, cached) == "Succeeded", "the cached image used")
    assert ("Pulled", f'Container image "{image}" already present on machine') in kubelet_events(cluster, cached)
    delete_pod(cluster, cached)
    cluster.kubectl("delete", "secret", secret)


def test_wrong_credentials_and_pull_policy_never(cluster: Cluster, private: RunningRegistry) -> None:
    secret = f"badcred-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "secret", "docker-registry", secret, f"--docker-server={private.host}",
                    f"--docker-username={USER}", "--docker-password=wrong")
    image = f"{private.host}/busybox:nosuchtag-{uuid.uuid4().hex[:4]}"
    name = f"badcred-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, image, imagePullSecrets=[{"name": secret}],
                                                          containers=[{"name": "main", "image": image}]))
    w = cluster.wait(lambda: (w := waiting(cluster, name)).get("reason") in ("ErrImagePull", "ImagePullBackOff") and w,
                     "the pull with wrong credentials refused")
    assert "401" in w["message"] or "unauthorized" in w["message"].lower(), w
    delete_pod(cluster, name)
    cluster.kubectl("delete", "secret", secret)

    never = f"never-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(never, image, containers=[
        {"name": "main", "image": image, "imagePullPolicy": "Never"}]))
    w = cluster.wait(lambda: (w := waiting(cluster, never)).get("reason") == "ErrImageNeverPull" and w,
                     "ErrImageNeverPull")
    assert w["message"] == f'Container image "{image}" is not present with pull policy of Never'
    delete_pod(cluster, never)
