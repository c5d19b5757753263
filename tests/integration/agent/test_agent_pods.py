"""``skiff server`` + ``skiff agent`` + ``skiff daemon --cri`` in a network namespace the test
made, driven with the real kubectl: the node registers, pods run through CRI with pod IPs
from the node's podCIDR, a Job's pod completes, and deleting a pod removes its containers.
"""
from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import select
import struct
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from skiff.nodeagent.runtime.cri import api_pb2 as pb
from skiff.nodeagent.runtime.cri import api_pb2_grpc as pbg
from tests.support.cri import remove_everything, unmount_all
from tests.support.engine import (
    RunningDaemon,
    docker_registry,
    network_namespace,
    push_test_images,
    skiff_daemon,
    stop_process,
    wait_for,
)
from tests.support.netns_api import NetnsApi
from tests.support.server import RunningServer, skiff_server

pytestmark = pytest.mark.integration
NODE = "node-a"
NODE_ADDR = "10.213.0.1"
KUBECTL = "kubectl"


@dataclass
class Cluster:
    netns: str
    server: RunningServer
    daemon: RunningDaemon
    cri_socket: Path
    image: str
    agent_log: Path
    api: NetnsApi | None = None

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["nsenter", f"--net=/run/netns/{self.netns}", KUBECTL,
                               "--kubeconfig", str(self.server.kubeconfig), *args],
                              capture_output=True, text=True, input=input, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}\n--- agent ---\n{self.agent_tail()}")
        return proc

    def get(self, *args: str) -> Any:
        """``kubectl get ARGS -o json``, answered by a direct GET when the shape is a simple one."""
        path = api_path(args)
        if path is None:
            out = self.kubectl("get", *args, "-o", "json", check=False)
            return json.loads(out.stdout) if out.returncode == 0 else None
        if self.api is None:
            self.api = NetnsApi(self.netns, self.server.url, self.server.token,
                                str(self.server.data_dir / "pki" / "ca.crt"))
        return self.api.get(path)

    def close(self) -> None:
        if self.api is not None:
            self.api.close()

    def agent_tail(self) -> str:
        return "\n".join(self.agent_log.read_text(errors="replace").splitlines()[-40:])

    def wait(self, cond: Callable[[], Any], what: str, timeout: float = 60) -> Any:
        try:
            return wait_for(cond, timeout=timeout, what=what)
        except TimeoutError as exc:
            pods = self.kubectl("get", "pods", "-o", "yaml", check=False).stdout[-4000:]
            raise AssertionError(f"{exc}\n--- pods ---\n{pods}\n--- agent ---\n{self.agent_tail()}") from None

    def cri_containers(self, uid: str) -> list[Any]:
        with grpc.insecure_channel(f"unix://{self.cri_socket}") as ch:
            rt = pbg.RuntimeServiceStub(ch)
            sel = {"io.kubernetes.pod.uid": uid}
            return list(rt.ListContainers(pb.ListContainersRequest(
                filter=pb.ContainerFilter(label_selector=sel)), timeout=10).containers) + list(
                rt.ListPodSandbox(pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector=sel)),
                                  timeout=10).items)


PATHS = {"pod": "/api/v1/namespaces/{ns}/pods", "pods": "/api/v1/namespaces/{ns}/pods", "node": "/api/v1/nodes",
         "job": "/apis/batch/v1/namespaces/{ns}/jobs",
         "lease": "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"}


