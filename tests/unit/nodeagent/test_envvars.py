"""A container's environment (envFrom, valueFrom) and the downward API's values (pure)."""
from __future__ import annotations

import base64
from typing import Any

import pytest

from skiff.nodeagent.kubelet.downward import DownwardError, field_value, format_map, resource_value
from skiff.nodeagent.kubelet.envvars import EnvError, Objects, Skipped, environment, references

POD: dict[str, Any] = {
    "metadata": {"name": "web", "namespace": "prod", "uid": "u-1", "labels": {"app": "web", "tier": "a\"b"},
                 "annotations": {"note": "x"}},
    "spec": {"nodeName": "n1", "serviceAccountName": "sa", "containers": [
        {"name": "app", "resources": {"limits": {"memory": "64Mi", "cpu": "1500m"}, "requests": {"cpu": "250m"}}},
        {"name": "bare"}]}}
CM = {"data": {"A": "1", "B": "2", "bad-key!": "x", "1starts": "y"}}
SEC = {"data": {"TOKEN": base64.b64encode(b"s3cret").decode()}}
OBJS = Objects(configmaps={"cm": CM, "gone": None}, secrets={"sec": SEC}, allocatable={"cpu": "2", "memory": "1Gi"})


def env_of(c: dict[str, Any], objs: Objects = OBJS) -> tuple[dict[str, str], list[Skipped]]:
    env, skipped = environment(POD, {"name": "app", **c}, objs, pod_ip="10.0.0.5", host_ip="192.0.2.1")
    return dict(env), skipped


def test_env_from_with_prefix_and_invalid_names_skipped() -> None:
    env, skipped = env_of({"envFrom": [{"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "sec"},
                                                                         "prefix": "S_"}]})
    assert env == {"A": "1", "B": "2", "S_TOKEN": "s3cret"}
    assert skipped == [Skipped("configMap", "cm", ("1starts", "bad-key!"))]
    assert skipped[0].message("prod") == (
        "Keys [1starts, bad-key!] from the EnvFrom configMap prod/cm were skipped since they are considered "
        "invalid environment variable names.")


def test_a_prefix_can_make_a_key_valid() -> None:
    env, skipped = env_of({"envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "P_"}]})
    assert env["P_1starts"] == "y" and skipped == [Skipped("configMap", "cm", ("P_bad-key!",))]


def test_env_overrides_env_from_and_expands() -> None:
    env, _ = env_of({"envFrom": [{"configMapRef": {"name": "cm"}}],
                     "env": [{"name": "A", "value": "over"}, {"name": "C", "value": "$(A)-$(B)-$(NOPE)"}]})
    assert (env["A"], env["C"]) == ("over", "over-2-$(NOPE)")


@pytest.mark.parametrize("value_from,expected", [
    ({"configMapKeyRef": {"name": "cm", "key": "B"}}, "2"),
    ({"secretKeyRef": {"name": "sec", "key": "TOKEN"}}, "s3cret"),
    ({"fieldRef": {"fieldPath": "metadata.labels['app']"}}, "web"),
    ({"fieldRef": {"fieldPath": "status.hostIP"}}, "192.0.2.1"),
    ({"fieldRef": {"fieldPath": "spec.serviceAccountName"}}, "sa"),
    ({"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}, "64"),
    ({"resourceFieldRef": {"resource": "limits.cpu"}}, "2"),  # 1.5 cores rounded up
    ({"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}, "250"),
    ({"resourceFieldRef": {"resource": "limits.cpu", "containerName": "bare"}}, "2"),  # node allocatable
    ({"resourceFieldRef": {"resource": "limits.memory", "containerName": "bare"}}, str(1 << 30)),
], ids=["cm-key", "secret-key", "label", "host-ip", "sa", "mem-Mi", "cpu-ceil", "cpu-milli", "alloc-cpu",
        "alloc-mem"])
def test_value_from(value_from: dict[str, Any], expected: str) -> None:
    assert env_of({"env": [{"name": "X", "valueFrom": value_from}]})[0] == {"X": expected}


@pytest.mark.parametrize("c", [
    {"envFrom": [{"configMapRef": {"name": "gone", "optional": True}}]},
    {"envFrom": [{"secretRef": {"name": "nosuch", "optional": True}}]},
    {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": True}}}]},
    {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "zz", "optional": True}}}]},
], ids=["envfrom-cm", "envfrom-secret", "keyref-object", "keyref-key"])
def test_optional_sources_are_left_out(c: dict[str, Any]) -> None:
    assert env_of(c) == ({}, [])


@pytest.mark.parametrize("c,message", [
    ({"envFrom": [{"configMapRef": {"name": "gone"}}]}, 'configmap "gone" not found'),
    ({"envFrom": [{"secretRef": {"name": "nosuch"}}]}, 'secret "nosuch" not found'),
    ({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "zz"}}}]},
     "couldn't find key zz in ConfigMap prod/cm"),
    ({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "zz"}}}]},
     "couldn't find key zz in Secret prod/sec"),
    ({"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.nope"}}}]},
     r"containers\[app\].env\[0\].valueFrom: fieldPath 'spec.nope' is not supported"),
    ({"env": [{"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}}]},
     "resource 'limits.gpu' is not supported"),
    ({"env": [{"name": "X", "valueFrom": {}}]}, "one of fieldRef"),
], ids=["cm", "secret", "cm-key", "secret-key", "field", "resource", "empty"])
def test_errors_name_what_is_missing(c: dict[str, Any], message: str) -> None:
    with pytest.raises(EnvError, match=message):
        env_of(c)


def test_references() -> None:
    c = {"envFrom": [{"configMapRef": {"name": "a"}}, {"secretRef": {"name": "b"}}],
         "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
                 {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "d", "key": "k"}}}, {"name": "Z", "value": "1"}]}
    assert references(c) == ({"a", "c"}, {"b", "d"})


