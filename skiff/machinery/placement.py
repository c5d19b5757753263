"""Pure placement rules shared by the scheduler, the DaemonSet and node lifecycle controllers.

Taints vs tolerations, nodeSelector and node affinity terms, and a pod's resource
requests, exactly as Kubernetes' component-helpers compute them. Nothing here does I/O.
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from skiff.api.quantity import QuantityError, parse_quantity

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
DEFAULT_NOT_READY_TOLERATION_SECONDS = 300
DEFAULT_UNREACHABLE_TOLERATION_SECONDS = 300


# --- taints and tolerations ------------------------------------------------------------------

def toleration_matches(tol: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """v1.Toleration.ToleratesTaint."""
    effect = tol.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = tol.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = tol.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (tol.get("value") or "") == (taint.get("value") or "")
    return False


def tolerates(tolerations: list[Mapping[str, Any]] | None, taint: Mapping[str, Any]) -> bool:
    return any(toleration_matches(t, taint) for t in tolerations or [])


def untolerated_taint(taints: list[Mapping[str, Any]] | None, tolerations: list[Mapping[str, Any]] | None,
                      *, effects: tuple[str, ...] = ("NoSchedule", "NoExecute")) -> Mapping[str, Any] | None:
    """The first taint with one of ``effects`` that no toleration tolerates (None: all tolerated)."""
    for taint in taints or []:
        if taint.get("effect") in effects and not tolerates(tolerations, taint):
            return taint
    return None


def toleration_seconds(tolerations: list[Mapping[str, Any]] | None, taint: Mapping[str, Any],
                       *, default: int | None) -> int | None:
    """How long a pod may stay on a node with this NoExecute taint.

    ``None`` means forever (a matching toleration without tolerationSeconds); 0 means evict now.
    A pod with no matching toleration gets ``default`` when given (the DefaultTolerationSeconds
    admission plugin's 300 s for not-ready/unreachable), else 0.
    """
    matching = [t for t in tolerations or [] if toleration_matches(t, taint)]
    if not matching:
        return 0 if default is None else default
    seconds: int | None = None
    for t in matching:
        if t.get("tolerationSeconds") is None:
            return None
        s = max(int(t["tolerationSeconds"]), 0)
        seconds = s if seconds is None else min(seconds, s)
    return seconds


# --- node selection ----------------------------------------------------------------------------

def _match_expression(expr: Mapping[str, Any], value: str | None) -> bool:
    op = expr.get("operator")
    values = expr.get("values") or []
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        if value is None or len(values) != 1:
            return False
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def node_selector_term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """A NodeSelectorTerm: all matchExpressions (labels) and matchFields (metadata.name) hold.
    An empty term matches nothing, as in Kubernetes."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = (node.get("metadata") or {}).get("labels") or {}
    for e in exprs:
        if not _match_expression(e, labels.get(e.get("key", ""))):
            return False
    for f in fields:
        value = (node.get("metadata") or {}).get("name") if f.get("key") == "metadata.name" else None
        if not _match_expression(f, value):
            return False
    return True


def required_affinity_terms(pod: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    aff = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    req = aff.get("requiredDuringSchedulingIgnoredDuringExecution")
    if req is None:
        return None
    return list(req.get("nodeSelectorTerms") or [])


def matches_node_selector_and_affinity(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """nodeSelector (all labels equal) AND required node affinity (any term)."""
    spec = pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    terms = required_affinity_terms(pod)
    if terms is None:
        return True
    return any(node_selector_term_matches(t, node) for t in terms)


# --- resources ---------------------------------------------------------------------------------

CPU, MEMORY, PODS = "cpu", "memory", "pods"
# the scheduler's non-zero defaults used only for scoring pods that request nothing
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


def quantity(value: Any) -> Decimal:
    try:
        return parse_quantity(value)
    except (QuantityError, TypeError):
        return Decimal(0)


def to_units(name: str, value: Any) -> int:
    """CPU in millicores, everything else in whole units."""
    q = quantity(value)
    if name == CPU:
        return int((q * 1000).to_integral_value(rounding="ROUND_CEILING"))
    return int(q.to_integral_value(rounding="ROUND_CEILING"))


def resource_list(values: Mapping[str, Any] | None) -> dict[str, int]:
    return {k: to_units(k, v) for k, v in (values or {}).items()}


def pod_requests(pod: Mapping[str, Any]) -> dict[str, int]:
    """max(sum of containers, any init container) per resource, plus overhead (resourcehelper.PodRequests)."""
    spec = pod.get("spec") or {}
    total: dict[str, int] = {}
    for c in spec.get("containers") or []:
        for k, v in resource_list((c.get("resources") or {}).get("requests")).items():
            total[k] = total.get(k, 0) + v
    for c in spec.get("initContainers") or []:
        for k, v in resource_list((c.get("resources") or {}).get("requests")).items():
            total[k] = max(total.get(k, 0), v)
    for k, v in resource_list(spec.get("overhead")).items():
        total[k] = total.get(k, 0) + v
    return total


def node_allocatable(node: Mapping[str, Any]) -> dict[str, int]:
    status = node.get("status") or {}
    return resource_list(status.get("allocatable") or status.get("capacity"))


def pod_host_ports(pod: Mapping[str, Any]) -> set[tuple[str, str, int]]:
    """(hostIP, protocol, hostPort) the pod claims."""
    out: set[tuple[str, str, int]] = set()
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.add((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(p["hostPort"])))
    return out


def host_ports_conflict(want: set[tuple[str, str, int]], used: set[tuple[str, str, int]]) -> bool:
    for ip, proto, port in want:
        for uip, uproto, uport in used:
            if port == uport and proto == uproto and (ip == uip or "0.0.0.0" in (ip, uip)):
                return True
    return False