def api_path(args: tuple[str, ...]) -> str | None:
    """The REST path of ``get KIND [NAME] [-n NS] [-l SELECTOR]`` (None for other shapes)."""
    import urllib.parse

    rest, ns, query = list(args), "default", ""
    if "-n" in rest:
        i = rest.index("-n")
        ns = rest[i + 1]
        del rest[i:i + 2]
    if "-l" in rest:
        i = rest.index("-l")
        query = "?labelSelector=" + urllib.parse.quote(rest[i + 1])
        del rest[i:i + 2]
    if not rest or rest[0] not in PATHS or len(rest) > 2:
        return None
    base = PATHS[rest[0]].format(ns=ns)
    return f"{base}/{rest[1]}{query}" if len(rest) == 2 else base + query


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("agent")
    sock = work / "cri.sock"
    with network_namespace(f"{NODE_ADDR}/24") as ns:
        try:
            with docker_registry(work / "registry", netns=ns) as reg, \
                    skiff_server(work / "server", netns=ns) as server:
                push_test_images(reg, only="busybox")
                with skiff_daemon(work / "engine", netns=ns, args=("--cri", f"unix://{sock}")) as d:
                    agent = None
                    log = work / "agent.log"
                    try:
                        wait_for(sock.exists, timeout=20, what="CRI socket", proc=d.process, log=d.log)
                        token = (server.data_dir / "token").read_text().strip()
                        with open(log, "ab") as out:
                            agent = subprocess.Popen(
                                ["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-m", "skiff.cmd.main",
                                 "agent", "--server", server.url, "--token", token, "--node-name", NODE,
                                 "--root", str(work / "agent"), "--runtime-endpoint", f"unix://{sock}",
                                 "--ca-file", str(server.data_dir / "pki" / "ca.crt"), "--lease-interval", "2"],
                                stdout=out, stderr=subprocess.STDOUT)
                        c = Cluster(ns, server, d, sock, f"{reg.host}/busybox:latest", log)
                        yield c
                        c.close()
                    finally:
                        if agent is not None:
                            stop_process(agent, 20)
                        remove_everything(sock, d)
        finally:
            unmount_all(work)


def pod_manifest(name: str, image: str, **spec: Any) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"terminationGracePeriodSeconds": 2, **spec}})


def node_ready(node: Any) -> bool:
    conds = {c["type"]: c["status"] for c in (node.get("status") or {}).get("conditions") or []}
    return conds.get("Ready") == "True"


@pytest.fixture(scope="module", autouse=True)
def ready_node(cluster: Cluster) -> None:
    cluster.wait(lambda: (n := cluster.get("node", NODE)) and node_ready(n), "node Ready")


def test_node_registers_with_pod_cidr_and_lease(cluster: Cluster) -> None:
    node = cluster.wait(lambda: (n := cluster.get("node", NODE)) and (n.get("spec") or {}).get("podCIDR")
                        and node_ready(n) and n, "node Ready with a podCIDR")
    addrs = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addrs == {"InternalIP": NODE_ADDR, "Hostname": NODE}
    assert int(node["status"]["capacity"]["cpu"]) >= 1 and node["status"]["capacity"]["memory"].endswith("Ki")
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("skiff://")
    lease = cluster.get("lease", NODE, "-n", "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == NODE
    first = lease["spec"]["renewTime"]
    cluster.wait(lambda: cluster.get("lease", NODE, "-n", "kube-node-lease")["spec"]["renewTime"] != first,
                 "lease renewal", timeout=30)


def test_pod_runs_with_init_container_and_shared_localhost(cluster: Cluster) -> None:
    name = f"web-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, initContainers=[
        {"name": "prepare", "image": cluster.image, "command": ["sh", "-c", "echo init-ran"]}], containers=[
        {"name": "web", "image": cluster.image, "workingDir": "/tmp",
         "env": [{"name": "WHO", "value": "agent"}, {"name": "POD", "valueFrom": {"fieldRef": {
             "fieldPath": "metadata.name"}}}],
         "command": ["sh", "-c", "mkdir -p www && echo hello-$WHO-$POD > www/index.html && "
                     "exec httpd -f -p 8080 -h /tmp/www"]},
        {"name": "client", "image": cluster.image, "command": ["sh", "-c"],
         "args": ["until wget -qO- http://127.0.0.1:8080/; do sleep 0.2; done; exec sleep 3600"]}]))
    pod = cluster.wait(lambda: (p := cluster.get("pod", name)) and (p.get("status") or {}).get("phase") == "Running"
                       and all(c["ready"] for c in (p.get("status") or {}).get("containerStatuses", [])) and p,
                       "pod Running and ready")
    st = pod["status"]
    node = cluster.get("node", NODE)
    assert ipaddress.ip_address(st["podIP"]) in ipaddress.ip_network(node["spec"]["podCIDR"])
    assert st["hostIP"] == NODE_ADDR and st["startTime"]
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds["Initialized"] == conds["Ready"] == conds["ContainersReady"] == "True"
    init = st["initContainerStatuses"][0]["state"]["terminated"]
    assert (init["exitCode"], init["reason"]) == (0, "Completed")
    for cs in st["containerStatuses"]:
        assert "running" in cs["state"] and cs["containerID"].startswith("skiff://") and cs["restartCount"] == 0
    # the client container read the web container's page over the pod's localhost
    log_dir = next((Path(cluster.agent_log.parent) / "agent" / "pods").glob(f"default_{name}_*"))
    client_log = log_dir / "client" / "0.log"
    cluster.wait(lambda: client_log.exists() and f"hello-agent-{name}" in client_log.read_text(),
                 "client log with the page")
    assert (log_dir / "prepare" / "0.log").read_text().endswith(" stdout F init-ran\n")
    # the node reaches the pod by its IP
    probe = subprocess.run(["nsenter", f"--net=/run/netns/{cluster.netns}", sys.executable, "-c",
                            f"import urllib.request as u; print(u.urlopen('http://{st['podIP']}:8080/').read())"],
                           capture_output=True, text=True, timeout=30)
    assert f"hello-agent-{name}" in probe.stdout, probe.stderr

    uid = pod["metadata"]["uid"]
    assert len(cluster.cri_containers(uid)) == 4  # sandbox, init, two containers
    cluster.kubectl("delete", "pod", name, "--wait=false")
    cluster.wait(lambda: cluster.get("pod", name) is None, "pod gone from the API")
    assert cluster.cri_containers(uid) == []
    assert not log_dir.exists()


