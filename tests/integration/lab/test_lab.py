"""``skiff lab``: a real multi-node cluster in network namespaces, driven from the host with kubectl.

One lab (two nodes, ``--demo``: the demo images in its registry, manifests/demo applied) serves
the module; the last test
kills its daemons with SIGKILL and checks that ``lab down`` still removes every process,
mount, namespace and cgroup — and that the host's links, routes and iptables never changed.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from skiff.cmd import lab, lab_topology
from tests.support.server import free_port

pytestmark = pytest.mark.e2e

SKIFF = [sys.executable, "-m", "skiff.cmd.main"]
KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"


def host_network() -> dict[str, str]:
    """What the host's own network looks like: must be the same before and after a lab."""
    def out(cmd: list[str]) -> str:
        return subprocess.run(cmd, capture_output=True, text=True).stdout
    links = "\n".join(sorted(line.split(":")[1].strip() for line in out(["ip", "-o", "link"]).splitlines()))
    rules = "\n".join(l for l in out(["iptables-save"]).splitlines() if not l.startswith("#"))
    return {"links": links, "routes": out(["ip", "route"]), "iptables": rules}


@dataclass
class Lab:
    name: str
    data: Path
    kubeconfig: Path

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([KUBECTL, "--kubeconfig", str(self.kubeconfig), *args], capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {p.stderr}\n{self.logs()}")
        return p

    def json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def logs(self) -> str:
        out = []
        for f in sorted((self.data / "logs").glob("*.log")):
            out.append(f"--- {f.name}\n" + "\n".join(f.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(out)


def wait_for(predicate, *, timeout: float = 90.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def host_before() -> dict[str, str]:
    return host_network()


@contextmanager
def running_lab(tmp_path_factory: pytest.TempPathFactory, prefix: str, *up_args: str) -> Iterator[Lab]:
    """``skiff lab up --demo UP_ARGS`` under a fresh name and data dir; ``lab down`` after, whatever happened."""
    name = prefix + secrets.token_hex(3)
    data = tmp_path_factory.mktemp(f"lab-{prefix}")
    cmd = [*SKIFF, "lab", "up", "--name", name, "--data-dir", str(data), "--port", str(free_port()), "--demo",
           *up_args]
    try:
        up = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, up.stderr
        yield Lab(name, data, data / "kubeconfig")
    finally:
        subprocess.run([*SKIFF, "lab", "down", "--name", name, "--data-dir", str(data)], capture_output=True,
                       timeout=120)


@pytest.fixture(scope="module")
def lab_cluster(tmp_path_factory: pytest.TempPathFactory, host_before: dict[str, str]) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "t", "--nodes", "2") as cluster:
        yield cluster


def test_nodes_join_and_report_ready(lab_cluster: Lab) -> None:
    def ready() -> list[str]:
        nodes = lab_cluster.json("get", "nodes")["items"]
        return sorted(n["metadata"]["name"] for n in nodes
                      if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]))
    assert wait_for(lambda: ready() == ["node1", "node2"], what="both nodes Ready")
    nodes = {n["metadata"]["name"]: n for n in lab_cluster.json("get", "nodes")["items"]}
    t = lab_topology.plan(lab_cluster.name, 2)
    for m in t.nodes:
        addresses = {a["type"]: a["address"] for a in nodes[m.role]["status"]["addresses"]}
        assert addresses["InternalIP"] == m.ip
        assert nodes[m.role]["spec"]["podCIDR"]
    status = subprocess.run([*SKIFF, "lab", "status", "--data-dir", str(lab_cluster.data)], capture_output=True,
                            text=True)
    assert status.returncode == 0, status.stdout
    assert [line.split()[0] for line in status.stdout.splitlines()[1:5]] == ["registry", "server", "node1", "node2"]


def test_demo_runs_on_every_node(lab_cluster: Lab) -> None:
    """manifests/demo: web pods answer with their own names, the DaemonSet covers each node, the Job ends."""
    t = lab_topology.plan(lab_cluster.name, 2)
    netns = {m.role: m.netns for m in t.nodes}

    def running(selector: str, count: int) -> list[dict]:
        pods = lab_cluster.json("get", "pods", "-l", selector)["items"]
        ok = [p for p in pods if p["status"].get("phase") == "Running" and p["status"].get("podIP")]
        return ok if len(ok) == count else []
    web = wait_for(lambda: running("app=web", 3), timeout=120, what="3 Running web pods")
    for p in web:
        # asked from its node's namespace: the pod network of that node, nothing of the host's
        fetch = ("import urllib.request; print(urllib.request.urlopen("
                 f"'http://{p['status']['podIP']}/', timeout=5).read().decode().strip())")
        node = p["spec"]["nodeName"]
        out = subprocess.run(["nsenter", f"--net=/run/netns/{netns[node]}", sys.executable, "-c", fetch],
                             capture_output=True, text=True, timeout=30)
        assert out.stdout.strip() == f"hello from {p['metadata']['name']} on {node}", out.stderr
    reporters = wait_for(lambda: running("app=node-reporter", 2), timeout=120, what="a node-reporter per node")

    def images_reported() -> bool:  # status.images, as the kubelet reports the runtime's images
        return all(any("busybox:1.36" in " ".join(i["names"]) and i["sizeBytes"] > 0
                       for i in n["status"].get("images") or [])
                   for n in lab_cluster.json("get", "nodes")["items"])
    wait_for(images_reported, timeout=60, what="busybox:1.36 in every node's status.images")
    assert sorted(p["spec"]["nodeName"] for p in reporters) == ["node1", "node2"]
    wait_for(lambda: (lab_cluster.json("get", "job", "hello")["status"].get("succeeded") or 0) == 1,
             timeout=120, what="the hello Job to succeed")


def test_logs_and_exec_through_kubectl_and_skiffctl(lab_cluster: Lab) -> None:
    """The same answers from both tools, through the API server to the node agents."""
    wait_for(lambda: (lab_cluster.json("get", "job", "hello")["status"].get("succeeded") or 0) == 1,
             timeout=120, what="the hello Job to succeed")
    env = dict(os.environ, KUBECONFIG=str(lab_cluster.kubeconfig))
    for args in (["logs", "job/hello"], ["exec", "deploy/web", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]):
        k = subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env, timeout=60)
        s = subprocess.run([*SKIFF[:2], "skiff.cli.main", *args], capture_output=True, text=True, env=env, timeout=60)
        assert (s.returncode, s.stdout) == (k.returncode, k.stdout), (args, k, s)
        # kubectl 1.33 also logs its websocket's close on stderr; the message itself must match
        assert s.stderr in k.stderr, (args, k.stderr, s.stderr)
    assert k.returncode == 3 and k.stdout == "out\n"
    # exec -it on a real terminal (script(1) gives both tools a pty of 33x91): same screen, same code
    pod = lab_cluster.json("get", "pods", "-l", "app=web")["items"][0]["metadata"]["name"]
    typed = "echo hi-from-$HOSTNAME; stty size; exit 4\n"
    screens = []
    for tool in (KUBECTL, f"{sys.executable} -m skiff.cli.main"):
        p = subprocess.run(["script", "-qec", f"stty cols 91 rows 33; {tool} exec -it {pod} -- sh", "/dev/null"],
                           input=typed, capture_output=True, text=True, env=env, timeout=60)
        screens.append((p.returncode, p.stdout.replace("\r", "").splitlines()[-3:]))
    assert screens[0] == screens[1] == (4, [f"hi-from-{pod}", "33 91", "command terminated with exit code 4"]), screens


