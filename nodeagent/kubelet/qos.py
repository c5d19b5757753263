"""A pod's QoS class, its cgroup in the kubelet's hierarchy, and its pod-level limits (pure).

As the kubelet with ``cgroupsPerQOS``: Guaranteed pods at ``ROOT/pod<uid>``, Burstable at
``ROOT/burstable/pod<uid>``, BestEffort at ``ROOT/besteffort/pod<uid>`` (ROOT is
``kubepods`` unless ``--cgroup-root`` says otherwise; a relative one nests under the
runtime's own cgroup). The pod cgroup gets the sum of its containers' cpu requests as
shares and, when every container sets them, the sums of their cpu and memory limits (an init
container counts when it needs more than the regular ones together, as the kubelet's
``ResourceConfigForPod``).
"""
from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from enum import Enum
from typing import Any

from skiff.api.quantity import parse_quantity
from skiff.nodeagent.runtime.cri import api_pb2 as pb

Obj = dict[str, Any]
DEFAULT_ROOT = "kubepods"
CPU_PERIOD = 100_000
MIN_SHARES = 2
MIN_QUOTA = 1000
COMPUTE = ("cpu", "memory")


class QOSClass(str, Enum):
    GUARANTEED = "Guaranteed"
    BURSTABLE = "Burstable"
    BEST_EFFORT = "BestEffort"


def _containers(pod: Obj) -> list[Obj]:
    spec = pod.get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def _q(value: Any) -> Decimal:
    return parse_quantity(str(value))


def requests_and_limits(c: Obj) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """A container's cpu/memory requests (defaulted to its limits, as the API does) and limits."""
    res = c.get("resources") or {}
    limits = {k: _q(v) for k, v in (res.get("limits") or {}).items() if k in COMPUTE}
    requests = {k: _q(v) for k, v in (res.get("requests") or {}).items() if k in COMPUTE}
    return {**limits, **requests}, limits


def qos_class(pod: Obj) -> QOSClass:
    """The kubelet's ``GetPodQOS`` over init and regular containers."""
    any_set, guaranteed = False, True
    for c in _containers(pod):
        req, lim = requests_and_limits(c)
        if any(v > 0 for v in req.values()) or any(v > 0 for v in lim.values()):
            any_set = True
        if set(lim) != set(COMPUTE) or any(req.get(k) != lim[k] for k in COMPUTE):
            guaranteed = False
    if not any_set:
        return QOSClass.BEST_EFFORT
    return QOSClass.GUARANTEED if guaranteed else QOSClass.BURSTABLE


def pod_cgroup_parent(pod: Obj, root: str = "") -> str:
    uid = str((pod.get("metadata") or {}).get("uid", ""))
    base = (root or DEFAULT_ROOT).rstrip("/") or "/"
    qos = qos_class(pod)
    level = "" if qos is QOSClass.GUARANTEED else ("burstable/" if qos is QOSClass.BURSTABLE else "besteffort/")
    return f"{base.rstrip('/')}/{level}pod{uid}" if base != "/" else f"/{level}pod{uid}"


def _effective(values: Iterable[tuple[bool, Decimal | None]]) -> Decimal | None:
    """max(max of init containers, sum of regular ones); None when one regular container has none."""
    init_max, total, missing = Decimal(0), Decimal(0), False
    for is_init, v in values:
        if is_init:
            init_max = max(init_max, v or Decimal(0))
        elif v is None:
            missing = True
        else:
            total += v
    return None if missing else max(init_max, total)


def cpu_shares(millis: Decimal) -> int:
    return max(MIN_SHARES, int(millis * 1024 / 1000))


def pod_resources(pod: Obj) -> pb.LinuxContainerResources:
    """The pod cgroup's limits (the kubelet's ``ResourceConfigForPod``)."""
    spec = pod.get("spec") or {}
    tagged = [(True, c) for c in spec.get("initContainers") or []] + [(False, c) for c in spec.get("containers") or []]
    parts = [(init, *requests_and_limits(c)) for init, c in tagged]
    out = pb.LinuxContainerResources()
    if qos_class(pod) is QOSClass.BEST_EFFORT:
        out.cpu_shares = MIN_SHARES
        return out
    cpu_req = _effective((i, r.get("cpu", Decimal(0))) for i, r, _ in parts) or Decimal(0)
    out.cpu_shares = cpu_shares(cpu_req * 1000)
    cpu_lim = _effective((i, lim.get("cpu")) for i, _, lim in parts)
    if cpu_lim is not None and spec.get("containers"):
        out.cpu_period = CPU_PERIOD
        out.cpu_quota = max(MIN_QUOTA, int(cpu_lim * CPU_PERIOD))
    mem_lim = _effective((i, lim.get("memory")) for i, _, lim in parts)
    if mem_lim is not None and spec.get("containers"):
        out.memory_limit_in_bytes = int(mem_lim)
    return out
