"""Kubernetes' defaults for the served kinds, applied in place before validation.

Mirrors the v1 ``SetDefaults_*`` functions of k8s.io/kubernetes (core, apps, batch, rbac,
storage, scheduling, discovery) plus what a default cluster's admission adds to every Pod
(``serviceAccountName``, ``priority``/``preemptionPolicy``, the two 300-second NoExecute
tolerations) and what decoding does to every object: quantities come back in canonical form
(``0.5`` -> ``500m``) and Secret ``stringData`` is merged into ``data``. Fields a client set are
never changed (except that normalisation), so an applied manifest round-trips as written plus
defaults. Pure data manipulation: no I/O, no clock.
"""
from __future__ import annotations

import base64
from typing import Any, Callable

from skiff.api import schema
from skiff.api.quantity import QuantityError, canonical_quantity, parse
from skiff.api.resources import Resource
from skiff.api.schema import Node, Shape

Obj = dict[str, Any]

DEFAULT_MODE = 0o644  # 420: secret, configMap, downwardAPI and projected volumes
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
DEFAULT_TOLERATION_SECONDS = 300  # kube-apiserver's --default-{not-ready,unreachable}-toleration-seconds


def _d(parent: Obj, key: str) -> Obj:
    """``parent[key]`` as a dict, created when missing (or null)."""
    v = parent.get(key)
    if not isinstance(v, dict):
        v = {}
        parent[key] = v
    return v


def _list(parent: Obj, key: str) -> list[Any]:
    v = parent.get(key)
    return v if isinstance(v, list) else []


def _set(parent: Obj, key: str, value: Any) -> None:
    if parent.get(key) is None:
        parent[key] = value


# --- containers and pod specs -------------------------------------------------------------------


def image_pull_policy(image: str) -> str:
    """Always for ``:latest`` or an untagged image, IfNotPresent otherwise (digests included)."""
    if "@" in image or not image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _probe(p: Any) -> None:
    if not isinstance(p, dict):
        return
    _set(p, "timeoutSeconds", 1)
    _set(p, "periodSeconds", 10)
    _set(p, "successThreshold", 1)
    _set(p, "failureThreshold", 3)
    _handler(p)


def _handler(h: Any) -> None:
    if not isinstance(h, dict):
        return
    http = h.get("httpGet")
    if isinstance(http, dict):
        _set(http, "path", "/")
        _set(http, "scheme", "HTTP")


def _env(env: list[Any]) -> None:
    for e in env:
        if isinstance(e, dict):
            fr = (e.get("valueFrom") or {}).get("fieldRef") if isinstance(e.get("valueFrom"), dict) else None
            if isinstance(fr, dict):
                _set(fr, "apiVersion", "v1")


def _container(c: Any, *, host_network: bool) -> None:
    if not isinstance(c, dict):
        return
    _set(c, "imagePullPolicy", image_pull_policy(c.get("image") or ""))
    _set(c, "terminationMessagePath", "/dev/termination-log")
    _set(c, "terminationMessagePolicy", "File")
    _set(c, "resources", {})
    for port in _list(c, "ports"):
        if isinstance(port, dict):
            _set(port, "protocol", "TCP")
            if host_network and port.get("hostPort") is None and port.get("containerPort") is not None:
                port["hostPort"] = port["containerPort"]
    _env(_list(c, "env"))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(probe))
    lc = c.get("lifecycle")
    if isinstance(lc, dict):
        _handler(lc.get("postStart"))
        _handler(lc.get("preStop"))


_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc",
    "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected",
    "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
)


def _volume(v: Any) -> None:
    if not isinstance(v, dict):
        return
    if not any(v.get(s) is not None for s in _VOLUME_SOURCES):
        v["emptyDir"] = {}
    for src in ("secret", "configMap", "downwardAPI", "projected"):
        s = v.get(src)
        if isinstance(s, dict):
            _set(s, "defaultMode", DEFAULT_MODE)
    hp = v.get("hostPath")
    if isinstance(hp, dict):
        _set(hp, "type", "")
    proj = v.get("projected")
    if isinstance(proj, dict):
        for src in _list(proj, "sources"):
            sat = src.get("serviceAccountToken") if isinstance(src, dict) else None
            if isinstance(sat, dict):
                _set(sat, "expirationSeconds", 3600)


