"""Fixtures for the CRI tests: a network namespace made by the test, a registry holding
busybox inside it, and ``skiff daemon --cri`` inside it, driven by a real gRPC client.

Everything the engine creates (pod namespaces, veths, the cni0 bridge, container cgroups
under the daemon's own cgroup) lives in that namespace or under the daemon's root, and is
removed in ``finally`` even when a test fails.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from skiff.nodeagent.runtime.cri import api_pb2_grpc as pbg
from tests.support.cri import remove_everything, unmount_all
from tests.support.engine import (
    RunningDaemon,
    RunningRegistry,
    docker_registry,
    network_namespace,
    push_test_images,
    skiff_daemon,
    wait_for,
)

NODE_ADDR = "10.211.0.1"
POD_CIDR = "10.222.1.0/24"


@dataclass
class Cri:
    daemon: RunningDaemon
    registry: RunningRegistry
    netns: str
    channel: grpc.Channel
    runtime: pbg.RuntimeServiceStub
    images: pbg.ImageServiceStub

    @property
    def image(self) -> str:
        return f"{self.registry.host}/busybox:latest"

    def in_netns(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nsenter", f"--net=/run/netns/{self.netns}", *argv],
                              capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def cri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cri]:
    work = tmp_path_factory.mktemp("cri")
    sock = work / "cri.sock"
    with network_namespace(f"{NODE_ADDR}/24") as ns:
        try:
            with docker_registry(work / "registry", netns=ns) as reg:
                push_test_images(reg, only="busybox")
                with skiff_daemon(work / "engine", netns=ns, args=("--cri", f"unix://{sock}")) as d:
                    client: Cri | None = None
                    try:
                        wait_for(sock.exists, timeout=20, what="CRI socket", proc=d.process, log=d.log)
                        channel = grpc.insecure_channel(f"unix://{sock}")
                        client = Cri(daemon=d, registry=reg, netns=ns, channel=channel,
                                     runtime=pbg.RuntimeServiceStub(channel), images=pbg.ImageServiceStub(channel))
                        yield client
                    finally:
                        if client is not None:
                            client.channel.close()
                        remove_everything(sock, d)
        finally:
            unmount_all(work)
