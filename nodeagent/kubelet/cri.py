"""The agent's CRI v1 client: the generated stubs over ``grpc.aio``, and the one read
the pod workers need — everything the runtime holds for one pod, as :class:`PodObs`.
"""
from __future__ import annotations

from typing import Any

import grpc

from skiff.nodeagent.runtime.cri import api_pb2 as pb
from skiff.nodeagent.runtime.cri import api_pb2_grpc as pbg

from .observed import POD_UID, ContainerObs, PodObs, container_obs, sandbox_obs

TIMEOUT = 60.0
STOP_MARGIN = 15.0


class CriClient:
    def __init__(self, endpoint: str) -> None:
        target = endpoint if endpoint.startswith("unix:") else f"unix://{endpoint}"
        self.channel = grpc.aio.insecure_channel(target)
        self.runtime = pbg.RuntimeServiceStub(self.channel)
        self.images = pbg.ImageServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def version(self) -> pb.VersionResponse:
        return await self.runtime.Version(pb.VersionRequest(version="v1"), timeout=TIMEOUT, wait_for_ready=True)

    async def network_ready(self) -> bool:
        st = await self.runtime.Status(pb.StatusRequest(), timeout=TIMEOUT)
        return any(c.type == "NetworkReady" and c.status for c in st.status.conditions)

    async def set_pod_cidr(self, cidr: str) -> None:
        await self.runtime.UpdateRuntimeConfig(pb.UpdateRuntimeConfigRequest(
            runtime_config=pb.RuntimeConfig(network_config=pb.NetworkConfig(pod_cidr=cidr))), timeout=TIMEOUT)

    # -- reads -----------------------------------------------------------------
    async def list_sandboxes(self, selector: dict[str, str] | None = None) -> list[Any]:
        f = pb.PodSandboxFilter(label_selector=selector or {})
        return list((await self.runtime.ListPodSandbox(pb.ListPodSandboxRequest(filter=f), timeout=TIMEOUT)).items)

    async def list_containers(self, selector: dict[str, str] | None = None) -> list[Any]:
        f = pb.ContainerFilter(label_selector=selector or {})
        return list((await self.runtime.ListContainers(pb.ListContainersRequest(filter=f),
                                                       timeout=TIMEOUT)).containers)

    async def observe(self, uid: str) -> PodObs:
        sel = {POD_UID: uid}
        obs = PodObs()
        for sb in await self.list_sandboxes(sel):
            ip = ""
            if sb.state == pb.SANDBOX_READY:
                try:
                    st = await self.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sb.id),
                                                             timeout=TIMEOUT)
                    ip = st.status.network.ip
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.NOT_FOUND:
                        raise
                    continue
            obs.sandboxes.append(sandbox_obs(sb, ip))
        for c in await self.list_containers(sel):
            try:
                st = await self.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=c.id),
                                                        timeout=TIMEOUT)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                continue
            obs.containers.append(container_obs(st.status, c.pod_sandbox_id))
        return obs

    # -- writes ----------------------------------------------------------------
    async def run_sandbox(self, config: pb.PodSandboxConfig) -> str:
        resp = await self.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config), timeout=TIMEOUT)
        return str(resp.pod_sandbox_id)

    async def stop_sandbox(self, sid: str) -> None:
        await self.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=TIMEOUT)

    async def remove_sandbox(self, sid: str) -> None:
        await self.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=TIMEOUT)

    async def list_images(self) -> list[tuple[list[str], int]]:
        """Every image the runtime holds: (its tags and digests, its size in bytes)."""
        resp = await self.images.ListImages(pb.ListImagesRequest(), timeout=TIMEOUT)
        return [([*i.repo_tags, *i.repo_digests], int(i.size)) for i in resp.images]

    async def image_ref(self, image: str) -> str:
        st = await self.images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=image)), timeout=TIMEOUT)
        return str(st.image.id) if st.HasField("image") else ""

    async def pull(self, image: str, auth: pb.AuthConfig | None = None) -> str:
        resp = await self.images.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image=image), auth=auth),
                                           timeout=600)
        return str(resp.image_ref)

    async def create_container(self, sid: str, config: pb.ContainerConfig, sandbox: pb.PodSandboxConfig) -> str:
        resp = await self.runtime.CreateContainer(pb.CreateContainerRequest(
            pod_sandbox_id=sid, config=config, sandbox_config=sandbox), timeout=TIMEOUT)
        return str(resp.container_id)

    async def start_container(self, cid: str) -> None:
        await self.runtime.StartContainer(pb.StartContainerRequest(container_id=cid), timeout=TIMEOUT)

    async def stop_container(self, cid: str, grace: int) -> None:
        await self.runtime.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=grace),
                                         timeout=grace + STOP_MARGIN)

    async def remove_container(self, cid: str) -> None:
        await self.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=cid), timeout=TIMEOUT)


def rpc_message(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return str(exc.details() or exc.code().name)
    return str(exc)


__all__ = ["ContainerObs", "CriClient", "rpc_message"]