def test_job_pod_completes(cluster: Cluster) -> None:
    name = f"job-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "work", "image": cluster.image, "command": ["sh", "-c", "echo done"]}]}}}}))
    cluster.wait(lambda: (j := cluster.get("job", name)) and (j.get("status") or {}).get("succeeded") == 1, "job succeeded")
    pods = cluster.get("pods", "-l", f"job-name={name}")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Succeeded"]
    term = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (0, "Completed")


def test_failing_pod_reports_exit_code(cluster: Cluster) -> None:
    name = f"fail-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, restartPolicy="Never", containers=[
        {"name": "main", "image": cluster.image, "command": ["sh", "-c", "exit 3"]}]))
    pod = cluster.wait(lambda: (p := cluster.get("pod", name)) and (p.get("status") or {}).get("phase") == "Failed" and p,
                       "pod Failed")
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (3, "Error")
    cluster.kubectl("delete", "pod", name, "--wait=false")
    cluster.wait(lambda: cluster.get("pod", name) is None, "failed pod gone")


def test_restart_policy_always_restarts_a_crashing_container(cluster: Cluster) -> None:
    name = f"crash-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, containers=[
        {"name": "main", "image": cluster.image, "command": ["sh", "-c", "echo run; exit 1"]}]))
    pod = cluster.wait(lambda: (p := cluster.get("pod", name)) and any(
        cs["restartCount"] >= 1 for cs in (p.get("status") or {}).get("containerStatuses", [])) and p, "a restart")
    cs = pod["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert pod["status"]["phase"] == "Running"
    cluster.wait(lambda: (p := cluster.get("pod", name)) and p["status"]["containerStatuses"][0]["state"].get(
        "waiting", {}).get("reason") == "CrashLoopBackOff", "CrashLoopBackOff")
    cluster.kubectl("delete", "pod", name, "--wait=false")
    cluster.wait(lambda: cluster.get("pod", name) is None, "crashing pod gone")


def test_logs_and_exec_through_the_api_server(cluster: Cluster) -> None:
    name = f"talk-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, containers=[
        {"name": "main", "image": cluster.image,
         "command": ["sh", "-c", "for i in 1 2 3; do echo line-$i; done; echo err >&2; exec sleep 3600"]}]))
    cluster.wait(lambda: (p := cluster.get("pod", name)) and (p.get("status") or {}).get("phase") == "Running", "pod Running")
    cluster.wait(lambda: cluster.kubectl("logs", name, check=False).stdout == "line-1\nline-2\nline-3\nerr\n",
                 "kubectl logs")

    def reasons() -> list[str]:
        events = json.loads(cluster.kubectl("get", "events", "-o", "json").stdout)["items"]
        return [e["reason"] for e in events if e["involvedObject"].get("name") == name
                and e.get("source", {}).get("component") == "kubelet"]

    cluster.wait(lambda: {"Pulled", "Created", "Started"} <= set(reasons()), "the kubelet's events")
    assert cluster.kubectl("logs", name, "--tail=2").stdout == "line-3\nerr\n"
    stamped = cluster.kubectl("logs", name, "--timestamps", "--tail=1").stdout
    assert stamped.endswith(" err\n") and stamped[:4].isdigit()
    assert cluster.kubectl("logs", name, "--limit-bytes=3").stdout == "lin"

    # the kubernetes Python client's stream() speaks v4.channel.k8s.io
    script = ("import sys; from kubernetes import client, config; from kubernetes.stream import stream; "
              "config.load_kube_config(sys.argv[1]); "
              f"print(stream(client.CoreV1Api().connect_get_namespaced_pod_exec, '{name}', 'default', "
              "command=['sh', '-c', 'echo from-python'], stdout=True, stderr=True, stdin=False, tty=False), end='')")
    py = subprocess.run(["nsenter", f"--net=/run/netns/{cluster.netns}", sys.executable, "-c", script,
                         str(cluster.server.kubeconfig)], capture_output=True, text=True, timeout=60)
    assert py.stdout == "from-python\n", py.stderr[-2000:]
    py_logs = subprocess.run(["nsenter", f"--net=/run/netns/{cluster.netns}", sys.executable, "-c",
                              "import sys; from kubernetes import client, config; config.load_kube_config(sys.argv[1]); "
                              f"print(client.CoreV1Api().read_namespaced_pod_log('{name}', 'default', tail_lines=1), end='')",
                              str(cluster.server.kubeconfig)], capture_output=True, text=True, timeout=60)
    assert py_logs.stdout == "err\n", py_logs.stderr[-2000:]

    out = cluster.kubectl("exec", name, "--", "sh", "-c", "echo in-$HOSTNAME; echo oops >&2", check=False)
    assert (out.returncode, out.stdout, out.stderr) == (0, f"in-{name}\n", "oops\n")
    failed = cluster.kubectl("exec", name, "--", "sh", "-c", "exit 3", check=False)
    assert failed.returncode == 3
    missing = cluster.kubectl("logs", name, "-c", "nosuch", check=False)
    assert missing.returncode != 0 and "nosuch" in missing.stderr
    cluster.kubectl("delete", "pod", name, "--wait=false")
    cluster.wait(lambda: cluster.get("pod", name) is None, "pod gone")


