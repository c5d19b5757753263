"""``skiff daemon --cri`` driven by the generated CRI v1 stubs, as the kubelet drives a runtime.

The daemon runs in a network namespace the test made; pods get addresses from a podCIDR
through the standard ``bridge`` + ``host-local`` CNI plugins in /usr/lib/cni.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import uuid
from pathlib import Path

import grpc
import pytest

from skiff.nodeagent.runtime.cri import api_pb2 as pb
from tests.integration.cri.conftest import POD_CIDR, Cri
from tests.support.engine import wait_for

pytestmark = pytest.mark.integration

CRI_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) (stdout|stderr) [FP] ")


def sandbox_config(name: str, log_dir: Path, **labels: str) -> pb.PodSandboxConfig:
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, namespace="default", uid=uuid.uuid4().hex, attempt=0),
        hostname=name, log_directory=str(log_dir), labels={"app": name, **labels},
        linux=pb.LinuxPodSandboxConfig())


def container_config(name: str, cri: Cri, *cmd: str, env: dict[str, str] | None = None,
                     workdir: str = "") -> pb.ContainerConfig:
    return pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=name, attempt=0), image=pb.ImageSpec(image=cri.image),
        command=["sh", "-c"], args=list(cmd), working_dir=workdir,
        envs=[pb.KeyValue(key=k, value=v) for k, v in (env or {}).items()],
        log_path=f"{name}/0.log", labels={"container": name})


def run_container(cri: Cri, sid: str, sconf: pb.PodSandboxConfig, conf: pb.ContainerConfig) -> str:
    cid = cri.runtime.CreateContainer(pb.CreateContainerRequest(
        pod_sandbox_id=sid, config=conf, sandbox_config=sconf), timeout=60).container_id
    cri.runtime.StartContainer(pb.StartContainerRequest(container_id=cid), timeout=60)
    return cid


def status(cri: Cri, cid: str) -> pb.ContainerStatus:
    return cri.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=cid), timeout=10).status


def memory_cgroup(pid: int) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return path
    raise AssertionError(f"no memory cgroup for {pid}")


def pull(cri: Cri) -> str:
    return cri.images.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image=cri.image)), timeout=120).image_ref


@pytest.fixture(scope="module")
def network(cri: Cri) -> Cri:
    cri.runtime.UpdateRuntimeConfig(pb.UpdateRuntimeConfigRequest(
        runtime_config=pb.RuntimeConfig(network_config=pb.NetworkConfig(pod_cidr=POD_CIDR))), timeout=10)
    pull(cri)
    return cri


def test_version_and_status(network: Cri) -> None:
    v = network.runtime.Version(pb.VersionRequest(version="v1"), timeout=10)
    assert (v.runtime_name, v.runtime_api_version) == ("skiff", "v1")
    conds = {c.type: c for c in network.runtime.Status(pb.StatusRequest(), timeout=10).status.conditions}
    assert conds["RuntimeReady"].status and conds["NetworkReady"].status


def test_images(network: Cri) -> None:
    ref = pull(network)
    assert ref.startswith("sha256:")
    listed = network.images.ListImages(pb.ListImagesRequest(), timeout=10).images
    assert any(network.image in i.repo_tags for i in listed)
    st = network.images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=network.image)), timeout=10)
    assert st.image.id == ref and st.image.size > 0
    missing = network.images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image="nosuch:1")), timeout=10)
    assert not missing.HasField("image")
    fs = network.images.ImageFsInfo(pb.ImageFsInfoRequest(), timeout=10)
    assert fs.image_filesystems[0].used_bytes.value > 0


def test_pull_of_a_missing_image_names_it(network: Cri) -> None:
    with pytest.raises(grpc.RpcError) as err:
        network.images.PullImage(pb.PullImageRequest(
            image=pb.ImageSpec(image=f"{network.registry.host}/nosuch:1")), timeout=60)
    assert "nosuch" in err.value.details()


def test_pod_lifecycle(network: Cri, tmp_path: Path) -> None:
    cri = network
    sconf = sandbox_config("web", tmp_path / "logs")
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sconf), timeout=60).pod_sandbox_id
    st = cri.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sid, verbose=True), timeout=10)
    assert st.status.state == pb.SANDBOX_READY
    ip = st.status.network.ip
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(POD_CIDR)
    netns = json.loads(st.info["info"])["netns"]
    listed = cri.runtime.ListPodSandbox(pb.ListPodSandboxRequest(
        filter=pb.PodSandboxFilter(label_selector={"app": "web"})), timeout=10).items
    assert [s.id for s in listed] == [sid]

    # two containers, one localhost: httpd in one, wget in the other
    web = run_container(cri, sid, sconf, container_config(
        "httpd", cri, "mkdir -p /www && echo hello-$GREETING > /www/index.html && echo started && "
        "echo oops >&2 && exec httpd -f -p 8080 -h /www", env={"GREETING": "pod"}))
    assert status(cri, web).state == pb.CONTAINER_RUNNING
    side = run_container(cri, sid, sconf, container_config("side", cri, "pwd; sleep 1000", workdir="/tmp"))
    wait_for(lambda: cri.runtime.ExecSync(pb.ExecSyncRequest(
        container_id=side, cmd=["wget", "-qO-", "http://127.0.0.1:8080/"], timeout=5), timeout=10).exit_code == 0,
        timeout=20, what="httpd answering on the pod's localhost")
    res = cri.runtime.ExecSync(pb.ExecSyncRequest(
        container_id=side, cmd=["wget", "-qO-", "http://127.0.0.1:8080/"], timeout=5), timeout=10)
    assert res.stdout == b"hello-pod\n"
    fail = cri.runtime.ExecSync(pb.ExecSyncRequest(container_id=side, cmd=["sh", "-c", "echo e >&2; exit 7"]),
                                timeout=10)
    assert (fail.exit_code, fail.stderr) == (7, b"e\n")
    # the node (the test's namespace) reaches the pod by its IP through the bridge
    probe = cri.in_netns("python3", "-c", f"import urllib.request as u; print(u.urlopen('http://{ip}:8080/').read())")
    assert "hello-pod" in probe.stdout, probe.stderr

    # the container's cgroup nests under the engine's own
    pid = json.loads(cri.runtime.ContainerStatus(pb.ContainerStatusRequest(
        container_id=web, verbose=True), timeout=10).info["info"])["pid"]
    engine_mem = memory_cgroup(cri.daemon.process.pid)
    web_mem = memory_cgroup(pid)
    assert web_mem.startswith(engine_mem.rstrip("/") + "/") and web in web_mem
    cgroup_dir = Path("/sys/fs/cgroup/memory") / web_mem.lstrip("/")
    assert cgroup_dir.is_dir()

    ids = {c.id for c in cri.runtime.ListContainers(pb.ListContainersRequest(
        filter=pb.ContainerFilter(pod_sandbox_id=sid)), timeout=10).containers}
    assert ids == {web, side}

    # the CRI log format, at log_directory/log_path
    log = tmp_path / "logs" / "httpd" / "0.log"
    assert status(cri, web).log_path == str(log)
    wait_for(lambda: log.exists() and "oops" in log.read_text(), timeout=10, what="container log")
    lines = log.read_text().splitlines()
    assert all(CRI_LOG_LINE.match(line) for line in lines), lines
    assert any(line.endswith(" stdout F started") for line in lines), lines
    assert any(line.endswith(" stderr F oops") for line in lines), lines
    side_log = (tmp_path / "logs" / "side" / "0.log")
    wait_for(lambda: side_log.exists() and side_log.read_text().endswith("stdout F /tmp\n"), timeout=10,
             what="working directory in the side log")

    cri.runtime.StopContainer(pb.StopContainerRequest(container_id=side, timeout=2), timeout=30)
    stopped = status(cri, side)
    assert stopped.state == pb.CONTAINER_EXITED and stopped.finished_at > 0
    cri.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=side), timeout=30)
    with pytest.raises(grpc.RpcError) as err:
        status(cri, side)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    veths_before = cri.in_netns("ip", "-o", "link", "show", "type", "veth").stdout
    cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    st = cri.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sid), timeout=10)
    assert st.status.state == pb.SANDBOX_NOTREADY
    assert status(cri, web).state == pb.CONTAINER_EXITED
    veths_after = cri.in_netns("ip", "-o", "link", "show", "type", "veth").stdout
    assert len(veths_after.splitlines()) == len(veths_before.splitlines()) - 1
    cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    assert not os.path.exists(netns)
    assert not cgroup_dir.exists()
    assert not cri.runtime.ListPodSandbox(pb.ListPodSandboxRequest(
        filter=pb.PodSandboxFilter(id=sid)), timeout=10).items
    assert not cri.runtime.ListContainers(pb.ListContainersRequest(
        filter=pb.ContainerFilter(pod_sandbox_id=sid)), timeout=10).containers


def test_exited_container_reports_exit_code(network: Cri, tmp_path: Path) -> None:
    cri = network
    sconf = sandbox_config("job", tmp_path / "logs")
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sconf), timeout=60).pod_sandbox_id
    try:
        cid = run_container(cri, sid, sconf, container_config("fail", cri, "echo bye; exit 3"))
        st = wait_for(lambda: (s := status(cri, cid)).state == pb.CONTAINER_EXITED and s, timeout=20,
                      what="container exit")
        assert (st.exit_code, st.reason) == (3, "Error")
        ok = run_container(cri, sid, sconf, container_config("ok", cri, "true"))
        st = wait_for(lambda: (s := status(cri, ok)).state == pb.CONTAINER_EXITED and s, timeout=20,
                      what="container exit")
        assert (st.exit_code, st.reason) == (0, "Completed")
        sleeper = run_container(cri, sid, sconf, container_config("sleeper", cri, "exec sleep 1000"))
        with pytest.raises(grpc.RpcError) as err:
            cri.runtime.ExecSync(pb.ExecSyncRequest(container_id=sleeper, cmd=["sleep", "30"], timeout=1), timeout=20)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60)
        cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)


def test_create_in_unknown_sandbox_is_not_found(network: Cri) -> None:
    with pytest.raises(grpc.RpcError) as err:
        network.runtime.CreateContainer(pb.CreateContainerRequest(
            pod_sandbox_id="nosuch", config=container_config("x", network, "true")), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_exec_streams_through_the_url_exec_returns(network: Cri, tmp_path: Path) -> None:
    import asyncio

    import aiohttp

    cri = network
    sconf = sandbox_config("stream", tmp_path / "logs")
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sconf), timeout=60).pod_sandbox_id
    try:
        cid = run_container(cri, sid, sconf, container_config("main", cri, "exec sleep 1000"))
        url = cri.runtime.Exec(pb.ExecRequest(container_id=cid, cmd=["sh", "-c", "cat; echo bye >&2; exit 5"],
                                              stdin=True, stdout=True, stderr=True), timeout=10).url
        assert url.startswith("http://127.0.0.1:")

        async def talk() -> dict[int, bytes]:
            got: dict[int, bytes] = {}
            async with aiohttp.ClientSession() as s, s.ws_connect(url, protocols=("v5.channel.k8s.io",)) as ws:
                assert ws.protocol == "v5.channel.k8s.io"
                await ws.send_bytes(b"\x00piped\n")
                await ws.send_bytes(b"\xff\x00")  # v5: close stdin
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        got[msg.data[0]] = got.get(msg.data[0], b"") + msg.data[1:]
            return got

        # the streaming server listens on the loopback of the engine's namespace: talk from a
        # thread that entered it
        from concurrent.futures import ThreadPoolExecutor

        from tests.support.netns_api import enter_netns

        with ThreadPoolExecutor(1, initializer=enter_netns, initargs=(cri.netns,)) as pool:
            got = pool.submit(lambda: asyncio.run(asyncio.wait_for(talk(), 30))).result()
        assert (got[1], got[2]) == (b"piped\n", b"bye\n")
        assert json.loads(got[3])["details"]["causes"] == [{"reason": "ExitCode", "message": "5"}]
    finally:
        cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60)
        cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)


def test_update_container_resources_reaches_the_cgroup(network: Cri, tmp_path: Path) -> None:
    """UpdateContainerResources (the kubelet's in-place resize) rewrites a running container's limits."""
    cri = network
    sconf = sandbox_config("resize", tmp_path / "logs")
    sid = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sconf), timeout=60).pod_sandbox_id
    try:
        conf = container_config("c", cri, "sleep 1000")
        conf.linux.resources.memory_limit_in_bytes = 64 << 20
        cid = run_container(cri, sid, sconf, conf)
        pid = int(json.loads(cri.runtime.ContainerStatus(pb.ContainerStatusRequest(
            container_id=cid, verbose=True), timeout=10).info["info"])["pid"])
        limit = Path("/sys/fs/cgroup/memory") / memory_cgroup(pid).lstrip("/") / "memory.limit_in_bytes"
        assert int(limit.read_text()) == 64 << 20
        cri.runtime.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
            container_id=cid, linux=pb.LinuxContainerResources(memory_limit_in_bytes=96 << 20, cpu_shares=256)),
            timeout=30)
        assert int(limit.read_text()) == 96 << 20
        with pytest.raises(grpc.RpcError) as err:
            cri.runtime.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
                container_id="no-such-container", linux=pb.LinuxContainerResources(cpu_shares=2)), timeout=30)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60)
        cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)
