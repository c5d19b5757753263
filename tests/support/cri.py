"""Clean-up of what a CRI engine made for a test: sandboxes, containers, mounts."""
from __future__ import annotations

import subprocess
from pathlib import Path

import grpc

from skiff.nodeagent.runtime.cri import api_pb2 as pb
from skiff.nodeagent.runtime.cri import api_pb2_grpc as pbg
from tests.support.engine import RunningDaemon


def mounts_under(root: Path) -> list[str]:
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            target = line.split()[1].replace("\\040", " ")
            if target.startswith(str(root) + "/"):
                out.append(target)
    return out


def unmount_all(root: Path) -> None:
    for m in reversed(mounts_under(root)):
        subprocess.run(["umount", "-l", m], capture_output=True)


def remove_everything(cri_socket: Path, daemon: RunningDaemon) -> None:
    """Every sandbox through CRI (CNI DEL, namespaces), then every container the engine has."""
    if cri_socket.exists():
        with grpc.insecure_channel(f"unix://{cri_socket}") as ch:
            rt = pbg.RuntimeServiceStub(ch)
            try:
                for sb in rt.ListPodSandbox(pb.ListPodSandboxRequest(), timeout=10).items:
                    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sb.id), timeout=30)
                    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sb.id), timeout=30)
            except grpc.RpcError:
                pass
    ids = daemon.docker("ps", "-aq", check=False).stdout.split()
    if ids:
        daemon.docker("rm", "-f", *ids, check=False)
