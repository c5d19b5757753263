"""CRI calls translated to the engine: sandboxes here, containers through the container
manager (engine part 2), images through the image store (engine part 1).

Thin on purpose: a CRI container is an engine container (Docker-shaped record) labelled
with its sandbox, CRI name, attempt, labels and annotations, joining the sandbox's
namespaces by path (``ns:PATH`` modes, as podman spells them). Restarts are the agent's
job, so every container has restart policy ``no``. Errors raise :class:`CriError` with a
gRPC status code and a message naming the object and the step.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import grpc

from skiff.nodeagent.runtime.containers.execs import write_ctl
from skiff.nodeagent.runtime.containers.manager import ContainerError
from skiff.nodeagent.runtime.cri import api_pb2 as pb
from skiff.nodeagent.runtime.cri import cni as cnimod
from skiff.nodeagent.runtime.cri import hostports
from skiff.nodeagent.runtime.cri.logs import LogCopier
from skiff.nodeagent.runtime.cri.streaming import StreamingServer
from skiff.nodeagent.runtime.cri.sandbox import Sandbox, SandboxStore, resolv_conf

log = logging.getLogger(__name__)

RUNTIME_NAME = "skiff"
RUNTIME_API_VERSION = "v1"
L_SANDBOX = "io.skiff.cri.sandbox-id"
L_NAME = "io.skiff.cri.container-name"
L_ATTEMPT = "io.skiff.cri.attempt"
L_LABELS = "io.skiff.cri.labels"
L_ANNOTATIONS = "io.skiff.cri.annotations"
L_IMAGE = "io.skiff.cri.image"
L_LOG = "io.skiff.cri.log-path"


class CriError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def not_found(what: str) -> CriError:
    return CriError(grpc.StatusCode.NOT_FOUND, what)


def rfc3339_to_ns(text: str) -> int:
    if not text or text.startswith("0001-"):
        return 0
    base, _, frac = text.rstrip("Z").partition(".")
    t = dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)


def port_mappings(c: pb.PodSandboxConfig) -> list[hostports.Mapping]:
    """The sandbox's hostPort mappings (a mapping without a host port publishes nothing)."""
    out = []
    for pm in c.port_mappings:
        if pm.host_port <= 0:
            continue
        if not 0 < pm.container_port < 65536 or pm.host_port > 65535:
            raise CriError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"port_mappings: ports must be 1-65535 (got {pm.host_port}->{pm.container_port})")
        out.append(hostports.Mapping(hostports.PROTOCOLS.get(pm.protocol, "tcp"), pm.host_port, pm.container_port,
                                     pm.host_ip))
    return out


def pod_cgroup_path(engine_parent: str, cri_parent: str) -> str:
    """Where a pod's cgroup goes: a relative CRI cgroup_parent (the agent's QoS hierarchy)
    nests under the engine's own parent for containers, so pods stay inside the engine's tree."""
    if not cri_parent:
        return ""
    if cri_parent.startswith("/"):
        return cri_parent.rstrip("/")
    return f"{engine_parent.rstrip('/')}/{cri_parent.strip('/')}" if engine_parent else cri_parent.strip("/")


def pod_cgroup_resources(res: pb.LinuxContainerResources) -> dict[str, Any]:
    """The pod-level limits as OCI resources; devices stay open (each container sets its own)."""
    out: dict[str, Any] = {"devices": [{"allow": True, "access": "rwm"}]}
    if res.memory_limit_in_bytes:
        out["memory"] = {"limit": res.memory_limit_in_bytes}
    cpu = {k: v for k, v in (("shares", res.cpu_shares), ("quota", res.cpu_quota), ("period", res.cpu_period)) if v}
    if cpu:
        out["cpu"] = cpu
    return out


QOS_LEVELS = ("burstable", "besteffort")


def qos_level_shares(pods: Iterable[tuple[str, int]]) -> dict[str, int]:
    """(pod cgroup path, pod cpu shares) -> the cpu shares of each QoS level cgroup above them."""
    out: dict[str, int] = {}
    for path, shares in pods:
        parent, _, leaf = path.rstrip("/").rpartition("/")
        level = parent.rsplit("/", 1)[-1]
        if not leaf.startswith("pod") or level not in QOS_LEVELS:
            continue
        out[parent] = 2 if level == "besteffort" else out.get(parent, 0) + max(shares, 0)
    return {k: max(v, 2) for k, v in out.items()}


def set_cgroup_shares(path: str, shares: int) -> None:
    from skiff.nodeagent.runtime.cgroups.manager import for_container

    cg = for_container(path)
    cg.create()
    cg.apply({"cpu": {"shares": shares}, "devices": [{"allow": True, "access": "rwm"}]})


def make_pod_cgroup(path: str, res: pb.LinuxContainerResources) -> None:
    from skiff.nodeagent.runtime.cgroups.manager import for_container

    cg = for_container(path)
    cg.create()
    cg.apply(pod_cgroup_resources(res))


