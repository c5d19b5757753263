"""Small exact helpers on plain-dict API objects: keys, owner references, conditions, times, pods.

Pure functions only; nothing here talks to the API. Cached objects are never modified:
helpers that "change" an object return a copy or a patch.
"""
from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Iterable, Mapping

from skiff.api.selectors import LabelSelector, from_label_selector

Obj = dict[str, Any]


# --- keys and metadata ---------------------------------------------------------------------

def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def key_of(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects), as client-go's MetaNamespaceKeyFunc."""
    m = meta(obj)
    ns = m.get("namespace")
    return f"{ns}/{m.get('name')}" if ns else str(m.get("name"))


def split_key(key: str) -> tuple[str | None, str]:
    ns, _, name = key.rpartition("/")
    return (ns or None), name


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return meta(obj).get("labels") or {}


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return meta(obj).get("annotations") or {}


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def deep_copy(obj: Mapping[str, Any]) -> Obj:
    return copy.deepcopy(dict(obj))


def selector_of(obj: Mapping[str, Any]) -> LabelSelector:
    """The workload's ``spec.selector`` as a parsed selector (a missing one matches nothing)."""
    return from_label_selector((obj.get("spec") or {}).get("selector"))


# --- owner references ----------------------------------------------------------------------

def owner_ref(owner: Mapping[str, Any], *, controller: bool = True, block: bool = True) -> Obj:
    m = meta(owner)
    return {"apiVersion": owner.get("apiVersion"), "kind": owner.get("kind"), "name": m.get("name"),
            "uid": m.get("uid"), "controller": controller, "blockOwnerDeletion": block}


def controller_ref(obj: Mapping[str, Any]) -> Obj | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def is_controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == meta(owner).get("uid")


# --- times ---------------------------------------------------------------------------------

def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def fmt_time(t: datetime) -> str:
    """RFC 3339 with seconds, as ``metav1.Time`` serialises."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_micro(t: datetime) -> str:
    """``metav1.MicroTime`` (Lease renewTime)."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: str | None) -> datetime | None:
    if not s:
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


# --- conditions ----------------------------------------------------------------------------

def get_condition(obj: Mapping[str, Any], ctype: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def set_condition(conditions: list[Obj] | None, new: Mapping[str, Any], *, now: datetime) -> list[Obj]:
    """Return a new condition list with ``new`` set; lastTransitionTime moves only when status changes."""
    out: list[Obj] = []
    found = False
    for c in conditions or []:
        if c.get("type") != new.get("type"):
            out.append(dict(c))
            continue
        found = True
        merged = {**c, **new}
        if c.get("status") == new.get("status") and c.get("lastTransitionTime"):
            merged["lastTransitionTime"] = c["lastTransitionTime"]
        else:
            merged["lastTransitionTime"] = fmt_time(now)
        out.append(merged)
    if not found:
        out.append({**new, "lastTransitionTime": fmt_time(now)})
    return out


def strip_condition_times(conditions: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """What a condition list means, ignoring timestamps (to skip writes that change nothing)."""
    return sorted((c.get("type"), c.get("status"), c.get("reason"), c.get("message")) for c in conditions)


# --- pods ----------------------------------------------------------------------------------

class PodPhase(str, Enum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


def pod_phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or PodPhase.PENDING.value)


def is_pod_terminal(pod: Mapping[str, Any]) -> bool:
    return pod_phase(pod) in (PodPhase.SUCCEEDED.value, PodPhase.FAILED.value)


def is_pod_active(pod: Mapping[str, Any]) -> bool:
    """Counts towards a controller's replicas: not finished and not being deleted."""
    return not is_pod_terminal(pod) and not is_deleting(pod)


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    c = get_condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def ready_since(pod: Mapping[str, Any]) -> datetime | None:
    c = get_condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return None
    return parse_time(c.get("lastTransitionTime"))


def is_pod_available(pod: Mapping[str, Any], *, min_ready_seconds: int, now: datetime) -> bool:
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and (now - since).total_seconds() >= min_ready_seconds


def restart_count(pod: Mapping[str, Any]) -> int:
    return sum(int(cs.get("restartCount") or 0)
               for cs in (pod.get("status") or {}).get("containerStatuses") or [])


def node_name(pod: Mapping[str, Any]) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


# --- templates and hashes ------------------------------------------------------------------

_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def safe_encode(n: int) -> str:
    """client-go's rand.SafeEncodeString of a number: no vowels, no look-alike digits."""
    digits = str(n)
    return "".join(_SAFE[ord(ch) % len(_SAFE)] for ch in digits)


def template_hash(template: Mapping[str, Any], *, collision_count: int = 0) -> str:
    """A stable short hash of a pod template (the ``pod-template-hash`` label)."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(data + str(collision_count).encode()).digest()
    return safe_encode(int.from_bytes(digest[:4], "big"))[:10]


def pod_from_template(template: Mapping[str, Any], *, owner: Mapping[str, Any], generate_name: str | None = None,
                      name: str | None = None, extra_labels: Mapping[str, str] | None = None,
                      extra_annotations: Mapping[str, str] | None = None) -> Obj:
    """A Pod for ``owner`` from its ``spec.template`` (copied, never shared)."""
    t = copy.deepcopy(dict(template))
    tmeta = t.get("metadata") or {}
    labels = {**(tmeta.get("labels") or {}), **(extra_labels or {})}
    annotations = {**(tmeta.get("annotations") or {}), **(extra_annotations or {})}
    m: Obj = {"namespace": meta(owner).get("namespace"), "labels": labels,
              "ownerReferences": [owner_ref(owner)]}
    if annotations:
        m["annotations"] = annotations
    if tmeta.get("finalizers"):
        m["finalizers"] = tmeta["finalizers"]
    if name:
        m["name"] = name
    else:
        m["generateName"] = generate_name or f"{meta(owner).get('name')}-"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": m, "spec": t.get("spec") or {}}


def int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    """``intstr`` scaled value: ints pass, ``"25%"`` of ``total`` rounded up or down."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    s = str(value)
    if s.endswith("%"):
        pct = int(s[:-1])
        q, r = divmod(pct * total, 100)
        return q + (1 if round_up and r else 0)
    return int(s)
