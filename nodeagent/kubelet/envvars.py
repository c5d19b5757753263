"""A container's environment as the kubelet's ``makeEnvironmentVariables`` builds it (pure).

``envFrom`` first (configMapRef/secretRef, each key with its ``prefix``; keys that are not
valid variable names are skipped and reported), then ``env`` in order, each value
``$(VAR)``-expanded against what came before; ``valueFrom`` reads fieldRef,
resourceFieldRef, configMapKeyRef and secretKeyRef. The ConfigMaps and Secrets are handed
in (:class:`Objects`, ``None`` for one that does not exist): reading them is the caller's job.
"""
from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .downward import DownwardError, field_value, resource_value

Obj = dict[str, Any]
ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class EnvError(Exception):
    """The environment cannot be built yet (a missing object or key, a bad reference)."""


@dataclass(frozen=True)
class Objects:
    """The ConfigMaps and Secrets of the pod's namespace a container refers to (by name)."""

    configmaps: Mapping[str, Obj | None] = field(default_factory=dict)
    secrets: Mapping[str, Obj | None] = field(default_factory=dict)
    allocatable: Mapping[str, str] = field(default_factory=dict)
    #: the Services of the pod's namespace and ``default/kubernetes`` (see :func:`service_env`)
    services: tuple[Obj, ...] = ()


@dataclass(frozen=True)
class Skipped:
    """Keys of one envFrom source skipped for their names (the kubelet's warning event)."""

    kind: str  # "configMap" | "secret"
    name: str
    keys: tuple[str, ...]

    def message(self, namespace: str) -> str:
        what = "configMap" if self.kind == "configMap" else "secret"
        return (f"Keys [{', '.join(self.keys)}] from the EnvFrom {what} {namespace}/{self.name} were skipped "
                "since they are considered invalid environment variable names.")


def references(c: Obj) -> tuple[set[str], set[str]]:
    """(ConfigMap names, Secret names) a container's env and envFrom read."""
    cms, secs = set(), set()
    for src in c.get("envFrom") or []:
        if "configMapRef" in src:
            cms.add(str((src["configMapRef"] or {}).get("name", "")))
        if "secretRef" in src:
            secs.add(str((src["secretRef"] or {}).get("name", "")))
    for e in c.get("env") or []:
        vf = e.get("valueFrom") or {}
        if "configMapKeyRef" in vf:
            cms.add(str(vf["configMapKeyRef"].get("name", "")))
        if "secretKeyRef" in vf:
            secs.add(str(vf["secretKeyRef"].get("name", "")))
    return cms, secs


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion (``$$`` escapes; unknown references stay as written)."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and (end := text.find(")", i + 2)) != -1:
            name = text[i + 2:end]
            out.append(env.get(name, text[i:end + 1]))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def object_values(obj: Obj, kind: str) -> dict[str, str]:
    """A ConfigMap's data (and binaryData) or a Secret's decoded data, as text."""
    if kind == "secret":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
    out = {k: str(v) for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("binaryData") or {}).items()})
    return out


def _lookup(objs: Objects, kind: str, name: str) -> Obj | None:
    return (objs.configmaps if kind == "configMap" else objs.secrets).get(name)


def _not_found(kind: str, name: str) -> EnvError:
    return EnvError(f'{"configmap" if kind == "configMap" else "secret"} "{name}" not found')


def _env_from(pod: Obj, c: Obj, objs: Objects, env: dict[str, str], skipped: list[Skipped]) -> None:
    for src in c.get("envFrom") or []:
        prefix = str(src.get("prefix") or "")
        for kind, key in (("configMap", "configMapRef"), ("secret", "secretRef")):
            if key not in src:
                continue
            ref = src[key] or {}
            name = str(ref.get("name", ""))
            obj = _lookup(objs, kind, name)
            if obj is None:
                if ref.get("optional"):
                    continue
                raise _not_found(kind, name)
            bad = []
            for k, v in sorted(object_values(obj, kind).items()):
                k = prefix + k
                if not ENV_VAR_NAME.match(k):
                    bad.append(k)
                    continue
                env[k] = v
            if bad:
                skipped.append(Skipped(kind, name, tuple(sorted(bad))))


