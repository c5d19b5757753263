"""Kubernetes storage semantics of ``skiff server`` on a real etcd, through the official client."""
from __future__ import annotations

import ipaddress
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.support.server import skiff_server

pytestmark = pytest.mark.integration


def connect(kubeconfig: Path) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return client.ApiClient(cfg)


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory: pytest.TempPathFactory):
    """A server without scheduler and controllers: only the API server's own semantics act here."""
    with skiff_server(tmp_path_factory.mktemp("bare"), args=(
            "--disable", "scheduler,controllers",
            "--default-not-ready-toleration-seconds", "41", "--default-unreachable-toleration-seconds", "42")) as server:
        yield server


@pytest.fixture
def api(bare_server) -> Iterator[client.ApiClient]:
    with connect(bare_server.kubeconfig) as c:
        yield c


@pytest.fixture
def ns(api: client.ApiClient, unique_name: str) -> Iterator[str]:
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=unique_name)))
    try:
        yield unique_name
    finally:
        try:
            core.delete_namespace(unique_name)
        except ApiException:
            pass


def wait_for(predicate, *, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def pod(name: str, node: str | None = None) -> client.V1Pod:
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name),
                        spec=client.V1PodSpec(node_name=node, containers=[client.V1Container(name="c", image="busybox")]))


def test_default_toleration_seconds_come_from_the_server_flags(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    plain = core.create_namespaced_pod(ns, pod("plain"))
    assert [(t.key, t.effect, t.toleration_seconds) for t in plain.spec.tolerations] == [
        ("node.kubernetes.io/not-ready", "NoExecute", 41), ("node.kubernetes.io/unreachable", "NoExecute", 42)]
    own = pod("own")
    own.spec.tolerations = [client.V1Toleration(key="node.kubernetes.io/unreachable", operator="Exists",
                                                effect="NoExecute", toleration_seconds=5)]
    got = core.create_namespaced_pod(ns, own)
    assert [(t.key, t.toleration_seconds) for t in got.spec.tolerations] == [
        ("node.kubernetes.io/unreachable", 5), ("node.kubernetes.io/not-ready", 41)]


def test_restart_keeps_every_object(tmp_path: Path) -> None:
    with skiff_server(tmp_path / "srv", args=("--disable", "scheduler,controllers")) as first:
        with connect(first.kubeconfig) as c:
            core = client.CoreV1Api(c)
            made = core.create_namespaced_config_map("default", client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name="persist"), data={"k": "v"}))
    with skiff_server(tmp_path / "srv", args=("--disable", "scheduler,controllers")) as second:
        with connect(second.kubeconfig) as c:
            got = client.CoreV1Api(c).read_namespaced_config_map("persist", "default")
    assert got.metadata.uid == made.metadata.uid
    assert got.metadata.resource_version == made.metadata.resource_version
    assert got.data == {"k": "v"}


def test_unauthenticated_requests_get_401(bare_server) -> None:
    ctx = ssl.create_default_context(cafile=str(bare_server.data_dir / "pki" / "ca.crt"))
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        req = urllib.request.Request(bare_server.url + "/api/v1/namespaces", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, context=ctx, timeout=10)
        assert err.value.code == 401
        assert json.loads(err.value.read())["reason"] == "Unauthorized"


def test_graceful_pod_deletion(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(ns, pod("bound", node="node-that-does-not-exist"))
    core.delete_namespaced_pod("bound", ns)
    terminating = core.read_namespaced_pod("bound", ns)
    assert terminating.metadata.deletion_timestamp is not None
    assert terminating.metadata.deletion_grace_period_seconds == 30
    core.delete_namespaced_pod("bound", ns, grace_period_seconds=0)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("bound", ns)
    assert err.value.status == 404
    core.create_namespaced_pod(ns, pod("unbound"))
    core.delete_namespaced_pod("unbound", ns)  # never scheduled: gone at once
    with pytest.raises(ApiException):
        core.read_namespaced_pod("unbound", ns)


def test_foreground_deletion_waits_on_its_finalizer(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="fg")))
    raw = core.delete_namespaced_config_map("fg", ns, propagation_policy="Foreground", _preload_content=False)
    body = json.loads(raw.data)
    assert body["metadata"]["finalizers"] == ["foregroundDeletion"] and body["metadata"]["deletionTimestamp"]

    def finalized() -> bool:
        try:
            cm = core.read_namespaced_config_map("fg", ns)
        except ApiException as exc:
            return exc.status == 404
        # Without a garbage collector running, finish the finalizer's work by hand.
        core.patch_namespaced_config_map("fg", ns, {"metadata": {"finalizers": None}})
        return False

    wait_for(finalized, what="the object to go once its last finalizer is removed")