def test_logs_follow_ends_when_the_container_exits(cluster: Cluster) -> None:
    name = f"follow-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, restartPolicy="Never", containers=[
        {"name": "main", "image": cluster.image,
         "command": ["sh", "-c", "echo first; until [ -e /tmp/go ]; do sleep 0.1; done; echo second"]}]))
    cluster.wait(lambda: (p := cluster.get("pod", name)) and (p.get("status") or {}).get("phase") == "Running", "pod Running")
    cluster.wait(lambda: cluster.kubectl("logs", name, check=False).stdout == "first\n", "first line")
    follow = subprocess.Popen(["nsenter", f"--net=/run/netns/{cluster.netns}", KUBECTL, "--kubeconfig",
                               str(cluster.server.kubeconfig), "logs", "-f", name],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        cluster.kubectl("exec", name, "--", "touch", "/tmp/go")
        out, err = follow.communicate(timeout=60)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert (follow.returncode, out) == (0, "first\nsecond\n"), err
    cluster.kubectl("delete", "pod", name, "--wait=false")
    cluster.wait(lambda: cluster.get("pod", name) is None, "pod gone")


def test_volumes_empty_dir_config_map_secret_host_path(cluster: Cluster, tmp_path: Path) -> None:
    name = f"vol-{uuid.uuid4().hex[:6]}"
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    (host_dir / "from-host").write_text("node file\n")
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"greeting": "hello cm\n"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"token": "s3cret"}},
    ]}))
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, volumes=[
        {"name": "shared", "emptyDir": {}},
        {"name": "cm", "configMap": {"name": name, "items": [{"key": "greeting", "path": "sub/hello.txt"}]}},
        {"name": "sec", "secret": {"secretName": name, "defaultMode": 0o400}},
        {"name": "host", "hostPath": {"path": str(host_dir), "type": "Directory"}},
    ], containers=[
        {"name": "writer", "image": cluster.image, "command": ["sh", "-c", "echo shared-data > /out/f; exec sleep 3600"],
         "volumeMounts": [{"name": "shared", "mountPath": "/out"}]},
        {"name": "reader", "image": cluster.image, "command": ["sleep", "3600"], "volumeMounts": [
            {"name": "shared", "mountPath": "/in", "readOnly": True},
            {"name": "cm", "mountPath": "/etc/cm"}, {"name": "sec", "mountPath": "/etc/sec"},
            {"name": "host", "mountPath": "/host"}]}]))
    pod = cluster.wait(lambda: (p := cluster.get("pod", name)) and (p.get("status") or {}).get("phase") == "Running" and p,
                       "pod with volumes Running")

    def sh(cmd: str) -> subprocess.CompletedProcess[str]:
        return cluster.kubectl("exec", name, "-c", "reader", "--", "sh", "-c", cmd, check=False)

    cluster.wait(lambda: sh("cat /in/f").stdout == "shared-data\n", "emptyDir shared between containers")
    assert sh("cat /etc/cm/sub/hello.txt").stdout == "hello cm\n"
    assert sh("cat /etc/sec/token; stat -L -c %a /etc/sec/token").stdout == "s3cret400\n"
    assert sh("cat /host/from-host").stdout == "node file\n"
    denied = sh("touch /in/x")
    assert denied.returncode != 0 and "Read-only" in denied.stderr
    uid = pod["metadata"]["uid"]
    vol_root = cluster.agent_log.parent / "agent" / "volumes" / uid
    assert (vol_root / "emptyDir" / "shared" / "f").read_text() == "shared-data\n"
    cluster.kubectl("delete", "pod", name, "--wait=false")
    cluster.wait(lambda: cluster.get("pod", name) is None, "pod gone")
    # the agent removes a deleted pod's volumes after its containers, as the kubelet does: wait for it
    cluster.wait(lambda: not vol_root.exists(), "the pod's volumes removed")
    assert (host_dir / "from-host").exists()
    cluster.kubectl("delete", "configmap,secret", name)