def test_downward_whole_maps_only_in_volumes() -> None:
    assert field_value(POD, "metadata.labels", pod_ip="", host_ip="", whole_maps=True) == 'app="web"\ntier="a\\"b"'
    with pytest.raises(DownwardError):
        field_value(POD, "metadata.labels", pod_ip="", host_ip="")
    assert format_map({}) == ""


def test_resource_value_errors() -> None:
    with pytest.raises(DownwardError, match="containerName 'x'"):
        resource_value(POD, "x", "limits.cpu", None, {})
    with pytest.raises(DownwardError, match="divisor"):
        resource_value(POD, "app", "limits.cpu", "0", {})


# -- service variables (the kubelet's getServiceEnvVarMap + envvars.FromServices) -----------------

def svc(name: str, ns: str, ip: str, *ports: tuple[str, int, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {
        "clusterIP": ip, "ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports]}}


KUBERNETES = svc("kubernetes", "default", "10.96.0.1", ("https", 443, "TCP"))
SERVICES = (KUBERNETES, svc("my-db", "prod", "10.96.5.5", ("", 5432, "TCP")),
            svc("dns", "prod", "10.96.0.10", ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")),
            svc("headless", "prod", "None", ("", 80, "TCP")), svc("elsewhere", "other", "10.96.9.9", ("", 1, "TCP")))


def test_service_links_as_docker_links() -> None:
    env, _ = env_of({}, Objects(services=SERVICES))
    assert {k: v for k, v in env.items() if k.startswith(("KUBERNETES_", "MY_DB_"))} == {
        "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": "tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1",
        "MY_DB_SERVICE_HOST": "10.96.5.5", "MY_DB_SERVICE_PORT": "5432", "MY_DB_PORT": "tcp://10.96.5.5:5432",
        "MY_DB_PORT_5432_TCP": "tcp://10.96.5.5:5432", "MY_DB_PORT_5432_TCP_PROTO": "tcp",
        "MY_DB_PORT_5432_TCP_PORT": "5432", "MY_DB_PORT_5432_TCP_ADDR": "10.96.5.5"}
    assert env["DNS_PORT"] == "udp://10.96.0.10:53" and env["DNS_SERVICE_PORT_DNS_TCP"] == "53"
    assert env["DNS_PORT_53_UDP_PROTO"] == "udp" and env["DNS_PORT_53_TCP_PROTO"] == "tcp"
    assert not any(k.startswith(("HEADLESS_", "ELSEWHERE_")) for k in env)


def test_enable_service_links_false_keeps_only_the_api() -> None:
    pod = {**POD, "spec": {**POD["spec"], "enableServiceLinks": False}}
    env, _ = environment(pod, {"name": "app"}, Objects(services=SERVICES), pod_ip="", host_ip="")
    names = {k for k, _ in env}
    assert "KUBERNETES_SERVICE_HOST" in names and "KUBERNETES_SERVICE_PORT" in names
    assert not any(n.startswith(("MY_DB_", "DNS_")) for n in names)


def test_container_env_wins_and_may_refer_to_service_variables() -> None:
    env, _ = env_of({"env": [{"name": "KUBERNETES_SERVICE_HOST", "value": "mine"},
                             {"name": "DB", "value": "$(MY_DB_SERVICE_HOST):$(MY_DB_SERVICE_PORT)"}]},
                    Objects(services=SERVICES))
    assert env["KUBERNETES_SERVICE_HOST"] == "mine" and env["DB"] == "10.96.5.5:5432"