def pod_spec_defaults(spec: Obj) -> None:
    """``SetDefaults_PodSpec`` and what it implies for containers and volumes (templates included)."""
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "restartPolicy", "Always")
    _set(spec, "securityContext", {})
    _set(spec, "terminationGracePeriodSeconds", 30)
    _set(spec, "schedulerName", "default-scheduler")
    host_network = spec.get("hostNetwork") is True
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in _list(spec, key):
            _container(c, host_network=host_network)
    for v in _list(spec, "volumes"):
        _volume(v)


def _pod_template(t: Any) -> None:
    if isinstance(t, dict):
        pod_spec_defaults(_d(t, "spec"))


def qos_class(spec: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, as Kubernetes computes it from requests and limits."""
    containers = [c for c in _list(spec, "containers") + _list(spec, "initContainers") if isinstance(c, dict)]
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        for name in ("cpu", "memory"):
            if name in req and _nonzero(req[name]):
                requests[name] = req[name]
            if name in lim and _nonzero(lim[name]):
                limits[name] = lim[name]
        if not all(n in lim for n in ("cpu", "memory")):
            guaranteed = False
        for name in ("cpu", "memory"):
            if name in req and name in lim and _value(req[name]) != _value(lim[name]):
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed and containers else "Burstable"


def _value(q: Any) -> Any:
    try:
        return parse(q).value
    except (QuantityError, TypeError):
        return q


def _nonzero(q: Any) -> bool:
    return bool(_value(q) != 0)


def _pod(obj: Obj) -> None:
    spec = _d(obj, "spec")
    pod_spec_defaults(spec)
    # SetDefaults_Pod: requests default to limits, container by container.
    for key in ("initContainers", "containers"):
        for c in _list(spec, key):
            if not isinstance(c, dict):
                continue
            res = c.get("resources")
            if isinstance(res, dict) and isinstance(res.get("limits"), dict) and res["limits"]:
                req = _d(res, "requests")
                for name, q in res["limits"].items():
                    req.setdefault(name, q)
    _set(spec, "enableServiceLinks", True)
    # What a default cluster's admission chain adds.
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = sa
    _set(spec, "serviceAccount", sa)
    if spec.get("priority") is None and not spec.get("priorityClassName"):
        spec["priority"] = 0
    _set(spec, "preemptionPolicy", "PreemptLowerPriority")
    add_default_tolerations(spec)
    # The pod strategy starts every pod Pending with its QoS class.
    status = _d(obj, "status")
    _set(status, "phase", "Pending")
    _set(status, "qosClass", qos_class(spec))


# --- other kinds ------------------------------------------------------------------------------


def _deployment(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _set(spec, "replicas", 1)
    strat = _d(spec, "strategy")
    _set(strat, "type", "RollingUpdate")
    if strat["type"] == "RollingUpdate":
        ru = _d(strat, "rollingUpdate")
        _set(ru, "maxUnavailable", "25%")
        _set(ru, "maxSurge", "25%")
    _set(spec, "revisionHistoryLimit", 10)
    _set(spec, "progressDeadlineSeconds", 600)
    _pod_template(spec.get("template"))


def _replicaset(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _set(spec, "replicas", 1)
    _pod_template(spec.get("template"))


def _statefulset(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _set(spec, "replicas", 1)
    _set(spec, "podManagementPolicy", "OrderedReady")
    us = _d(spec, "updateStrategy")
    _set(us, "type", "RollingUpdate")
    if us["type"] == "RollingUpdate":
        _set(_d(us, "rollingUpdate"), "partition", 0)
    _set(spec, "revisionHistoryLimit", 10)
    policy = _d(spec, "persistentVolumeClaimRetentionPolicy")
    _set(policy, "whenDeleted", "Retain")
    _set(policy, "whenScaled", "Retain")
    for t in _list(spec, "volumeClaimTemplates"):
        if isinstance(t, dict):
            _set(t, "apiVersion", "v1")
            _set(t, "kind", "PersistentVolumeClaim")
            _set(_d(t, "spec"), "volumeMode", "Filesystem")
            _set(_d(t, "status"), "phase", "Pending")
    _pod_template(spec.get("template"))


def _daemonset(obj: Obj) -> None:
    spec = _d(obj, "spec")
    us = _d(spec, "updateStrategy")
    _set(us, "type", "RollingUpdate")
    if us["type"] == "RollingUpdate":
        ru = _d(us, "rollingUpdate")
        _set(ru, "maxUnavailable", 1)
        _set(ru, "maxSurge", 0)
    _set(spec, "revisionHistoryLimit", 10)
    _pod_template(spec.get("template"))


def _job(obj: Obj) -> None:
    spec = _d(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _set(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6
    _set(spec, "completionMode", "NonIndexed")
    _set(spec, "suspend", False)
    if spec.get("podFailurePolicy") is None:
        _set(spec, "podReplacementPolicy", "TerminatingOrFailed")
    else:
        _set(spec, "podReplacementPolicy", "Failed")
    _pod_template(spec.get("template"))
    _job_selector(obj, spec)


def _job_selector(obj: Obj, spec: Obj) -> None:
    """The Job strategy's generated selector: needs ``metadata.uid``, so the server sets it first."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return
    uid, name = meta.get("uid"), meta.get("name")
    if not uid or spec.get("manualSelector") is True or spec.get("selector") is not None:
        return
    tmeta = _d(_d(spec, "template"), "metadata")
    labels = _d(tmeta, "labels")
    for k, v in (("batch.kubernetes.io/controller-uid", uid), ("batch.kubernetes.io/job-name", name),
                 ("controller-uid", uid), ("job-name", name)):
        if v:
            labels.setdefault(k, v)
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}