def remove_pod_cgroup(path: str) -> None:
    from skiff.nodeagent.runtime.cgroups.manager import CgroupError, for_container

    try:
        for_container(path).destroy()
    except (CgroupError, OSError) as exc:
        log.warning("pod cgroup %s: %s", path, exc)


def docker_name(meta: pb.ContainerMetadata, sb: Sandbox) -> str:
    raw = f"k8s_{meta.name}_{sb.name}_{sb.namespace}_{sb.uid}_{meta.attempt}"
    return "".join(c if c.isalnum() or c in "_.-" else "-" for c in raw)


def container_body(req: pb.CreateContainerRequest, sb: Sandbox, sb_dir: Path) -> dict[str, Any]:
    """The engine's create body for a CRI container (pure)."""
    cfg = req.config
    res = cfg.linux.resources
    sec = cfg.linux.security_context
    host: dict[str, Any] = {
        "RestartPolicy": {"Name": "no"},
        "NetworkMode": "host" if sb.host_network else f"ns:{sb.ns_path(sb_dir, 'net')}",
        "IpcMode": f"ns:{sb.ns_path(sb_dir, 'ipc')}",
        "UTSMode": f"ns:{sb.ns_path(sb_dir, 'uts')}",
        "Privileged": bool(sec.privileged),
        "ReadonlyRootfs": bool(sec.readonly_rootfs),
        "CapAdd": list(sec.capabilities.add_capabilities) or None,
        "CapDrop": list(sec.capabilities.drop_capabilities) or None,
    }
    if res.memory_limit_in_bytes:
        host["Memory"] = res.memory_limit_in_bytes
    if res.cpu_shares:
        host["CpuShares"] = res.cpu_shares
    if res.cpu_quota > 0:
        host["CpuQuota"] = res.cpu_quota
        host["CpuPeriod"] = res.cpu_period or 100000
    if sec.namespace_options.pid == pb.NODE:
        host["PidMode"] = "host"
    if sb.cgroup_path:
        host["CgroupParent"] = sb.cgroup_path  # the container's cgroup inside its pod's
    user = ""
    if sec.HasField("run_as_user"):
        user = str(sec.run_as_user.value)
        if sec.HasField("run_as_group"):
            user += f":{sec.run_as_group.value}"
    elif sec.run_as_username:
        user = sec.run_as_username
    labels = {
        L_SANDBOX: sb.id, L_NAME: cfg.metadata.name, L_ATTEMPT: str(cfg.metadata.attempt),
        L_LABELS: json.dumps(dict(cfg.labels)), L_ANNOTATIONS: json.dumps(dict(cfg.annotations)),
        L_IMAGE: cfg.image.user_specified_image or cfg.image.image,
        L_LOG: os.path.join(sb.log_directory, cfg.log_path) if sb.log_directory and cfg.log_path else "",
    }
    return {
        "Image": cfg.image.image,
        "Entrypoint": list(cfg.command) or None,
        "Cmd": list(cfg.args) or None,
        "Env": [f"{kv.key}={kv.value}" for kv in cfg.envs],
        "WorkingDir": cfg.working_dir,
        "Hostname": sb.hostname or sb.name,
        "User": user,
        "Tty": cfg.tty, "OpenStdin": cfg.stdin, "StdinOnce": cfg.stdin_once,
        "Labels": labels,
        "HostConfig": host,
    }


def mount_points(cfg: pb.ContainerConfig) -> list[dict[str, Any]]:
    out = []
    for m in cfg.mounts:
        if not m.host_path:
            raise CriError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"mount {m.container_path}: host_path is required (image mounts are not supported)")
        if not os.path.exists(m.host_path):
            raise CriError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"mount {m.container_path}: host path {m.host_path} does not exist")
        out.append({"Destination": m.container_path, "Source": os.path.realpath(m.host_path),
                    "RW": not m.readonly, "Type": "bind"})
    return out


def container_state(rec: dict[str, Any]) -> int:
    st = rec["State"]
    if st["Running"] or st.get("Restarting"):
        return pb.CONTAINER_RUNNING
    if st["Status"] == "created":
        return pb.CONTAINER_CREATED
    if st["Status"] in ("exited", "dead"):
        return pb.CONTAINER_EXITED
    return pb.CONTAINER_UNKNOWN


def is_cri(rec: dict[str, Any]) -> bool:
    return L_SANDBOX in (rec["Config"].get("Labels") or {})


def _meta(rec: dict[str, Any]) -> pb.ContainerMetadata:
    lab = rec["Config"]["Labels"]
    return pb.ContainerMetadata(name=lab[L_NAME], attempt=int(lab.get(L_ATTEMPT) or 0))