def test_preconditions_and_dry_run(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    cm = core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="pre")))
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_config_map("pre", ns, body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(uid="not-the-uid")))
    assert err.value.status == 409 and "Precondition failed" in err.value.body
    core.delete_namespaced_config_map("pre", ns, dry_run="All")
    assert core.read_namespaced_config_map("pre", ns).metadata.uid == cm.metadata.uid
    # kubectl delete --dry-run=server sends dryRun inside the DeleteOptions body, not in the query
    core.delete_namespaced_config_map("pre", ns, body=client.V1DeleteOptions(dry_run=["All"]))
    core.delete_collection_namespaced_config_map(ns, body=client.V1DeleteOptions(dry_run=["All"]))
    assert core.read_namespaced_config_map("pre", ns).metadata.uid == cm.metadata.uid
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_config_map("pre", ns, body=client.V1DeleteOptions(dry_run=["Some"]))
    assert err.value.status == 400 and json.loads(err.value.body)["message"].startswith('Invalid dryRun value "Some"')
    core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dry")),
                                      dry_run="All")
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("dry", ns)


def test_namespace_deletion_drains_its_contents(skiff_server_session, unique_name: str) -> None:
    """The API server marks the namespace Terminating; the namespace controller empties and finalizes it."""
    core = client.CoreV1Api(connect(skiff_server_session.kubeconfig))
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=unique_name)))
    core.create_namespaced_config_map(unique_name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x")))
    core.delete_namespace(unique_name)
    assert core.read_namespace(unique_name).status.phase == "Terminating"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(unique_name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="y")))
    assert err.value.status == 403 and "being terminated" in err.value.body

    def gone() -> bool:
        try:
            core.read_namespace(unique_name)
            return False
        except ApiException as exc:
            return exc.status == 404

    wait_for(gone, what="the namespace to be finalized")
    assert not core.list_namespaced_config_map(unique_name).items