def _pod_exec(lab_cluster: Lab, pod: str, script: str) -> str:
    return lab_cluster.kubectl("exec", pod, "--", "sh", "-c", script, timeout=90).stdout


def test_service_spreads_over_replicas_on_every_node(lab_cluster: Lab) -> None:
    """From a pod, the web Service's ClusterIP reaches every replica, across nodes; DNS names it."""
    web = {p["metadata"]["name"] for p in lab_cluster.json("get", "pods", "-l", "app=web")["items"]}
    svc = lab_cluster.json("get", "service", "web")
    ip = svc["spec"]["clusterIP"]
    reporter = lab_cluster.json("get", "pods", "-l", "app=node-reporter")["items"][0]["metadata"]["name"]

    def spread() -> set[str]:
        # busybox's own wget crashes (Debian's static build); nc speaks the HTTP by hand
        out = _pod_exec(lab_cluster, reporter, f"for i in $(seq 30); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' "
                                               f"| nc -w 2 {ip} 80 | tail -n 1; done")
        return {line.split()[2] for line in out.splitlines() if line.startswith("hello from ")}
    seen: set[str] = set()
    wait_for(lambda: seen.update(spread()) or seen == web, timeout=120,
             what=f"all of {sorted(web)} answering through {ip} (seen {sorted(seen)})")
    nodes = {p["spec"]["nodeName"] for p in lab_cluster.json("get", "pods", "-l", "app=web")["items"]}
    assert len(nodes) == 2  # the replicas answered from both nodes
    answer = _pod_exec(lab_cluster, reporter, "nslookup web.default.svc.cluster.local 10.96.0.10")
    assert ip in answer, answer
    # the agent writes resolv.conf as the kubelet does, so the short name works too
    resolv = _pod_exec(lab_cluster, reporter, "cat /etc/resolv.conf").splitlines()
    assert resolv[0] == "nameserver 10.96.0.10" and resolv[-1] == "options ndots:5", resolv
    # the node's own search domains, if the machine has any, follow the cluster's
    assert resolv[1].split()[:4] == ["search", "default.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    by_name = _pod_exec(lab_cluster, reporter, "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 web 80 | tail -n 1")
    assert by_name.split()[2] in web, by_name


def test_scaling_changes_the_spread_and_headless_names_resolve(lab_cluster: Lab) -> None:
    svc_ip = lab_cluster.json("get", "service", "web")["spec"]["clusterIP"]
    reporter = lab_cluster.json("get", "pods", "-l", "app=node-reporter")["items"][0]["metadata"]["name"]
    lab_cluster.kubectl("scale", "deployment", "web", "--replicas=1")

    def answering() -> set[str]:
        out = _pod_exec(lab_cluster, reporter, f"for i in $(seq 12); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' "
                                               f"| nc -w 2 {svc_ip} 80 | tail -n 1; done")
        return {line.split()[2] for line in out.splitlines() if line.startswith("hello from ")}
    left = wait_for(lambda: (lambda pods: pods if len(pods) == 1 else None)(
        [p["metadata"]["name"] for p in lab_cluster.json("get", "pods", "-l", "app=web")["items"]
         if not p["metadata"].get("deletionTimestamp")]), what="one web pod left")
    wait_for(lambda: answering() == set(left), timeout=60, what=f"only {left} answering")
    lab_cluster.kubectl("scale", "deployment", "web", "--replicas=3")
    headless = ("apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  clusterIP: None\n"
                "  selector: {app: db}\n  ports: [{port: 5432}]\n---\n"
                "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  serviceName: db\n"
                "  replicas: 2\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n"
                "    spec:\n      containers:\n      - name: c\n        image: busybox:1.36\n"
                "        command: [sh, -c, 'exec sleep 2147483647']\n")
    subprocess.run([KUBECTL, "--kubeconfig", str(lab_cluster.kubeconfig), "apply", "-f", "-"], input=headless,
                   text=True, check=True, capture_output=True)

    def ready_ips() -> dict[str, str]:
        pods = lab_cluster.json("get", "pods", "-l", "app=db")["items"]
        ips = {p["metadata"]["name"]: p["status"].get("podIP") for p in pods
               if p["status"].get("phase") == "Running"}
        return ips if len(ips) == 2 and all(ips.values()) else {}
    ips = wait_for(ready_ips, timeout=120, what="db-0 and db-1 Running")
    for name, ip in ips.items():
        fqdn = f"{name}.db.default.svc.cluster.local"
        wait_for(lambda: ip in _pod_exec(lab_cluster, reporter, f"nslookup {fqdn} 10.96.0.10 || true"),
                 timeout=60, what=f"{fqdn} -> {ip}")
    both = _pod_exec(lab_cluster, reporter, "nslookup db.default.svc.cluster.local 10.96.0.10")
    assert all(ip in both for ip in ips.values()), both
    lab_cluster.kubectl("delete", "statefulset,service", "db", "--wait=false")


def _apply(lab_cluster: Lab, manifest: str) -> None:
    subprocess.run([KUBECTL, "--kubeconfig", str(lab_cluster.kubeconfig), "apply", "-f", "-"], input=manifest,
                   text=True, check=True, capture_output=True)


def _status_of(lab_cluster: Lab, pod: str) -> dict:
    statuses = lab_cluster.json("get", "pod", pod)["status"].get("containerStatuses") or [{}]
    return statuses[0]


def test_pod_spec_through_the_python_client(lab_cluster: Lab) -> None:
    """With the kubernetes client on the lab: an init container fills an emptyDir, two containers
    share it and localhost, a readiness probe gates Ready, a failing liveness probe restarts."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(lab_cluster.kubeconfig)))
    shared = [client.V1VolumeMount(name="shared", mount_path="/shared")]
    body = client.V1Pod(
        metadata=client.V1ObjectMeta(name="spec-demo"),
        spec=client.V1PodSpec(
            volumes=[client.V1Volume(name="shared", empty_dir=client.V1EmptyDirVolumeSource())],
            init_containers=[client.V1Container(
                name="fill", image="busybox:1.36", volume_mounts=shared,
                command=["sh", "-c", "echo made-by-init > /shared/index.html"])],
            containers=[
                client.V1Container(
                    name="web", image="busybox:1.36", volume_mounts=shared,
                    command=["httpd", "-f", "-p", "8080", "-h", "/shared"],
                    readiness_probe=client.V1Probe(
                        _exec=client.V1ExecAction(command=["test", "-e", "/shared/ready"]),
                        period_seconds=1, failure_threshold=1)),
                client.V1Container(
                    name="side", image="busybox:1.36", volume_mounts=shared,
                    command=["sh", "-c", "touch /tmp/alive; exec sleep 2147483647"],
                    liveness_probe=client.V1Probe(
                        _exec=client.V1ExecAction(command=["test", "-e", "/tmp/alive"]),
                        period_seconds=1, failure_threshold=1)),
            ]))
    api.create_namespaced_pod("default", body)
    try:
        def running() -> client.V1Pod | None:
            p = api.read_namespaced_pod("spec-demo", "default")
            return p if p.status.phase == "Running" and len(p.status.container_statuses or []) == 2 else None
        p = wait_for(running, timeout=120, what="spec-demo Running")
        assert p.status.init_container_statuses[0].state.terminated.reason == "Completed"
        ready = {c.name: c.ready for c in p.status.container_statuses}
        assert ready == {"web": False, "side": True}, ready
        # the sidecar reaches the web container on the pod's localhost, serving the init's file
        out = lab_cluster.kubectl("exec", "spec-demo", "-c", "side", "--", "sh", "-c",
                                  "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 8080"
                                  " | tail -n 1").stdout
        assert out.strip() == "made-by-init", out
        lab_cluster.kubectl("exec", "spec-demo", "-c", "side", "--", "touch", "/shared/ready")
        wait_for(lambda: all(c.ready for c in api.read_namespaced_pod("spec-demo", "default")
                             .status.container_statuses), timeout=60, what="both containers Ready")
        lab_cluster.kubectl("exec", "spec-demo", "-c", "side", "--", "rm", "/tmp/alive")

        def restarted() -> bool:
            sts = {c.name: c for c in api.read_namespaced_pod("spec-demo", "default").status.container_statuses}
            return sts["side"].restart_count >= 1 and sts["web"].restart_count == 0
        wait_for(restarted, timeout=90, what="the sidecar restarted by its liveness probe")
        events = api.list_namespaced_event("default", field_selector="involvedObject.name=spec-demo").items
        assert any(e.reason == "Unhealthy" and "Liveness probe failed" in e.message for e in events), \
            [(e.reason, e.message) for e in events]
    finally:
        api.delete_namespaced_pod("spec-demo", "default", grace_period_seconds=0)


def test_crash_loop_back_off_and_oom_killed(lab_cluster: Lab) -> None:
    """A container that keeps failing waits in CrashLoopBackOff; one over its memory limit is OOMKilled."""
    _apply(lab_cluster, "apiVersion: v1\nkind: Pod\nmetadata: {name: crasher}\nspec:\n  containers:\n"
                        "  - {name: c, image: busybox:1.36, command: [sh, -c, 'echo failing; exit 2']}\n---\n"
                        "apiVersion: v1\nkind: Pod\nmetadata: {name: hog}\nspec:\n  restartPolicy: Never\n"
                        "  containers:\n  - name: c\n    image: busybox:1.36\n"
                        # dd's 256 MiB block is filled from /dev/zero: far over the 32 MiB limit
                        "    command: [dd, if=/dev/zero, of=/dev/null, bs=256M, count=1]\n"
                        "    resources: {limits: {memory: 32Mi}}\n")

    def backing_off() -> dict:
        st = _status_of(lab_cluster, "crasher")
        waiting = (st.get("state") or {}).get("waiting") or {}
        return st if waiting.get("reason") == "CrashLoopBackOff" and st.get("restartCount", 0) >= 1 else {}
    st = wait_for(backing_off, timeout=120, what="crasher in CrashLoopBackOff")
    assert st["lastState"]["terminated"]["exitCode"] == 2 and st["lastState"]["terminated"]["reason"] == "Error"
    assert "back-off" in st["state"]["waiting"]["message"], st
    assert "CrashLoopBackOff" in lab_cluster.kubectl("get", "pod", "crasher").stdout
    assert lab_cluster.kubectl("logs", "crasher", "--previous").stdout == "failing\n"

    def oom() -> dict:
        return ((_status_of(lab_cluster, "hog").get("state") or {}).get("terminated")) or {}
    term = wait_for(oom, timeout=120, what="hog terminated")
    assert (term["reason"], term["exitCode"]) == ("OOMKilled", 137), term
    assert lab_cluster.json("get", "pod", "hog")["status"]["phase"] == "Failed"
    lab_cluster.kubectl("delete", "pod", "crasher", "hog", "--wait=false")


def _agent(lab_cluster: Lab, node: str) -> lab.Proc:
    state = lab.load(lab_cluster.data)
    assert state is not None
    return next(p for p in state[1] if p.role == node and p.alive())


def _containers_on(lab_cluster: Lab, node: str) -> dict[str, tuple[str, int]]:
    pods = lab_cluster.json("get", "pods", "--field-selector", f"spec.nodeName={node}")["items"]
    return {p["metadata"]["name"]: (c.get("containerID", ""), c.get("restartCount", 0))
            for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
            for c in p["status"]["containerStatuses"]}


def _engine_of(agent_pid: int) -> int:
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd = (d / "cmdline").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            if ppid == agent_pid and b"daemon" in cmd:
                return int(d.name)
    return 0  # none (yet)


def test_killed_engine_is_restarted_and_its_containers_keep_running(lab_cluster: Lab) -> None:
    """SIGKILL node1's engine: the agent starts it again, the new engine finds the running
    containers (same IDs, no restart), and new pods start on the node."""
    wait_for(lambda: len(running_web(lab_cluster)) == 3, timeout=120, what="3 web pods Running")
    wait_for(lambda: not [p for p in lab_cluster.json("get", "pods")["items"]
                          if p["metadata"]["name"] in ("crasher", "hog")], what="the earlier test's pods gone")
    node = "node1"
    before = wait_for(lambda: _containers_on(lab_cluster, node), what=f"pods Running on {node}")
    agent = _agent(lab_cluster, node)
    old = _engine_of(agent.pid)
    assert old, f"agent {agent.pid} runs no engine"
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: _engine_of(agent.pid) not in (0, old), timeout=60, what="a new engine")
    _apply(lab_cluster, "apiVersion: v1\nkind: Pod\nmetadata: {name: after-engine}\nspec:\n"
                        f"  nodeName: {node}\n  containers:\n"
                        "  - {name: c, image: busybox:1.36, command: [sh, -c, 'echo fresh; exec sleep 2147483647']}\n")
    wait_for(lambda: lab_cluster.json("get", "pod", "after-engine")["status"].get("phase") == "Running",
             timeout=90, what="a pod started by the new engine")
    now = _containers_on(lab_cluster, node)
    assert {k: now.get(k) for k in before} == before
    lab_cluster.kubectl("delete", "pod", "after-engine", "--wait=false")


def test_restarted_agent_adopts_its_running_containers(lab_cluster: Lab) -> None:
    """SIGKILL a node's agent, start it again: its engine and containers never stopped, and the
    new agent reports the same containers (same IDs, no restarts) and the node Ready again."""
    wait_for(lambda: len(running_web(lab_cluster)) == 3, timeout=120, what="3 web pods Running")
    wait_for(lambda: not lab_cluster.json("get", "pods", "-l", "app=db")["items"], what="the db pods gone")
    node = "node2"
    before = wait_for(lambda: _containers_on(lab_cluster, node), what=f"pods Running on {node}")
    old = _agent(lab_cluster, node)
    argv = Path(f"/proc/{old.pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    os.kill(old.pid, signal.SIGKILL)
    wait_for(lambda: not old.alive(), what="the agent gone")
    t = lab_topology.plan(lab_cluster.name, 2)
    netns = next(m.netns for m in t.nodes if m.role == node)
    state = lab.load(lab_cluster.data)
    assert state is not None
    topology, procs, port = state
    new = lab.spawn(node, lab._in_ns(netns, [a.decode() for a in argv]), lab_cluster.data / "logs" / f"{node}.log",
                    lab.make_cgroups(topology, node))
    lab.save(lab_cluster.data, topology, [*procs, new], port)  # lab down stops this one too

    wait_for(lambda: new.alive() and "using the engine that already serves" in
             (lab_cluster.data / "logs" / f"{node}.log").read_text(errors="replace"), what="the new agent adopting")
    # a lease renewal after the restart shows the new agent has registered and reports again
    renew_before = lab_cluster.json("get", "lease", "-n", "kube-node-lease", node)["spec"].get("renewTime")
    wait_for(lambda: lab_cluster.json("get", "lease", "-n", "kube-node-lease", node)["spec"].get("renewTime")
             != renew_before, timeout=60, what="a lease renewal by the new agent")
    time.sleep(3)  # a few relists of the new agent: a restart it caused would show in the statuses
    now = _containers_on(lab_cluster, node)
    assert {k: now.get(k) for k in before} == before
    web = running_web(lab_cluster)
    assert all(c["restartCount"] == 0 for p in web for c in p["status"]["containerStatuses"])


def running_web(lab_cluster: Lab) -> list[dict]:
    return [p for p in lab_cluster.json("get", "pods", "-l", "app=web")["items"]
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
            and all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])]


def test_killed_node_pods_are_recreated_on_the_others(lab_cluster: Lab) -> None:
    """A node whose agent dies goes NotReady, gets the unreachable taints, and its pods are evicted
    after their tolerationSeconds (the lab's server gives 30 s): the Deployment's pods run on node1."""
    # the scheduler spreads a Deployment's pods over the nodes
    wait_for(lambda: {p["spec"]["nodeName"] for p in running_web(lab_cluster)} == {"node1", "node2"}
             and len(running_web(lab_cluster)) == 3, timeout=120, what="web Running on both nodes")
    victims = {p["metadata"]["name"] for p in running_web(lab_cluster) if p["spec"]["nodeName"] == "node2"}
    assert victims
    tol = next(t for t in lab_cluster.json("get", "pod", sorted(victims)[0])["spec"]["tolerations"]
               if t["key"] == "node.kubernetes.io/unreachable")
    assert tol["tolerationSeconds"] == 30
    os.kill(_agent(lab_cluster, "node2").pid, signal.SIGKILL)

    def node_lost() -> bool:
        node = lab_cluster.json("get", "node", "node2")
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
        return ready["status"] == "Unknown" and ("node.kubernetes.io/unreachable", "NoExecute") in taints
    wait_for(node_lost, timeout=120, what="node2 Unknown and tainted unreachable")

    def moved() -> list[dict]:
        web = running_web(lab_cluster)
        names = {p["metadata"]["name"] for p in web}
        return web if len(web) == 3 and not names & victims and {p["spec"]["nodeName"] for p in web} == {"node1"} \
            else []
    wait_for(moved, timeout=180, what=f"{sorted(victims)} replaced by pods on node1")
    assert "NotReady" in lab_cluster.kubectl("get", "node", "node2").stdout


def test_down_after_a_crash_removes_everything(lab_cluster: Lab, host_before: dict[str, str]) -> None:
    t = lab_topology.plan(lab_cluster.name, 2)
    state = lab.load(lab_cluster.data)
    assert state is not None
    _, procs, _ = state
    for p in procs:  # a crash: nobody gets to clean up
        if p.alive():
            os.kill(p.pid, signal.SIGKILL)
    down = subprocess.run([*SKIFF, "lab", "down", "--data-dir", str(lab_cluster.data)], capture_output=True,
                          text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert not set(os.listdir("/run/netns")) & set(t.namespaces)
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(lab_cluster.data) not in mounts
    for root in lab.cgroup_roots():
        assert not (root / t.cgroup).exists(), root / t.cgroup
    assert not any(p.alive() for p in procs)
    assert host_network() == host_before


@pytest.mark.xfail(strict=False, reason="known intermittent bug (CI at d530415): after lab down following a SIGKILL "
                   "crash, a re-up node's engine sometimes cannot join a container to its QoS cgroups "
                   "(devices.allow 'a *:* rwm' refused on skiff/kubepods/burstable), so its pods stay in "
                   "RunContainerError; passes otherwise (CI at 3b86852, local runs)")
def test_up_again_on_the_same_data_brings_the_cluster_back(lab_cluster: Lab) -> None:
    """After ``lab down`` (here, after the crash above), ``lab up`` on the same data directory keeps
    every object (etcd's data stays) and the pods run again: their old sandboxes lost their
    namespaces with the lab, so each node makes new ones."""
    up = subprocess.run([*SKIFF, "lab", "up", "--nodes", "2", "--name", lab_cluster.name, "--data-dir",
                         str(lab_cluster.data), "--port", str(free_port())], capture_output=True, text=True,
                        timeout=300)
    assert up.returncode == 0, up.stderr
    assert lab_cluster.json("get", "deployment", "web")["spec"]["replicas"] == 3  # kept in etcd
    assert wait_for(lambda: len(running_web(lab_cluster)) == 3, timeout=180, what="the web pods Running again")
    web = running_web(lab_cluster)
    t = lab_topology.plan(lab_cluster.name, 2)
    netns = {m.role: m.netns for m in t.nodes}
    p = web[0]
    fetch = ("import urllib.request; print(urllib.request.urlopen("
             f"'http://{p['status']['podIP']}/', timeout=5).read().decode().strip())")
    out = subprocess.run(["nsenter", f"--net=/run/netns/{netns[p['spec']['nodeName']]}", sys.executable, "-c", fetch],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip().startswith(f"hello from {p['metadata']['name']}"), out.stderr
