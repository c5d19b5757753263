"""Per-kind validation rules (create and update), with Kubernetes' paths and messages.

One ``validate_<kind>(obj)`` and, where Kubernetes has extra update rules,
``validate_<kind>_update(new, old)`` per served kind; :mod:`skiff.api.validation` dispatches to
them. Object metadata is validated by the caller. Pure functions over JSON values.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import zoneinfo
from typing import Any, Callable

from skiff.api import labels as labelsyntax
from skiff.api import names
from skiff.api.cron import schedule_errors
from skiff.api.fielderrors import (GoRepr, duplicate, forbidden, go_label_selector, invalid, not_supported, required,
                                   too_long)
from skiff.api.quantity import QuantityError, parse
from skiff.api.selectors import SelectorError, from_label_selector
from skiff.api.validate_common import (IMMUTABLE, PROTOCOLS, Errors, as_dict, as_list, enum, immutable,
                                       int_or_percent_value, is_int, is_ip, nonnegative, not_more_than_100_percent,
                                       port_num_errors, positive, selector_is_empty, validate_ip, validate_label_selector,
                                       validate_labels, validate_port_num_or_name, validate_positive_int_or_percent)
from skiff.api.validate_pod import (TAINT_EFFECTS, validate_pod_spec, validate_pod_spec_update,
                                    validate_pod_template)

Obj = dict[str, Any]


def _spec(obj: Any) -> dict[str, Any]:
    return dict(as_dict(as_dict(obj).get("spec")))


# --- Pod --------------------------------------------------------------------------------------


def validate_pod(obj: Obj) -> Errors:
    return validate_pod_spec(_spec(obj), "spec")


def validate_pod_update(new: Obj, old: Obj) -> Errors:
    return validate_pod_spec_update(_spec(new), _spec(old), "spec")


# --- workloads --------------------------------------------------------------------------------


def _template_labels_match(spec: dict[str, Any], path: str) -> Errors:
    sel = spec.get("selector")
    if sel is None:
        return []
    try:
        selector = from_label_selector(sel)
    except SelectorError:
        return [invalid(f"{path}.selector", go_label_selector(sel), "invalid label selector")]
    tmpl_labels = as_dict(as_dict(as_dict(spec.get("template")).get("metadata")).get("labels"))
    if not selector.empty and not selector.matches(tmpl_labels):
        return [invalid(f"{path}.template.metadata.labels", dict(tmpl_labels),
                        "`selector` does not match template `labels`")]
    return []


def _selector_required(spec: dict[str, Any], path: str, what: str) -> Errors:
    sel = spec.get("selector")
    if sel is None:
        return [required(f"{path}.selector")]
    errs = validate_label_selector(sel, f"{path}.selector")
    if selector_is_empty(sel):
        errs.append(invalid(f"{path}.selector", go_label_selector(sel), f"empty selector is invalid for {what}"))
    return errs


def _replica_template(spec: dict[str, Any], path: str, *, restart: list[str] | None = None) -> Errors:
    errs = _template_labels_match(spec, path)
    tmpl = spec.get("template")
    if tmpl is None:
        return errs + [required(f"{path}.template")]
    errs += validate_pod_template(tmpl, f"{path}.template")
    tspec = as_dict(as_dict(tmpl).get("spec"))
    rp = tspec.get("restartPolicy")
    allowed = restart or ["Always"]
    if rp is not None and rp not in allowed:
        errs.append(not_supported(f"{path}.template.spec.restartPolicy", rp, allowed))
    if restart is None and tspec.get("activeDeadlineSeconds") is not None:
        errs.append(invalid(f"{path}.template.spec.activeDeadlineSeconds", tspec["activeDeadlineSeconds"],
                            "activeDeadlineSeconds in ReplicaSet is not Supported"))
    return errs


def validate_deployment(obj: Obj) -> Errors:
    spec, p = _spec(obj), "spec"
    errs = nonnegative(spec.get("replicas"), f"{p}.replicas")
    errs += _selector_required(spec, p, "deployment")
    errs += _replica_template(spec, p)
    strat = as_dict(spec.get("strategy"))
    stype = strat.get("type")
    if stype == "Recreate":
        if strat.get("rollingUpdate") is not None:
            errs.append(forbidden(f"{p}.strategy.rollingUpdate",
                                  "may not be specified when strategy `type` is 'Recreate'"))
    elif stype == "RollingUpdate":
        ru = as_dict(strat.get("rollingUpdate"))
        mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
        errs += validate_positive_int_or_percent(mu, f"{p}.strategy.rollingUpdate.maxUnavailable")
        errs += validate_positive_int_or_percent(ms, f"{p}.strategy.rollingUpdate.maxSurge")
        if int_or_percent_value(mu) == 0 and int_or_percent_value(ms) == 0:
            errs.append(invalid(f"{p}.strategy.rollingUpdate.maxUnavailable", GoRepr(str(mu if mu is not None else 0)),
                                "may not be 0 when `maxSurge` is 0"))
        errs += not_more_than_100_percent(mu, f"{p}.strategy.rollingUpdate.maxUnavailable")
    elif stype is not None:
        errs.append(not_supported(f"{p}.strategy.type", stype, ["Recreate", "RollingUpdate"]))
    errs += nonnegative(spec.get("minReadySeconds"), f"{p}.minReadySeconds")
    errs += nonnegative(spec.get("revisionHistoryLimit"), f"{p}.revisionHistoryLimit")
    pds = spec.get("progressDeadlineSeconds")
    if is_int(pds):
        errs += nonnegative(pds, f"{p}.progressDeadlineSeconds")
        if pds <= int(spec.get("minReadySeconds") or 0):
            errs.append(invalid(f"{p}.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    return errs


def _selector_immutable(new: Obj, old: Obj) -> Errors:
    ns, os_ = _spec(new).get("selector"), _spec(old).get("selector")
    if ns != os_:
        return [invalid("spec.selector", go_label_selector(ns), IMMUTABLE)]
    return []


def validate_replicaset(obj: Obj) -> Errors:
    spec, p = _spec(obj), "spec"
    errs = nonnegative(spec.get("replicas"), f"{p}.replicas")
    errs += nonnegative(spec.get("minReadySeconds"), f"{p}.minReadySeconds")
    errs += _selector_required(spec, p, "deployment")  # sic: Kubernetes says "deployment" for ReplicaSets too
    errs += _replica_template(spec, p)
    return errs


def validate_statefulset(obj: Obj) -> Errors:
    spec, p = _spec(obj), "spec"
    errs: Errors = []
    pmp = spec.get("podManagementPolicy")
    if pmp is not None and pmp not in ("OrderedReady", "Parallel"):
        errs.append(invalid(f"{p}.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
    us = as_dict(spec.get("updateStrategy"))
    ut = us.get("type")
    if ut == "OnDelete":
        if us.get("rollingUpdate") is not None:
            errs.append(invalid(f"{p}.updateStrategy.rollingUpdate", GoRepr(json.dumps(us["rollingUpdate"])),
                                "only allowed for updateStrategy 'RollingUpdate'"))
    elif ut == "RollingUpdate":
        ru = as_dict(us.get("rollingUpdate"))
        errs += nonnegative(ru.get("partition"), f"{p}.updateStrategy.rollingUpdate.partition")
        mu = ru.get("maxUnavailable")
        if mu is not None:
            errs += validate_positive_int_or_percent(mu, f"{p}.updateStrategy.rollingUpdate.maxUnavailable")
            if int_or_percent_value(mu) == 0:
                errs.append(invalid(f"{p}.updateStrategy.rollingUpdate.maxUnavailable", GoRepr(str(mu)),
                                    "must be greater than 0"))
    elif ut is not None:
        errs.append(invalid(f"{p}.updateStrategy", GoRepr(json.dumps(us)), "must be 'RollingUpdate' or 'OnDelete'"))
    errs += nonnegative(spec.get("replicas"), f"{p}.replicas")
    errs += nonnegative(spec.get("minReadySeconds"), f"{p}.minReadySeconds")
    errs += nonnegative(spec.get("revisionHistoryLimit"), f"{p}.revisionHistoryLimit")
    errs += _selector_required(spec, p, "statefulset")
    errs += _replica_template(spec, p)
    sn = spec.get("serviceName")
    if sn:
        errs += [invalid(f"{p}.serviceName", sn, m) for m in names.is_dns1123_label(sn)]
    for i, t in enumerate(as_list(spec.get("volumeClaimTemplates"))):
        errs += _validate_pvc_spec(dict(as_dict(as_dict(t).get("spec"))), f"{p}.volumeClaimTemplates[{i}].spec")
    ordinals = as_dict(spec.get("ordinals"))
    errs += nonnegative(ordinals.get("start"), f"{p}.ordinals.start")
    return errs


_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds", "revisionHistoryLimit", "podManagementPolicy")


def validate_statefulset_update(new: Obj, old: Obj) -> Errors:
    ns = {k: v for k, v in _spec(new).items() if k not in _STS_MUTABLE}
    os_ = {k: v for k, v in _spec(old).items() if k not in _STS_MUTABLE}
    if ns != os_:
        return [forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                                  "'template', 'updateStrategy', 'revisionHistoryLimit', "
                                  "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")]
    return []


def validate_daemonset(obj: Obj) -> Errors:
    spec, p = _spec(obj), "spec"
    errs = _selector_required(spec, p, "daemonset")
    errs += _replica_template(spec, p)
    us = as_dict(spec.get("updateStrategy"))
    ut = us.get("type")
    if ut == "RollingUpdate":
        ru = as_dict(us.get("rollingUpdate"))
        mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
        errs += validate_positive_int_or_percent(mu, f"{p}.updateStrategy.rollingUpdate.maxUnavailable")
        errs += validate_positive_int_or_percent(ms, f"{p}.updateStrategy.rollingUpdate.maxSurge")
        if int_or_percent_value(mu) == 0 and int_or_percent_value(ms) == 0:
            errs.append(invalid(f"{p}.updateStrategy.rollingUpdate.maxUnavailable", GoRepr(str(mu if mu is not None else 0)),
                                "may not be 0 when `maxSurge` is 0"))
        errs += not_more_than_100_percent(mu, f"{p}.updateStrategy.rollingUpdate.maxUnavailable")
    elif ut is not None and ut != "OnDelete":
        errs.append(not_supported(f"{p}.updateStrategy.type", ut, ["OnDelete", "RollingUpdate"]))
    errs += nonnegative(spec.get("minReadySeconds"), f"{p}.minReadySeconds")
    errs += nonnegative(spec.get("revisionHistoryLimit"), f"{p}.revisionHistoryLimit")
    return errs


def validate_controllerrevision(obj: Obj) -> Errors:
    errs = nonnegative(obj.get("revision"), "revision")
    return errs


def validate_controllerrevision_update(new: Obj, old: Obj) -> Errors:
    return immutable(new.get("data"), old.get("data"), "data", value=GoRepr(json.dumps(new.get("data"))))


# --- batch ------------------------------------------------------------------------------------


def _validate_job_spec(spec: dict[str, Any], p: str) -> Errors:
    errs: Errors = []
    for f in ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished", "activeDeadlineSeconds"):
        errs += nonnegative(spec.get(f), f"{p}.{f}")
    if is_int(spec.get("activeDeadlineSeconds")) and spec["activeDeadlineSeconds"] == 0:
        errs.append(invalid(f"{p}.activeDeadlineSeconds", 0, "must be greater than 0"))
    errs += nonnegative(spec.get("backoffLimitPerIndex"), f"{p}.backoffLimitPerIndex")
    mode = spec.get("completionMode")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        errs.append(not_supported(f"{p}.completionMode", mode, ["NonIndexed", "Indexed"]))
    if mode == "Indexed" and spec.get("completions") is None:
        errs.append(required(f"{p}.completions", "when completion mode is Indexed"))
    if spec.get("selector") is None:
        errs.append(required(f"{p}.selector"))
    else:
        errs += validate_label_selector(spec.get("selector"), f"{p}.selector")
    errs += _replica_template(spec, p, restart=["OnFailure", "Never"])
    rp = as_dict(as_dict(spec.get("template")).get("spec")).get("restartPolicy")
    if rp is None:
        errs.append(required(f"{p}.template.spec.restartPolicy", 'valid values: "OnFailure", "Never"'))
    prp = spec.get("podReplacementPolicy")
    if prp is not None and prp not in ("TerminatingOrFailed", "Failed"):
        errs.append(not_supported(f"{p}.podReplacementPolicy", prp, ["Failed", "TerminatingOrFailed"]))
    return errs


def validate_job(obj: Obj) -> Errors:
    return _validate_job_spec(_spec(obj), "spec")


def validate_job_update(new: Obj, old: Obj) -> Errors:
    ns, os_ = _spec(new), _spec(old)
    errs = _selector_immutable(new, old)
    if ns.get("template") != os_.get("template"):
        errs.append(invalid("spec.template", GoRepr(json.dumps(ns.get("template"), sort_keys=True)), IMMUTABLE))
    if ns.get("completionMode") != os_.get("completionMode"):
        errs.append(invalid("spec.completionMode", ns.get("completionMode"), IMMUTABLE))
    if ns.get("completions") != os_.get("completions") and ns.get("completionMode") != "Indexed":
        errs.append(invalid("spec.completions", ns.get("completions"), IMMUTABLE))
    return errs


def validate_cronjob(obj: Obj) -> Errors:
    spec, p = _spec(obj), "spec"
    errs: Errors = []
    name = as_dict(obj.get("metadata")).get("name") or ""
    if len(name) > 52:
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    sched = spec.get("schedule")
    if not sched:
        errs.append(required(f"{p}.schedule"))
    else:
        errs += [invalid(f"{p}.schedule", sched, m) for m in schedule_errors(sched)]
    tz = spec.get("timeZone")
    if tz is not None:
        if not tz:
            errs.append(invalid(f"{p}.timeZone", tz, "unknown time zone " + tz))
        else:
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                errs.append(invalid(f"{p}.timeZone", tz, "unknown time zone " + tz))
    errs += enum(spec.get("concurrencyPolicy"), ["Allow", "Forbid", "Replace"], f"{p}.concurrencyPolicy")
    for f in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs += nonnegative(spec.get(f), f"{p}.{f}")
    jt = as_dict(spec.get("jobTemplate"))
    jspec = dict(as_dict(jt.get("spec")))
    jp = f"{p}.jobTemplate.spec"
    errs += validate_labels(as_dict(jt.get("metadata")).get("labels"), f"{p}.jobTemplate.metadata.labels")
    # A CronJob's job template has no selector yet: the Job gets one when it is created.
    jspec.setdefault("selector", {})
    errs += [e for e in _validate_job_spec(jspec, jp) if e.field != f"{jp}.selector"]
    return errs


# --- core: services, endpoints, config ----------------------------------------------------------

SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]


def validate_service(obj: Obj) -> Errors:
    spec, p = _spec(obj), "spec"
    errs: Errors = []
    stype = spec.get("type") or "ClusterIP"
    if stype not in SERVICE_TYPES:
        errs.append(not_supported(f"{p}.type", stype, SERVICE_TYPES))
    cip = spec.get("clusterIP")
    headless = cip == "None"
    ports = as_list(spec.get("ports"))
    if not ports and not headless and stype != "ExternalName":
        errs.append(required(f"{p}.ports"))
    if stype == "ExternalName":
        en = spec.get("externalName") or ""
        if not en:
            errs.append(required(f"{p}.externalName"))
        else:
            errs += [invalid(f"{p}.externalName", en, m) for m in names.is_dns1123_subdomain(en.rstrip("."))]
    names_seen: set[str] = set()
    port_keys: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        pp = f"{p}.ports[{i}]"
        port = as_dict(port)
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            errs.append(required(f"{pp}.name"))
        elif name:
            msgs = names.is_dns1123_label(name)
            errs += [invalid(f"{pp}.name", name, m) for m in msgs]
            if name in names_seen:
                errs.append(duplicate(f"{pp}.name", name))
            names_seen.add(name)
        pn = port.get("port")
        if is_int(pn):
            errs += [invalid(f"{pp}.port", pn, m) for m in port_num_errors(pn)]
        elif pn is None:
            errs.append(invalid(f"{pp}.port", 0, "must be between 1 and 65535, inclusive"))
        errs += enum(port.get("protocol"), PROTOCOLS, f"{pp}.protocol")
        errs += validate_port_num_or_name(port.get("targetPort"), f"{pp}.targetPort")
        key = (pn, port.get("protocol"))
        if key in port_keys:
            errs.append(duplicate(pp, GoRepr(f"core.ServicePort{{Name:{json.dumps(name)}, Protocol:"
                                             f"{json.dumps(port.get('protocol'))}, Port:{pn}}}")))
        port_keys.add(key)
        np_ = port.get("nodePort")
        if np_ and stype == "ClusterIP":
            errs.append(forbidden(f"{pp}.nodePort", "may not be used when `type` is 'ClusterIP'"))
        elif is_int(np_) and np_ != 0:
            errs += [invalid(f"{pp}.nodePort", np_, m) for m in port_num_errors(np_)]
    errs += validate_labels(spec.get("selector"), f"{p}.selector")
    errs += enum(spec.get("sessionAffinity"), ["ClientIP", "None"], f"{p}.sessionAffinity", allow_empty=True)
    if cip and not headless and stype != "ExternalName":
        errs += validate_ip(cip, f"{p}.clusterIPs[0]")
    for i, ip in enumerate(as_list(spec.get("clusterIPs"))):
        if ip != "None" and i > 0:
            errs += validate_ip(ip, f"{p}.clusterIPs[{i}]")
    for i, ip in enumerate(as_list(spec.get("externalIPs"))):
        errs += validate_ip(ip, f"{p}.externalIPs[{i}]")
    etp = spec.get("externalTrafficPolicy")
    if etp:
        if stype not in ("NodePort", "LoadBalancer"):
            errs.append(invalid(f"{p}.externalTrafficPolicy", etp,
                                "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
        elif etp not in ("Cluster", "Local"):
            errs.append(not_supported(f"{p}.externalTrafficPolicy", etp, ["Cluster", "Local"]))
    itp = spec.get("internalTrafficPolicy")
    if itp is not None and itp not in ("Cluster", "Local"):
        errs.append(not_supported(f"{p}.internalTrafficPolicy", itp, ["Cluster", "Local"]))
    return errs


def validate_service_update(new: Obj, old: Obj) -> Errors:
    ns, os_ = _spec(new), _spec(old)
    errs: Errors = []
    old_ip, new_ip = os_.get("clusterIP"), ns.get("clusterIP")
    # ExternalName services have no ClusterIP to keep; changing type away from it may allocate one.
    if old_ip and os_.get("type") != "ExternalName" and ns.get("type") != "ExternalName" and new_ip != old_ip:
        errs.append(invalid("spec.clusterIPs[0]", as_list(ns.get("clusterIPs")) or [new_ip or ""],
                            "may not change once set"))
        errs.append(invalid("spec.clusterIP", new_ip or "", IMMUTABLE))
    return errs


def validate_endpoints(obj: Obj) -> Errors:
    errs: Errors = []
    for i, sub in enumerate(as_list(obj.get("subsets"))):
        p = f"subsets[{i}]"
        sub = as_dict(sub)
        for kind in ("addresses", "notReadyAddresses"):
            for j, a in enumerate(as_list(sub.get(kind))):
                errs += validate_ip(as_dict(a).get("ip", ""), f"{p}.{kind}[{j}].ip")
        ports = as_list(sub.get("ports"))
        for j, port in enumerate(ports):
            port = as_dict(port)
            pp = f"{p}.ports[{j}]"
            if len(ports) > 1 and not port.get("name"):
                errs.append(required(f"{pp}.name"))
            pn = port.get("port")
            if is_int(pn):
                errs += [invalid(f"{pp}.port", pn, m) for m in port_num_errors(pn)]
            errs += enum(port.get("protocol"), PROTOCOLS, f"{pp}.protocol")
    return errs


_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
MAX_SECRET_SIZE = 1024 * 1024


def config_key_errors(key: str) -> list[str]:
    errs = []
    if len(key) > 253:
        errs.append("must be no more than 253 characters")
    if not _CONFIG_KEY.match(key):
        errs.append(names.regex_error("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                                      "[-._a-zA-Z0-9]+", "key.name", "KEY_NAME", "key-name"))
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def _b64len(v: Any) -> int:
    try:
        return len(base64.b64decode(v or "", validate=True))
    except (binascii.Error, ValueError, TypeError):
        return 0


def validate_configmap(obj: Obj) -> Errors:
    errs: Errors = []
    data, binary = as_dict(obj.get("data")), as_dict(obj.get("binaryData"))
    total = 0
    for k, v in data.items():
        errs += [invalid(f"data[{k}]", k, m) for m in config_key_errors(k)]
        if k in binary:
            errs.append(invalid(f"data[{k}]", k, "duplicate of key present in binaryData"))
        total += len(str(v).encode())
    for k, v in binary.items():
        errs += [invalid(f"binaryData[{k}]", k, m) for m in config_key_errors(k)]
        total += _b64len(v)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("", "", MAX_SECRET_SIZE))
    return errs


def _immutable_data(new: Obj, old: Obj, keys: tuple[str, ...]) -> Errors:
    errs: Errors = []
    if old.get("immutable") is True:
        for k in keys:
            if new.get(k) != old.get(k):
                errs.append(forbidden(k, "field is immutable when `immutable` is set"))
        if new.get("immutable") is not True:
            errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    return errs


def validate_configmap_update(new: Obj, old: Obj) -> Errors:
    return _immutable_data(new, old, ("data", "binaryData"))


def validate_secret(obj: Obj) -> Errors:
    errs: Errors = []
    data = as_dict(obj.get("data"))
    total = 0
    for k, v in data.items():
        errs += [invalid(f"data[{k}]", k, m) for m in config_key_errors(k)]
        total += _b64len(v)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("data", "", MAX_SECRET_SIZE))
    stype = obj.get("type") or "Opaque"
    ann = as_dict(as_dict(obj.get("metadata")).get("annotations"))
    if stype == "kubernetes.io/service-account-token":
        if not ann.get("kubernetes.io/service-account.name"):
            errs.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif stype in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if stype.endswith("dockercfg") else ".dockerconfigjson"
        if key not in data:
            errs.append(required(f"data[{key}]"))
        else:
            try:
                if not isinstance(json.loads(base64.b64decode(data[key] or "")), dict):
                    raise ValueError("json: cannot unmarshal into Go value of type map[string]interface {}")
            except (ValueError, binascii.Error) as e:
                errs.append(invalid(f"data[{key}]", "<secret contents redacted>", str(e)))
    elif stype == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs += [required("data[username]"), required("data[password]")]
    elif stype == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            errs.append(required("data[ssh-privatekey]"))
    elif stype == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                errs.append(required(f"data[{key}]"))
    return errs


def validate_secret_update(new: Obj, old: Obj) -> Errors:
    errs = immutable(new.get("type") or "Opaque", old.get("type") or "Opaque", "type")
    return errs + _immutable_data(new, old, ("data",))


def validate_namespace(obj: Obj) -> Errors:
    errs: Errors = []
    for i, f in enumerate(as_list(_spec(obj).get("finalizers"))):
        if "/" not in f and f != "kubernetes":
            errs.append(invalid(f"spec.finalizers[{i}]", f, "name is neither a standard finalizer name nor is it fully qualified"))
    return errs


def validate_node(obj: Obj) -> Errors:
    spec, p = _spec(obj), "spec"
    errs: Errors = []
    seen: dict[str, set[str]] = {}
    for i, t in enumerate(as_list(spec.get("taints"))):
        tp = f"{p}.taints[{i}]"
        t = as_dict(t)
        key, value, eff = t.get("key") or "", t.get("value") or "", t.get("effect") or ""
        errs += [invalid(f"{tp}.key", key, m) for m in labelsyntax.is_qualified_name(key)]
        msgs = labelsyntax.is_label_value(value)
        if msgs:
            errs.append(invalid(f"{tp}.value", value, ";".join(msgs)))
        if not eff:
            errs.append(required(f"{tp}.effect"))
        elif eff not in TAINT_EFFECTS:
            errs.append(not_supported(f"{tp}.effect", eff, TAINT_EFFECTS))
        if key in seen.get(eff, set()):
            e = duplicate(tp, GoRepr(f"core.Taint{{Key:{json.dumps(key)}, Value:{json.dumps(value)}, "
                                     f"Effect:{json.dumps(eff)}, TimeAdded:<nil>}}"))
            e.detail = "taints must be unique by key and effect pair"
            errs.append(e)
            continue
        seen.setdefault(eff, set()).add(key)
    for i, cidr in enumerate(as_list(spec.get("podCIDRs"))):
        errs += _cidr(cidr, f"{p}.podCIDRs[{i}]")
    if spec.get("podCIDR"):
        errs += _cidr(spec["podCIDR"], f"{p}.podCIDR")
    return errs


def _cidr(v: Any, path: str) -> Errors:
    import ipaddress
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        return [invalid(path, v, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")]
    return []


ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]


def _validate_pvc_spec(spec: dict[str, Any], p: str) -> Errors:
    errs: Errors = []
    modes = as_list(spec.get("accessModes"))
    if not modes:
        errs.append(required(f"{p}.accessModes", "at least 1 access mode is required"))
    for m in modes:
        if m not in ACCESS_MODES:
            errs.append(not_supported(f"{p}.accessModes", m, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.append(forbidden(f"{p}.accessModes", "may not use ReadWriteOncePod with other access modes"))
    requests = as_dict(as_dict(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        errs.append(required(f"{p}.resources[storage]"))
    else:
        try:
            q = parse(requests["storage"])
            if q.value <= 0:
                errs.append(invalid(f"{p}.resources[storage]", str(q), "must be greater than zero"))
        except (QuantityError, TypeError):
            pass
    vm = spec.get("volumeMode")
    if vm is not None and vm not in ("Block", "Filesystem"):
        errs.append(not_supported(f"{p}.volumeMode", vm, ["Block", "Filesystem"]))
    if spec.get("selector") is not None:
        errs += validate_label_selector(spec["selector"], f"{p}.selector")
    return errs


def validate_pvc(obj: Obj) -> Errors:
    return _validate_pvc_spec(_spec(obj), "spec")


def validate_pvc_update(new: Obj, old: Obj) -> Errors:
    def masked(o: Obj) -> dict[str, Any]:
        s: dict[str, Any] = json.loads(json.dumps(_spec(o)))
        res = as_dict(s.get("resources"))
        if isinstance(res, dict):
            res.pop("requests", None)
        s.pop("volumeAttributesClassName", None)
        if not old_spec.get("volumeName"):
            s.pop("volumeName", None)  # binding fills it in
        return s

    old_spec = _spec(old)
    if masked(new) != masked(old):
        return [forbidden("spec", "spec is immutable after creation except resources.requests and "
                                  "volumeAttributesClassName for bound claims")]
    return []


PV_SOURCES = ("gcePersistentDisk", "awsElasticBlockStore", "hostPath", "glusterfs", "nfs", "rbd", "iscsi", "cinder",
              "cephfs", "fc", "flocker", "flexVolume", "azureFile", "vsphereVolume", "quobyte", "azureDisk",
              "photonPersistentDisk", "portworxVolume", "scaleIO", "local", "storageos", "csi")


def validate_pv(obj: Obj) -> Errors:
    spec, p = _spec(obj), "spec"
    errs: Errors = []
    modes = as_list(spec.get("accessModes"))
    if not modes:
        errs.append(required(f"{p}.accessModes"))
    for m in modes:
        if m not in ACCESS_MODES:
            errs.append(not_supported(f"{p}.accessModes", m, ACCESS_MODES))
    cap = as_dict(spec.get("capacity"))
    if not cap:
        errs.append(required(f"{p}.capacity"))
    for k in cap:
        if k != "storage":
            errs.append(not_supported(f"{p}.capacity", k, ["storage"]))
    srcs = [s for s in PV_SOURCES if spec.get(s) is not None]
    if not srcs:
        errs.append(required(p, "must specify a volume type"))
    elif len(srcs) > 1:
        errs.append(forbidden(f"{p}.{srcs[1]}", "may not specify more than 1 volume type"))
    rp = spec.get("persistentVolumeReclaimPolicy")
    if rp is not None and rp not in ("Delete", "Recycle", "Retain"):
        errs.append(not_supported(f"{p}.persistentVolumeReclaimPolicy", rp, ["Delete", "Recycle", "Retain"]))
    hp = as_dict(spec.get("hostPath"))
    if spec.get("hostPath") is not None and not hp.get("path"):
        errs.append(required(f"{p}.hostPath.path"))
    return errs


def validate_event(obj: Obj) -> Errors:
    errs: Errors = []
    io = as_dict(obj.get("involvedObject"))
    ns = as_dict(obj.get("metadata")).get("namespace")
    if io.get("namespace") and ns and io["namespace"] != ns:
        errs.append(invalid("involvedObject.namespace", io["namespace"], "does not match event.namespace"))
    t = obj.get("type")
    if t is not None and t not in ("Normal", "Warning"):
        errs.append(not_supported("type", t, ["Normal", "Warning"]))
    return errs


# --- other groups -----------------------------------------------------------------------------


UNHEALTHY_POD_EVICTION_POLICIES = ["AlwaysAllow", "IfHealthyBudget"]


def validate_pdb(obj: Obj) -> Errors:
    """ValidatePodDisruptionBudgetSpec: one of minAvailable/maxUnavailable, each a count or a
    percentage up to 100 %, a valid selector, a known unhealthyPodEvictionPolicy."""
    spec = _spec(obj)
    errs: Errors = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        # Kubernetes prints the whole spec struct here; its JSON stands in for Go's %#v
        errs.append(invalid("spec", dict(spec), "minAvailable and maxUnavailable cannot be both set"))
    for key in ("minAvailable", "maxUnavailable"):
        v = spec.get(key)
        if v is not None:
            errs += validate_positive_int_or_percent(v, f"spec.{key}")
            errs += not_more_than_100_percent(v, f"spec.{key}")
    if spec.get("selector") is not None:
        errs += validate_label_selector(spec.get("selector"), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None:
        errs += enum(policy, UNHEALTHY_POD_EVICTION_POLICIES, "spec.unhealthyPodEvictionPolicy")
    return errs


def validate_lease(obj: Obj) -> Errors:
    spec = _spec(obj)
    errs = positive(spec.get("leaseDurationSeconds"), "spec.leaseDurationSeconds")
    errs += nonnegative(spec.get("leaseTransitions"), "spec.leaseTransitions")
    return errs


def validate_endpointslice(obj: Obj) -> Errors:
    errs: Errors = []
    at = obj.get("addressType")
    errs += enum(at, ["FQDN", "IPv4", "IPv6"], "addressType")
    for i, ep in enumerate(as_list(obj.get("endpoints"))):
        addrs = as_list(as_dict(ep).get("addresses"))
        if not addrs:
            errs.append(required(f"endpoints[{i}].addresses", "must contain at least 1 address"))
        for j, a in enumerate(addrs):
            if at in ("IPv4", "IPv6") and not is_ip(a):
                errs.append(invalid(f"endpoints[{i}].addresses[{j}]", a, "must be a valid IP address"))
    for i, port in enumerate(as_list(obj.get("ports"))):
        port = as_dict(port)
        name = port.get("name")
        if name:
            errs += [invalid(f"ports[{i}].name", name, m) for m in names.is_dns1123_label(name)]
        errs += enum(port.get("protocol"), PROTOCOLS, f"ports[{i}].protocol", allow_empty=True)
        pn = port.get("port")
        if is_int(pn):
            errs += [invalid(f"ports[{i}].port", pn, m) for m in port_num_errors(pn)]
    return errs


def validate_endpointslice_update(new: Obj, old: Obj) -> Errors:
    return immutable(new.get("addressType"), old.get("addressType"), "addressType")


def validate_ingress(obj: Obj) -> Errors:
    spec, p = _spec(obj), "spec"
    errs: Errors = []
    rules = as_list(spec.get("rules"))
    if spec.get("defaultBackend") is None and not rules:
        errs.append(invalid(p, GoRepr("{}"), "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        errs += _ingress_backend(spec["defaultBackend"], f"{p}.defaultBackend")
    for i, rule in enumerate(rules):
        rp = f"{p}.rules[{i}]"
        rule = as_dict(rule)
        host = rule.get("host")
        if host:
            h = host[2:] if host.startswith("*.") else host
            errs += [invalid(f"{rp}.host", host, m) for m in names.is_dns1123_subdomain(h)]
        http = rule.get("http")
        if http is None:
            continue
        paths = as_list(as_dict(http).get("paths"))
        if not paths:
            errs.append(required(f"{rp}.http.paths"))
        for j, path in enumerate(paths):
            pp = f"{rp}.http.paths[{j}]"
            path = as_dict(path)
            pt = path.get("pathType")
            if pt is None:
                errs.append(required(f"{pp}.pathType", "pathType must be specified"))
            elif pt not in ("Exact", "ImplementationSpecific", "Prefix"):
                errs.append(not_supported(f"{pp}.pathType", pt, ["Exact", "ImplementationSpecific", "Prefix"]))
            if pt in ("Exact", "Prefix") and not str(path.get("path") or "").startswith("/"):
                errs.append(invalid(f"{pp}.path", path.get("path") or "", "must be an absolute path"))
            errs += _ingress_backend(path.get("backend"), f"{pp}.backend")
    return errs


def _ingress_backend(b: Any, path: str) -> Errors:
    b = as_dict(b)
    svc, res = b.get("service"), b.get("resource")
    if svc is not None and res is not None:
        return [invalid(path, GoRepr("{}"), "cannot set both resource and service backends")]
    if svc is None and res is None:
        return [invalid(path, GoRepr("{}"), "resource or service backend is required")]
    if svc is None:
        return []
    svc = as_dict(svc)
    errs: Errors = []
    name = svc.get("name") or ""
    if not name:
        errs.append(required(f"{path}.service.name"))
    else:
        errs += [invalid(f"{path}.service.name", name, m) for m in names.is_dns1035_label(name)]
    port = as_dict(svc.get("port"))
    if port.get("name") and port.get("number"):
        errs.append(invalid(f"{path}.service.port", GoRepr(json.dumps(port)), "cannot set both port name & port number"))
    elif port.get("name"):
        errs += validate_port_num_or_name(port["name"], f"{path}.service.port.name")
    elif port.get("number") is not None:
        errs += validate_port_num_or_name(port["number"], f"{path}.service.port.number")
    else:
        errs.append(required(f"{path}.service.port", "port name or number is required"))
    return errs


RBAC_GROUP = "rbac.authorization.k8s.io"


def _policy_rules(obj: Obj, *, namespaced: bool) -> Errors:
    errs: Errors = []
    for i, rule in enumerate(as_list(obj.get("rules"))):
        p = f"rules[{i}]"
        rule = as_dict(rule)
        if not as_list(rule.get("verbs")):
            errs.append(required(f"{p}.verbs", "verbs must contain at least one value"))
        nru = as_list(rule.get("nonResourceURLs"))
        if nru:
            if namespaced:
                errs.append(invalid(f"{p}.nonResourceURLs", nru, "namespaced rules cannot apply to non-resource URLs"))
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                errs.append(invalid(f"{p}.nonResourceURLs", nru,
                                    "rules cannot apply to both regular resources and non-resource URLs"))
            continue
        if not as_list(rule.get("apiGroups")):
            errs.append(required(f"{p}.apiGroups", "resource rules must supply at least one api group"))
        if not as_list(rule.get("resources")):
            errs.append(required(f"{p}.resources", "resource rules must supply at least one resource"))
    return errs


def validate_role(obj: Obj) -> Errors:
    return _policy_rules(obj, namespaced=True)


def validate_clusterrole(obj: Obj) -> Errors:
    return _policy_rules(obj, namespaced=False)


def _binding(obj: Obj, *, kinds: list[str]) -> Errors:
    errs: Errors = []
    ref = as_dict(obj.get("roleRef"))
    if ref.get("apiGroup") != RBAC_GROUP:
        errs.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [RBAC_GROUP]))
    if ref.get("kind") not in kinds:
        errs.append(not_supported("roleRef.kind", ref.get("kind", ""), kinds))
    name = ref.get("name") or ""
    if not name:
        errs.append(required("roleRef.name"))
    else:
        errs += [invalid("roleRef.name", name, m) for m in names.is_path_segment_name(name)]
    for i, s in enumerate(as_list(obj.get("subjects"))):
        p = f"subjects[{i}]"
        s = as_dict(s)
        kind, sname = s.get("kind"), s.get("name") or ""
        if not sname:
            errs.append(required(f"{p}.name"))
        if kind == "ServiceAccount":
            if sname:
                errs += [invalid(f"{p}.name", sname, m) for m in names.is_dns1123_subdomain(sname)]
            if s.get("apiGroup"):
                errs.append(not_supported(f"{p}.apiGroup", s["apiGroup"], [""]))
            if not s.get("namespace") and obj.get("kind") == "ClusterRoleBinding":
                errs.append(required(f"{p}.namespace"))
        elif kind in ("User", "Group"):
            if s.get("apiGroup") != RBAC_GROUP:
                errs.append(not_supported(f"{p}.apiGroup", s.get("apiGroup", ""), [RBAC_GROUP]))
        else:
            errs.append(not_supported(f"{p}.kind", kind or "", ["ServiceAccount", "User", "Group"]))
    return errs


def validate_rolebinding(obj: Obj) -> Errors:
    return _binding(obj, kinds=["Role", "ClusterRole"])


def validate_clusterrolebinding(obj: Obj) -> Errors:
    return _binding(obj, kinds=["ClusterRole"])


def validate_binding_update(new: Obj, old: Obj) -> Errors:
    if new.get("roleRef") != old.get("roleRef"):
        r = as_dict(new.get("roleRef"))
        return [invalid("roleRef", GoRepr(f"rbac.RoleRef{{APIGroup:{json.dumps(r.get('apiGroup', ''))}, "
                                          f"Kind:{json.dumps(r.get('kind', ''))}, Name:{json.dumps(r.get('name', ''))}}}"),
                        "cannot change roleRef")]
    return []


def validate_storageclass(obj: Obj) -> Errors:
    errs: Errors = []
    prov = obj.get("provisioner") or ""
    if not prov:
        errs.append(required("provisioner"))
    else:
        errs += [invalid("provisioner", prov, m) for m in labelsyntax.is_qualified_name(prov.lower())]
    rp = obj.get("reclaimPolicy")
    if rp is not None and rp not in ("Delete", "Retain"):
        errs.append(not_supported("reclaimPolicy", rp, ["Delete", "Retain"]))
    vbm = obj.get("volumeBindingMode")
    if vbm is not None and vbm not in ("Immediate", "WaitForFirstConsumer"):
        errs.append(not_supported("volumeBindingMode", vbm, ["Immediate", "WaitForFirstConsumer"]))
    return errs


def validate_storageclass_update(new: Obj, old: Obj) -> Errors:
    errs: Errors = []
    if new.get("parameters") != old.get("parameters"):
        errs.append(forbidden("parameters", "updates to parameters are forbidden."))
    if new.get("provisioner") != old.get("provisioner"):
        errs.append(forbidden("provisioner", "updates to provisioner are forbidden."))
    if new.get("reclaimPolicy") != old.get("reclaimPolicy"):
        errs.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
    errs += immutable(new.get("volumeBindingMode"), old.get("volumeBindingMode"), "volumeBindingMode")
    return errs


def validate_priorityclass(obj: Obj) -> Errors:
    errs: Errors = []
    name = as_dict(obj.get("metadata")).get("name") or ""
    value = obj.get("value")
    if name.startswith("system-") and name not in ("system-node-critical", "system-cluster-critical"):
        errs.append(forbidden("metadata.name", "priority class names with 'system-' prefix are reserved for system use only"))
    if is_int(value) and value > 1_000_000_000 and not name.startswith("system-"):
        errs.append(forbidden("value", "maximum allowed value of a user defined priority is 1000000000"))
    pp = obj.get("preemptionPolicy")
    if pp is not None and pp not in ("PreemptLowerPriority", "Never"):
        errs.append(not_supported("preemptionPolicy", pp, ["Never", "PreemptLowerPriority"]))
    return errs


def validate_priorityclass_update(new: Obj, old: Obj) -> Errors:
    errs: Errors = []
    if new.get("value") != old.get("value"):
        errs.append(forbidden("value", "may not be changed in an update."))
    errs += immutable(new.get("preemptionPolicy"), old.get("preemptionPolicy"), "preemptionPolicy")
    return errs


Validator = Callable[[Obj], Errors]
UpdateValidator = Callable[[Obj, Obj], Errors]

CREATE: dict[str, Validator] = {
    "Pod": validate_pod, "Deployment": validate_deployment, "ReplicaSet": validate_replicaset,
    "StatefulSet": validate_statefulset, "DaemonSet": validate_daemonset,
    "ControllerRevision": validate_controllerrevision, "Job": validate_job, "CronJob": validate_cronjob,
    "Service": validate_service, "Endpoints": validate_endpoints, "ConfigMap": validate_configmap,
    "Secret": validate_secret, "Namespace": validate_namespace, "Node": validate_node,
    "PersistentVolumeClaim": validate_pvc, "PersistentVolume": validate_pv, "Event": validate_event,
    "Lease": validate_lease, "EndpointSlice": validate_endpointslice, "Ingress": validate_ingress,
    "Role": validate_role, "ClusterRole": validate_clusterrole, "RoleBinding": validate_rolebinding,
    "ClusterRoleBinding": validate_clusterrolebinding, "StorageClass": validate_storageclass,
    "PriorityClass": validate_priorityclass, "PodDisruptionBudget": validate_pdb,
}
UPDATE: dict[str, UpdateValidator] = {
    "Pod": validate_pod_update, "Deployment": _selector_immutable, "ReplicaSet": _selector_immutable,
    "DaemonSet": _selector_immutable, "StatefulSet": lambda n, o: _selector_immutable(n, o) + validate_statefulset_update(n, o),
    "ControllerRevision": validate_controllerrevision_update, "Job": validate_job_update,
    "Service": validate_service_update, "ConfigMap": validate_configmap_update, "Secret": validate_secret_update,
    "PersistentVolumeClaim": validate_pvc_update, "EndpointSlice": validate_endpointslice_update,
    "RoleBinding": validate_binding_update, "ClusterRoleBinding": validate_binding_update,
    "StorageClass": validate_storageclass_update, "PriorityClass": validate_priorityclass_update,
    "PodDisruptionBudget": lambda n, o: validate_pdb(n),
}

# Name rule per kind (Kubernetes' ValidateXName functions).
NAME_RULES: dict[str, Callable[[str, bool], list[str]]] = {
    "Namespace": names.name_is_dns_label,
    "Service": names.name_is_dns1035_label,
    "PersistentVolume": names.name_is_path_segment,
    "Role": names.name_is_path_segment, "ClusterRole": names.name_is_path_segment,
    "RoleBinding": names.name_is_path_segment, "ClusterRoleBinding": names.name_is_path_segment,
}