def test_missing_config_map_keeps_the_pod_waiting(cluster: Cluster) -> None:
    name = f"nocm-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, volumes=[
        {"name": "cm", "configMap": {"name": "does-not-exist"}}], containers=[
        {"name": "main", "image": cluster.image, "command": ["sleep", "3600"],
         "volumeMounts": [{"name": "cm", "mountPath": "/etc/cm"}]}]))
    pod = cluster.wait(lambda: (p := cluster.get("pod", name)) and "does-not-exist" in json.dumps(
        (p.get("status") or {}).get("containerStatuses", [])) and p, "the missing configmap reported")
    assert pod["status"]["phase"] == "Pending"
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting == {"reason": "ContainerCreating", "message": 'configmap "does-not-exist" not found'}
    cluster.kubectl("delete", "pod", name, "--wait=false")
    cluster.wait(lambda: cluster.get("pod", name) is None, "pod gone")


def test_readiness_and_liveness_probes(cluster: Cluster) -> None:
    name = f"probe-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, containers=[
        {"name": "web", "image": cluster.image, "ports": [{"name": "http", "containerPort": 8080}],
         "command": ["sh", "-c", "mkdir -p /www && touch /tmp/alive && exec httpd -f -p 8080 -h /www"],
         "readinessProbe": {"httpGet": {"path": "/ready.html", "port": "http"}, "periodSeconds": 1,
                            "failureThreshold": 1},
         "livenessProbe": {"exec": {"command": ["cat", "/tmp/alive"]}, "periodSeconds": 1, "failureThreshold": 2},
         "startupProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]))

    def web() -> Any:
        p = cluster.get("pod", name)
        return p["status"]["containerStatuses"][0] if p and (p.get("status") or {}).get("containerStatuses") else {}

    cluster.wait(lambda: web().get("started") is True, "started once its TCP start-up probe passed")
    assert web()["ready"] is False and "running" in web()["state"]
    cluster.kubectl("exec", name, "--", "sh", "-c", "echo ok > /www/ready.html")
    cluster.wait(lambda: web().get("ready") is True, "ready once /ready.html answers")
    conds = {c["type"]: c["status"] for c in cluster.get("pod", name)["status"]["conditions"]}
    assert conds["Ready"] == "True"
    cluster.kubectl("exec", name, "--", "rm", "/www/ready.html")
    cluster.wait(lambda: web().get("ready") is False, "not ready again")
    cluster.kubectl("exec", name, "--", "rm", "/tmp/alive")
    cs = cluster.wait(lambda: (c := web()).get("restartCount") == 1 and c, "restarted by its liveness probe")
    assert "terminated" in cs["lastState"]
    cluster.kubectl("delete", "pod", name, "--wait=false")
    cluster.wait(lambda: cluster.get("pod", name) is None, "pod gone")


def test_active_deadline_fails_the_pod(cluster: Cluster) -> None:
    name = f"late-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, activeDeadlineSeconds=2, containers=[
        {"name": "main", "image": cluster.image, "command": ["sleep", "3600"]}]))
    pod = cluster.wait(lambda: (p := cluster.get("pod", name)) and (p.get("status") or {}).get("phase") == "Failed"
                       and "terminated" in p["status"]["containerStatuses"][0]["state"] and p, "deadline exceeded")
    assert pod["status"]["reason"] == "DeadlineExceeded"
    cluster.kubectl("delete", "pod", name, "--wait=false")
    cluster.wait(lambda: cluster.get("pod", name) is None, "pod gone")


