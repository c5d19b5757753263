"""``skiffctl describe``: kubectl's describers for the common kinds, with the Events section.

Output is built as tab-separated lines (kubectl's ``PrefixWriter`` levels are two-space
indents) and aligned once by the Go tabwriter rules with padding 2, as kubectl does.
Describers are pure functions ``(obj, related, now) -> lines``; ``run`` fetches what
they need (events, pods, replica sets) through the public API.
"""
from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any

from decimal import Decimal

from skiff.api.quantity import Format, format_quantity, parse_quantity
from skiff.api.resources import Resource, find
from skiff.client import ApiError

from .cmd_get import parse_targets
from .common import Cli, CommandError, error_message
from .tabwriter import format_lines

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_ANNOTATION_LEN = 140

Obj = dict[str, Any]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("describe", help="Show details of a specific resource or group of resources")
    p.add_argument("args", nargs="*")
    p.add_argument("-f", "--filename", action="append", default=[])
    p.add_argument("-R", "--recursive", action="store_true")
    p.add_argument("-l", "--selector", default="")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("--show-events", default="true")
    p.add_argument("--chunk-size", type=int, default=500)
    p.set_defaults(run=run)


# -- formatting helpers (pure) ------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """apimachinery's ``HumanDuration``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rem = s % 60
        return f"{minutes}m" if rem == 0 else f"{minutes}m{rem}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def rfc1123z(value: str | None) -> str:
    t = parse_time(value)
    if t is None:
        return "<unknown>"
    return t.astimezone().strftime("%a, %d %b %Y %H:%M:%S %z")


def since(value: str | None, now: dt.datetime) -> str:
    t = parse_time(value)
    if t is None:
        return "<unknown>"
    return human_duration((now - t).total_seconds())


def _multiline(title: str, values: list[str], indent: str = "") -> list[str]:
    if not values:
        return [f"{indent}{title}:\t<none>"]
    # continuation lines start with the tab itself, as kubectl writes them
    return [f"{indent}{title}:\t{values[0]}"] + [f"\t{v}" for v in values[1:]]


def labels_lines(title: str, labels: dict[str, str] | None, indent: str = "") -> list[str]:
    labels = labels or {}
    return _multiline(title, [f"{k}={labels[k]}" for k in sorted(labels)], indent)


def annotations_lines(annotations: dict[str, str] | None, indent: str = "", title: str = "Annotations") -> list[str]:
    items = {k: v for k, v in (annotations or {}).items() if k != LAST_APPLIED}
    values = []
    for k in sorted(items):
        v = items[k].removesuffix("\n")
        if len(v) + len(k) + 2 > MAX_ANNOTATION_LEN or "\n" in v:
            # kubectl's printAnnotationsMultiline: the key alone, then each value line shortened
            values.append(f"{k}:")
            for line in v.split("\n"):
                cut = MAX_ANNOTATION_LEN - 2
                values.append(f"  {line[:cut] + '...' if len(line) > cut else line}")
        else:
            values.append(f"{k}: {v}")
    return _multiline(title, values, indent)


