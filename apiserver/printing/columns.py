"""Column definitions and row cells for each served kind, as Kubernetes' ``printers.go`` has them.

The server always fills the wide (priority 1) cells too, as Kubernetes' API server does
(``GenerateOptions{Wide: true}``); kubectl hides priority-1 columns unless ``-o wide``. Kinds
without a printer in Kubernetes (Role, ClusterRole) get its default NAME / CREATED AT table.
Every function is pure: the object and ``now`` in, cells out.
"""
from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from dataclasses import dataclass
from typing import Any, Callable

from skiff.api import schema as api_schema
from skiff.api.selectors import SelectorError, selector_string

from .duration import human_duration, parse_time, since
from .pods import pod_summary, pod_wide

Obj = dict[str, Any]
Cells = list[Any]
RowFn = Callable[[Obj, dt.datetime], Cells]

_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@functools.cache
def doc(definition: str, field: str) -> str:
    """The schema's description of a field (what Kubernetes puts in column descriptions)."""
    try:
        prop = (api_schema.definition(definition).get("properties") or {}).get(field) or {}
    except KeyError:
        return ""
    return str(prop.get("description", ""))


def col(name: str, type_: str = "string", description: str = "", *, fmt: str = "", priority: int = 0) -> Obj:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


def name_col() -> Obj:
    return col("Name", fmt="name", description=doc(_META, "name"))


def age_col() -> Obj:
    return col("Age", description=doc(_META, "creationTimestamp"))


CONTAINERS_COL = col("Containers", description="Names of each container in the template.", priority=1)
IMAGES_COL = col("Images", description="Images referenced by each container in the template.", priority=1)


@dataclass(frozen=True)
class Printer:
    columns: Callable[[], list[Obj]]
    row: RowFn


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name", ""))


def _age(obj: Obj, now: dt.datetime) -> str:
    return since(_meta(obj).get("creationTimestamp"), now)