def _value_from(pod: Obj, c: Obj, vf: Obj, objs: Objects, *, pod_ip: str, host_ip: str, where: str) -> str | None:
    """One ``valueFrom``; None when an optional source is missing (the variable is left out)."""
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    try:
        if "fieldRef" in vf:
            return field_value(pod, str((vf["fieldRef"] or {}).get("fieldPath", "")), pod_ip=pod_ip, host_ip=host_ip)
        if "resourceFieldRef" in vf:
            r = vf["resourceFieldRef"] or {}
            return resource_value(pod, str(r.get("containerName") or c["name"]), str(r.get("resource", "")),
                                  r.get("divisor"), objs.allocatable)
    except DownwardError as exc:
        raise EnvError(f"{where}: {exc}") from None
    for kind, key, title in (("configMap", "configMapKeyRef", "ConfigMap"), ("secret", "secretKeyRef", "Secret")):
        if key not in vf:
            continue
        ref = vf[key] or {}
        name, item = str(ref.get("name", "")), str(ref.get("key", ""))
        obj = _lookup(objs, kind, name)
        if obj is None:
            if ref.get("optional"):
                return None
            raise _not_found(kind, name)
        values = object_values(obj, kind)
        if item not in values:
            if ref.get("optional"):
                return None
            raise EnvError(f"couldn't find key {item} in {title} {ns}/{name}")
        return values[item]
    raise EnvError(f"{where}: one of fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef is required")


def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def _has_cluster_ip(svc: Obj) -> bool:
    ip = (svc.get("spec") or {}).get("clusterIP")
    return bool(ip) and ip != "None"


def service_env(services: list[Obj] | tuple[Obj, ...], *, namespace: str, enable_links: bool,
                master_namespace: str = "default") -> dict[str, str]:
    """The kubelet's service variables: ``default/kubernetes`` always (how in-cluster config
    finds the API), and with ``enableServiceLinks`` every Service of the pod's namespace that has
    a ClusterIP, Docker-link style: ``NAME_SERVICE_HOST``, ``NAME_SERVICE_PORT[_PORTNAME]``,
    ``NAME_PORT`` and ``NAME_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]``. A Service of the pod's
    own namespace wins over the master's of the same name."""
    chosen: dict[str, Obj] = {}
    for svc in services:
        m = svc.get("metadata") or {}
        name, ns = str(m.get("name", "")), str(m.get("namespace") or "")
        if not _has_cluster_ip(svc):
            continue
        if ns == namespace and enable_links:
            chosen[name] = svc
        elif ns == master_namespace and name == "kubernetes" and name not in chosen:
            chosen[name] = svc
    out: dict[str, str] = {}
    for name in sorted(chosen):
        spec = chosen[name].get("spec") or {}
        ip, ports, prefix = str(spec["clusterIP"]), spec.get("ports") or [], _env_name(name)
        out[f"{prefix}_SERVICE_HOST"] = ip
        for i, p in enumerate(ports):
            port = str(p.get("port", ""))
            if i == 0:
                out[f"{prefix}_SERVICE_PORT"] = port
            if p.get("name"):
                out[f"{prefix}_SERVICE_PORT_{_env_name(str(p['name']))}"] = port
        for i, p in enumerate(ports):
            port, proto = str(p.get("port", "")), str(p.get("protocol") or "TCP")
            url = f"{proto.lower()}://{ip}:{port}"
            if i == 0:
                out[f"{prefix}_PORT"] = url
            link = f"{prefix}_PORT_{port}_{proto.upper()}"
            out[link] = url
            out[f"{link}_PROTO"] = proto.lower()
            out[f"{link}_PORT"] = port
            out[f"{link}_ADDR"] = ip
    return out


def environment(pod: Obj, c: Obj, objs: Objects, *, pod_ip: str, host_ip: str) -> tuple[list[tuple[str, str]],
                                                                                         list[Skipped]]:
    """The container's variables in order, and the envFrom keys skipped for their names.

    The service variables come last and never replace a variable the container sets, but
    ``$(VAR)`` in the container's values may refer to them, as in the kubelet."""
    spec = pod.get("spec") or {}
    services = service_env(objs.services, namespace=str((pod.get("metadata") or {}).get("namespace") or "default"),
                           enable_links=spec.get("enableServiceLinks") is not False)
    env: dict[str, str] = {}
    skipped: list[Skipped] = []
    _env_from(pod, c, objs, env, skipped)
    for i, e in enumerate(c.get("env") or []):
        name = str(e.get("name", ""))
        if e.get("valueFrom") is not None:
            value = _value_from(pod, c, e["valueFrom"], objs, pod_ip=pod_ip, host_ip=host_ip,
                                where=f"containers[{c['name']}].env[{i}].valueFrom")
            if value is None:
                continue
            env[name] = value
        else:
            env[name] = expand(str(e.get("value") or ""), {**services, **env})
    for k, v in services.items():
        env.setdefault(k, v)
    return list(env.items()), skipped
