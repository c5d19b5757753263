"""envFrom/valueFrom and the downwardAPI, projected, memory emptyDir and PersistentVolumeClaim
volumes, end to end: real API server on etcd, real engine, the agent in a network namespace
(the fixtures of test_agent_pods), driven with the real kubectl.
"""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agent.test_agent_pods import Cluster, cluster, pod_manifest, ready_node  # noqa: F401

pytestmark = pytest.mark.integration


def apply(cluster: Cluster, *objs: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)}))


def phase(cluster: Cluster, name: str) -> str:
    p = cluster.get("pod", name)
    return str(((p or {}).get("status") or {}).get("phase") or "")


def kubelet_events(cluster: Cluster, name: str) -> list[tuple[str, str]]:
    events = json.loads(cluster.kubectl("get", "events", "-o", "json").stdout)["items"]
    return [(e["reason"], e.get("message", "")) for e in events if e["involvedObject"].get("name") == name
            and e.get("source", {}).get("component") == "kubelet"]


def delete_pod(cluster: Cluster, name: str) -> None:
    cluster.kubectl("delete", "pod", name, "--wait=false")
    cluster.wait(lambda: cluster.get("pod", name) is None, "pod gone")


def sh(cluster: Cluster, name: str, cmd: str) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("exec", name, "--", "sh", "-c", cmd, check=False)


def test_env_from_and_value_from(cluster: Cluster) -> None:
    name = f"env-{uuid.uuid4().hex[:6]}"
    apply(cluster, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                    "data": {"MODE": "fast", "LEVEL": "3", "9lives": "x"}},
          {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"PASS": "hunter2"}})
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, restartPolicy="Never", containers=[
        {"name": "main", "image": cluster.image, "command": ["sh", "-c", "env | sort"],
         "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}},
         "envFrom": [{"configMapRef": {"name": name}}, {"secretRef": {"name": name}, "prefix": "S_"},
                     {"configMapRef": {"name": "absent", "optional": True}}],
         "env": [{"name": "LEVEL", "value": "override-$(MODE)"},
                 {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": name, "key": "MODE"}}},
                 {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": name, "key": "PASS"}}},
                 {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                       "divisor": "1Mi"}}},
                 {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
                 {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k", "optional": True}}}]}]))
    cluster.wait(lambda: phase(cluster, name) == "Succeeded", "env pod Succeeded")
    env = dict(line.split("=", 1) for line in cluster.kubectl("logs", name).stdout.splitlines() if "=" in line)
    assert (env["MODE"], env["LEVEL"], env["S_PASS"], env["FROM_CM"], env["FROM_SECRET"]) == (
        "fast", "override-fast", "hunter2", "fast", "hunter2")
    assert (env["MEM_MI"], env["CPU_M"]) == ("64", "500")
    assert "OPT" not in env and "9lives" not in env
    cluster.wait(lambda: ("InvalidEnvironmentVariableNames", f"Keys [9lives] from the EnvFrom configMap "
                          f"default/{name} were skipped since they are considered invalid environment variable "
                          "names.") in kubelet_events(cluster, name), "the skipped keys' warning")
    delete_pod(cluster, name)
    cluster.kubectl("delete", "configmap,secret", name)


def test_missing_env_source_waits_then_starts(cluster: Cluster) -> None:
    name = f"envwait-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, containers=[
        {"name": "main", "image": cluster.image, "command": ["sh", "-c", "echo got-$KEY; exec sleep 3600"],
         "env": [{"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": name, "key": "k"}}}]}]))

    def waiting() -> Any:
        p = cluster.get("pod", name)
        cs = ((p or {}).get("status") or {}).get("containerStatuses") or [{}]
        return (cs[0].get("state") or {}).get("waiting")

    w = cluster.wait(lambda: (w := waiting()) and w.get("reason") == "CreateContainerConfigError" and w,
                     "CreateContainerConfigError")
    assert w["message"] == f'configmap "{name}" not found' and phase(cluster, name) == "Pending"
    apply(cluster, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"x": "1"}})
    w = cluster.wait(lambda: (w := waiting()) and "couldn't find key" in w.get("message", "") and w, "missing key")
    assert w["message"] == f"couldn't find key k in ConfigMap default/{name}"
    apply(cluster, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v1"}})
    cluster.wait(lambda: phase(cluster, name) == "Running", "pod Running once its ConfigMap has the key")
    cluster.wait(lambda: cluster.kubectl("logs", name, check=False).stdout == "got-v1\n", "the value in its env")
    delete_pod(cluster, name)
    cluster.kubectl("delete", "configmap", name)


def test_downward_projected_and_memory_volumes_follow_their_sources(cluster: Cluster) -> None:
    name = f"proj-{uuid.uuid4().hex[:6]}"
    apply(cluster, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"color": "blue"}},
          {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"pw": "one"}})
    manifest = json.loads(pod_manifest(name, cluster.image, volumes=[
        {"name": "info", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "main", "resource": "limits.memory",
                                                 "divisor": "1Mi"}}]}},
        {"name": "all", "projected": {"sources": [
            {"configMap": {"name": name, "items": [{"key": "color", "path": "cfg/color"}]}},
            {"secret": {"name": name}},
            {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}},
        {"name": "cm", "configMap": {"name": name}},
        {"name": "ram", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
    ], containers=[
        {"name": "main", "image": cluster.image, "command": ["sleep", "3600"],
         "resources": {"limits": {"memory": "48Mi"}},
         "volumeMounts": [{"name": "info", "mountPath": "/etc/info"}, {"name": "all", "mountPath": "/etc/all"},
                          {"name": "cm", "mountPath": "/etc/cm"}, {"name": "ram", "mountPath": "/ram"}]}]))
    manifest["metadata"].update(labels={"app": "demo", "tier": "web"}, annotations={"note": "first"})
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    cluster.wait(lambda: phase(cluster, name) == "Running", "pod with projected volumes Running")

    assert sh(cluster, name, "cat /etc/info/labels").stdout == 'app="demo"\ntier="web"'
    assert sh(cluster, name, "cat /etc/info/name; echo; cat /etc/info/mem").stdout == f"{name}\n48"
    assert 'note="first"' in sh(cluster, name, "cat /etc/info/annotations").stdout
    assert sh(cluster, name, "cat /etc/all/cfg/color /etc/all/pw /etc/all/ns").stdout == "blueonedefault"
    # the kubelet's AtomicWriter layout: ..data -> a timestamped directory, names link through it
    assert sh(cluster, name, "readlink /etc/cm/color").stdout.strip() == "..data/color"
    assert sh(cluster, name, "readlink /etc/cm/..data").stdout.startswith("..20")
    mounts = sh(cluster, name, "grep ' /ram ' /proc/mounts").stdout
    assert mounts.startswith("tmpfs /ram tmpfs") and "size=8192k" in mounts, mounts
    assert sh(cluster, name, "echo x > /ram/f && cat /ram/f").stdout == "x\n"

    # updates reach the running container's files
    apply(cluster, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"color": "red"}},
          {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"pw": "two"}})
    cluster.wait(lambda: sh(cluster, name, "cat /etc/cm/color /etc/all/cfg/color /etc/all/pw").stdout == "redredtwo",
                 "ConfigMap and Secret updates in the volumes")
    cluster.kubectl("label", "pod", name, "tier=db", "--overwrite")
    cluster.kubectl("annotate", "pod", name, "note=second", "--overwrite")
    cluster.wait(lambda: sh(cluster, name, "cat /etc/info/labels").stdout == 'app="demo"\ntier="db"',
                 "label update in the downwardAPI volume")
    cluster.wait(lambda: 'note="second"' in sh(cluster, name, "cat /etc/info/annotations").stdout,
                 "annotation update in the downwardAPI volume")

    pod = cluster.get("pod", name)
    ram = cluster.agent_log.parent / "agent" / "volumes" / pod["metadata"]["uid"] / "emptyDir" / "ram"
    assert ram.is_mount()
    delete_pod(cluster, name)
    cluster.wait(lambda: not ram.parent.parent.exists(), "the pod's volumes (and its tmpfs) removed")
    cluster.kubectl("delete", "configmap,secret", name)


