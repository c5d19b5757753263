"""``--etcd-servers`` with a real 3-member etcd cluster on loopback; losing one member is survived."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from skiff.apiserver.etcd.embedded import find_etcd_binary, free_port
from tests.support.server import skiff_server

pytestmark = pytest.mark.integration


@pytest.fixture
def etcd_cluster(tmp_path: Path) -> Iterator[list[tuple[subprocess.Popen[bytes], str]]]:
    binary = find_etcd_binary()
    members = [(f"m{i}", free_port(), free_port()) for i in range(3)]
    initial = ",".join(f"{n}=http://127.0.0.1:{peer}" for n, _, peer in members)
    procs: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for name, client, peer in members:
            log = open(tmp_path / f"{name}.log", "wb")
            procs.append((subprocess.Popen([
                binary, "--name", name, "--data-dir", str(tmp_path / name),
                "--listen-client-urls", f"http://127.0.0.1:{client}",
                "--advertise-client-urls", f"http://127.0.0.1:{client}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-cluster", initial, "--initial-cluster-state", "new", "--log-level", "warn",
            ], stdout=log, stderr=log), f"http://127.0.0.1:{client}"))
        yield procs
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(10)


def kubectl(server, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(["kubectl", *args], env=server.env(), capture_output=True, text=True, timeout=60)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def test_server_on_three_member_cluster_survives_a_member(tmp_path: Path, etcd_cluster) -> None:
    endpoints = ",".join(url for _, url in etcd_cluster)
    with skiff_server(tmp_path / "server", args=("--etcd-servers", endpoints,
                                                 "--disable", "scheduler,controllers")) as server:
        kubectl(server, "create", "configmap", "before", "--from-literal=a=1")
        first, _ = etcd_cluster[0]
        first.send_signal(signal.SIGKILL)  # our own etcd member, by its PID
        first.wait()
        # The remaining two members keep quorum; the server moves to them.
        for attempt in range(50):
            out = kubectl(server, "create", "configmap", "after", "--from-literal=b=2", check=False)
            if out.returncode == 0 or "already exists" in out.stderr:
                break
        names = json.loads(kubectl(server, "get", "configmaps", "-o", "json").stdout)["items"]
        assert {"before", "after"} <= {i["metadata"]["name"] for i in names}
    assert not os.path.exists(tmp_path / "server" / "etcd"), "an external cluster must not start an embedded etcd"
