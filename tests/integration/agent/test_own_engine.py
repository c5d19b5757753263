"""``skiff agent`` with no ``--runtime-endpoint`` starts its own engine (as the lab runs it);
restarting the agent (and with it the engine) leaves a running pod's containers alone.
"""
from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.agent.test_agent_pods import Cluster, node_ready, pod_manifest
from tests.support.cri import remove_everything, unmount_all
from tests.support.engine import docker_registry, network_namespace, push_test_images, skiff_daemon, stop_process
from tests.support.server import skiff_server

pytestmark = pytest.mark.integration
NODE = "solo"


@dataclass
class Solo:
    k: Cluster
    argv: list[str]
    root: Path
    agent: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.k.agent_log, "ab") as out:
            self.agent = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.agent is not None:
            stop_process(self.agent, 20)


def engine_pids(root: Path) -> list[int]:
    """PIDs of engines whose --root is under ``root`` (ours, by construction)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"daemon" in cmd and any(a.startswith(str(root).encode()) for a in cmd):
                out.append(int(entry.name))
    return out


@pytest.fixture(scope="module")
def solo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Solo]:
    work = tmp_path_factory.mktemp("solo")
    root = work / "agent"
    with network_namespace("10.218.0.1/24") as ns:
        s = None
        try:
            with docker_registry(work / "registry", netns=ns) as reg, skiff_server(work / "server", netns=ns) as srv:
                push_test_images(reg, only="busybox")
                token = (srv.data_dir / "token").read_text().strip()
                argv = ["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-m", "skiff.cmd.main", "agent",
                        "--server", srv.url, "--token", token, "--node-name", NODE, "--root", str(root),
                        "--ca-file", str(srv.data_dir / "pki" / "ca.crt")]
                k = Cluster(ns, srv, None, root / "engine" / "cri.sock", f"{reg.host}/busybox:latest",  # type: ignore[arg-type]
                            work / "agent.log")
                s = Solo(k, argv, root)
                s.start()
                try:
                    k.wait(lambda: (n := k.get("node", NODE)) and node_ready(n), "node Ready")
                    yield s
                finally:
                    k.close()
                    s.stop()
                    # containers outlive their engine: empty it with an engine of our own on its root
                    with skiff_daemon(root / "engine", netns=ns,
                                      args=("--cri", f"unix://{root / 'engine' / 'cri-cleanup.sock'}")) as d:
                        remove_everything(root / "engine" / "cri-cleanup.sock", d)
        finally:
            for pid in engine_pids(root):
                subprocess.run(["kill", "-9", str(pid)], check=False)
            unmount_all(work)


def test_pod_survives_an_agent_and_engine_restart(solo: Solo) -> None:
    k = solo.k
    name = f"keep-{uuid.uuid4().hex[:6]}"
    k.kubectl("apply", "-f", "-", input=pod_manifest(name, k.image, containers=[
        {"name": "main", "image": k.image, "command": ["sh", "-c", "echo up; exec sleep 3600"]}]))
    before = k.wait(lambda: (p := k.get("pod", name)) and (p.get("status") or {}).get("phase") == "Running" and p, "Running")
    assert engine_pids(solo.root), "the agent started no engine"
    solo.stop()
    assert not engine_pids(solo.root), "the engine outlived its agent"
    solo.start()
    k.wait(lambda: (n := k.get("node", NODE)) and node_ready(n), "node Ready again")
    cid = before["status"]["containerStatuses"][0]["containerID"]
    # the agent re-reads the runtime and keeps reporting the same container, never restarted
    k.wait(lambda: (p := k.get("pod", name)) and (lease := k.get("lease", NODE, "-n", "kube-node-lease"))
           and lease["spec"]["renewTime"] > before["metadata"]["creationTimestamp"] and p, "agent back")
    k.wait(lambda: "exec output" in k.kubectl("exec", name, "--", "echo", "exec output", check=False).stdout,
           "exec on the adopted container")
    after = k.get("pod", name)
    cs = after["status"]["containerStatuses"][0]
    assert (cs["containerID"], cs["restartCount"], list(cs["state"])) == (cid, 0, ["running"])
    assert after["status"]["podIP"] == before["status"]["podIP"]
    assert k.kubectl("logs", name).stdout == "up\n"
    k.kubectl("delete", "pod", name, "--wait=false")
    k.wait(lambda: k.get("pod", name) is None, "pod gone")
