"""CRI request configs for a pod's sandbox and containers, built purely from the pod spec.

Labels and annotations follow the kubelet's (``io.kubernetes.pod.*``,
``io.kubernetes.container.name``), so tools that read them (crictl) see the usual
names; log paths are ``<logs>/<ns>_<name>_<uid>/<container>/<attempt>.log``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from skiff.api.quantity import parse_quantity
from skiff.nodeagent.runtime.cri import api_pb2 as pb

from . import envvars, qos
from .observed import CONTAINER_NAME, POD_NAME, POD_NAMESPACE, POD_UID

Obj = dict[str, Any]
CPU_PERIOD = 100_000
MIN_SHARES = 2


class SpecError(Exception):
    """A field of the pod the agent cannot run (names the field)."""


def default_pull_policy(image: str) -> str:
    """Kubernetes' default: ``Always`` for ``:latest`` or no tag, else ``IfNotPresent``."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def pod_labels(pod: Obj) -> dict[str, str]:
    m = pod.get("metadata") or {}
    return {POD_NAME: m.get("name", ""), POD_NAMESPACE: m.get("namespace", "default"), POD_UID: m.get("uid", "")}


def log_directory(pod: Obj, root: str) -> str:
    m = pod.get("metadata") or {}
    return os.path.join(root, f"{m.get('namespace', 'default')}_{m.get('name')}_{m.get('uid')}")


@dataclass(frozen=True)
class ClusterDNS:
    """The kubelet's ``--cluster-dns``/``--cluster-domain``, and the node's own search domains."""
    servers: tuple[str, ...] = ()
    domain: str = "cluster.local"
    host_searches: tuple[str, ...] = ()


def dns_config(pod: Obj, dns: ClusterDNS) -> pb.DNSConfig | None:
    """The pod's resolv.conf as the kubelet decides it; None means the node's own (``Default``).

    ``ClusterFirst`` (the default; ``Default`` for hostNetwork pods unless
    ``ClusterFirstWithHostNet``): the cluster's servers, ``<ns>.svc.<domain> svc.<domain>
    <domain>`` then the node's searches, ``ndots:5``. ``None``: only ``spec.dnsConfig``,
    which is merged into the others too (servers and searches appended, options by name)."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirst" and spec.get("hostNetwork"):
        policy = "Default"
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet") and not dns.servers:
        policy = "Default"  # no cluster DNS configured: the kubelet falls back likewise
    servers: list[str] = []
    searches: list[str] = []
    options: dict[str, str | None] = {}
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        ns = (pod.get("metadata") or {}).get("namespace") or "default"
        servers = list(dns.servers)
        searches = [f"{ns}.svc.{dns.domain}", f"svc.{dns.domain}", dns.domain, *dns.host_searches]
        options = {"ndots": "5"}
    extra = spec.get("dnsConfig") or {}
    if policy == "Default" and not extra:
        return None
    servers += [str(x) for x in extra.get("nameservers") or []]
    searches += [str(x) for x in extra.get("searches") or []]
    for o in extra.get("options") or []:
        options[str(o.get("name"))] = None if o.get("value") is None else str(o.get("value"))
    searches = list(dict.fromkeys(searches))[:32]
    return pb.DNSConfig(servers=servers[:3], searches=searches,
                        options=[k if v is None else f"{k}:{v}" for k, v in options.items()])


def pod_cgroup_parent(pod: Obj, cgroup_root: str) -> str:
    """The pod's cgroup in the kubelet's QoS hierarchy (``ROOT/[burstable|besteffort/]pod<uid>``,
    ROOT ``kubepods`` by default); a relative path nests under the runtime's own cgroup."""
    return qos.pod_cgroup_parent(pod, cgroup_root)


def sandbox_config(pod: Obj, *, attempt: int, logs_root: str, dns: ClusterDNS | None = None,
                   cgroup_root: str = "") -> pb.PodSandboxConfig:
    m = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    labels = {**(m.get("labels") or {}), **pod_labels(pod)}
    ns = pb.NamespaceOption(network=pb.NODE if spec.get("hostNetwork") else pb.POD,
                            pid=pb.POD if spec.get("shareProcessNamespace") else pb.CONTAINER, ipc=pb.POD)
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=m.get("name", ""), uid=m.get("uid", ""),
                                       namespace=m.get("namespace", "default"), attempt=attempt),
        hostname=spec.get("hostname") or m.get("name", ""), log_directory=log_directory(pod, logs_root),
        labels=labels, annotations=dict(m.get("annotations") or {}),
        dns_config=dns_config(pod, dns or ClusterDNS()), port_mappings=port_mappings(pod),
        linux=pb.LinuxPodSandboxConfig(cgroup_parent=pod_cgroup_parent(pod, cgroup_root),
                                       resources=qos.pod_resources(pod),
                                       security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns)))