def container_message(rec: dict[str, Any]) -> pb.Container:
    lab = rec["Config"]["Labels"]
    return pb.Container(
        id=rec["Id"], pod_sandbox_id=lab[L_SANDBOX], metadata=_meta(rec),
        image=pb.ImageSpec(image=lab.get(L_IMAGE, "")), image_ref=rec["Image"], image_id=rec["Image"],
        state=container_state(rec), created_at=rfc3339_to_ns(rec["Created"]),
        labels=json.loads(lab.get(L_LABELS) or "{}"), annotations=json.loads(lab.get(L_ANNOTATIONS) or "{}"))


def container_status(rec: dict[str, Any]) -> pb.ContainerStatus:
    lab = rec["Config"]["Labels"]
    st = rec["State"]
    state = container_state(rec)
    reason = message = ""
    if state == pb.CONTAINER_EXITED:
        reason = "OOMKilled" if st.get("OOMKilled") else ("Completed" if st["ExitCode"] == 0 else "Error")
        message = st.get("Error") or ""
    mounts = [pb.Mount(container_path=m["Destination"], host_path=m["Source"], readonly=not m.get("RW", True))
              for m in rec.get("MountPoints") or []]
    return pb.ContainerStatus(
        id=rec["Id"], metadata=_meta(rec), state=state, created_at=rfc3339_to_ns(rec["Created"]),
        started_at=rfc3339_to_ns(st.get("StartedAt", "")), finished_at=rfc3339_to_ns(st.get("FinishedAt", "")),
        exit_code=st["ExitCode"] if state == pb.CONTAINER_EXITED else 0,
        image=pb.ImageSpec(image=lab.get(L_IMAGE, "")), image_ref=rec["Image"], image_id=rec["Image"],
        reason=reason, message=message, labels=json.loads(lab.get(L_LABELS) or "{}"),
        annotations=json.loads(lab.get(L_ANNOTATIONS) or "{}"), mounts=mounts, log_path=lab.get(L_LOG, ""))


