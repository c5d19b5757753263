"""The official ``kubernetes`` Python client against a real ``skiff server``."""
from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.integration


@pytest.fixture
def api(skiff_server_session) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(skiff_server_session.kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as c:
        yield c


@pytest.fixture
def namespace(api: client.ApiClient, unique_name: str) -> Iterator[str]:
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=unique_name)))
    try:
        yield unique_name
    finally:
        core.delete_namespace(unique_name)


def new_deployment(name: str, replicas: int = 2, labels: dict[str, str] | None = None) -> client.V1Deployment:
    sel = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels={**sel, **(labels or {})}),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=sel),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=sel),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="busybox:1.36")]))))


def test_create_read_replace_patch_delete(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    created = apps.create_namespaced_deployment(namespace, new_deployment("web"))
    assert created.metadata.uid and created.metadata.generation == 1
    assert created.spec.strategy.type == "RollingUpdate"  # defaulted by the server
    got = apps.read_namespaced_deployment("web", namespace)
    assert got.metadata.uid == created.metadata.uid
    for _ in range(10):  # the deployment controller may write status meanwhile: retry on 409 as clients do
        got.spec.replicas = 4
        try:
            replaced = apps.replace_namespaced_deployment("web", namespace, got)
            break
        except ApiException as exc:
            assert exc.status == 409, exc.body
            got = apps.read_namespaced_deployment("web", namespace)
    assert replaced.spec.replicas == 4 and replaced.metadata.generation == 2
    patched = apps.patch_namespaced_deployment("web", namespace, {"metadata": {"labels": {"tier": "web"}}})
    assert patched.metadata.labels["tier"] == "web"
    assert patched.metadata.generation == 2  # metadata changes do not bump generation
    apps.delete_namespaced_deployment("web", namespace)
    with pytest.raises(ApiException) as err:
        apps.read_namespaced_deployment("web", namespace)
    assert err.value.status == 404


def test_stale_update_is_a_conflict(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    cm = core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="cfg"), data={"a": "1"}))
    fresh = core.read_namespaced_config_map("cfg", namespace)
    fresh.data = {"a": "2"}
    core.replace_namespaced_config_map("cfg", namespace, fresh)
    cm.data = {"a": "3"}  # still carries the first resourceVersion
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("cfg", namespace, cm)
    assert err.value.status == 409
    assert "the object has been modified" in err.value.body
    assert core.read_namespaced_config_map("cfg", namespace).data == {"a": "2"}


def test_list_with_label_and_field_selectors(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        core.create_namespaced_config_map(namespace, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=name, labels={"tier": tier})))
    # every namespace also holds kube-root-ca.crt (the root-ca-cert-publisher's), as in Kubernetes
    names = lambda lst: sorted(i.metadata.name for i in lst.items if i.metadata.name != "kube-root-ca.crt")  # noqa: E731
    assert names(core.list_namespaced_config_map(namespace, label_selector="tier=web")) == ["a", "b"]
    assert names(core.list_namespaced_config_map(namespace, label_selector="tier notin (web)")) == ["c"]
    assert names(core.list_namespaced_config_map(namespace, label_selector="tier in (web,db),tier!=web")) == ["c"]
    assert names(core.list_namespaced_config_map(namespace, field_selector="metadata.name=b")) == ["b"]
    page = core.list_namespaced_config_map(namespace, limit=2, label_selector="tier")
    assert len(page.items) == 2 and page.metadata._continue
    rest = core.list_namespaced_config_map(namespace, limit=2, label_selector="tier",
                                           _continue=page.metadata._continue)
    assert names(page) + names(rest) == ["a", "b", "c"]


def test_watch_stream_sees_changes(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    seen: list[tuple[str, str]] = []
    w = watch.Watch()

    def consume() -> None:
        for ev in w.stream(core.list_namespaced_config_map, namespace, resource_version=start,
                           timeout_seconds=20):
            if ev["object"].metadata.name != "kube-root-ca.crt":  # published into every namespace
                seen.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w")))
    core.patch_namespaced_config_map("w", namespace, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("w", namespace)
    t.join(30)
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_too_old_watch_is_gone(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    w = watch.Watch()
    with pytest.raises(ApiException) as err:
        for _ in w.stream(core.list_namespaced_config_map, namespace, resource_version="1", timeout_seconds=5):
            pass
    assert err.value.status == 410