PROTOCOLS = {"TCP": pb.TCP, "UDP": pb.UDP, "SCTP": pb.SCTP}


def port_mappings(pod: Obj) -> list[pb.PortMapping]:
    """The containers' ``hostPort``s, as the kubelet hands them to the runtime."""
    out = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if not p.get("hostPort"):
                continue
            out.append(pb.PortMapping(protocol=PROTOCOLS.get(str(p.get("protocol") or "TCP"), pb.TCP),
                                      container_port=int(p["containerPort"]), host_port=int(p["hostPort"]),
                                      host_ip=str(p.get("hostIP") or "")))
    return out


def environment(pod: Obj, c: Obj, *, pod_ip: str, host_ip: str,
                objects: envvars.Objects | None = None) -> list[tuple[str, str]]:
    """The container's variables (see :mod:`.envvars`); a reference that cannot be resolved
    is a :class:`SpecError`."""
    try:
        env, _ = envvars.environment(pod, c, objects or envvars.Objects(), pod_ip=pod_ip, host_ip=host_ip)
    except envvars.EnvError as exc:
        raise SpecError(str(exc)) from None
    return env


expand = envvars.expand


def resources(c: Obj) -> pb.LinuxContainerResources:
    res = c.get("resources") or {}
    lim, req = res.get("limits") or {}, res.get("requests") or {}
    out = pb.LinuxContainerResources()
    if "memory" in lim:
        out.memory_limit_in_bytes = int(parse_quantity(lim["memory"]))
    cpu_req = req.get("cpu", lim.get("cpu"))
    # no request is the kubelet's minimum (2), not the runtime's default (1024)
    out.cpu_shares = max(MIN_SHARES, int(parse_quantity(cpu_req) * 1024)) if cpu_req is not None else MIN_SHARES
    if "cpu" in lim:
        out.cpu_period = CPU_PERIOD
        out.cpu_quota = max(1000, int(parse_quantity(lim["cpu"]) * Decimal(CPU_PERIOD)))
    return out


def container_config(pod: Obj, c: Obj, *, attempt: int, image_ref: str, pod_ip: str,
                     host_ip: str, env: list[tuple[str, str]] | None = None) -> pb.ContainerConfig:
    """``env`` is the container's environment when the caller built it (with its objects)."""
    if env is None:
        env = environment(pod, c, pod_ip=pod_ip, host_ip=host_ip)
    values = dict(env)
    sc = c.get("securityContext") or {}
    sec = pb.LinuxContainerSecurityContext(privileged=bool(sc.get("privileged")),
                                           readonly_rootfs=bool(sc.get("readOnlyRootFilesystem")))
    if sc.get("runAsUser") is not None:
        sec.run_as_user.value = int(sc["runAsUser"])
    if sc.get("runAsGroup") is not None:
        sec.run_as_group.value = int(sc["runAsGroup"])
    caps = sc.get("capabilities") or {}
    sec.capabilities.add_capabilities.extend(caps.get("add") or [])
    sec.capabilities.drop_capabilities.extend(caps.get("drop") or [])
    return pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=c["name"], attempt=attempt),
        image=pb.ImageSpec(image=image_ref, user_specified_image=c.get("image", "")),
        command=[expand(x, values) for x in c.get("command") or []],
        args=[expand(x, values) for x in c.get("args") or []],
        working_dir=c.get("workingDir") or "", envs=[pb.KeyValue(key=k, value=v) for k, v in env],
        labels={**pod_labels(pod), CONTAINER_NAME: c["name"]},
        annotations={"io.kubernetes.container.restartCount": str(attempt)},
        log_path=f"{c['name']}/{attempt}.log", stdin=bool(c.get("stdin")), stdin_once=bool(c.get("stdinOnce")),
        tty=bool(c.get("tty")), linux=pb.LinuxContainerConfig(resources=resources(c), security_context=sec))