def matches(labels: dict[str, str], selector: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


EXEC_OUTPUT_CAP = 16 << 20


def run_exec(argv: list[str], timeout: float | None) -> tuple[int, bytes, bytes] | None:
    """Run an exec to its end (None on timeout). Output goes to files, not pipes: a process
    the command leaves in the background must not hold the call open; and no asyncio
    subprocess pipes (uvloop closes them under short-lived children)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(EXEC_OUTPUT_CAP), err.read(EXEC_OUTPUT_CAP)


class ShimAttacher:
    """Attach through the container manager: the shim's attach socket and its control fifo."""

    def __init__(self, containers: Any) -> None:
        self.containers = containers

    async def open(self, container_id: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await self.containers.attach_streams(container_id)  # type: ignore[no-any-return]

    def _control(self, container_id: str, line: str) -> None:
        write_ctl(self.containers.cdir(container_id) / "shim" / "ctl", line)

    def resize(self, container_id: str, rows: int, cols: int) -> None:
        self._control(container_id, f"resize {rows} {cols}\n")

    def close_stdin(self, container_id: str) -> None:
        try:
            once = bool(self.containers.get(container_id)["Config"].get("StdinOnce"))
        except Exception:  # noqa: BLE001 - removed under us
            return
        if once:
            self._control(container_id, "close-stdin\n")


class CriRuntime:
    """The state and operations behind both CRI services."""

    def __init__(self, engine: Any, *, state_dir: Path, cni_conf_dir: Path, cni_bin_dirs: list[str],
                 mirrors: list[str] | None = None) -> None:
        self.engine = engine
        self.state_dir = state_dir
        self.sandboxes = SandboxStore(state_dir / "sandboxes")
        self.cni_conf_dir = cni_conf_dir
        self.cni_bin_dirs = cni_bin_dirs
        self.mirrors = [m.removeprefix("http://").removeprefix("https://").rstrip("/") for m in mirrors or []]
        self.pod_cidr = ""
        self._pulls: dict[str, asyncio.Task[str]] = {}
        self._logs: dict[str, LogCopier] = {}
        self._streaming: StreamingServer | None = None

    @property
    def streaming(self) -> StreamingServer:
        if self._streaming is None:
            self._streaming = StreamingServer(list(self.containers.runtime_cmd),
                                              attacher=ShimAttacher(self.containers))
        return self._streaming

    def attach_url(self, req: pb.AttachRequest) -> str:
        rec = self._rec(req.container_id)
        if not rec["State"]["Running"]:
            raise CriError(grpc.StatusCode.FAILED_PRECONDITION, f"Attach: container {req.container_id} is not running")
        if not (req.stdin or req.stdout or req.stderr):
            raise CriError(grpc.StatusCode.INVALID_ARGUMENT, "Attach: one of stdin, stdout, or stderr must be set")
        tty = bool(rec["Config"].get("Tty"))  # the container's stdio decides, whatever was asked
        stdin = req.stdin and bool(rec["Config"].get("OpenStdin"))
        return self.streaming.attach_url(rec["Id"], tty=tty, stdin=stdin, stdout=req.stdout,
                                         stderr=req.stderr and not tty)

    def portforward_url(self, req: pb.PortForwardRequest) -> str:
        sb = self._sandbox(req.pod_sandbox_id)
        if not sb.ready:
            raise CriError(grpc.StatusCode.FAILED_PRECONDITION, f"PortForward: pod sandbox {sb.id} is not ready")
        bad = [p for p in req.port if not 0 < p < 65536]
        if bad:
            raise CriError(grpc.StatusCode.INVALID_ARGUMENT, f"PortForward: invalid port {bad[0]}")
        netns = "" if sb.host_network else sb.ns_path(self.sandboxes.dir, "net")
        return self.streaming.portforward_url(sb.id, netns, list(req.port))

    def exec_url(self, req: pb.ExecRequest) -> str:
        rec = self._rec(req.container_id)
        if not rec["State"]["Running"]:
            raise CriError(grpc.StatusCode.FAILED_PRECONDITION, f"Exec: container {req.container_id} is not running")
        if not req.cmd:
            raise CriError(grpc.StatusCode.INVALID_ARGUMENT, "Exec: cmd is empty")
        return self.streaming.exec_url(rec["Id"], list(req.cmd), tty=req.tty, stdin=req.stdin)

    @property
    def containers(self) -> Any:
        return self.engine.containers

    def load(self) -> None:
        """Read sandboxes back and resume the CRI log copies (call inside the event loop)."""
        self.sandboxes.load()
        for rec in self.containers.list():
            if is_cri(rec) and rec["Config"]["Labels"].get(L_LOG):
                self._copier(rec).start()
        try:
            self.pod_cidr = (self.state_dir / "pod-cidr").read_text().strip()
        except OSError:
            pass

    # -- runtime -------------------------------------------------------------
    def cni(self) -> cnimod.Cni | None:
        conf = cnimod.load_conflist(self.cni_conf_dir)
        if conf is None and self.pod_cidr:
            conf = cnimod.default_conflist(self.pod_cidr, data_dir=str(self.state_dir / "ipam"))
        return cnimod.Cni(conf, self.cni_bin_dirs) if conf else None

    def update_runtime_config(self, pod_cidr: str) -> None:
        if pod_cidr and pod_cidr != self.pod_cidr:
            self.pod_cidr = pod_cidr
            (self.state_dir / "pod-cidr").write_text(pod_cidr)

    def status(self) -> pb.StatusResponse:
        net_ready = self.cni() is not None
        conds = [pb.RuntimeCondition(type="RuntimeReady", status=True),
                 pb.RuntimeCondition(type="NetworkReady", status=net_ready,
                                     reason="" if net_ready else "NetworkPluginNotReady",
                                     message="" if net_ready else "no CNI config and no podCIDR yet")]
        return pb.StatusResponse(status=pb.RuntimeStatus(conditions=conds),
                                 runtime_handlers=[pb.RuntimeHandler(name="")])

    # -- sandboxes -----------------------------------------------------------
    async def run_pod_sandbox(self, req: pb.RunPodSandboxRequest) -> str:
        c = req.config
        host_net = c.linux.security_context.namespace_options.network == pb.NODE
        for existing in self.sandboxes.items.values():
            if (existing.uid, existing.attempt) == (c.metadata.uid, c.metadata.attempt) and existing.ready \
                    and existing.uid:
                return existing.id
        sb = Sandbox(id=secrets.token_hex(32), name=c.metadata.name, uid=c.metadata.uid,
                     namespace=c.metadata.namespace, attempt=c.metadata.attempt, created_at=time.time_ns(),
                     hostname=c.hostname, log_directory=c.log_directory, labels=dict(c.labels),
                     annotations=dict(c.annotations), dns_servers=list(c.dns_config.servers),
                     dns_searches=list(c.dns_config.searches), dns_options=list(c.dns_config.options),
                     host_network=host_net, runtime_handler=req.runtime_handler,
                     port_mappings=[vars(m) for m in port_mappings(c)],
                     cgroup_path=pod_cgroup_path(self.containers.cgroup_parent, c.linux.cgroup_parent),
                     cpu_shares=c.linux.resources.cpu_shares)
        if sb.port_mappings and not host_net:
            clash = hostports.conflicts(self._pod_ports(sb), [self._pod_ports(o) for o in self._port_holders()])
            if clash:
                raise CriError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"RunPodSandbox {c.metadata.namespace}/{c.metadata.name}: {clash}")
        self.sandboxes.save(sb)
        try:
            if sb.cgroup_path:
                await asyncio.to_thread(make_pod_cgroup, sb.cgroup_path, c.linux.resources)
                await self._sync_qos_levels(sb)
            await asyncio.to_thread(self.sandboxes.create_namespaces, sb)
            if not host_net:
                net = self.cni()
                if net is None:
                    raise CriError(grpc.StatusCode.FAILED_PRECONDITION,
                                   "RunPodSandbox: network not ready: no CNI config and no podCIDR")
                sb.network_attached = True
                self.sandboxes.save(sb)
                result = await net.add(self._attachment(sb))
                sb.ip = cnimod.pod_ip(result)
                if sb.port_mappings and not net.handles("portMappings"):
                    self.sandboxes.save(sb)
                    await self.sync_host_ports()
            if c.log_directory:
                os.makedirs(c.log_directory, exist_ok=True)
            self.sandboxes.save(sb)
        except BaseException as exc:
            await self._discard(sb)
            if isinstance(exc, CriError):
                raise
            if isinstance(exc, Exception):
                raise CriError(grpc.StatusCode.UNKNOWN,
                               f"RunPodSandbox {c.metadata.namespace}/{c.metadata.name}: {exc}") from None
            raise
        return sb.id

    async def _discard(self, sb: Sandbox) -> None:
        """Undo a sandbox that failed half-way; its record goes whatever the teardown says."""
        try:
            await self._teardown_sandbox(sb)
        except Exception as exc:  # noqa: BLE001 - logged; the record must not outlive the failure
            log.warning("sandbox %s: teardown after a failed start: %s", sb.id[:12], exc)
            await asyncio.to_thread(self.sandboxes.release_namespaces, sb)
        finally:
            self.sandboxes.remove(sb)
            if sb.cgroup_path and not any(o.cgroup_path == sb.cgroup_path for o in self.sandboxes.items.values()):
                await asyncio.to_thread(remove_pod_cgroup, sb.cgroup_path)

    async def _sync_qos_levels(self, pending: Sandbox | None = None) -> None:
        """The burstable/besteffort levels' cpu shares follow the pods below them (the kubelet's
        QoS container manager): best effort gets the minimum, burstable the sum of its pods'."""
        boxes = [*self.sandboxes.items.values(), *([pending] if pending is not None else [])]
        levels = qos_level_shares({s.id: (s.cgroup_path, s.cpu_shares) for s in boxes}.values())
        for path, shares in levels.items():
            try:
                await asyncio.to_thread(set_cgroup_shares, path, shares)
            except (OSError, ValueError) as exc:
                log.warning("QoS cgroup %s: %s", path, exc)

    def _attachment(self, sb: Sandbox) -> cnimod.Attachment:
        mappings = [hostports.Mapping(**m).as_cni() for m in sb.port_mappings]
        return cnimod.Attachment(sb.id, sb.ns_path(self.sandboxes.dir, "net"), args=self._cni_args(sb),
                                 runtime_config=(("portMappings", mappings),) if mappings else ())

    @staticmethod
    def _pod_ports(sb: Sandbox) -> hostports.PodPorts:
        return hostports.PodPorts(f"{sb.namespace}/{sb.name}", sb.ip,
                                  tuple(hostports.Mapping(**m) for m in sb.port_mappings))

    def _port_holders(self, skip: str = "") -> list[Sandbox]:
        return [s for s in self.sandboxes.items.values()
                if s.ready and s.port_mappings and not s.host_network and s.id != skip]

    async def sync_host_ports(self, skip: str = "") -> None:
        """Rebuild the hostPort DNAT chains from every ready sandbox (not ``skip``), unless the
        CNI config's portmap plugin does it."""
        net = self.cni()
        if net is not None and net.handles("portMappings"):
            return
        pods = [self._pod_ports(s) for s in self._port_holders(skip) if s.ip]
        await asyncio.to_thread(hostports.apply, pods, pod_cidr=self.pod_cidr)

    @staticmethod
    def _cni_args(sb: Sandbox) -> str:
        return (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={sb.namespace};K8S_POD_NAME={sb.name};"
                f"K8S_POD_INFRA_CONTAINER_ID={sb.id};K8S_POD_UID={sb.uid}")

    def _sandbox(self, sid: str) -> Sandbox:
        try:
            return self.sandboxes.get(sid)
        except KeyError:
            raise not_found(f"pod sandbox {sid} not found") from None

    def _pod_containers(self, sid: str) -> list[dict[str, Any]]:
        return [r for r in self.containers.list() if is_cri(r) and r["Config"]["Labels"][L_SANDBOX] == sid]

    async def _teardown_sandbox(self, sb: Sandbox) -> None:
        if sb.network_attached:
            net = self.cni()
            if net is not None:
                try:
                    await net.delete(self._attachment(sb))
                except cnimod.CniError as exc:
                    log.warning("sandbox %s: %s", sb.id[:12], exc)
            sb.network_attached = False
            if sb.port_mappings:
                try:
                    await self.sync_host_ports(skip=sb.id)
                except hostports.HostPortError as exc:
                    log.warning("sandbox %s: host ports: %s", sb.id[:12], exc)
        await asyncio.to_thread(self.sandboxes.release_namespaces, sb)

    async def stop_pod_sandbox(self, sid: str) -> None:
        try:
            sb = self.sandboxes.get(sid)
        except KeyError:
            return
        await asyncio.gather(*(self.containers.stop(r["Id"], 0) for r in self._pod_containers(sb.id)
                               if r["State"]["Running"]))
        if sb.ready or sb.network_attached:
            await self._teardown_sandbox(sb)
            sb.ready = False
            self.sandboxes.save(sb)

    async def remove_pod_sandbox(self, sid: str) -> None:
        try:
            sb = self.sandboxes.get(sid)
        except KeyError:
            return
        for r in self._pod_containers(sb.id):
            await self.remove_container(r["Id"])
        await self._teardown_sandbox(sb)
        self.sandboxes.remove(sb)
        if sb.cgroup_path and not any(o.cgroup_path == sb.cgroup_path for o in self.sandboxes.items.values()):
            await asyncio.to_thread(remove_pod_cgroup, sb.cgroup_path)
            await self._sync_qos_levels()

    def _sandbox_status(self, sb: Sandbox) -> pb.PodSandboxStatus:
        state = pb.SANDBOX_READY if sb.ready else pb.SANDBOX_NOTREADY
        ns = pb.NamespaceOption(network=pb.NODE if sb.host_network else pb.POD, pid=pb.CONTAINER, ipc=pb.POD)
        return pb.PodSandboxStatus(
            id=sb.id, metadata=pb.PodSandboxMetadata(name=sb.name, uid=sb.uid, namespace=sb.namespace,
                                                     attempt=sb.attempt),
            state=state, created_at=sb.created_at, network=pb.PodSandboxNetworkStatus(ip=sb.ip),
            linux=pb.LinuxPodSandboxStatus(namespaces=pb.Namespace(options=ns)),
            labels=sb.labels, annotations=sb.annotations, runtime_handler=sb.runtime_handler)

    def pod_sandbox_status(self, sid: str, verbose: bool) -> pb.PodSandboxStatusResponse:
        sb = self._sandbox(sid)
        info = {"info": json.dumps({"netns": sb.ns_path(self.sandboxes.dir, "net"), "ip": sb.ip})} if verbose else {}
        return pb.PodSandboxStatusResponse(status=self._sandbox_status(sb), info=info, timestamp=time.time_ns())

    def list_pod_sandbox(self, f: pb.PodSandboxFilter) -> list[pb.PodSandbox]:
        out = []
        for sb in sorted(self.sandboxes.items.values(), key=lambda s: s.created_at):
            st = self._sandbox_status(sb)
            if f.id and not sb.id.startswith(f.id):
                continue
            if f.HasField("state") and f.state.state != st.state:
                continue
            if not matches(sb.labels, dict(f.label_selector)):
                continue
            out.append(pb.PodSandbox(id=sb.id, metadata=st.metadata, state=st.state, created_at=sb.created_at,
                                     labels=sb.labels, annotations=sb.annotations,
                                     runtime_handler=sb.runtime_handler))
        return out

    # -- containers ----------------------------------------------------------
    def _rec(self, cid: str) -> dict[str, Any]:
        try:
            rec: dict[str, Any] = self.containers.get(cid)
        except Exception:  # noqa: BLE001 - the manager's NoSuchContainer
            raise not_found(f"container {cid} not found") from None
        if not is_cri(rec):
            raise not_found(f"container {cid} is not a CRI container")
        return rec

    async def create_container(self, req: pb.CreateContainerRequest) -> str:
        sb = self._sandbox(req.pod_sandbox_id)
        if not sb.ready:
            raise CriError(grpc.StatusCode.FAILED_PRECONDITION, f"pod sandbox {sb.id} is not ready")
        name = docker_name(req.config.metadata, sb)
        body = container_body(req, sb, self.sandboxes.dir)
        mounts = mount_points(req.config)
        try:
            rec = await self.containers.create(body, name)
        except Exception as exc:  # noqa: BLE001 - the manager's ContainerError
            status = getattr(exc, "status", 500)
            code = {404: grpc.StatusCode.NOT_FOUND, 409: grpc.StatusCode.ALREADY_EXISTS,
                    400: grpc.StatusCode.INVALID_ARGUMENT}.get(status, grpc.StatusCode.UNKNOWN)
            raise CriError(code, f"CreateContainer {req.config.metadata.name} in pod {sb.namespace}/{sb.name}: "
                                 f"{getattr(exc, 'message', exc)}") from None
        rec["MountPoints"] = mounts
        log_path = rec["Config"]["Labels"].get(L_LOG)
        if log_path:  # the engine keeps its json-file log; a copier writes the CRI one
            os.makedirs(os.path.dirname(log_path), exist_ok=True)
        d = self.containers.cdir(rec["Id"])
        fallback = (d / "resolv.conf").read_text()
        (d / "resolv.conf").write_text(resolv_conf(sb, fallback))
        if sb.ip:
            with open(d / "hosts", "a") as f:
                f.write(f"{sb.ip}\t{sb.hostname or sb.name}\n")
        self.containers.save(rec)
        return str(rec["Id"])

    def _copier(self, rec: dict[str, Any]) -> LogCopier:
        cid = rec["Id"]
        copier = self._logs.get(cid)
        if copier is None:
            def running() -> bool:
                try:
                    return bool(self.containers.get(cid)["State"]["Running"])
                except Exception:  # noqa: BLE001 - removed under us
                    return False
            copier = self._logs[cid] = LogCopier(rec["LogPath"], rec["Config"]["Labels"][L_LOG], running)
        return copier

    async def start_container(self, cid: str) -> None:
        rec = self._rec(cid)
        try:
            await self.containers.start(rec["Id"])
        except Exception as exc:  # noqa: BLE001
            raise CriError(grpc.StatusCode.UNKNOWN,
                           f"StartContainer {rec['Config']['Labels'][L_NAME]}: {getattr(exc, 'message', exc)}") from None
        finally:
            if rec["Config"]["Labels"].get(L_LOG):
                self._copier(rec).start()

    async def update_container_resources(self, cid: str, res: pb.LinuxContainerResources) -> None:
        """New limits for a container (the kubelet's in-place resize): written to its cgroup."""
        rec = self._rec(cid)
        changes: dict[str, Any] = {"Memory": res.memory_limit_in_bytes, "CpuShares": res.cpu_shares,
                                   "CpusetCpus": res.cpuset_cpus, "CpusetMems": res.cpuset_mems}
        if res.cpu_quota > 0:
            changes.update(CpuQuota=res.cpu_quota, CpuPeriod=res.cpu_period or 100000)
        if res.memory_limit_in_bytes and rec["HostConfig"].get("MemorySwap"):
            changes["MemorySwap"] = res.memory_limit_in_bytes  # no swap beyond the new limit
        try:
            await self.containers.update(rec["Id"], changes)
        except ContainerError as exc:
            raise CriError(grpc.StatusCode.INVALID_ARGUMENT if exc.status == 400 else grpc.StatusCode.INTERNAL,
                           f"UpdateContainerResources {cid}: {exc.message}") from None

    async def stop_container(self, cid: str, timeout: int) -> None:
        rec = self._rec(cid)
        await self.containers.stop(rec["Id"], max(0, timeout))

    async def remove_container(self, cid: str) -> None:
        try:
            rec = self._rec(cid)
        except CriError:
            return
        await self.containers.remove(rec["Id"], force=True)
        copier = self._logs.pop(rec["Id"], None)
        if copier is not None:
            await copier.stop()

    def list_containers(self, f: pb.ContainerFilter) -> list[pb.Container]:
        out = []
        for rec in self.containers.list():
            if not is_cri(rec):
                continue
            msg = container_message(rec)
            if f.id and not rec["Id"].startswith(f.id):
                continue
            if f.pod_sandbox_id and not msg.pod_sandbox_id.startswith(f.pod_sandbox_id):
                continue
            if f.HasField("state") and f.state.state != msg.state:
                continue
            if not matches(dict(msg.labels), dict(f.label_selector)):
                continue
            out.append(msg)
        return out

    def container_status(self, cid: str, verbose: bool) -> pb.ContainerStatusResponse:
        rec = self._rec(cid)
        copier = self._logs.get(rec["Id"])
        if copier is not None and not rec["State"]["Running"]:
            copier.copy_once()  # an exited container's log is complete once its status says so
        info = {"info": json.dumps({"pid": rec["State"].get("Pid", 0)})} if verbose else {}
        return pb.ContainerStatusResponse(status=container_status(rec), info=info)

    async def exec_sync(self, cid: str, cmd: list[str], timeout: int) -> pb.ExecSyncResponse:
        rec = self._rec(cid)
        if not rec["State"]["Running"]:
            raise CriError(grpc.StatusCode.FAILED_PRECONDITION, f"ExecSync: container {cid} is not running")
        if not cmd:
            raise CriError(grpc.StatusCode.INVALID_ARGUMENT, "ExecSync: cmd is empty")
        argv = [*self.containers.runtime_cmd, "exec", rec["Id"], *cmd]
        result = await asyncio.to_thread(run_exec, argv, timeout if timeout > 0 else None)
        if result is None:
            raise CriError(grpc.StatusCode.DEADLINE_EXCEEDED, f"ExecSync: command {cmd!r} timed out after {timeout}s")
        code, out, err = result
        return pb.ExecSyncResponse(stdout=out, stderr=err, exit_code=code)

    def container_stats(self, cid: str) -> pb.ContainerStats:
        rec = self._rec(cid)
        now = time.time_ns()
        stats: dict[str, Any] = {}
        if rec["State"]["Running"]:
            try:
                stats = self.containers.stats(rec)
            except Exception:  # noqa: BLE001 - a container exiting under us
                stats = {}
        mem = stats.get("memory") or {}
        cpu = stats.get("cpu") or {}
        lab = rec["Config"]["Labels"]
        return pb.ContainerStats(
            attributes=pb.ContainerAttributes(id=rec["Id"], metadata=_meta(rec),
                                              labels=json.loads(lab.get(L_LABELS) or "{}"),
                                              annotations=json.loads(lab.get(L_ANNOTATIONS) or "{}")),
            cpu=pb.CpuUsage(timestamp=now, usage_core_nano_seconds=pb.UInt64Value(value=int(cpu.get("usage_total", 0)))),
            memory=pb.MemoryUsage(timestamp=now,
                                  working_set_bytes=pb.UInt64Value(value=int(mem.get("usage", 0))),
                                  usage_bytes=pb.UInt64Value(value=int(mem.get("usage", 0)))),
        )

    # -- images --------------------------------------------------------------
    def _image_message(self, img: Any) -> pb.Image:
        user = str((img.config.get("config") or {}).get("User") or "")
        msg = pb.Image(id=img.id, repo_tags=list(img.repo_tags), repo_digests=list(img.repo_digests),
                       size=int(img.size or 1), spec=pb.ImageSpec(image=img.id))
        if user.split(":")[0].isdigit():
            msg.uid.value = int(user.split(":")[0])
        elif user:
            msg.username = user.split(":")[0]
        return msg

    def list_images(self, f: pb.ImageFilter) -> list[pb.Image]:
        imgs = self.engine.images.list_images()
        if f.image.image:
            want = self.engine.images.resolve_id(f.image.image)
            imgs = [i for i in imgs if i.id == want]
        return [self._image_message(i) for i in imgs]

    def image_status(self, text: str) -> pb.ImageStatusResponse:
        image_id = self.engine.images.resolve_id(text)
        if image_id is None:
            return pb.ImageStatusResponse()
        return pb.ImageStatusResponse(image=self._image_message(self.engine.images.get(image_id)))

    async def pull_image(self, text: str, auth: pb.AuthConfig) -> str:
        """Pull (once per reference at a time); through a mirror for Docker Hub names when set."""
        task = self._pulls.get(text)
        if task is None:
            task = asyncio.ensure_future(self._pull(text, auth))
            self._pulls[text] = task
            task.add_done_callback(lambda _t: self._pulls.pop(text, None))
        return await asyncio.shield(task)

    async def _pull(self, text: str, auth: pb.AuthConfig) -> str:
        from skiff.nodeagent.runtime.images import pull as pullmod
        from skiff.nodeagent.runtime.images import reference as refs

        try:
            ref = refs.with_default_tag(refs.parse_normalized(text))
        except Exception as exc:  # noqa: BLE001 - the parser's own error names the problem
            raise CriError(grpc.StatusCode.INVALID_ARGUMENT, f"PullImage {text!r}: {exc}") from None
        from skiff.nodeagent.runtime.images.auth import credentials_from_auth_config

        try:  # CRI's AuthConfig: username/password, or ``auth`` (base64 "user:pass"), or tokens
            creds = credentials_from_auth_config({
                "username": auth.username, "password": auth.password, "auth": auth.auth,
                "identitytoken": auth.identity_token, "registrytoken": auth.registry_token})
        except (ValueError, UnicodeDecodeError) as exc:
            raise CriError(grpc.StatusCode.INVALID_ARGUMENT, f"PullImage {text}: auth: {exc}") from None
        errors = []
        sources = [ref]
        if ref.domain == refs.DEFAULT_DOMAIN and self.mirrors:
            tail = f"{ref.path}@{ref.digest}" if ref.digest else f"{ref.path}:{ref.tag}"
            sources = [refs.parse_normalized(f"{m}/{tail}") for m in self.mirrors] + [ref]
        for src in sources:
            try:
                img = await pullmod.pull(self.engine.images, self.engine.registries, src,
                                         credentials=creds if src is ref else None)
            except Exception as exc:  # noqa: BLE001 - try the next source, report all
                errors.append(f"{src}: {exc}")
                continue
            if src is not ref and ref.tag:
                await self.engine.images.tag(img.id, str(ref))
            return str(img.id)
        raise CriError(grpc.StatusCode.UNKNOWN, f"PullImage {text}: " + "; ".join(errors))

    async def remove_image(self, text: str) -> None:
        if self.engine.images.resolve_id(text) is None:
            return
        try:
            await self.engine.images.delete(text, force=True)
        except Exception as exc:  # noqa: BLE001
            raise CriError(grpc.StatusCode.FAILED_PRECONDITION, f"RemoveImage {text}: {exc}") from None

    def image_fs_info(self) -> pb.ImageFsInfoResponse:
        root = str(self.engine.images.root)
        usage = pb.FilesystemUsage(timestamp=time.time_ns(), fs_id=pb.FilesystemIdentifier(mountpoint=root),
                                   used_bytes=pb.UInt64Value(value=int(self.engine.images.disk_usage())),
                                   inodes_used=pb.UInt64Value(value=0))
        return pb.ImageFsInfoResponse(image_filesystems=[usage])