def test_missing_namespace_is_404(api: client.ApiClient, unique_name: str) -> None:
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(api).create_namespaced_config_map(
            unique_name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x")))
    assert err.value.status == 404
    assert json.loads(err.value.body)["message"] == f'namespaces "{unique_name}" not found'


def test_binding_and_status(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(ns, pod("b"))
    core.create_namespaced_binding(ns, client.V1Binding(metadata=client.V1ObjectMeta(name="b"),
                                                        target=client.V1ObjectReference(kind="Node", name="n1")),
                                   _preload_content=False)
    bound = core.read_namespaced_pod("b", ns)
    assert bound.spec.node_name == "n1"
    assert any(c.type == "PodScheduled" and c.status == "True" for c in bound.status.conditions)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_binding(ns, client.V1Binding(metadata=client.V1ObjectMeta(name="b"),
                                                            target=client.V1ObjectReference(kind="Node", name="n2")),
                                       _preload_content=False)
    assert err.value.status == 409 and "already assigned" in err.value.body
    core.patch_namespaced_pod_status("b", ns, {"status": {"phase": "Running", "podIP": "10.244.1.5"}})
    core.patch_namespaced_pod("b", ns, {"status": {"phase": "Failed"}})  # ignored on the main resource
    got = core.read_namespaced_pod("b", ns)
    assert got.status.phase == "Running" and got.status.pod_ip == "10.244.1.5"


def test_scale_subresource(api: client.ApiClient, ns: str) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_replica_set(ns, client.V1ReplicaSet(
        metadata=client.V1ObjectMeta(name="rs"),
        spec=client.V1ReplicaSetSpec(replicas=1, selector=client.V1LabelSelector(match_labels={"a": "b"}),
                                     template=client.V1PodTemplateSpec(
                                         metadata=client.V1ObjectMeta(labels={"a": "b"}),
                                         spec=client.V1PodSpec(containers=[client.V1Container(name="c",
                                                                                               image="busybox")])))))
    scale = apps.read_namespaced_replica_set_scale("rs", ns)
    assert scale.spec.replicas == 1 and scale.status.selector == "a=b"
    apps.patch_namespaced_replica_set_scale("rs", ns, {"spec": {"replicas": 4}})
    assert apps.read_namespaced_replica_set("rs", ns).spec.replicas == 4


def test_service_ips_and_node_ports_are_unique(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)

    def svc(name: str, **spec) -> client.V1Service:
        return client.V1Service(metadata=client.V1ObjectMeta(name=name), spec=client.V1ServiceSpec(
            selector={"app": name}, ports=[client.V1ServicePort(port=80)], **spec))

    a = core.create_namespaced_service(ns, svc("a"))
    b = core.create_namespaced_service(ns, svc("b", type="NodePort"))
    ips = {a.spec.cluster_ip, b.spec.cluster_ip}
    assert len(ips) == 2 and all(ipaddress.ip_address(i) in ipaddress.ip_network("10.96.0.0/12") for i in ips)
    assert 30000 <= b.spec.ports[0].node_port <= 32767
    assert a.spec.ports[0].target_port == 80  # defaulted to port
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service(ns, svc("c", cluster_ip=a.spec.cluster_ip))
    assert err.value.status == 422 and "already allocated" in err.value.body
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service(ns, svc("d", type="NodePort", ports=None) if False else client.V1Service(
            metadata=client.V1ObjectMeta(name="d"), spec=client.V1ServiceSpec(type="NodePort", ports=[
                client.V1ServicePort(port=80, node_port=b.spec.ports[0].node_port)])))
    assert err.value.status == 422 and "nodePort" in err.value.body
    core.delete_namespaced_service("a", ns)
    again = core.create_namespaced_service(ns, svc("c", cluster_ip=a.spec.cluster_ip))  # released on delete
    assert again.spec.cluster_ip == a.spec.cluster_ip


def test_too_large_object_is_refused(api: client.ApiClient, ns: str) -> None:
    apps = client.AppsV1Api(api)
    env = [client.V1EnvVar(name=f"V{i}", value="y" * 100_000) for i in range(17)]  # ~1.7 MB, each value legal
    big = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="big"),
        spec=client.V1DeploymentSpec(selector=client.V1LabelSelector(match_labels={"a": "b"}),
                                     template=client.V1PodTemplateSpec(
                                         metadata=client.V1ObjectMeta(labels={"a": "b"}),
                                         spec=client.V1PodSpec(containers=[client.V1Container(
                                             name="c", image="busybox", env=env)]))))
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment(ns, big)
    assert err.value.status == 413 and "too large" in err.value.body
    with pytest.raises(ApiException):
        apps.read_namespaced_deployment("big", ns)


def test_watch_resumes_from_a_resource_version(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    versions = []
    for name in ("r1", "r2", "r3"):
        versions.append(core.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name))).metadata.resource_version)
    resp = core.list_namespaced_config_map(ns, watch=True, resource_version=versions[0], timeout_seconds=1,
                                           _preload_content=False)
    events = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "r2"), ("ADDED", "r3")]


def test_eviction_and_node_proxy_errors(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(ns, pod("ev"))
    with pytest.raises(ApiException) as err:  # not scheduled: no agent to ask
        core.read_namespaced_pod_log("ev", ns)
    assert err.value.status == 400 and "does not have a host assigned" in err.value.body
    core.create_namespaced_pod_eviction("ev", ns, client.V1Eviction(metadata=client.V1ObjectMeta(name="ev")))
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("ev", ns)
    assert err.value.status == 404