def selector_text(selector: dict[str, Any] | None) -> str:
    """``metav1.LabelSelectorAsSelector`` rendering."""
    if not selector:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or []:
        op, key, vals = e.get("operator"), e.get("key"), sorted(e.get("values") or [])
        if op == "In":
            parts.append(f"{key} in ({','.join(vals)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(vals)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(sorted(parts)) or "<none>"


def events_lines(events: list[Obj] | None, now: dt.datetime) -> list[str]:
    if events is None:
        return []
    if not events:
        return ["Events:\t<none>"]
    out = ["Events:", "  Type\tReason\tAge\tFrom\tMessage", "  ----\t------\t----\t----\t-------"]
    ordered = sorted(events, key=lambda e: parse_time(e.get("lastTimestamp") or e.get("eventTime"))
                     or dt.datetime.min.replace(tzinfo=dt.timezone.utc))
    for e in ordered:
        first = since(e.get("firstTimestamp"), now) if e.get("firstTimestamp") else since(e.get("eventTime"), now)
        count = int(e.get("count") or 0)
        if count > 1:
            last = since(e.get("lastTimestamp"), now) if e.get("lastTimestamp") else first
            interval = f"{last} (x{count} over {first})"
        else:
            interval = first
        source = (e.get("source") or {}).get("component") or e.get("reportingComponent") or ""
        out.append(f"  {e.get('type', '')}\t{e.get('reason', '')}\t{interval}\t{source}\t"
                   f"{str(e.get('message', '')).strip()}")
    return out


def _controlled_by(meta: Obj) -> list[str]:
    for o in meta.get("ownerReferences") or []:
        if o.get("controller"):
            return [f"Controlled By:\t{o.get('kind')}/{o.get('name')}"]
    return []


def _port_text(c: Obj, field: str) -> str:
    ports = c.get("ports") or []
    if not ports:
        return "<none>"
    if field == "hostPort":
        return ", ".join(f"{p.get('hostPort', 0)}/{p.get('protocol', 'TCP')}" for p in ports)
    return ", ".join(f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in ports)


def _env_lines(c: Obj, indent: str) -> list[str]:
    env = c.get("env") or []
    env_from = c.get("envFrom") or []
    lines: list[str] = []
    if env_from:
        lines.append(f"{indent}Environment Variables from:")
        for e in env_from:
            if e.get("configMapRef"):
                lines.append(f"{indent}  {e['configMapRef'].get('name')}\tConfigMap\tOptional: "
                             f"{str(bool(e['configMapRef'].get('optional'))).lower()}")
            elif e.get("secretRef"):
                lines.append(f"{indent}  {e['secretRef'].get('name')}\tSecret\tOptional: "
                             f"{str(bool(e['secretRef'].get('optional'))).lower()}")
    if not env:
        lines.append(f"{indent}Environment:\t<none>")
        return lines
    lines.append(f"{indent}Environment:")
    for e in env:
        if "value" in e or not e.get("valueFrom"):
            lines.append(f"{indent}  {e['name']}:\t{e.get('value', '')}")
            continue
        vf = e["valueFrom"]
        if vf.get("fieldRef"):
            f = vf["fieldRef"]
            lines.append(f"{indent}  {e['name']}:\t ({f.get('apiVersion', 'v1')}:{f.get('fieldPath')})")
        elif vf.get("secretKeyRef"):
            r = vf["secretKeyRef"]
            lines.append(f"{indent}  {e['name']}:\t<set to the key '{r.get('key')}' in secret '{r.get('name')}'>"
                         f"\tOptional: {str(bool(r.get('optional'))).lower()}")
        elif vf.get("configMapKeyRef"):
            r = vf["configMapKeyRef"]
            lines.append(f"{indent}  {e['name']}:\t<set to the key '{r.get('key')}' of config map '{r.get('name')}'>"
                         f"\tOptional: {str(bool(r.get('optional'))).lower()}")
        else:
            lines.append(f"{indent}  {e['name']}:\t")
    return lines


def _mounts_lines(c: Obj, indent: str) -> list[str]:
    mounts = c.get("volumeMounts") or []
    if not mounts:
        return [f"{indent}Mounts:\t<none>"]
    lines = [f"{indent}Mounts:"]
    for m in sorted(mounts, key=lambda m: m.get("mountPath", "")):
        flags = ["ro" if m.get("readOnly") else "rw"]
        if m.get("subPath"):
            flags.append(f"path=\"{m['subPath']}\"")
        lines.append(f"{indent}  {m.get('mountPath')} from {m.get('name')} ({','.join(flags)})")
    return lines


def _resources_lines(c: Obj, indent: str) -> list[str]:
    lines = []
    res = c.get("resources") or {}
    for title, key in (("Limits", "limits"), ("Requests", "requests")):
        vals = res.get(key) or {}
        if vals:
            lines.append(f"{indent}{title}:")
            lines.extend(f"{indent}  {k}:\t{vals[k]}" for k in sorted(vals))
    return lines


def _probe_text(p: Obj) -> str:
    if p.get("httpGet"):
        h = p["httpGet"]
        target = f"http-get {h.get('scheme', 'HTTP').lower()}://{h.get('host', '')}:{h.get('port')}{h.get('path', '')}"
    elif p.get("tcpSocket"):
        target = f"tcp-socket :{p['tcpSocket'].get('port')}"
    elif p.get("exec"):
        target = f"exec {p['exec'].get('command')}".replace("'", "")
        target = "exec [" + " ".join(p["exec"].get("command") or []) + "]"
    elif p.get("grpc"):
        target = f"grpc <pod>:{p['grpc'].get('port')} {p['grpc'].get('service', '')}"
    else:
        target = "unknown"
    return (f"{target} delay={p.get('initialDelaySeconds', 0)}s timeout={p.get('timeoutSeconds', 1)}s "
            f"period={p.get('periodSeconds', 10)}s #success={p.get('successThreshold', 1)} "
            f"#failure={p.get('failureThreshold', 3)}")


def _container_lines(c: Obj, *, indent: str, status: Obj | None, pod_mode: bool) -> list[str]:
    lines = [f"{indent}{c['name']}:"]
    inner = "    "  # kubectl's LEVEL_2, for pods ("  name:") and templates ("   name:") alike
    if status is not None:
        lines.append(f"{inner}Container ID:\t{status.get('containerID', '')}")
    lines.append(f"{inner}Image:\t{c.get('image', '')}")
    if status is not None:
        lines.append(f"{inner}Image ID:\t{status.get('imageID', '')}")
    lines.append(f"{inner}Port:\t{_port_text(c, 'containerPort')}")
    lines.append(f"{inner}Host Port:\t{_port_text(c, 'hostPort')}")
    if c.get("command"):
        lines.append(f"{inner}Command:")
        lines.extend(f"{inner}  {x}" for x in c["command"])
    if c.get("args"):
        lines.append(f"{inner}Args:")
        lines.extend(f"{inner}  {x}" for x in c["args"])
    if status is not None:
        lines.extend(_state_lines("State", status.get("state") or {}, inner))
        if status.get("lastState"):
            lines.extend(_state_lines("Last State", status["lastState"], inner))
        lines.append(f"{inner}Ready:\t{'True' if status.get('ready') else 'False'}")
        lines.append(f"{inner}Restart Count:\t{status.get('restartCount', 0)}")
    lines.extend(_resources_lines(c, inner))
    for title, key in (("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"), ("Startup", "startupProbe")):
        if c.get(key):
            lines.append(f"{inner}{title}:\t{_probe_text(c[key])}")
    lines.extend(_env_lines(c, inner))
    lines.extend(_mounts_lines(c, inner))
    return lines


def _state_lines(title: str, state: Obj, indent: str) -> list[str]:
    if state.get("running"):
        return [f"{indent}{title}:\tRunning", f"{indent}  Started:\t{rfc1123z(state['running'].get('startedAt'))}"]
    if state.get("waiting"):
        lines = [f"{indent}{title}:\tWaiting"]
        if state["waiting"].get("reason"):
            lines.append(f"{indent}  Reason:\t{state['waiting']['reason']}")
        return lines
    if state.get("terminated"):
        t = state["terminated"]
        lines = [f"{indent}{title}:\tTerminated"]
        if t.get("reason"):
            lines.append(f"{indent}  Reason:\t{t['reason']}")
        lines.append(f"{indent}  Exit Code:\t{t.get('exitCode', 0)}")
        lines.append(f"{indent}  Started:\t{rfc1123z(t.get('startedAt'))}")
        lines.append(f"{indent}  Finished:\t{rfc1123z(t.get('finishedAt'))}")
        return lines
    return [f"{indent}{title}:\tWaiting"]


def _tolerations(tols: list[Obj] | None, indent: str = "") -> list[str]:
    values = []
    for t in tols or []:
        text = t.get("key", "")
        if t.get("value"):
            text += f"={t['value']}"
        if t.get("effect"):
            text += f":{t['effect']}"
        if t.get("operator") == "Exists" and not t.get("value"):
            text += " op=Exists"
        if t.get("tolerationSeconds") is not None:
            text += f" for {t['tolerationSeconds']}s"
        values.append(text)
    return _multiline("Tolerations", values, indent)


def _node_selectors(sel: dict[str, str] | None, indent: str = "") -> list[str]:
    sel = sel or {}
    return _multiline("Node-Selectors", [f"{k}={sel[k]}" for k in sorted(sel)], indent)


def _volumes_lines(volumes: list[Obj] | None, indent: str = "") -> list[str]:
    if not volumes:
        return [f"{indent}Volumes:\t<none>"]
    lines = [f"{indent}Volumes:"]
    for v in volumes:
        lines.append(f"{indent}  {v['name']}:")
        inner = indent + "    "
        if "emptyDir" in v:
            e = v.get("emptyDir") or {}
            lines.append(f"{inner}Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)")
            lines.append(f"{inner}Medium:\t{e.get('medium', '')}")
            lines.append(f"{inner}SizeLimit:\t{e.get('sizeLimit', '<unset>')}")
        elif "configMap" in v:
            c = v["configMap"]
            lines.append(f"{inner}Type:\tConfigMap (a volume populated by a ConfigMap)")
            lines.append(f"{inner}Name:\t{c.get('name')}")
            lines.append(f"{inner}Optional:\t{str(bool(c.get('optional'))).lower()}")
        elif "secret" in v:
            s = v["secret"]
            lines.append(f"{inner}Type:\tSecret (a volume populated by a Secret)")
            lines.append(f"{inner}SecretName:\t{s.get('secretName')}")
            lines.append(f"{inner}Optional:\t{str(bool(s.get('optional'))).lower()}")
        elif "hostPath" in v:
            h = v["hostPath"]
            lines.append(f"{inner}Type:\tHostPath (bare host directory volume)")
            lines.append(f"{inner}Path:\t{h.get('path')}")
            lines.append(f"{inner}HostPathType:\t{h.get('type', '')}")
        elif "persistentVolumeClaim" in v:
            p = v["persistentVolumeClaim"]
            lines.append(f"{inner}Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same "
                         f"namespace)")
            lines.append(f"{inner}ClaimName:\t{p.get('claimName')}")
            lines.append(f"{inner}ReadOnly:\t{str(bool(p.get('readOnly'))).lower()}")
        else:
            kind = next((k for k in v if k != "name"), "unknown")
            lines.append(f"{inner}Type:\t{kind}")
    return lines


def pod_template_lines(template: Obj) -> list[str]:
    meta, spec = template.get("metadata") or {}, template.get("spec") or {}
    lines = ["Pod Template:"]
    lines.extend(labels_lines("Labels", meta.get("labels"), "  "))
    if meta.get("annotations"):
        lines.extend(annotations_lines(meta.get("annotations"), "  "))
    if spec.get("serviceAccountName"):
        lines.append(f"  Service Account:\t{spec['serviceAccountName']}")
    if spec.get("initContainers"):
        lines.append("  Init Containers:")
        for c in spec["initContainers"]:
            lines.extend(_container_lines(c, indent="   ", status=None, pod_mode=False))
    lines.append("  Containers:")
    for c in spec.get("containers") or []:
        lines.extend(_container_lines(c, indent="   ", status=None, pod_mode=False))
    lines.extend(_volumes_lines(spec.get("volumes"), "  "))
    lines.extend(_node_selectors(spec.get("nodeSelector"), "  "))
    lines.extend(_tolerations(spec.get("tolerations"), "  "))
    return lines


# -- describers ---------------------------------------------------------------------------

def describe_namespace(ns: Obj, ctx: dict[str, Any]) -> list[str]:
    meta = ns.get("metadata") or {}
    return [f"Name:\t{meta.get('name')}", *labels_lines("Labels", meta.get("labels")),
            *annotations_lines(meta.get("annotations")), f"Status:\t{(ns.get('status') or {}).get('phase', '')}"]


def _head(obj: Obj, *, namespace: bool = True) -> list[str]:
    meta = obj.get("metadata") or {}
    lines = [f"Name:\t{meta.get('name')}"]
    if namespace:
        lines.append(f"Namespace:\t{meta.get('namespace', '')}")
    lines += labels_lines("Labels", meta.get("labels"))
    lines += annotations_lines(meta.get("annotations"))
    return lines


def describe_configmap(cm: Obj, ctx: dict[str, Any]) -> list[str]:
    lines = _head(cm) + ["", "Data", "===="]
    for k in sorted(cm.get("data") or {}):
        # kubectl >= 1.31 ends every value with a blank line
        lines += [f"{k}:", "----"] + str(cm["data"][k]).split("\n") + [""]
    lines += ["", "BinaryData", "===="]
    for k in sorted(cm.get("binaryData") or {}):
        import base64
        lines.append(f"{k}: {len(base64.b64decode(cm['binaryData'][k]))} bytes")
    lines.append("")
    return lines + events_lines(ctx.get("events"), ctx["now"])


def describe_secret(s: Obj, ctx: dict[str, Any]) -> list[str]:
    import base64

    lines = _head(s) + ["", f"Type:\t{s.get('type', 'Opaque')}", "", "Data", "===="]
    for k in sorted(s.get("data") or {}):
        lines.append(f"{k}:\t{len(base64.b64decode(s['data'][k]))} bytes")
    return lines


def _replicas_line(d: Obj) -> str:
    spec, st = d.get("spec") or {}, d.get("status") or {}
    return (f"Replicas:\t{spec.get('replicas', 1)} desired | {st.get('updatedReplicas', 0)} updated | "
            f"{st.get('replicas', 0)} total | {st.get('availableReplicas', 0)} available | "
            f"{st.get('unavailableReplicas', 0)} unavailable")


def _rs_summary(rss: list[Obj]) -> str:
    if not rss:
        return "<none>"
    return ", ".join(f"{r['metadata']['name']} ({(r.get('status') or {}).get('replicas', 0)}/"
                     f"{(r.get('spec') or {}).get('replicas', 0)} replicas created)" for r in rss)


def describe_deployment(d: Obj, ctx: dict[str, Any]) -> list[str]:
    meta, spec, st = d.get("metadata") or {}, d.get("spec") or {}, d.get("status") or {}
    lines = [f"Name:\t{meta.get('name')}", f"Namespace:\t{meta.get('namespace')}",
             f"CreationTimestamp:\t{rfc1123z(meta.get('creationTimestamp'))}",
             *labels_lines("Labels", meta.get("labels")), *annotations_lines(meta.get("annotations")),
             f"Selector:\t{selector_text(spec.get('selector'))}", _replicas_line(d)]
    strategy = spec.get("strategy") or {}
    stype = strategy.get("type", "RollingUpdate")
    lines.append(f"StrategyType:\t{stype}")
    lines.append(f"MinReadySeconds:\t{spec.get('minReadySeconds', 0)}")
    if stype == "RollingUpdate":
        ru = strategy.get("rollingUpdate") or {}
        lines.append(f"RollingUpdateStrategy:\t{ru.get('maxUnavailable', '25%')} max unavailable, "
                     f"{ru.get('maxSurge', '25%')} max surge")
    lines += pod_template_lines(spec.get("template") or {})
    conditions = st.get("conditions") or []
    if conditions:
        lines += ["Conditions:", "  Type\tStatus\tReason", "  ----\t------\t------"]
        lines += [f"  {c.get('type')} \t{c.get('status')}\t{c.get('reason', '')}" for c in conditions]
    rss = ctx.get("replicasets") or []
    new_rs = ctx.get("new_rs")
    old = [r for r in rss if new_rs is None or r["metadata"]["uid"] != new_rs["metadata"]["uid"]]
    old = [r for r in old if (r.get("spec") or {}).get("replicas", 0) > 0 or (r.get("status") or {}).get("replicas", 0)]
    lines.append(f"OldReplicaSets:\t{_rs_summary(old)}")
    lines.append(f"NewReplicaSet:\t{_rs_summary([new_rs] if new_rs else [])}")
    return lines + events_lines(ctx.get("events"), ctx["now"])


def _pods_status(pods: list[Obj]) -> str:
    counts = {"Running": 0, "Pending": 0, "Succeeded": 0, "Failed": 0}
    for p in pods:
        phase = (p.get("status") or {}).get("phase", "Pending")
        counts[phase] = counts.get(phase, 0) + 1
    return (f"{counts['Running']} Running / {counts['Pending']} Waiting / {counts['Succeeded']} Succeeded / "
            f"{counts['Failed']} Failed")


def describe_replicaset(rs: Obj, ctx: dict[str, Any]) -> list[str]:
    meta, spec, st = rs.get("metadata") or {}, rs.get("spec") or {}, rs.get("status") or {}
    lines = [f"Name:\t{meta.get('name')}", f"Namespace:\t{meta.get('namespace')}",
             f"Selector:\t{selector_text(spec.get('selector'))}", *labels_lines("Labels", meta.get("labels")),
             *annotations_lines(meta.get("annotations")), *_controlled_by(meta),
             f"Replicas:\t{st.get('replicas', 0)} current / {spec.get('replicas', 1)} desired",
             f"Pods Status:\t{_pods_status(ctx.get('pods') or [])}"]
    lines += pod_template_lines(spec.get("template") or {})
    conditions = st.get("conditions") or []
    if conditions:
        lines += ["Conditions:", "  Type\tStatus\tReason", "  ----\t------\t------"]
        lines += [f"  {c.get('type')} \t{c.get('status')}\t{c.get('reason', '')}" for c in conditions]
    return lines + events_lines(ctx.get("events"), ctx["now"])


def _qos(pod: Obj) -> str:
    if (pod.get("status") or {}).get("qosClass"):
        return str(pod["status"]["qosClass"])
    containers = (pod.get("spec") or {}).get("containers") or []
    reqs = [((c.get("resources") or {}).get("requests") or {}) for c in containers]
    lims = [((c.get("resources") or {}).get("limits") or {}) for c in containers]
    if not any(reqs) and not any(lims):
        return "BestEffort"
    if all(l.get("cpu") and l.get("memory") and (not r or r == l) for r, l in zip(reqs, lims)):
        return "Guaranteed"
    return "Burstable"


def describe_pod(pod: Obj, ctx: dict[str, Any]) -> list[str]:
    meta, spec, st = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    node = spec.get("nodeName")
    if node and st.get("hostIP"):
        node = f"{node}/{st['hostIP']}"
    lines = [f"Name:\t{meta.get('name')}", f"Namespace:\t{meta.get('namespace')}",
             f"Priority:\t{spec.get('priority', 0)}"]
    if spec.get("priorityClassName"):
        lines.append(f"Priority Class Name:\t{spec['priorityClassName']}")
    lines.append(f"Service Account:\t{spec.get('serviceAccountName', '')}")
    lines.append(f"Node:\t{node or '<none>'}")
    if st.get("startTime"):
        lines.append(f"Start Time:\t{rfc1123z(st['startTime'])}")
    lines += labels_lines("Labels", meta.get("labels"))
    lines += annotations_lines(meta.get("annotations"))
    if meta.get("deletionTimestamp"):
        lines.append(f"Status:\tTerminating (lasts {since(meta['deletionTimestamp'], ctx['now'])})")
        lines.append(f"Termination Grace Period:\t{meta.get('deletionGracePeriodSeconds', 0)}s")
    else:
        lines.append(f"Status:\t{st.get('phase', '')}")
    if st.get("reason"):
        lines.append(f"Reason:\t{st['reason']}")
    if st.get("message"):
        lines.append(f"Message:\t{st['message']}")
    lines.append(f"IP:\t{st.get('podIP', '')}")
    ips = [i.get("ip") for i in st.get("podIPs") or []]
    lines += _multiline("IPs", [f"IP:  {ip}" for ip in ips]) if ips else ["IPs:\t<none>"]
    lines += _controlled_by(meta)
    statuses = {s["name"]: s for s in st.get("containerStatuses") or []}
    init_statuses = {s["name"]: s for s in st.get("initContainerStatuses") or []}
    if spec.get("initContainers"):
        lines.append("Init Containers:")
        for c in spec["initContainers"]:
            lines += _container_lines(c, indent="  ", status=init_statuses.get(c["name"]), pod_mode=True)
    lines.append("Containers:")
    for c in spec.get("containers") or []:
        lines += _container_lines(c, indent="  ", status=statuses.get(c["name"]), pod_mode=True)
    conditions = st.get("conditions") or []
    if conditions:
        lines += ["Conditions:", "  Type\tStatus"]
        lines += [f"  {c.get('type')} \t{c.get('status')} " for c in conditions]
    lines += _volumes_lines(spec.get("volumes"))
    lines.append(f"QoS Class:\t{_qos(pod)}")
    lines += _node_selectors(spec.get("nodeSelector"))
    lines += _tolerations(spec.get("tolerations"))
    return lines + events_lines(ctx.get("events"), ctx["now"])


def describe_service(svc: Obj, ctx: dict[str, Any]) -> list[str]:
    meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    lines = _head(svc)
    sel = spec.get("selector") or {}
    lines.append(f"Selector:\t{','.join(f'{k}={sel[k]}' for k in sorted(sel)) or '<none>'}")
    lines.append(f"Type:\t{spec.get('type', 'ClusterIP')}")
    if spec.get("ipFamilyPolicy"):
        lines.append(f"IP Family Policy:\t{spec['ipFamilyPolicy']}")
    if spec.get("ipFamilies"):
        lines.append(f"IP Families:\t{','.join(spec['ipFamilies'])}")
    lines.append(f"IP:\t{spec.get('clusterIP', '')}")
    if spec.get("clusterIPs"):
        lines.append(f"IPs:\t{','.join(spec['clusterIPs'])}")
    for ip in spec.get("externalIPs") or []:
        lines.append(f"External IPs:\t{ip}")
    endpoints = ctx.get("endpoints")
    for p in spec.get("ports") or []:
        name = p.get("name") or "<unset>"
        lines.append(f"Port:\t{name}\t{p.get('port')}/{p.get('protocol', 'TCP')}")
        tp = p.get("targetPort", p.get("port"))
        lines.append(f"TargetPort:\t{tp}/{p.get('protocol', 'TCP')}")
        if p.get("nodePort"):
            lines.append(f"NodePort:\t{name}\t{p['nodePort']}/{p.get('protocol', 'TCP')}")
        lines.append(f"Endpoints:\t{_slices_text(ctx.get('slices'), p)}")
    lines.append(f"Session Affinity:\t{spec.get('sessionAffinity', 'None')}")
    if spec.get("externalTrafficPolicy"):
        lines.append(f"External Traffic Policy:\t{spec['externalTrafficPolicy']}")
    if spec.get("internalTrafficPolicy"):
        lines.append(f"Internal Traffic Policy:\t{spec['internalTrafficPolicy']}")
    return lines + events_lines(ctx.get("events"), ctx["now"])


def _slices_text(slices: list[Obj] | None, port: Obj) -> str:
    """kubectl >= 1.31 reads EndpointSlices; no ready address prints nothing."""
    if not slices:
        return ""
    addrs = []
    for sl in slices:
        for p in sl.get("ports") or []:
            if (port.get("name") or "") != (p.get("name") or ""):
                continue
            for ep in sl.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("ready") is False:
                    continue
                addrs.extend(f"{a}:{p.get('port')}" for a in ep.get("addresses") or [])
    if not addrs:
        return ""
    shown = addrs[:3]
    more = len(addrs) - len(shown)
    return ",".join(shown) + (f" + {more} more..." if more else "")


def _endpoints_text(ep: Obj | None, port: Obj) -> str:
    if not ep:
        return "<none>"
    addrs = []
    for subset in ep.get("subsets") or []:
        for p in subset.get("ports") or []:
            if (port.get("name") or "") == (p.get("name") or ""):
                addrs.extend(f"{a.get('ip')}:{p.get('port')}" for a in subset.get("addresses") or [])
    if not addrs:
        return "<none>"
    shown = addrs[:3]
    more = len(addrs) - len(shown)
    return ",".join(shown) + (f" + {more} more..." if more else "")


def describe_job(job: Obj, ctx: dict[str, Any]) -> list[str]:
    meta, spec, st = job.get("metadata") or {}, job.get("spec") or {}, job.get("status") or {}
    lines = [f"Name:\t{meta.get('name')}", f"Namespace:\t{meta.get('namespace')}",
             f"Selector:\t{selector_text(spec.get('selector'))}", *labels_lines("Labels", meta.get("labels")),
             *annotations_lines(meta.get("annotations")), *_controlled_by(meta),
             f"Parallelism:\t{spec.get('parallelism', 1)}",
             f"Completions:\t{spec.get('completions', '<unset>')}",
             f"Completion Mode:\t{spec.get('completionMode', 'NonIndexed')}",
             f"Suspend:\t{str(bool(spec.get('suspend'))).lower()}",
             f"Backoff Limit:\t{spec.get('backoffLimit', 6)}"]
    if st.get("startTime"):
        lines.append(f"Start Time:\t{rfc1123z(st['startTime'])}")
    if st.get("completionTime"):
        lines.append(f"Completed At:\t{rfc1123z(st['completionTime'])}")
    if spec.get("activeDeadlineSeconds"):
        lines.append(f"Active Deadline Seconds:\t{spec['activeDeadlineSeconds']}s")
    ready = st.get("ready")
    active = f"{st.get('active', 0)} Active" + (f" ({ready} Ready)" if ready is not None else "")
    lines.append(f"Pods Statuses:\t{active} / {st.get('succeeded', 0)} Succeeded / {st.get('failed', 0)} Failed")
    lines += pod_template_lines(spec.get("template") or {})
    return lines + events_lines(ctx.get("events"), ctx["now"])


ZERO_TIME = "Mon, 01 Jan 0001 00:00:00 +0000"


def _time_or_zero(value: str | None) -> str:
    return rfc1123z(value) if value else ZERO_TIME


def _pod_totals(pod: Obj) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """kubectl's ``PodRequestsAndLimits`` (sum of containers, max with each init container)."""
    reqs: dict[str, Decimal] = {}
    lims: dict[str, Decimal] = {}
    spec = pod.get("spec") or {}
    for c in spec.get("containers") or []:
        for target, key in ((reqs, "requests"), (lims, "limits")):
            for name, q in ((c.get("resources") or {}).get(key) or {}).items():
                target[name] = target.get(name, Decimal(0)) + parse_quantity(q)
    for c in spec.get("initContainers") or []:
        for target, key in ((reqs, "requests"), (lims, "limits")):
            for name, q in ((c.get("resources") or {}).get(key) or {}).items():
                target[name] = max(target.get(name, Decimal(0)), parse_quantity(q))
    return reqs, lims


def _qty(value: Decimal, resource: str) -> str:
    if value == 0:
        return "0"
    if resource == "cpu":
        milli = value * 1000
        return f"{int(milli)}m" if milli % 1000 else str(int(value))
    return format_quantity(value, Format.BINARY_SI if value % 1024 == 0 else Format.DECIMAL_SI)


def _pct(value: Decimal, total: Decimal) -> int:
    return int(value / total * 100) if total else 0


def describe_node(node: Obj, ctx: dict[str, Any]) -> list[str]:
    meta, spec, st = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    lines = [f"Name:\t{meta.get('name')}", f"Roles:\t{_roles(meta.get('labels') or {})}",
             *labels_lines("Labels", meta.get("labels")), *annotations_lines(meta.get("annotations")),
             f"CreationTimestamp:\t{rfc1123z(meta.get('creationTimestamp'))}"]
    taints = [f"{t['key']}" + (f"={t['value']}" if t.get("value") else "") + f":{t.get('effect', '')}"
              for t in spec.get("taints") or []]
    lines += _multiline("Taints", sorted(taints))
    lines.append(f"Unschedulable:\t{str(bool(spec.get('unschedulable'))).lower()}")
    lease = ctx.get("lease")
    if isinstance(lease, str):
        lines.append(f"Lease:\tFailed to get lease: {lease}")
    elif lease is not None:
        ls = lease.get("spec") or {}
        lines += ["Lease:", f"  HolderIdentity:\t{ls.get('holderIdentity') or '<unset>'}",
                  f"  AcquireTime:\t{rfc1123z(ls['acquireTime']) if ls.get('acquireTime') else '<unset>'}",
                  f"  RenewTime:\t{rfc1123z(ls['renewTime']) if ls.get('renewTime') else '<unset>'}"]
    if st.get("conditions"):
        lines += ["Conditions:", "  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage",
                  "  ----\t------\t-----------------\t------------------\t------\t-------"]
    for c in st.get("conditions") or []:
        lines.append(f"  {c.get('type')} \t{c.get('status')} \t{_time_or_zero(c.get('lastHeartbeatTime'))} \t"
                     f"{_time_or_zero(c.get('lastTransitionTime'))} \t{c.get('reason', '')} \t{c.get('message', '')}")
    lines.append("Addresses:")
    lines += [f"  {a.get('type')}:\t{a.get('address')}" for a in st.get("addresses") or []]
    for title, key in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
        vals = st.get(key) or {}
        if vals:
            lines.append(f"{title}:")
            lines += [f"  {k}:\t{vals[k]}" for k in sorted(vals)]
    info = st.get("nodeInfo") or {}
    lines.append("System Info:")
    for title, key in (("Machine ID", "machineID"), ("System UUID", "systemUUID"), ("Boot ID", "bootID"),
                       ("Kernel Version", "kernelVersion"), ("OS Image", "osImage"),
                       ("Operating System", "operatingSystem"), ("Architecture", "architecture"),
                       ("Container Runtime Version", "containerRuntimeVersion"),
                       ("Kubelet Version", "kubeletVersion"), ("Kube-Proxy Version", "kubeProxyVersion")):
        lines.append(f"  {title}:\t{info.get(key, '')}")
    if spec.get("podCIDR"):
        lines.append(f"PodCIDR:\t{spec['podCIDR']}")
        lines.append(f"PodCIDRs:\t{','.join(spec.get('podCIDRs') or [spec['podCIDR']])}")
    if spec.get("providerID"):
        lines.append(f"ProviderID:\t{spec['providerID']}")
    pods = ctx.get("pods") or []
    alloc_raw = st.get("allocatable") or st.get("capacity") or {}
    alloc = {k: parse_quantity(v) for k, v in alloc_raw.items()}
    lines.append(f"Non-terminated Pods:\t({len(pods)} in total)")
    lines += ["  Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge",
              "  ---------\t----\t\t------------\t----------\t---------------\t-------------\t---"]
    total_req: dict[str, Decimal] = {}
    total_lim: dict[str, Decimal] = {}
    for p in pods:
        pm = p.get("metadata") or {}
        req, lim = _pod_totals(p)
        for k, v in req.items():
            total_req[k] = total_req.get(k, Decimal(0)) + v
        for k, v in lim.items():
            total_lim[k] = total_lim.get(k, Decimal(0)) + v
        cells = []
        for src, res in ((req, "cpu"), (lim, "cpu"), (req, "memory"), (lim, "memory")):
            v = src.get(res, Decimal(0))
            cells.append(f"{_qty(v, res)} ({_pct(v, alloc.get(res, Decimal(0)))}%)")
        lines.append(f"  {pm.get('namespace')}\t{pm.get('name')}\t\t" + "\t".join(cells) +
                     f"\t{since(pm.get('creationTimestamp'), ctx['now'])}")
    lines += ["Allocated resources:", "  (Total limits may be over 100 percent, i.e., overcommitted.)",
              "  Resource\tRequests\tLimits", "  --------\t--------\t------"]
    extended = sorted(k for k in alloc if k not in ("cpu", "memory", "ephemeral-storage", "pods")
                      and (k.startswith("hugepages-") or "/" in k))
    for res in ("cpu", "memory", "ephemeral-storage", *extended):
        r, l_ = total_req.get(res, Decimal(0)), total_lim.get(res, Decimal(0))
        a = alloc.get(res, Decimal(0))
        lines.append(f"  {res}\t{_qty(r, res)} ({_pct(r, a)}%)\t{_qty(l_, res)} ({_pct(l_, a)}%)")
    return lines + events_lines(ctx.get("events"), ctx["now"])


def _roles(labels: dict[str, str]) -> str:
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and "/" in k)
    if labels.get("kubernetes.io/role"):
        roles.append(labels["kubernetes.io/role"])
    return ",".join(roles) or "<none>"