def test_host_network_pod(cluster: Cluster) -> None:
    name = f"hostnet-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, hostNetwork=True, containers=[
        {"name": "main", "image": cluster.image, "command": ["sleep", "3600"]}]))
    pod = cluster.wait(lambda: (p := cluster.get("pod", name)) and (p.get("status") or {}).get("phase") == "Running"
                       and p, "host-network pod Running")
    assert pod["status"]["podIP"] == pod["status"]["hostIP"] == NODE_ADDR
    addrs = cluster.kubectl("exec", name, "--", "ip", "-o", "-4", "addr").stdout
    assert f"inet {NODE_ADDR}/24" in addrs
    cluster.kubectl("delete", "pod", name, "--wait=false")
    cluster.wait(lambda: cluster.get("pod", name) is None, "pod gone")


def test_interactive_exec_with_stdin_and_tty(cluster: Cluster) -> None:
    name = f"inter-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, containers=[
        {"name": "main", "image": cluster.image, "command": ["sleep", "3600"]}]))
    cluster.wait(lambda: (p := cluster.get("pod", name)) and (p.get("status") or {}).get("phase") == "Running",
                 "pod Running")
    piped = cluster.kubectl("exec", "-i", name, "--", "sh", "-c", "tr a-z A-Z; echo done >&2; exit 4",
                            input="hello through stdin\n", check=False)
    assert (piped.returncode, piped.stdout) == (4, "HELLO THROUGH STDIN\n")
    assert piped.stderr.startswith("done\n")  # then kubectl's own "command terminated with exit code 4"
    # a terminal on kubectl's side, so -t is honoured end to end
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{cluster.netns}", KUBECTL, "--kubeconfig",
                             str(cluster.server.kubeconfig), "exec", "-it", name, "--", "sh", "-c",
                             "[ -t 0 ] && echo is-a-tty; stty size; read line; echo got-$line"],
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    try:
        deadline = time.monotonic() + 30
        sent = False
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            if not sent and b"33 101" in out:
                os.write(master, b"typed\r")
                sent = True
            if b"got-typed" in out:
                break
        assert proc.wait(30) == 0, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert b"is-a-tty" in out and b"33 101" in out and b"got-typed" in out, out
    cluster.kubectl("delete", "pod", name, "--wait=false")
    cluster.wait(lambda: cluster.get("pod", name) is None, "pod gone")