def _format_labels(labels: Any) -> str:
    """``labels.FormatLabels``: sorted ``k=v`` pairs, ``<none>`` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _format_selector(sel: Any) -> str:
    """``metav1.FormatLabelSelector``: ``<none>`` for an empty or missing selector."""
    try:
        text = selector_string(sel)
    except SelectorError:
        return "<error>"
    return text or "<none>"


def _containers(template_spec: Obj) -> tuple[str, str]:
    containers = template_spec.get("containers") or ()
    return ",".join(str(c.get("name", "")) for c in containers), ",".join(str(c.get("image", "")) for c in containers)


def _template_spec(obj: Obj) -> Obj:
    return (((obj.get("spec") or {}).get("template") or {}).get("spec")) or {}


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _go_bool(value: Any) -> str:
    return "<unset>" if value is None else ("True" if value else "False")


# -- core/v1 -----------------------------------------------------------------------------------

def _pod_columns() -> list[Obj]:
    return [
        name_col(),
        col("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
        col("Status", description="The aggregate status of the containers in this pod."),
        col("Restarts", description="The number of times the containers in this pod have been restarted and when "
                                    "the last container in this pod has restarted."),
        age_col(),
        col("IP", priority=1, description=doc("io.k8s.api.core.v1.PodStatus", "podIP")),
        col("Node", priority=1, description=doc("io.k8s.api.core.v1.PodSpec", "nodeName")),
        col("Nominated Node", priority=1, description=doc("io.k8s.api.core.v1.PodStatus", "nominatedNodeName")),
        col("Readiness Gates", priority=1, description=doc("io.k8s.api.core.v1.PodSpec", "readinessGates")),
    ]


def _pod_row(obj: Obj, now: dt.datetime) -> Cells:
    ready, status, restarts = pod_summary(obj, now)
    return [_name(obj), ready, status, restarts, _age(obj, now), *pod_wide(obj)]


def _service_external_ip(spec: Obj, status: Obj) -> str:
    kind = spec.get("type") or "ClusterIP"
    external = spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        found = sorted({i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or ()
                        if i.get("ip") or i.get("hostname")})
        lb = ",".join(found)  # unclipped: the server always prints wide, so loadBalancerWidth never applies
        if external:
            return ",".join([*(lb.split(",") if lb else []), *external])
        return lb or "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    return "<unknown>"


def _service_ports(ports: list[Obj]) -> str:
    pieces = []
    for p in ports:
        proto = p.get("protocol") or "TCP"
        if _int(p.get("nodePort")) > 0:
            pieces.append(f"{p.get('port')}:{p['nodePort']}/{proto}")
        else:
            pieces.append(f"{p.get('port')}/{proto}")
    return ",".join(pieces)


def _service_row(obj: Obj, now: dt.datetime) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    ports = _service_ports(spec.get("ports") or []) or "<none>"
    return [_name(obj), spec.get("type") or "ClusterIP", ips[0] if ips else "<none>",
            _service_external_ip(spec, status), ports, _age(obj, now), _format_labels(spec.get("selector"))]


def _service_columns() -> list[Obj]:
    d = "io.k8s.api.core.v1.ServiceSpec"
    return [name_col(), col("Type", description=doc(d, "type")), col("Cluster-IP", description=doc(d, "clusterIP")),
            col("External-IP", description=doc(d, "externalIPs")), col("Port(s)", description=doc(d, "ports")),
            age_col(), col("Selector", priority=1, description=doc(d, "selector"))]


def _host_port(ip: str, port: Any) -> str:
    try:
        if ipaddress.ip_address(ip).version == 6:
            return f"[{ip}]:{port}"
    except ValueError:
        if ":" in ip:
            return f"[{ip}]:{port}"
    return f"{ip}:{port}"


def _format_endpoints(obj: Obj) -> str:
    subsets = obj.get("subsets") or []
    if not subsets:
        return "<none>"
    items: list[str] = []
    limit, more, count = 3, False, 0
    for ss in subsets:
        addresses = ss.get("addresses") or []
        ports = ss.get("ports") or []
        if not ports:
            count += len(addresses)
            for a in addresses:
                if len(items) == limit:
                    more = True
                    break
                items.append(str(a.get("ip", "")))
            continue
        for port in ports:
            count += len(addresses)
            for a in addresses:
                if len(items) == limit:
                    more = True
                    break
                items.append(_host_port(str(a.get("ip", "")), port.get("port")))
    text = ",".join(items)
    return f"{text} + {count - limit} more..." if more else text


def _list_with_more(items: list[str], more: bool, count: int, limit: int) -> str:
    text = ",".join(items)
    if more:
        return f"{text} + {count - limit} more..."
    return text or "<unset>"


def _endpointslice_row(obj: Obj, now: dt.datetime) -> Cells:
    limit = 3
    ports: list[str] = []
    more, count = False, 0
    for p in obj.get("ports") or []:
        if len(ports) < limit:
            ports.append(str(p["port"]) if p.get("port") is not None else (p.get("name") or "*"))
        elif len(ports) == limit:
            more = True
        count += 1
    ports_cell = _list_with_more(ports, more, count, limit)
    addrs: list[str] = []
    more, count = False, 0
    for ep in obj.get("endpoints") or []:
        for a in ep.get("addresses") or []:
            if len(addrs) < limit:
                addrs.append(str(a))
            elif len(addrs) == limit:
                more = True
            count += 1
    return [_name(obj), obj.get("addressType", ""), ports_cell, _list_with_more(addrs, more, count, limit),
            _age(obj, now)]


def _node_roles(labels: Obj) -> str:
    roles = set()
    for k, v in (labels or {}).items():
        if k.startswith("node-role.kubernetes.io/"):
            role = k[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(status: Obj, kind: str) -> str:
    for a in status.get("addresses") or ():
        if a.get("type") == kind:
            return str(a.get("address", ""))
    return "<none>"


def _node_row(obj: Obj, now: dt.datetime) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conds = {c.get("type"): c for c in status.get("conditions") or ()}
    states = []
    if "Ready" in conds:
        states.append("Ready" if conds["Ready"].get("status") == "True" else "NotReady")
    if not states:
        states.append("Unknown")
    if spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    info = status.get("nodeInfo") or {}
    return [_name(obj), ",".join(states), _node_roles(_meta(obj).get("labels") or {}), _age(obj, now),
            info.get("kubeletVersion", ""), _node_address(status, "InternalIP"), _node_address(status, "ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


def _node_columns() -> list[Obj]:
    info, st = "io.k8s.api.core.v1.NodeSystemInfo", "io.k8s.api.core.v1.NodeStatus"
    return [name_col(), col("Status", description="The status of the node"),
            col("Roles", description="The roles of the node"), age_col(),
            col("Version", description=doc(info, "kubeletVersion")),
            col("Internal-IP", priority=1, description=doc(st, "addresses")),
            col("External-IP", priority=1, description=doc(st, "addresses")),
            col("OS-Image", priority=1, description=doc(info, "osImage")),
            col("Kernel-Version", priority=1, description=doc(info, "kernelVersion")),
            col("Container-Runtime", priority=1, description=doc(info, "containerRuntimeVersion"))]


def _event_columns() -> list[Obj]:
    e = "io.k8s.api.core.v1.Event"
    return [col("Last Seen", description=doc(e, "lastTimestamp")), col("Type", description=doc(e, "type")),
            col("Reason", description=doc(e, "reason")), col("Object", description=doc(e, "involvedObject")),
            col("Subobject", priority=1, description=doc("io.k8s.api.core.v1.ObjectReference", "fieldPath")),
            col("Source", priority=1, description=doc(e, "source")), col("Message", description=doc(e, "message")),
            col("First Seen", priority=1, description=doc(e, "firstTimestamp")),
            col("Count", priority=1, description=doc(e, "count")),
            col("Name", priority=1, fmt="name", description=doc(_META, "name"))]


def _event_row(obj: Obj, now: dt.datetime) -> Cells:
    first = since(obj.get("firstTimestamp"), now) if obj.get("firstTimestamp") else since(obj.get("eventTime"), now)
    last = since(obj.get("lastTimestamp"), now) if obj.get("lastTimestamp") else first
    count = _int(obj.get("count"))
    series = obj.get("series")
    if series:
        last = since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1
    involved = obj.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingComponent") or obj.get("reportingController") or ""
    host = source.get("host") or obj.get("reportingInstance") or ""
    source_cell = f"{component}, {host}" if host else component
    return [last, obj.get("type", ""), obj.get("reason", ""), target, involved.get("fieldPath", ""), source_cell,
            str(obj.get("message", "")).strip(), first, count, _name(obj)]


_ACCESS_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                 ("ReadWriteOncePod", "RWOP"))


def _access_modes(modes: Any) -> str:
    have = set(modes or ())
    return ",".join(short for mode, short in _ACCESS_MODES if mode in have)


def _pv_row(obj: Obj, now: dt.datetime) -> Cells:
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, _meta(obj)
    claim = spec.get("claimRef")
    claim_cell = f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else ""
    phase = "Terminating" if meta.get("deletionTimestamp") else status.get("phase", "")
    storage_class = spec.get("storageClassName") or (meta.get("annotations") or {}).get(
        "volume.beta.kubernetes.io/storage-class", "")
    return [_name(obj), str((spec.get("capacity") or {}).get("storage", "0")), _access_modes(spec.get("accessModes")),
            spec.get("persistentVolumeReclaimPolicy", ""), phase, claim_cell, storage_class,
            spec.get("volumeAttributesClassName") or "<unset>", status.get("reason", ""), _age(obj, now),
            spec.get("volumeMode") or "<unset>"]


def _pv_columns() -> list[Obj]:
    s, st = "io.k8s.api.core.v1.PersistentVolumeSpec", "io.k8s.api.core.v1.PersistentVolumeStatus"
    return [name_col(), col("Capacity", description=doc(s, "capacity")),
            col("Access Modes", description=doc(s, "accessModes")),
            col("Reclaim Policy", description=doc(s, "persistentVolumeReclaimPolicy")),
            col("Status", description=doc(st, "phase")), col("Claim", description=doc(s, "claimRef")),
            col("StorageClass", description="StorageClass of the pv"),
            col("VolumeAttributesClass", description="VolumeAttributesClass of the pv"),
            col("Reason", description=doc(st, "reason")), age_col(),
            col("VolumeMode", priority=1, description=doc(s, "volumeMode"))]


def _pvc_row(obj: Obj, now: dt.datetime) -> Cells:
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, _meta(obj)
    phase = "Terminating" if meta.get("deletionTimestamp") else status.get("phase", "")
    capacity = modes = ""
    if spec.get("volumeName"):
        modes = _access_modes(status.get("accessModes"))
        capacity = str((status.get("capacity") or {}).get("storage", "0"))
    storage_class = spec.get("storageClassName") or (meta.get("annotations") or {}).get(
        "volume.beta.kubernetes.io/storage-class", "")
    return [_name(obj), phase, spec.get("volumeName", ""), capacity, modes, storage_class,
            spec.get("volumeAttributesClassName") or "<unset>", _age(obj, now), spec.get("volumeMode") or "<unset>"]


def _pvc_columns() -> list[Obj]:
    s, st = "io.k8s.api.core.v1.PersistentVolumeClaimSpec", "io.k8s.api.core.v1.PersistentVolumeClaimStatus"
    return [name_col(), col("Status", description=doc(st, "phase")), col("Volume", description=doc(s, "volumeName")),
            col("Capacity", description=doc(st, "capacity")), col("Access Modes", description=doc(st, "accessModes")),
            col("StorageClass", description="StorageClass of the pvc"),
            col("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"), age_col(),
            col("VolumeMode", priority=1, description=doc(s, "volumeMode"))]


# -- apps/v1, batch/v1 -------------------------------------------------------------------------

def _deployment_row(obj: Obj, now: dt.datetime) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    try:
        selector = selector_string(spec.get("selector"))
    except SelectorError:
        selector = "<invalid>"
    names, images = _containers(_template_spec(obj))
    return [_name(obj), f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'))}",
            _int(status.get("updatedReplicas")), _int(status.get("availableReplicas")), _age(obj, now),
            names, images, selector]


def _deployment_columns() -> list[Obj]:
    st = "io.k8s.api.apps.v1.DeploymentStatus"
    return [name_col(), col("Ready", description="Number of the pod with ready state"),
            col("Up-to-date", description=doc(st, "updatedReplicas")),
            col("Available", description=doc(st, "availableReplicas")), age_col(), CONTAINERS_COL, IMAGES_COL,
            col("Selector", priority=1, description=doc("io.k8s.api.apps.v1.DeploymentSpec", "selector"))]


def _replicaset_row(obj: Obj, now: dt.datetime) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_template_spec(obj))
    return [_name(obj), _int(spec.get("replicas")), _int(status.get("replicas")), _int(status.get("readyReplicas")),
            _age(obj, now), names, images, _format_selector(spec.get("selector"))]


def _replicaset_columns() -> list[Obj]:
    st = "io.k8s.api.apps.v1.ReplicaSetStatus"
    return [name_col(), col("Desired", "integer", doc("io.k8s.api.apps.v1.ReplicaSetSpec", "replicas")),
            col("Current", "integer", doc(st, "replicas")), col("Ready", "integer", doc(st, "readyReplicas")),
            age_col(), CONTAINERS_COL, IMAGES_COL,
            col("Selector", priority=1, description=doc("io.k8s.api.apps.v1.ReplicaSetSpec", "selector"))]


def _statefulset_row(obj: Obj, now: dt.datetime) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_template_spec(obj))
    return [_name(obj), f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'))}", _age(obj, now),
            names, images]


def _daemonset_row(obj: Obj, now: dt.datetime) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    tspec = _template_spec(obj)
    names, images = _containers(tspec)
    return [_name(obj), _int(status.get("desiredNumberScheduled")), _int(status.get("currentNumberScheduled")),
            _int(status.get("numberReady")), _int(status.get("updatedNumberScheduled")),
            _int(status.get("numberAvailable")), _format_labels(tspec.get("nodeSelector")), _age(obj, now),
            names, images, _format_selector(spec.get("selector"))]


def _daemonset_columns() -> list[Obj]:
    st = "io.k8s.api.apps.v1.DaemonSetStatus"
    return [name_col(), col("Desired", "integer", doc(st, "desiredNumberScheduled")),
            col("Current", "integer", doc(st, "currentNumberScheduled")),
            col("Ready", "integer", doc(st, "numberReady")),
            col("Up-to-date", "integer", doc(st, "updatedNumberScheduled")),
            col("Available", "integer", doc(st, "numberAvailable")),
            col("Node Selector", description=doc("io.k8s.api.core.v1.PodSpec", "nodeSelector")), age_col(),
            CONTAINERS_COL, IMAGES_COL,
            col("Selector", priority=1, description=doc("io.k8s.api.apps.v1.DaemonSetSpec", "selector"))]


def _controller_of(obj: Obj) -> str:
    for ref in _meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            kind = str(ref.get("kind", ""))
            gk = f"{kind}.{group}" if group else kind
            return f"{gk.lower()}/{ref.get('name', '')}" if gk else str(ref.get("name", ""))
    return "<none>"


def _controllerrevision_row(obj: Obj, now: dt.datetime) -> Cells:
    return [_name(obj), _controller_of(obj), _int(obj.get("revision")), _age(obj, now)]


def _job_condition(status: Obj, kind: str) -> bool:
    for c in status.get("conditions") or ():
        if c.get("type") == kind:
            return bool(c.get("status") == "True")
    return False


def _job_row(obj: Obj, now: dt.datetime) -> Cells:
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, _meta(obj)
    succeeded = _int(status.get("succeeded"))
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif _int(spec.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    duration = "" if start is None else human_duration((end or now) - start)
    if _job_condition(status, "Complete"):
        state = "Complete"
    elif _job_condition(status, "Failed"):
        state = "Failed"
    elif meta.get("deletionTimestamp"):
        state = "Terminating"
    elif _job_condition(status, "Suspended"):
        state = "Suspended"
    elif _job_condition(status, "FailureTarget"):
        state = "FailureTarget"
    else:
        state = "Running"
    names, images = _containers(_template_spec(obj))
    return [_name(obj), state, completions, duration, _age(obj, now), names, images,
            _format_selector(spec.get("selector"))]


def _job_columns() -> list[Obj]:
    return [name_col(), col("Status", description="Status of the job."),
            col("Completions", description=doc("io.k8s.api.batch.v1.JobStatus", "succeeded")),
            col("Duration", description="Time required to complete the job."), age_col(), CONTAINERS_COL, IMAGES_COL,
            col("Selector", priority=1, description=doc("io.k8s.api.batch.v1.JobSpec", "selector"))]


def _cronjob_row(obj: Obj, now: dt.datetime) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    last = since(status["lastScheduleTime"], now) if status.get("lastScheduleTime") else "<none>"
    job_spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    names, images = _containers(((job_spec.get("template") or {}).get("spec")) or {})
    return [_name(obj), spec.get("schedule", ""), spec.get("timeZone") or "<none>", _go_bool(spec.get("suspend")),
            len(status.get("active") or ()), last, _age(obj, now), names, images,
            _format_selector(job_spec.get("selector"))]


def _cronjob_columns() -> list[Obj]:
    s = "io.k8s.api.batch.v1.CronJobSpec"
    return [name_col(), col("Schedule", description=doc(s, "schedule")),
            col("Timezone", description=doc(s, "timeZone")), col("Suspend", "boolean", doc(s, "suspend")),
            col("Active", "integer", doc("io.k8s.api.batch.v1.CronJobStatus", "active")),
            col("Last Schedule", description=doc("io.k8s.api.batch.v1.CronJobStatus", "lastScheduleTime")),
            age_col(), CONTAINERS_COL, IMAGES_COL,
            col("Selector", priority=1, description=doc("io.k8s.api.batch.v1.JobSpec", "selector"))]


# -- other groups ------------------------------------------------------------------------------

def _ingress_row(obj: Obj, now: dt.datetime) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    rules = spec.get("rules") or []
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
        if not more and rule.get("host"):
            hosts.append(rule["host"])
    hosts_cell = "*" if not hosts else (",".join(hosts) + (f" + {len(rules) - 3} more..." if more else ""))
    found = sorted({i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or ()
                    if i.get("ip") or i.get("hostname")})
    return [_name(obj), spec.get("ingressClassName") or "<none>", hosts_cell, ",".join(found),
            "80, 443" if spec.get("tls") else "80", _age(obj, now)]


def _ingress_columns() -> list[Obj]:
    return [name_col(),
            col("Class", description="The name of the IngressClass resource that should be used for additional "
                                     "configuration"),
            col("Hosts", description="Hosts that incoming requests are matched against before the ingress rule"),
            col("Address", description="Address is a list containing ingress points for the load-balancer"),
            col("Ports", description="Ports of TLS configurations that open"), age_col()]


def _subjects(subjects: Any) -> list[str]:
    users, groups, sas = [], [], []
    for s in subjects or ():
        kind = s.get("kind")
        if kind == "User":
            users.append(s.get("name", ""))
        elif kind == "Group":
            groups.append(s.get("name", ""))
        elif kind == "ServiceAccount":
            sas.append(f"{s.get('namespace', '')}/{s.get('name', '')}")
    return [", ".join(users), ", ".join(groups), ", ".join(sas)]


def _binding_row(obj: Obj, now: dt.datetime) -> Cells:
    ref = obj.get("roleRef") or {}
    return [_name(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}", _age(obj, now), *_subjects(obj.get("subjects"))]


def _binding_columns(kind: str) -> Callable[[], list[Obj]]:
    def columns() -> list[Obj]:
        return [name_col(), col("Role", description=doc(f"io.k8s.api.rbac.v1.{kind}", "roleRef")), age_col(),
                col("Users", priority=1, description=f"Users in the {kind[0].lower() + kind[1:]}"),
                col("Groups", priority=1, description=f"Groups in the {kind[0].lower() + kind[1:]}"),
                col("ServiceAccounts", priority=1, description=f"ServiceAccounts in the {kind[0].lower() + kind[1:]}")]
    return columns


def _storageclass_row(obj: Obj, now: dt.datetime) -> Cells:
    annotations = _meta(obj).get("annotations") or {}
    default = "true" in (annotations.get("storageclass.kubernetes.io/is-default-class"),
                         annotations.get("storageclass.beta.kubernetes.io/is-default-class"))
    name = _name(obj) + (" (default)" if default else "")
    expand = obj.get("allowVolumeExpansion")
    return [name, obj.get("provisioner", ""), obj.get("reclaimPolicy") or "Delete",
            obj.get("volumeBindingMode") or "Immediate", bool(expand), _age(obj, now)]


def _storageclass_columns() -> list[Obj]:
    d = "io.k8s.api.storage.v1.StorageClass"
    return [name_col(), col("Provisioner", description=doc(d, "provisioner")),
            col("ReclaimPolicy", description=doc(d, "reclaimPolicy")),
            col("VolumeBindingMode", description=doc(d, "volumeBindingMode")),
            col("AllowVolumeExpansion", description=doc(d, "allowVolumeExpansion")), age_col()]


def _priorityclass_row(obj: Obj, now: dt.datetime) -> Cells:
    return [_name(obj), _int(obj.get("value")), bool(obj.get("globalDefault")), _age(obj, now),
            obj.get("preemptionPolicy") or ""]


def _priorityclass_columns() -> list[Obj]:
    d = "io.k8s.api.scheduling.v1.PriorityClass"
    return [name_col(), col("Value", "integer", doc(d, "value")), col("Global-Default", "boolean", doc(d, "globalDefault")),
            age_col(), col("PreemptionPolicy", description=doc(d, "preemptionPolicy"))]


def _simple(*extra: tuple[Obj, Callable[[Obj], Any]]) -> Printer:
    """NAME, the given columns, AGE."""
    return Printer(lambda: [name_col(), *(c for c, _ in extra), age_col()],
                   lambda obj, now: [_name(obj), *(f(obj) for _, f in extra), _age(obj, now)])


def default_printer() -> Printer:
    """Kubernetes' default table (``rest.DefaultTableConvertor``): NAME and CREATED AT."""
    def row(obj: Obj, now: dt.datetime) -> Cells:
        ts = parse_time(_meta(obj).get("creationTimestamp"))
        return [_name(obj), ts.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None]
    return Printer(lambda: [name_col(), col("Created At", "date", doc(_META, "creationTimestamp"))], row)


PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Pod"): Printer(_pod_columns, _pod_row),
    ("", "Service"): Printer(_service_columns, _service_row),
    ("", "Endpoints"): _simple((col("Endpoints", description=doc("io.k8s.api.core.v1.Endpoints", "subsets")),
                                _format_endpoints)),
    ("", "Node"): Printer(_node_columns, _node_row),
    ("", "Namespace"): _simple((col("Status", description="The status of the namespace"),
                                lambda o: (o.get("status") or {}).get("phase", ""))),
    ("", "ConfigMap"): _simple((col("Data", description=doc("io.k8s.api.core.v1.ConfigMap", "data")),
                                lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}))),
    ("", "Secret"): _simple((col("Type", description=doc("io.k8s.api.core.v1.Secret", "type")),
                             lambda o: o.get("type", "")),
                            (col("Data", description=doc("io.k8s.api.core.v1.Secret", "data")),
                             lambda o: len(o.get("data") or {}))),
    ("", "ServiceAccount"): _simple((col("Secrets", description=doc("io.k8s.api.core.v1.ServiceAccount", "secrets")),
                                     lambda o: len(o.get("secrets") or ()))),
    ("", "Event"): Printer(_event_columns, _event_row),
    ("", "PersistentVolume"): Printer(_pv_columns, _pv_row),
    ("", "PersistentVolumeClaim"): Printer(_pvc_columns, _pvc_row),
    ("apps", "Deployment"): Printer(_deployment_columns, _deployment_row),
    ("apps", "ReplicaSet"): Printer(_replicaset_columns, _replicaset_row),
    ("apps", "StatefulSet"): Printer(lambda: [name_col(), col("Ready", description="Number of the pod with ready state"),
                                              age_col(), CONTAINERS_COL, IMAGES_COL], _statefulset_row),
    ("apps", "DaemonSet"): Printer(_daemonset_columns, _daemonset_row),
    ("apps", "ControllerRevision"): Printer(
        lambda: [name_col(), col("Controller", description="Controller of the object"),
                 col("Revision", description=doc("io.k8s.api.apps.v1.ControllerRevision", "revision")), age_col()],
        _controllerrevision_row),
    ("batch", "Job"): Printer(_job_columns, _job_row),
    ("batch", "CronJob"): Printer(_cronjob_columns, _cronjob_row),
    ("coordination.k8s.io", "Lease"): _simple(
        (col("Holder", description=doc("io.k8s.api.coordination.v1.LeaseSpec", "holderIdentity")),
         lambda o: (o.get("spec") or {}).get("holderIdentity") or "")),
    ("policy", "PodDisruptionBudget"): _simple(
        (col("Min Available", description=doc("io.k8s.api.policy.v1.PodDisruptionBudgetSpec", "minAvailable")),
         lambda o: str((o.get("spec") or {}).get("minAvailable", "N/A"))),
        (col("Max Unavailable", description=doc("io.k8s.api.policy.v1.PodDisruptionBudgetSpec", "maxUnavailable")),
         lambda o: str((o.get("spec") or {}).get("maxUnavailable", "N/A"))),
        (col("Allowed Disruptions", "integer",
             doc("io.k8s.api.policy.v1.PodDisruptionBudgetStatus", "disruptionsAllowed")),
         lambda o: int((o.get("status") or {}).get("disruptionsAllowed") or 0))),
    ("discovery.k8s.io", "EndpointSlice"): Printer(
        lambda: [name_col(), col("AddressType", description=doc("io.k8s.api.discovery.v1.EndpointSlice", "addressType")),
                 col("Ports", description=doc("io.k8s.api.discovery.v1.EndpointSlice", "ports")),
                 col("Endpoints", description=doc("io.k8s.api.discovery.v1.EndpointSlice", "endpoints")), age_col()],
        _endpointslice_row),
    ("networking.k8s.io", "Ingress"): Printer(_ingress_columns, _ingress_row),
    ("rbac.authorization.k8s.io", "RoleBinding"): Printer(_binding_columns("RoleBinding"), _binding_row),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): Printer(_binding_columns("ClusterRoleBinding"), _binding_row),
    ("storage.k8s.io", "StorageClass"): Printer(_storageclass_columns, _storageclass_row),
    ("scheduling.k8s.io", "PriorityClass"): Printer(_priorityclass_columns, _priorityclass_row),
}


def printer_for(group: str, kind: str) -> Printer:
    return PRINTERS.get((group, kind)) or default_printer()
