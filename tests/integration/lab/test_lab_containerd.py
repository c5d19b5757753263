"""A lab whose second node runs Debian's containerd (its CRI plugin) under the same agent.

The agent speaks only CRI: the same ``skiff agent`` drives containerd 1.6 with runc on node2
while node1 runs Skiff's engine. The demo runs over both, pods reach each other across the
two runtimes without NAT, kubectl logs/exec reach the containerd pods, and ``lab down`` leaves
no process, cgroup, mount or namespace of containerd's behind.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from skiff.cmd import lab, lab_topology
from tests.integration.lab.test_lab import KUBECTL, SKIFF, Lab, _pod_exec, running_lab, wait_for
from tests.support.server import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mixed_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "c", "--nodes", "2", "--containerd-nodes", "1") as cluster:
        yield cluster


def test_node_reports_containerd(mixed_lab: Lab) -> None:
    nodes = {n["metadata"]["name"]: n["status"]["nodeInfo"]["containerRuntimeVersion"]
             for n in mixed_lab.json("get", "nodes")["items"]}
    assert nodes["node1"].startswith("skiff://") and nodes["node2"].startswith("containerd://1.6"), nodes


def test_demo_runs_on_containerd_and_reaches_across_runtimes(mixed_lab: Lab) -> None:
    def web_by_node() -> dict[str, dict]:
        pods = [p for p in mixed_lab.json("get", "pods", "-l", "app=web")["items"]
                if p["status"].get("phase") == "Running" and p["status"].get("podIP")]
        by = {p["spec"]["nodeName"]: p for p in pods}
        return by if len(pods) == 3 and set(by) == {"node1", "node2"} else {}
    by = wait_for(web_by_node, timeout=180, what="web Running on both nodes")
    on_ctrd, on_skiff = by["node2"], by["node1"]
    # each asks the other, across the runtimes and the nodes, straight to the pod IP
    for src, dst in ((on_ctrd, on_skiff), (on_skiff, on_ctrd)):
        out = _pod_exec(mixed_lab, src["metadata"]["name"],
                        f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {dst['status']['podIP']} 80 | tail -n 1")
        assert out.strip() == f"hello from {dst['metadata']['name']} on {dst['spec']['nodeName']}", out
    # the DaemonSet's pod on the containerd node, and its logs through kubectl
    reporters = wait_for(lambda: [p for p in mixed_lab.json("get", "pods", "-l", "app=node-reporter")["items"]
                                  if p["spec"]["nodeName"] == "node2" and p["status"].get("phase") == "Running"],
                         timeout=120, what="node-reporter on node2")
    logs = mixed_lab.kubectl("logs", reporters[0]["metadata"]["name"]).stdout
    assert "node2" in logs, logs


def test_port_forward_to_a_containerd_pod(mixed_lab: Lab) -> None:
    """kubectl's SPDY session reaches containerd's streaming server as the SPDY upgrade a kubelet
    sends (the agent unwraps the WebSocket tunnel); the Python client's v4 channels as they are."""
    from tests.integration.lab.test_lab_streaming import env_of, forwarding, get, http_get_over

    pod = wait_for(lambda: [p["metadata"]["name"] for p in mixed_lab.json("get", "pods", "-l", "app=web")["items"]
                            if p["spec"].get("nodeName") == "node2" and p["status"].get("phase") == "Running"],
                   timeout=180, what="a web pod Running on node2")[0]
    local = free_port()
    with forwarding([KUBECTL, "port-forward", f"pod/{pod}", f"{local}:80"], env_of(mixed_lab)) as f:
        f.forwarding(1)
        assert get(local) == f"hello from {pod} on node2"
    from kubernetes import client, config
    from kubernetes.stream import portforward

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(mixed_lab.kubeconfig)))
    pf = portforward(api.connect_get_namespaced_pod_portforward, pod, "default", ports="80")
    try:
        assert http_get_over(pf.socket(80)).decode().splitlines()[-1] == f"hello from {pod} on node2"
    finally:
        pf.close()


def test_exec_and_attach_with_stdin_on_containerd(mixed_lab: Lab) -> None:
    """kubectl's WebSocket streams reach containerd as the SPDY remote-command sessions a kubelet opens."""
    from tests.integration.lab.test_lab_streaming import env_of

    pod = wait_for(lambda: [p["metadata"]["name"] for p in mixed_lab.json("get", "pods", "-l", "app=web")["items"]
                            if p["spec"].get("nodeName") == "node2" and p["status"].get("phase") == "Running"],
                   timeout=180, what="a web pod Running on node2")[0]
    env = env_of(mixed_lab)
    p = subprocess.run([KUBECTL, "exec", "-i", pod, "--", "sh", "-c", "tr a-z A-Z; echo err >&2; exit 4"],
                       input="piped in\n", capture_output=True, text=True, env=env, timeout=60)
    assert (p.returncode, p.stdout) == (4, "PIPED IN\n") and "err\n" in p.stderr, p
    manifest = ("apiVersion: v1\nkind: Pod\nmetadata: {name: ctrd-reader}\nspec:\n  nodeName: node2\n"
                "  restartPolicy: Never\n  containers:\n  - name: main\n    image: busybox:1.36\n"
                "    stdin: true\n    stdinOnce: true\n    command: [sh, -c, 'tr a-z A-Z']\n")
    subprocess.run([KUBECTL, "--kubeconfig", str(mixed_lab.kubeconfig), "apply", "-f", "-"], input=manifest,
                   text=True, check=True, capture_output=True)
    wait_for(lambda: mixed_lab.json("get", "pod", "ctrd-reader")["status"].get("phase") == "Running", timeout=120,
             what="ctrd-reader Running")
    p = subprocess.run([KUBECTL, "attach", "-i", "ctrd-reader"], input="hello containerd\n", capture_output=True,
                       text=True, env=env, timeout=60)
    assert (p.returncode, p.stdout) == (0, "HELLO CONTAINERD\n"), p


def test_down_removes_containerds_cgroups_mounts_and_namespaces(mixed_lab: Lab) -> None:
    t = lab_topology.plan(mixed_lab.name, 2)
    state = lab.load(mixed_lab.data)
    assert state is not None
    procs = state[1]
    assert any(p.role == "node2-containerd" and p.alive() for p in procs)
    shims = [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit()
             and str(mixed_lab.data).encode() in _cmdline(int(d.name)) and b"containerd-shim" in _cmdline(int(d.name))]
    assert shims, "containerd runs its pods through shims"
    uids = [p["metadata"]["uid"] for p in mixed_lab.json("get", "pods", "-A")["items"]
            if p["spec"].get("nodeName") == "node2"]
    down = subprocess.run([*SKIFF, "lab", "down", "--data-dir", str(mixed_lab.data)], capture_output=True,
                          text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert not any(Path(f"/proc/{pid}").exists() and str(mixed_lab.data).encode() in _cmdline(pid) for pid in shims)
    assert not set(os.listdir("/run/netns")) & set(t.namespaces)
    assert str(mixed_lab.data) not in Path("/proc/self/mountinfo").read_text()
    for root in lab.cgroup_roots():
        assert not (root / t.cgroup).exists(), root / t.cgroup
        # nothing of node2's pods escaped to the top of a hierarchy (as a relative cgroup path would)
        assert not [u for u in uids if (root / "kubepods" / f"pod{u}").exists()], root


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