def test_persistent_volume_claim_bound_to_a_host_path_volume(cluster: Cluster, tmp_path: Path) -> None:
    name = f"pvc-{uuid.uuid4().hex[:6]}"
    data = tmp_path / "pv"
    data.mkdir()
    (data / "seed").write_text("from the PV\n")
    apply(cluster, {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
                    "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
                             "resources": {"requests": {"storage": "1Gi"}}}})
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, volumes=[
        {"name": "data", "persistentVolumeClaim": {"claimName": name}},
        {"name": "ro", "persistentVolumeClaim": {"claimName": name, "readOnly": True}}], containers=[
        {"name": "main", "image": cluster.image, "command": ["sh", "-c", "cat /data/seed; echo written > /data/out; "
                                                              "exec sleep 3600"],
         "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "ro", "mountPath": "/ro"}]}]))
    want = (f"Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], failed to process "
            f"volumes=[data]: error processing PVC default/{name}: PVC is not bound")
    cluster.wait(lambda: ("FailedMount", want) in kubelet_events(cluster, name), "FailedMount for the unbound claim")
    pod = cluster.get("pod", name)
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ContainerCreating"

    # bind it as the PV controller would: the PV claims it, the claim names the PV and is Bound
    claim = cluster.get("pod", name) and json.loads(cluster.kubectl("get", "pvc", name, "-o", "json").stdout)
    apply(cluster, {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
                    "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                             "storageClassName": "manual", "hostPath": {"path": str(data), "type": "Directory"},
                             "claimRef": {"namespace": "default", "name": name,
                                          "uid": claim["metadata"]["uid"]}}})
    cluster.kubectl("patch", "pvc", name, "--type=merge", "-p", json.dumps({"spec": {"volumeName": name}}))
    cluster.kubectl("patch", "pvc", name, "--subresource=status", "--type=merge",
                    "-p", json.dumps({"status": {"phase": "Bound"}}))
    cluster.wait(lambda: phase(cluster, name) == "Running", "pod Running once its claim is Bound")
    cluster.wait(lambda: (data / "out").exists() and (data / "out").read_text() == "written\n", "written to the PV")
    assert cluster.kubectl("logs", name).stdout == "from the PV\n"
    denied = sh(cluster, name, "touch /ro/x")
    assert denied.returncode != 0 and "Read-only" in denied.stderr
    delete_pod(cluster, name)
    assert (data / "out").exists()  # a claim's data outlives the pod
    cluster.kubectl("delete", "pvc", name)
    cluster.kubectl("delete", "pv", name)


def test_missing_claim_keeps_the_pod_pending(cluster: Cluster) -> None:
    name = f"nopvc-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, volumes=[
        {"name": "data", "persistentVolumeClaim": {"claimName": "nosuch"}}], containers=[
        {"name": "main", "image": cluster.image, "command": ["sleep", "3600"],
         "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]))
    want = ("Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], failed to process "
            "volumes=[data]: error processing PVC default/nosuch: failed to fetch PVC from API server: "
            'persistentvolumeclaims "nosuch" not found')
    cluster.wait(lambda: ("FailedMount", want) in kubelet_events(cluster, name), "FailedMount for the missing claim")
    assert phase(cluster, name) == "Pending"
    delete_pod(cluster, name)


def _api_status(cluster: Cluster, token: str, path: str) -> int:
    """The HTTP status of GET ``path`` with ``token``, from the node's network namespace."""
    script = ("import ssl,sys,urllib.request,urllib.error\n"
              "ctx=ssl.create_default_context(cafile=sys.argv[3])\n"
              "req=urllib.request.Request(sys.argv[1],headers={'Authorization':'Bearer '+sys.argv[2]})\n"
              "try:\n print(urllib.request.urlopen(req,context=ctx,timeout=20).status)\n"
              "except urllib.error.HTTPError as e:\n print(e.code)\n")
    r = subprocess.run(["nsenter", f"--net=/run/netns/{cluster.netns}", sys.executable, "-c", script,
                        cluster.server.url + path, token, str(cluster.server.data_dir / "pki" / "ca.crt")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.strip())


def test_pod_service_account_token_authenticates(cluster: Cluster) -> None:
    """The admission's kube-api-access volume, filled by the agent through TokenRequest: the
    pod's token, CA and namespace files are what in-cluster config reads, the token is a
    credential of the pod's service account bound to the pod, and a projected token for another
    audience is not accepted by the API."""
    name = f"satok-{uuid.uuid4().hex[:6]}"
    mount = "/var/run/secrets/kubernetes.io/serviceaccount"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, volumes=[
        {"name": "vault", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "audience": "vault",
                                                                             "expirationSeconds": 600}}]}}],
        containers=[{"name": "main", "image": cluster.image, "command": ["sleep", "3600"],
                     "volumeMounts": [{"name": "vault", "mountPath": "/var/run/vault"}]}]))
    cluster.wait(lambda: phase(cluster, name) == "Running", "token pod Running", timeout=90)
    token = cluster.kubectl("exec", name, "--", "cat", f"{mount}/token").stdout
    ca = cluster.kubectl("exec", name, "--", "cat", f"{mount}/ca.crt").stdout
    assert cluster.kubectl("exec", name, "--", "cat", f"{mount}/namespace").stdout == "default"
    assert ca == (cluster.server.data_dir / "pki" / "ca.crt").read_text()
    body = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    pod = cluster.get("pod", name)
    assert claims["sub"] == "system:serviceaccount:default:default"
    assert claims["kubernetes.io"]["pod"] == {"name": name, "uid": pod["metadata"]["uid"]}
    assert claims["exp"] - claims["iat"] == 3607
    # read-only, as the admission mounts it
    assert sh(cluster, name, f"echo x > {mount}/token").returncode != 0
    env = dict(line.split("=", 1) for line in cluster.kubectl("exec", name, "--", "env").stdout.splitlines()
               if "=" in line)
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == ("10.96.0.1", "443")
    assert env["KUBERNETES_PORT_443_TCP"] == "tcp://10.96.0.1:443"
    assert _api_status(cluster, token, "/api/v1/namespaces/default/pods") == 200
    vault = cluster.kubectl("exec", name, "--", "cat", "/var/run/vault/token").stdout
    body = vault.split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["aud"] == ["vault"]
    assert _api_status(cluster, vault, "/api/v1/namespaces/default/pods") == 401
    delete_pod(cluster, name)
    assert _api_status(cluster, token, "/api/v1/namespaces/default/pods") == 401