def describe_generic(obj: Obj, ctx: dict[str, Any]) -> list[str]:
    """kubectl's generic describer: header, then the remaining fields as a nested outline."""
    meta = obj.get("metadata") or {}
    lines = [f"Name:\t{meta.get('name')}"]
    if meta.get("namespace"):
        lines.append(f"Namespace:\t{meta['namespace']}")
    lines += labels_lines("Labels", meta.get("labels"))
    lines += annotations_lines(meta.get("annotations"))
    lines.append(f"API Version:\t{obj.get('apiVersion', '')}")
    lines.append(f"Kind:\t{obj.get('kind', '')}")
    rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    rest_meta = {k: v for k, v in meta.items() if k not in ("name", "namespace", "labels", "annotations",
                                                            "managedFields")}
    rest["metadata"] = rest_meta
    for key in sorted(rest):
        lines += _outline(_title(key), rest[key], 0)
    return lines + events_lines(ctx.get("events"), ctx["now"])


def _title(key: str) -> str:
    out = ""
    for i, ch in enumerate(key):
        if ch.isupper() and i and not key[i - 1].isupper():
            out += " "
        out += ch
    return out[:1].upper() + out[1:]


def _outline(title: str, value: Any, level: int) -> list[str]:
    indent = "  " * level
    if isinstance(value, dict):
        if not value:
            return []
        out = [f"{indent}{title}:"]
        for k in sorted(value):
            out += _outline(_title(k), value[k], level + 1)
        return out
    if isinstance(value, list):
        out = [f"{indent}{title}:"]
        for item in value:
            if isinstance(item, dict):
                sub = []
                for k in sorted(item):
                    sub += _outline(_title(k), item[k], level + 1)
                if sub:
                    sub[0] = "  " * level + "  " + sub[0].lstrip()
                out += sub
            else:
                out.append(f"{indent}  {item}")
        return out
    text = "true" if value is True else "false" if value is False else str(value)
    return [f"{indent}{title}:\t{text}"]


