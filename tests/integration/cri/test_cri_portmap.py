"""hostPort through Debian's ``portmap`` CNI plugin: when the CNI config lists a plugin with the
``portMappings`` capability, the engine hands it the sandbox's port mappings as
``runtimeConfig`` (as containerd does) and writes none of its own rules. A daemon of its own,
with a conflist of bridge + host-local + portmap, in a namespace the test made.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from skiff.nodeagent.runtime.cri import api_pb2 as pb
from skiff.nodeagent.runtime.cri import api_pb2_grpc as pbg
from tests.integration.cri.conftest import Cri
from tests.integration.cri.test_cri_server import container_config, run_container, sandbox_config
from tests.support.cri import remove_everything, unmount_all
from tests.support.engine import docker_registry, network_namespace, push_test_images, skiff_daemon, wait_for

pytestmark = pytest.mark.integration
NODE = "10.212.0.1"
SUBNET = "10.223.1.0/24"
HOST_PORT = 18081


@pytest.fixture(scope="module")
def portmap_cri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cri]:
    work = tmp_path_factory.mktemp("portmap")
    sock = work / "cri.sock"
    conf_dir = work / "cni"
    conf_dir.mkdir()
    (conf_dir / "10-pods.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "pods", "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False,
             "ipam": {"type": "host-local", "dataDir": str(work / "ipam"), "ranges": [[{"subnet": SUBNET}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}]}))
    with network_namespace(f"{NODE}/24") as ns:
        try:
            with docker_registry(work / "registry", netns=ns) as reg:
                push_test_images(reg, only="busybox")
                with skiff_daemon(work / "engine", netns=ns,
                                  args=("--cri", f"unix://{sock}", "--cni-conf-dir", str(conf_dir))) as d:
                    client = None
                    try:
                        wait_for(sock.exists, timeout=20, what="CRI socket", proc=d.process, log=d.log)
                        channel = grpc.insecure_channel(f"unix://{sock}")
                        client = Cri(daemon=d, registry=reg, netns=ns, channel=channel,
                                     runtime=pbg.RuntimeServiceStub(channel), images=pbg.ImageServiceStub(channel))
                        client.images.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image=client.image)),
                                                timeout=120)
                        yield client
                    finally:
                        if client is not None:
                            client.channel.close()
                        remove_everything(sock, d)
        finally:
            unmount_all(work)


def fetch(cri: Cri, url: str) -> subprocess.CompletedProcess[str]:
    return cri.in_netns(sys.executable, "-c", f"import urllib.request as u; print(u.urlopen('{url}', timeout=5).read())")


def test_host_port_through_the_portmap_plugin(portmap_cri: Cri, tmp_path: Path) -> None:
    cri = portmap_cri
    sconf = sandbox_config("pm", tmp_path / "logs")
    sconf.port_mappings.append(pb.PortMapping(protocol=pb.TCP, container_port=8080, host_port=HOST_PORT))
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sconf), timeout=60).pod_sandbox_id
    run_container(cri, sid, sconf, container_config(
        "web", cri, "mkdir -p /www && echo via-portmap > /www/index.html && exec httpd -f -p 8080 -h /www"))
    wait_for(lambda: "via-portmap" in fetch(cri, f"http://{NODE}:{HOST_PORT}/").stdout, timeout=30,
             what="the page through the portmap plugin's DNAT")
    rules = cri.in_netns("iptables", "-w", "-t", "nat", "-S").stdout
    assert "CNI-HOSTPORT-DNAT" in rules and f"--dport {HOST_PORT}" in rules
    assert "SKIFFNODE-HOSTPORTS" not in rules  # the engine wrote none of its own
    cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    # DEL got the same runtimeConfig, so the plugin removed its rules
    assert f"--dport {HOST_PORT}" not in cri.in_netns("iptables", "-w", "-t", "nat", "-S").stdout
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)
