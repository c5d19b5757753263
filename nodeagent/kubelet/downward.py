"""The downward API's values, shared by ``env.valueFrom`` and ``downwardAPI`` volumes (pure).

``fieldRef`` paths read the pod's metadata, spec and status; ``resourceFieldRef`` reads a
container's limits or requests divided by ``divisor`` and rounded up, as the kubelet does
(an unset limit is the node's allocatable). A whole ``metadata.labels``/``annotations``
file is ``key="value"`` lines sorted by key, values quoted like Go's ``%q``.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal
from typing import Any

from skiff.api.quantity import parse_quantity

Obj = dict[str, Any]
RESOURCES = ("limits.cpu", "limits.memory", "limits.ephemeral-storage",
             "requests.cpu", "requests.memory", "requests.ephemeral-storage")


class DownwardError(Exception):
    """A field path or resource the downward API does not expose (names it)."""


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` for the printable text labels and annotations hold."""
    return json.dumps(text, ensure_ascii=False)


def format_map(m: Mapping[str, str]) -> str:
    return "\n".join(f"{k}={go_quote(str(m[k]))}" for k in sorted(m))


def field_value(pod: Obj, path: str, *, pod_ip: str, host_ip: str, whole_maps: bool = False) -> str:
    """The value of a ``fieldRef.fieldPath``; ``whole_maps`` allows ``metadata.labels`` itself
    (volumes only, as in Kubernetes)."""
    m = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {"metadata.name": m.get("name", ""), "metadata.namespace": m.get("namespace", ""),
              "metadata.uid": m.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
              "spec.serviceAccountName": spec.get("serviceAccountName", ""),
              "status.podIP": pod_ip, "status.podIPs": pod_ip, "status.hostIP": host_ip,
              "status.hostIPs": host_ip}
    if path in simple:
        return str(simple[path] or "")
    for prefix, src in (("metadata.labels", "labels"), ("metadata.annotations", "annotations")):
        if path == prefix and whole_maps:
            return format_map(m.get(src) or {})
        if path.startswith(prefix + "['") and path.endswith("']"):
            return str((m.get(src) or {}).get(path[len(prefix) + 2:-2], ""))
    raise DownwardError(f"fieldPath {path!r} is not supported")


def _container(pod: Obj, name: str) -> Obj:
    spec = pod.get("spec") or {}
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if c.get("name") == name:
            return dict(c)
    raise DownwardError(f"containerName {name!r} is not a container of the pod")


def resource_value(pod: Obj, container: str, resource: str, divisor: str | None,
                   allocatable: Mapping[str, str]) -> str:
    """``resourceFieldRef``: ``ceil(value / divisor)`` as an integer string."""
    if resource not in RESOURCES:
        raise DownwardError(f"resource {resource!r} is not supported")
    c = _container(pod, container)
    kind, _, name = resource.partition(".")
    res = c.get("resources") or {}
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    if kind == "limits":
        raw = limits.get(name, allocatable.get(name))
    else:
        raw = requests.get(name, limits.get(name))  # the API defaults requests to limits
    value = parse_quantity(str(raw)) if raw is not None else Decimal(0)
    div = parse_quantity(str(divisor)) if divisor not in (None, "") else Decimal(1)
    if div <= 0:
        raise DownwardError(f"divisor {divisor!r} must be positive")
    if name == "cpu":  # in millicores, as the kubelet's convertResourceCPUToString
        value, div = Decimal(math.ceil(value * 1000)), Decimal(math.ceil(div * 1000))
    return str(int((value / div).to_integral_value(rounding=ROUND_CEILING)))
