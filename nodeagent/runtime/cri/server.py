"""The CRI v1 gRPC server of the engine (``skiff daemon --cri unix://PATH``).

:func:`attach_cri` wires a :class:`CriRuntime` onto a running :class:`Engine`: the gRPC
server starts after the engine's subsystems (container manager, image store) and stops
before them. The servicers only unpack requests and map :class:`CriError` to gRPC status.
"""
from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc

from skiff.nodeagent.runtime.cri import api_pb2 as pb
from skiff.nodeagent.runtime.cri import api_pb2_grpc as pbg
from skiff.nodeagent.runtime.cri.runtime import RUNTIME_API_VERSION, RUNTIME_NAME, CriError, CriRuntime

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class CriOptions:
    endpoint: str
    cni_conf_dir: str = ""
    cni_bin_dirs: list[str] = field(default_factory=lambda: ["/usr/lib/cni", "/opt/cni/bin"])
    mirrors: list[str] = field(default_factory=list)


def _guard(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await fn(self, request, context)
        except CriError as exc:
            await context.abort(exc.code, exc.message)
        except grpc.RpcError:
            raise
        except Exception as exc:
            if type(exc).__name__ == "AbortError":
                raise
            log.exception("CRI %s failed", fn.__name__)
            await context.abort(grpc.StatusCode.UNKNOWN, f"{fn.__name__}: {exc}")
        raise AssertionError("unreachable")
    return wrapper


class RuntimeServicer(pbg.RuntimeServiceServicer):
    def __init__(self, rt: CriRuntime) -> None:
        self.rt = rt

    @_guard
    async def Version(self, request: pb.VersionRequest, context: Any) -> pb.VersionResponse:
        from skiff.nodeagent.runtime.engine import ENGINE_VERSION

        return pb.VersionResponse(version="0.1.0", runtime_name=RUNTIME_NAME, runtime_version=ENGINE_VERSION,
                                  runtime_api_version=RUNTIME_API_VERSION)

    @_guard
    async def Status(self, request: pb.StatusRequest, context: Any) -> pb.StatusResponse:
        return self.rt.status()

    @_guard
    async def UpdateRuntimeConfig(self, request: pb.UpdateRuntimeConfigRequest, context: Any) -> pb.UpdateRuntimeConfigResponse:
        self.rt.update_runtime_config(request.runtime_config.network_config.pod_cidr)
        return pb.UpdateRuntimeConfigResponse()

    @_guard
    async def RunPodSandbox(self, request: pb.RunPodSandboxRequest, context: Any) -> pb.RunPodSandboxResponse:
        return pb.RunPodSandboxResponse(pod_sandbox_id=await self.rt.run_pod_sandbox(request))

    @_guard
    async def StopPodSandbox(self, request: pb.StopPodSandboxRequest, context: Any) -> pb.StopPodSandboxResponse:
        await self.rt.stop_pod_sandbox(request.pod_sandbox_id)
        return pb.StopPodSandboxResponse()

    @_guard
    async def RemovePodSandbox(self, request: pb.RemovePodSandboxRequest, context: Any) -> pb.RemovePodSandboxResponse:
        await self.rt.remove_pod_sandbox(request.pod_sandbox_id)
        return pb.RemovePodSandboxResponse()

    @_guard
    async def PodSandboxStatus(self, request: pb.PodSandboxStatusRequest, context: Any) -> pb.PodSandboxStatusResponse:
        return self.rt.pod_sandbox_status(request.pod_sandbox_id, request.verbose)

    @_guard
    async def ListPodSandbox(self, request: pb.ListPodSandboxRequest, context: Any) -> pb.ListPodSandboxResponse:
        return pb.ListPodSandboxResponse(items=self.rt.list_pod_sandbox(request.filter))

    @_guard
    async def CreateContainer(self, request: pb.CreateContainerRequest, context: Any) -> pb.CreateContainerResponse:
        return pb.CreateContainerResponse(container_id=await self.rt.create_container(request))

    @_guard
    async def StartContainer(self, request: pb.StartContainerRequest, context: Any) -> pb.StartContainerResponse:
        await self.rt.start_container(request.container_id)
        return pb.StartContainerResponse()

    @_guard
    async def StopContainer(self, request: pb.StopContainerRequest, context: Any) -> pb.StopContainerResponse:
        await self.rt.stop_container(request.container_id, request.timeout)
        return pb.StopContainerResponse()

    @_guard
    async def UpdateContainerResources(self, request: pb.UpdateContainerResourcesRequest,
                                       context: Any) -> pb.UpdateContainerResourcesResponse:
        await self.rt.update_container_resources(request.container_id, request.linux)
        return pb.UpdateContainerResourcesResponse()

    @_guard
    async def RemoveContainer(self, request: pb.RemoveContainerRequest, context: Any) -> pb.RemoveContainerResponse:
        await self.rt.remove_container(request.container_id)
        return pb.RemoveContainerResponse()

    @_guard
    async def ListContainers(self, request: pb.ListContainersRequest, context: Any) -> pb.ListContainersResponse:
        return pb.ListContainersResponse(containers=self.rt.list_containers(request.filter))

    @_guard
    async def ContainerStatus(self, request: pb.ContainerStatusRequest, context: Any) -> pb.ContainerStatusResponse:
        return self.rt.container_status(request.container_id, request.verbose)

    @_guard
    async def ExecSync(self, request: pb.ExecSyncRequest, context: Any) -> pb.ExecSyncResponse:
        return await self.rt.exec_sync(request.container_id, list(request.cmd), request.timeout)

    @_guard
    async def Exec(self, request: pb.ExecRequest, context: Any) -> pb.ExecResponse:
        return pb.ExecResponse(url=self.rt.exec_url(request))

    @_guard
    async def Attach(self, request: pb.AttachRequest, context: Any) -> pb.AttachResponse:
        return pb.AttachResponse(url=self.rt.attach_url(request))

    @_guard
    async def PortForward(self, request: pb.PortForwardRequest, context: Any) -> pb.PortForwardResponse:
        return pb.PortForwardResponse(url=self.rt.portforward_url(request))

    @_guard
    async def ContainerStats(self, request: pb.ContainerStatsRequest, context: Any) -> pb.ContainerStatsResponse:
        return pb.ContainerStatsResponse(stats=self.rt.container_stats(request.container_id))

    @_guard
    async def ListContainerStats(self, request: pb.ListContainerStatsRequest, context: Any) -> pb.ListContainerStatsResponse:
        f = request.filter
        cf = pb.ContainerFilter(id=f.id, pod_sandbox_id=f.pod_sandbox_id, label_selector=dict(f.label_selector))
        return pb.ListContainerStatsResponse(
            stats=[self.rt.container_stats(c.id) for c in self.rt.list_containers(cf)])


class ImageServicer(pbg.ImageServiceServicer):
    def __init__(self, rt: CriRuntime) -> None:
        self.rt = rt

    @_guard
    async def ListImages(self, request: pb.ListImagesRequest, context: Any) -> pb.ListImagesResponse:
        return pb.ListImagesResponse(images=self.rt.list_images(request.filter))

    @_guard
    async def ImageStatus(self, request: pb.ImageStatusRequest, context: Any) -> pb.ImageStatusResponse:
        return self.rt.image_status(request.image.image)

    @_guard
    async def PullImage(self, request: pb.PullImageRequest, context: Any) -> pb.PullImageResponse:
        return pb.PullImageResponse(image_ref=await self.rt.pull_image(request.image.image, request.auth))

    @_guard
    async def RemoveImage(self, request: pb.RemoveImageRequest, context: Any) -> pb.RemoveImageResponse:
        await self.rt.remove_image(request.image.image)
        return pb.RemoveImageResponse()

    @_guard
    async def ImageFsInfo(self, request: pb.ImageFsInfoRequest, context: Any) -> pb.ImageFsInfoResponse:
        return self.rt.image_fs_info()


def _ns_modes(manager: Any) -> None:
    """Let the container manager join namespaces by path (``ns:PATH`` modes, as podman).

    The manager (engine part 2) resolves ``host`` and ``container:ID`` modes; sandbox
    namespaces are files, so wrap its resolver on this instance only.
    TODO(engine part 2): fold ``ns:PATH`` into ContainerManager._namespaces and drop this.
    """
    original = manager._namespaces
    keys = (("PidMode", "pid"), ("UTSMode", "uts"), ("IpcMode", "ipc"), ("NetworkMode", "network"))

    def resolve(rec: dict[str, Any], netns: str | None) -> dict[str, str | None]:
        host = rec["HostConfig"]
        paths = {t: str(host[k])[3:] for k, t in keys if str(host.get(k) or "").startswith("ns:")}
        if not paths:
            return original(rec, netns)  # type: ignore[no-any-return]
        shadow = dict(rec)
        shadow["HostConfig"] = {k: v for k, v in host.items()
                                if not (k in dict(keys) and str(v or "").startswith("ns:"))}
        ns: dict[str, str | None] = original(shadow, netns)
        ns.update(paths)
        return ns

    manager._namespaces = resolve


def socket_path(endpoint: str) -> Path:
    if not endpoint.startswith("unix://"):
        raise SystemExit(f"--cri {endpoint!r}: only unix://PATH is supported")
    return Path(endpoint[len("unix://"):])


def attach_cri(engine: Any, options: CriOptions) -> CriRuntime:
    """Serve CRI on ``options.endpoint`` while the engine runs (call after the Docker API
    app has attached the container manager)."""
    state = engine.root / "cri"
    rt = CriRuntime(engine, state_dir=state,
                    cni_conf_dir=Path(options.cni_conf_dir) if options.cni_conf_dir else state / "net.d",
                    cni_bin_dirs=options.cni_bin_dirs, mirrors=options.mirrors)
    holder: dict[str, grpc.aio.Server] = {}
    path = socket_path(options.endpoint)

    async def start(_: Any) -> None:
        if engine.get("containers") is None:
            raise RuntimeError("CRI: the engine has no container manager")
        _ns_modes(engine.containers)
        rt.load()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", 16 << 20),
                                          ("grpc.max_send_message_length", 32 << 20)])
        pbg.add_RuntimeServiceServicer_to_server(RuntimeServicer(rt), server)
        pbg.add_ImageServiceServicer_to_server(ImageServicer(rt), server)
        server.add_insecure_port(f"unix://{path}")
        await rt.streaming.start()
        await server.start()
        os.chmod(path, 0o600)
        holder["server"] = server
        log.info("CRI v1 serving on unix://%s", path)

    async def stop(_: Any) -> None:
        server = holder.pop("server", None)
        if server is not None:
            await server.stop(grace=2)
        await rt.streaming.stop()

    engine.on_startup(start)
    engine.on_shutdown(stop)
    engine.attach("cri", rt)
    return rt