def _cronjob(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _set(spec, "concurrencyPolicy", "Allow")
    _set(spec, "suspend", False)
    _set(spec, "successfulJobsHistoryLimit", 3)
    _set(spec, "failedJobsHistoryLimit", 1)
    jt = spec.get("jobTemplate")
    if isinstance(jt, dict):
        _pod_template(_d(jt, "spec").get("template"))


def _service(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _set(spec, "type", "ClusterIP")
    _set(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        cfg = _d(_d(spec, "sessionAffinityConfig"), "clientIP")
        _set(cfg, "timeoutSeconds", 10800)
    stype = spec["type"]
    for port in _list(spec, "ports"):
        if isinstance(port, dict):
            _set(port, "protocol", "TCP")
            if port.get("targetPort") in (None, 0, "") and port.get("port") is not None:
                port["targetPort"] = port["port"]
    if stype in ("NodePort", "LoadBalancer"):
        _set(spec, "externalTrafficPolicy", "Cluster")
    if stype == "LoadBalancer":
        _set(spec, "allocateLoadBalancerNodePorts", True)
    if stype != "ExternalName":
        _set(spec, "internalTrafficPolicy", "Cluster")
        if spec.get("clusterIP") and spec.get("clusterIPs") is None:
            spec["clusterIPs"] = [spec["clusterIP"]]
        _set(spec, "ipFamilyPolicy", "SingleStack")
        _set(spec, "ipFamilies", ["IPv4"])
    status = _d(obj, "status")
    _set(status, "loadBalancer", {})


def _secret(obj: Obj) -> None:
    _set(obj, "type", "Opaque")
    sd = obj.pop("stringData", None)
    if isinstance(sd, dict) and sd:
        data = _d(obj, "data")
        for k, v in sd.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def _namespace(obj: Obj) -> None:
    meta = _d(obj, "metadata")
    if meta.get("name"):
        _d(meta, "labels")["kubernetes.io/metadata.name"] = meta["name"]


def _pvc(obj: Obj) -> None:
    _set(_d(obj, "spec"), "volumeMode", "Filesystem")
    _set(_d(obj, "status"), "phase", "Pending")


def _pv(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _set(spec, "persistentVolumeReclaimPolicy", "Retain")
    _set(spec, "volumeMode", "Filesystem")
    _set(_d(obj, "status"), "phase", "Pending")


def _endpoints(obj: Obj) -> None:
    for sub in _list(obj, "subsets"):
        if isinstance(sub, dict):
            for port in _list(sub, "ports"):
                if isinstance(port, dict):
                    _set(port, "protocol", "TCP")


def _endpointslice(obj: Obj) -> None:
    for port in _list(obj, "ports"):
        if isinstance(port, dict):
            _set(port, "protocol", "TCP")
            _set(port, "name", "")


def _node(obj: Obj) -> None:
    status = obj.get("status")
    if isinstance(status, dict) and status.get("capacity") is not None and status.get("allocatable") is None:
        status["allocatable"] = dict(status["capacity"])


def _binding(obj: Obj) -> None:
    ref = obj.get("roleRef")
    if isinstance(ref, dict):
        _set(ref, "apiGroup", "rbac.authorization.k8s.io")
    for s in _list(obj, "subjects"):
        if isinstance(s, dict) and not s.get("apiGroup"):
            if s.get("kind") in ("User", "Group"):
                s["apiGroup"] = "rbac.authorization.k8s.io"


def _storageclass(obj: Obj) -> None:
    _set(obj, "reclaimPolicy", "Delete")
    _set(obj, "volumeBindingMode", "Immediate")


def _priorityclass(obj: Obj) -> None:
    _set(obj, "preemptionPolicy", "PreemptLowerPriority")


DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    "Pod": _pod, "Deployment": _deployment, "ReplicaSet": _replicaset, "StatefulSet": _statefulset,
    "DaemonSet": _daemonset, "Job": _job, "CronJob": _cronjob, "Service": _service, "Secret": _secret,
    "Namespace": _namespace, "PersistentVolumeClaim": _pvc, "PersistentVolume": _pv, "Endpoints": _endpoints,
    "EndpointSlice": _endpointslice, "Node": _node, "RoleBinding": _binding, "ClusterRoleBinding": _binding,
    "StorageClass": _storageclass, "PriorityClass": _priorityclass,
}


# --- quantities -------------------------------------------------------------------------------


def canonicalize_quantities(node: Node, value: Any) -> Any:
    """Every Quantity below ``node`` rewritten as Kubernetes prints it; bad ones left for validation."""
    if value is None:
        return None
    shape = node.shape
    if shape is Shape.QUANTITY:
        try:
            return canonical_quantity(value)
        except (QuantityError, TypeError):
            return value
    if shape is Shape.OBJECT and isinstance(value, dict):
        props = node.properties
        for k, v in value.items():
            p = props.get(k)
            if p is not None and v is not None:
                value[k] = canonicalize_quantities(schema.node_of(p), v)
    elif shape is Shape.ARRAY and isinstance(value, list):
        items = node.items
        if items.shape in (Shape.OBJECT, Shape.QUANTITY, Shape.ARRAY, Shape.MAP):
            for i, v in enumerate(value):
                value[i] = canonicalize_quantities(items, v)
    elif shape is Shape.MAP and isinstance(value, dict):
        items = node.items
        if items.shape in (Shape.OBJECT, Shape.QUANTITY, Shape.ARRAY, Shape.MAP):
            for k, v in value.items():
                value[k] = canonicalize_quantities(items, v)
    return value


_HAS_QUANTITY: dict[str, bool] = {}


def _has_quantity(def_name: str) -> bool:
    if def_name in _HAS_QUANTITY:
        return _HAS_QUANTITY[def_name]
    _HAS_QUANTITY[def_name] = False  # cycles
    found = False
    for prop in schema.definition(def_name).get("properties", {}).values():
        text = str(prop)
        if schema.QUANTITY in text:
            found = True
            break
        for ref in [r for r in _refs(prop) if r != def_name]:
            if _has_quantity(ref):
                found = True
                break
        if found:
            break
    _HAS_QUANTITY[def_name] = found
    return found


def _refs(s: Any) -> list[str]:
    out: list[str] = []
    if isinstance(s, dict):
        name = schema.ref_name(s)
        if name:
            out.append(name)
        for v in s.values():
            out += _refs(v)
    elif isinstance(s, list):
        for v in s:
            out += _refs(v)
    return out


def add_default_tolerations(spec: Obj, *, not_ready_seconds: int = DEFAULT_TOLERATION_SECONDS,
                            unreachable_seconds: int = DEFAULT_TOLERATION_SECONDS) -> None:
    """The DefaultTolerationSeconds admission plugin: a pod that does not tolerate the
    not-ready/unreachable NoExecute taints gets tolerations for them, so it is evicted from a
    lost node after that many seconds. Already-present tolerations of those keys are kept."""
    tols = spec.get("tolerations")
    tols = tols if isinstance(tols, list) else []
    for key, seconds in ((NOT_READY_TAINT, not_ready_seconds), (UNREACHABLE_TAINT, unreachable_seconds)):
        if not any(isinstance(x, dict) and x.get("key") == key and x.get("effect") in ("NoExecute", None, "")
                   and (x.get("operator") in ("Exists", None, "")) for x in tols):
            tols.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds})
    spec["tolerations"] = tols


def apply_defaults(resource: Resource, obj: Obj) -> None:
    """Fill in Kubernetes' defaults for ``resource`` in place (idempotent)."""
    fn = DEFAULTERS.get(resource.kind)
    if fn is not None:
        fn(obj)
    root = schema.root_definition(resource)
    if _has_quantity(root):
        canonicalize_quantities(schema.root(root), obj)