DESCRIBERS: dict[str, Callable[[Obj, dict[str, Any]], list[str]]] = {
    "Namespace": describe_namespace, "ConfigMap": describe_configmap, "Secret": describe_secret,
    "Deployment": describe_deployment, "ReplicaSet": describe_replicaset, "Pod": describe_pod,
    "Service": describe_service, "Job": describe_job, "Node": describe_node,
}
NO_EVENTS = {"Namespace", "Secret"}


# -- fetching ----------------------------------------------------------------------------

async def _events(cli: Cli, obj: Obj) -> list[Obj] | None:
    ev_res = find("events")
    assert ev_res is not None
    meta = obj.get("metadata") or {}
    try:
        lst = await cli.api.list(ev_res, namespace=meta.get("namespace") or "default")
    except ApiError:
        return None
    uid = meta.get("uid")
    return [e for e in lst.get("items") or []
            if (e.get("involvedObject") or {}).get("uid") == uid
            or ((e.get("involvedObject") or {}).get("name") == meta.get("name")
                and (e.get("involvedObject") or {}).get("kind") == obj.get("kind")
                and not (e.get("involvedObject") or {}).get("uid"))]


async def _context(cli: Cli, res: Resource, obj: Obj) -> dict[str, Any]:
    ctx: dict[str, Any] = {"now": dt.datetime.now(dt.timezone.utc)}
    if res.kind not in NO_EVENTS:
        ctx["events"] = await _events(cli, obj)
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    if res.kind == "Deployment":
        rs_res = find("replicasets")
        assert rs_res is not None
        lst = await cli.api.list(rs_res, namespace=ns)
        owned = [r for r in lst.get("items") or []
                 if any(o.get("uid") == meta.get("uid") for o in (r.get("metadata") or {}).get("ownerReferences") or [])]
        owned.sort(key=lambda r: (r["metadata"].get("creationTimestamp", ""), r["metadata"]["name"]))
        ctx["replicasets"] = owned
        rev = (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision")
        ctx["new_rs"] = next((r for r in owned if ((r.get("metadata") or {}).get("annotations") or {})
                              .get("deployment.kubernetes.io/revision") == rev), None)
    elif res.kind in ("ReplicaSet", "Job"):
        pods_res = find("pods")
        assert pods_res is not None
        lst = await cli.api.list(pods_res, namespace=ns)
        ctx["pods"] = [p for p in lst.get("items") or []
                       if any(o.get("uid") == meta.get("uid") for o in (p.get("metadata") or {}).get("ownerReferences") or [])]
    elif res.kind == "Service":
        es_res = find("endpointslices")
        assert es_res is not None
        try:
            lst = await cli.api.list(es_res, namespace=ns, label_selector=f"kubernetes.io/service-name={meta['name']}")
            ctx["slices"] = lst.get("items") or []
        except ApiError:
            ctx["slices"] = []
    elif res.kind == "Node":
        pods_res = find("pods")
        assert pods_res is not None
        lst = await cli.api.list(pods_res, all_namespaces=True, field_selector=f"spec.nodeName={meta['name']}")
        ctx["pods"] = [p for p in lst.get("items") or []
                       if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        lease_res = find("leases")
        assert lease_res is not None
        try:
            ctx["lease"] = await cli.api.get(lease_res, meta["name"], namespace="kube-node-lease")
        except ApiError as e:
            ctx["lease"] = e.message
    return ctx


def render(lines: list[str]) -> str:
    return format_lines(lines, padding=2, minwidth=0)


async def run(cli: Cli, args: argparse.Namespace) -> int:
    if not args.args and not args.filename:
        raise CommandError("You must specify the type of resource to describe. Use \"skiffctl api-resources\" "
                           "for a complete list of supported resources.")
    targets, _ = await parse_targets(cli, args.args, filenames=args.filename, recursive=args.recursive)
    show_events = str(args.show_events).lower() in ("true", "1", "t")
    objs: list[tuple[Resource, Obj]] = []
    errors: list[str] = []
    for t in targets:
        ns = (t.namespace or cli.namespace) if t.resource.namespaced else None
        if t.names:
            for name in t.names:
                try:
                    objs.append((t.resource, await cli.api.get(t.resource, name, namespace=ns)))
                except ApiError as e:
                    errors.append(error_message(e))
        else:
            lst = await cli.api.list(t.resource, namespace=ns, all_namespaces=args.all_namespaces,
                                     label_selector=args.selector or None)
            objs.extend((t.resource, {"apiVersion": t.resource.api_version, "kind": t.resource.kind, **o})
                        for o in lst.get("items") or [])
    if not objs and not errors:
        ns_text = f" in {cli.namespace} namespace" if all(t.resource.namespaced for t in targets) and \
            not args.all_namespaces else ""
        cli.err.write(f"No resources found{ns_text}.\n")
        return 0
    first = True
    for res, obj in objs:
        ctx = await _context(cli, res, obj)
        if not show_events:
            ctx.pop("events", None)
        describer = DESCRIBERS.get(res.kind, describe_generic)
        if not first:
            cli.out.write("\n\n")
        first = False
        cli.out.write(render(describer(obj, ctx)))
    for e in errors:
        cli.err.write(e + "\n")
    return 1 if errors else 0
