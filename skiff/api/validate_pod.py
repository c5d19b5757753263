"""Validation of pod specs and pod templates (the fields Skiff honours), as Kubernetes does it.

Covers containers (names, images, ports, env, resources, probes, volume mounts, pull and
termination-message policies), volumes, tolerations, restart and DNS policies, and the
pod-update rule (only images, activeDeadlineSeconds, tolerations additions and a few more may
change). Pure functions over JSON values; paths and messages follow k8s.io/kubernetes
pkg/apis/core/validation.
"""
from __future__ import annotations

import json
import re
from typing import Any

from skiff.api import labels as labelsyntax
from skiff.api import names
from skiff.api.fielderrors import duplicate, forbidden, invalid, not_found, not_supported, required
from skiff.api.quantity import QuantityError, canonical_quantity, parse
from skiff.api.validate_common import (NEGATIVE, PROTOCOLS, Errors, as_dict, as_list, enum, in_range, is_int,
                                       nonnegative, port_name_errors, port_num_errors, validate_labels,
                                       validate_port_num_or_name, validate_template_meta)

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
TERMINATION_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc",
    "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected",
    "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
)
STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
ENV_NAME_MSG = ("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
                "and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', "
                "regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')")


# --- volumes ----------------------------------------------------------------------------------


def validate_volumes(vols: Any, path: str) -> tuple[Errors, set[str]]:
    errs: Errors = []
    seen: set[str] = set()
    for i, vol in enumerate(as_list(vols)):
        p = f"{path}[{i}]"
        vol = as_dict(vol)
        name = vol.get("name") or ""
        if not name:
            errs.append(required(f"{p}.name"))
        else:
            errs += [invalid(f"{p}.name", name, m) for m in names.is_dns1123_label(name)]
            if name in seen:
                errs.append(duplicate(f"{p}.name", name))
            seen.add(name)
        sources = [s for s in VOLUME_SOURCES if vol.get(s) is not None]
        if not sources:
            errs.append(required(p, "must specify a volume type"))
        elif len(sources) > 1:
            errs.append(forbidden(f"{p}.{sources[1]}", "may not specify more than 1 volume type"))
        else:
            errs += _validate_volume_source(sources[0], as_dict(vol.get(sources[0])), f"{p}.{sources[0]}")
    return errs, seen


def _validate_volume_source(kind: str, src: dict[str, Any] | Any, path: str) -> Errors:
    errs: Errors = []
    if kind == "configMap":
        if not src.get("name"):
            errs.append(required(f"{path}.name"))
        errs += _validate_items(src.get("items"), path)
        errs += _validate_mode(src.get("defaultMode"), f"{path}.defaultMode")
    elif kind == "secret":
        if not src.get("secretName"):
            errs.append(required(f"{path}.secretName"))
        errs += _validate_items(src.get("items"), path)
        errs += _validate_mode(src.get("defaultMode"), f"{path}.defaultMode")
    elif kind == "hostPath":
        if not src.get("path"):
            errs.append(required(f"{path}.path"))
        t = src.get("type")
        valid = ["", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"]
        if t is not None and t not in valid:
            errs.append(not_supported(f"{path}.type", t, valid))
    elif kind == "persistentVolumeClaim":
        if not src.get("claimName"):
            errs.append(required(f"{path}.claimName"))
    elif kind == "emptyDir":
        medium = src.get("medium")
        if medium not in (None, "", "Memory", "HugePages") and not str(medium).startswith("HugePages-"):
            errs.append(not_supported(f"{path}.medium", medium, ["", "Memory", "HugePages"]))
        if src.get("sizeLimit") is not None:
            try:
                if parse(src["sizeLimit"]).value < 0:
                    errs.append(invalid(f"{path}.sizeLimit", canonical_quantity(src["sizeLimit"]), NEGATIVE))
            except QuantityError:
                pass
    return errs


def _validate_items(items: Any, path: str) -> Errors:
    errs: Errors = []
    for i, item in enumerate(as_list(items)):
        item = as_dict(item)
        p = f"{path}.items[{i}]"
        if not item.get("key"):
            errs.append(required(f"{p}.key"))
        ip = item.get("path") or ""
        if not ip:
            errs.append(required(f"{p}.path"))
        elif ip.startswith("/"):
            errs.append(invalid(f"{p}.path", ip, "must be a relative path"))
        elif ".." in ip.split("/"):
            errs.append(invalid(f"{p}.path", ip, "must not contain '..'"))
        errs += _validate_mode(item.get("mode"), f"{p}.mode")
    return errs


def _validate_mode(mode: Any, path: str) -> Errors:
    if is_int(mode) and not 0 <= mode <= 0o777:
        return [invalid(path, mode, "must be a number between 0 and 0777 (octal), both inclusive")]
    return []


# --- containers -------------------------------------------------------------------------------


def _validate_ports(ports: Any, path: str) -> Errors:
    errs: Errors = []
    names_seen: set[str] = set()
    for i, port in enumerate(as_list(ports)):
        p = f"{path}[{i}]"
        port = as_dict(port)
        name = port.get("name") or ""
        if name:
            msgs = port_name_errors(name)
            if msgs:
                errs += [invalid(f"{p}.name", name, m) for m in msgs]
            elif name in names_seen:
                errs.append(duplicate(f"{p}.name", name))
            names_seen.add(name)
        cp = port.get("containerPort")
        if not cp:
            errs.append(required(f"{p}.containerPort"))
        elif is_int(cp):
            errs += [invalid(f"{p}.containerPort", cp, m) for m in port_num_errors(cp)]
        hp = port.get("hostPort")
        if is_int(hp) and hp != 0:
            errs += [invalid(f"{p}.hostPort", hp, m) for m in port_num_errors(hp)]
        errs += enum(port.get("protocol"), PROTOCOLS, f"{p}.protocol")
    return errs


def _validate_env(env: Any, path: str) -> Errors:
    errs: Errors = []
    for i, ev in enumerate(as_list(env)):
        p = f"{path}[{i}]"
        ev = as_dict(ev)
        name = ev.get("name") or ""
        if not name:
            errs.append(required(f"{p}.name"))
        elif not _ENV_NAME.match(name):
            errs.append(invalid(f"{p}.name", name, ENV_NAME_MSG))
        vf = ev.get("valueFrom")
        if vf is not None:
            vf = as_dict(vf)
            sources = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef")
                       if vf.get(k) is not None]
            if ev.get("value"):
                errs.append(invalid(f"{p}.valueFrom", "", "may not be specified when `value` is not empty"))
            if not sources:
                errs.append(invalid(f"{p}.valueFrom", "",
                                    "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
            elif len(sources) > 1:
                errs.append(invalid(f"{p}.valueFrom", "", "may not have more than one field specified at a time"))
            for ref in ("configMapKeyRef", "secretKeyRef"):
                r = vf.get(ref)
                if r is not None and not as_dict(r).get("key"):
                    errs.append(required(f"{p}.valueFrom.{ref}.key"))
            fr = vf.get("fieldRef")
            if fr is not None and not as_dict(fr).get("fieldPath"):
                errs.append(required(f"{p}.valueFrom.fieldRef.fieldPath"))
    return errs


def _resource_name_errors(name: str, path: str) -> Errors:
    if "/" not in name:
        if name not in STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
            return [invalid(path, name, "must be a standard resource for containers")]
        return []
    msgs = labelsyntax.is_qualified_name(name)
    if msgs:
        return [invalid(path, name, m) for m in msgs]
    if name.startswith("requests."):
        return [invalid(path, name, "doesn't follow extended resource name standard")]
    return []


def _validate_resources(res: Any, path: str) -> Errors:
    errs: Errors = []
    res = as_dict(res)
    limits: dict[str, Any] = {}
    for kind in ("limits", "requests"):
        for rname, q in as_dict(res.get(kind)).items():
            p = f"{path}.{kind}[{rname}]"
            errs += _resource_name_errors(rname, p)
            try:
                parsed = parse(q)
            except (QuantityError, TypeError):
                continue  # reported by the schema check
            if parsed.value < 0:
                errs.append(invalid(p, str(parsed), NEGATIVE))
            if kind == "limits":
                limits[rname] = parsed
            elif rname in limits and parsed.value > limits[rname].value:
                errs.append(invalid(f"{path}.requests", str(parsed),
                                    f"must be less than or equal to {rname} limit of {limits[rname]}"))
    return errs


def _validate_handler(h: Any, path: str, *, probe: bool) -> Errors:
    h = as_dict(h)
    kinds = ["exec", "httpGet", "tcpSocket"] + (["grpc"] if probe else ["sleep"])
    present = [k for k in kinds if h.get(k) is not None]
    if not present:
        return [required(path, "must specify a handler type")]
    if len(present) > 1:
        return [forbidden(f"{path}.{present[1]}", "may not specify more than 1 handler type")]
    k = present[0]
    src = as_dict(h.get(k))
    errs: Errors = []
    if k == "exec" and not as_list(src.get("command")):
        errs.append(required(f"{path}.exec.command"))
    elif k == "httpGet":
        errs += validate_port_num_or_name(src.get("port"), f"{path}.httpGet.port")
        if src.get("port") is None:
            errs.append(required(f"{path}.httpGet.port"))
        scheme = src.get("scheme")
        if scheme not in (None, "HTTP", "HTTPS"):
            errs.append(not_supported(f"{path}.httpGet.scheme", scheme, ["HTTP", "HTTPS"]))
    elif k == "tcpSocket":
        errs += validate_port_num_or_name(src.get("port"), f"{path}.tcpSocket.port")
    elif k == "grpc":
        errs += in_range(src.get("port"), 1, 65535, f"{path}.grpc.port")
    return errs


def _validate_probe(probe: Any, path: str, *, liveness_like: bool, readiness: bool) -> Errors:
    if probe is None:
        return []
    probe = as_dict(probe)
    errs = _validate_handler(probe, path, probe=True)
    for f in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        errs += nonnegative(probe.get(f), f"{path}.{f}")
    if liveness_like and probe.get("successThreshold") not in (None, 1):
        errs.append(invalid(f"{path}.successThreshold", probe["successThreshold"], "must be 1"))
    if readiness and probe.get("terminationGracePeriodSeconds") is not None:
        errs.append(invalid(f"{path}.terminationGracePeriodSeconds", probe["terminationGracePeriodSeconds"],
                            "must not be set for readinessProbes"))
    tg = probe.get("terminationGracePeriodSeconds")
    if is_int(tg) and tg <= 0:
        errs.append(invalid(f"{path}.terminationGracePeriodSeconds", tg, "must be greater than 0"))
    return errs


def _validate_mounts(mounts: Any, volumes: set[str], path: str) -> Errors:
    errs: Errors = []
    paths: set[str] = set()
    for i, m in enumerate(as_list(mounts)):
        p = f"{path}[{i}]"
        m = as_dict(m)
        name = m.get("name") or ""
        if not name:
            errs.append(required(f"{p}.name"))
        elif name not in volumes:
            errs.append(not_found(f"{p}.name", name))
        mp = m.get("mountPath") or ""
        if not mp:
            errs.append(required(f"{p}.mountPath"))
        elif mp in paths:
            errs.append(invalid(f"{p}.mountPath", mp, "must be unique"))
        paths.add(mp)
        sp = m.get("subPath") or ""
        if sp.startswith("/"):
            errs.append(invalid(f"{p}.subPath", sp, "must be a relative path"))
        elif ".." in sp.split("/"):
            errs.append(invalid(f"{p}.subPath", sp, "must not contain '..'"))
        mprop = m.get("mountPropagation")
        if mprop is not None and mprop not in ("None", "HostToContainer", "Bidirectional"):
            errs.append(not_supported(f"{p}.mountPropagation", mprop, ["Bidirectional", "HostToContainer", "None"]))
    return errs


def _validate_container(c: Any, path: str, volumes: set[str], *, init: bool, template: bool) -> Errors:
    c = as_dict(c)
    errs: Errors = []
    if not c.get("image"):
        errs.append(required(f"{path}.image"))
    errs += _validate_ports(c.get("ports"), f"{path}.ports")
    errs += _validate_env(c.get("env"), f"{path}.env")
    errs += _validate_resources(c.get("resources"), f"{path}.resources")
    errs += _validate_mounts(c.get("volumeMounts"), volumes, f"{path}.volumeMounts")
    errs += enum(c.get("imagePullPolicy"), PULL_POLICIES, f"{path}.imagePullPolicy")
    errs += enum(c.get("terminationMessagePolicy"), TERMINATION_MESSAGE_POLICIES, f"{path}.terminationMessagePolicy")
    sidecar = init and c.get("restartPolicy") == "Always"
    if init and c.get("restartPolicy") not in (None, "Always"):
        errs.append(not_supported(f"{path}.restartPolicy", c["restartPolicy"], ["Always"]))
    if init and not sidecar:
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if c.get(probe) is not None:
                errs.append(forbidden(f"{path}.{probe}", "may not be set for init containers without restartPolicy=Always"))
    else:
        errs += _validate_probe(c.get("livenessProbe"), f"{path}.livenessProbe", liveness_like=True, readiness=False)
        errs += _validate_probe(c.get("readinessProbe"), f"{path}.readinessProbe", liveness_like=False, readiness=True)
        errs += _validate_probe(c.get("startupProbe"), f"{path}.startupProbe", liveness_like=True, readiness=False)
    lc = as_dict(c.get("lifecycle"))
    for hook in ("postStart", "preStop"):
        if lc.get(hook) is not None:
            errs += _validate_handler(lc[hook], f"{path}.lifecycle.{hook}", probe=False)
    return errs


def _validate_containers(cs: Any, path: str, volumes: set[str], all_names: set[str], *, init: bool,
                         template: bool) -> Errors:
    errs: Errors = []
    for i, c in enumerate(as_list(cs)):
        p = f"{path}[{i}]"
        name = as_dict(c).get("name") or ""
        if not name:
            errs.append(required(f"{p}.name"))
        else:
            msgs = names.is_dns1123_label(name)
            errs += [invalid(f"{p}.name", name, m) for m in msgs]
            if not msgs and name in all_names:
                errs.append(duplicate(f"{p}.name", name))
            all_names.add(name)
        errs += _validate_container(c, p, volumes, init=init, template=template)
    return errs


# --- tolerations and the pod spec ---------------------------------------------------------------


def validate_tolerations(tols: Any, path: str) -> Errors:
    errs: Errors = []
    for i, t in enumerate(as_list(tols)):
        p = f"{path}[{i}]"
        t = as_dict(t)
        key = t.get("key") or ""
        op = t.get("operator") or ""
        if key:
            errs += [invalid(f"{p}.key", key, m) for m in labelsyntax.is_qualified_name(key)]
        if not key and op != "Exists":
            errs.append(invalid(f"{p}.operator", op,
                                'operator must be Exists when `key` is empty, which means "match all values and all keys"'))
        if t.get("tolerationSeconds") is not None and t.get("effect") != "NoExecute":
            errs.append(invalid(f"{p}.effect", t.get("effect") or "",
                                "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        value = t.get("value") or ""
        if op in ("", "Equal"):
            errs += [invalid(f"{p}.value", value, m) for m in labelsyntax.is_label_value(value)]
        elif op == "Exists":
            if value:
                errs.append(invalid(f"{p}.operator", value, "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(not_supported(f"{p}.operator", op, ["Equal", "Exists"]))
        eff = t.get("effect") or ""
        if eff and eff not in TAINT_EFFECTS:
            errs.append(not_supported(f"{p}.effect", eff, TAINT_EFFECTS))
    return errs


def validate_pod_spec(spec: Any, path: str, *, template: bool = False) -> Errors:
    spec = as_dict(spec)
    errs: Errors = []
    vol_errs, volumes = validate_volumes(spec.get("volumes"), f"{path}.volumes")
    errs += vol_errs
    all_names: set[str] = set()
    if not as_list(spec.get("containers")):
        errs.append(required(f"{path}.containers"))
    errs += _validate_containers(spec.get("initContainers"), f"{path}.initContainers", volumes, all_names,
                                 init=True, template=template)
    errs += _validate_containers(spec.get("containers"), f"{path}.containers", volumes, all_names,
                                 init=False, template=template)
    errs += enum(spec.get("restartPolicy"), RESTART_POLICIES, f"{path}.restartPolicy")
    errs += enum(spec.get("dnsPolicy"), DNS_POLICIES, f"{path}.dnsPolicy")
    if spec.get("dnsPolicy") == "None" and spec.get("dnsConfig") is None:
        errs.append(required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None"))
    errs += validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    sa = spec.get("serviceAccountName")
    if sa:
        errs += [invalid(f"{path}.serviceAccountName", sa, m) for m in names.is_dns1123_subdomain(sa)]
    node = spec.get("nodeName")
    if node:
        errs += [invalid(f"{path}.nodeName", node, m) for m in names.is_dns1123_subdomain(node)]
    ads = spec.get("activeDeadlineSeconds")
    if is_int(ads) and not 1 <= ads <= 2**31 - 1:
        errs.append(invalid(f"{path}.activeDeadlineSeconds", ads, "must be between 1 and 2147483647, inclusive"))
    for f in ("hostname", "subdomain"):
        v = spec.get(f)
        if v:
            errs += [invalid(f"{path}.{f}", v, m) for m in names.is_dns1123_label(v)]
    errs += validate_tolerations(spec.get("tolerations"), f"{path}.tolerations")
    pp = spec.get("preemptionPolicy")
    if pp is not None and pp not in ("PreemptLowerPriority", "Never"):
        errs.append(not_supported(f"{path}.preemptionPolicy", pp, ["Never", "PreemptLowerPriority"]))
    return errs


def validate_pod_template(tmpl: Any, path: str) -> Errors:
    tmpl = as_dict(tmpl)
    if not tmpl:
        return [required(path)]
    return (validate_template_meta(tmpl.get("metadata"), f"{path}.metadata")
            + validate_pod_spec(tmpl.get("spec"), f"{path}.spec", template=True))


# --- pod updates ------------------------------------------------------------------------------

POD_UPDATE_MSG = ("pod updates may not change fields other than `spec.containers[*].image`,"
                  "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                  "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
                  "(allow it to be set to 1 if it was previously negative)")


def validate_pod_spec_update(new: Any, old: Any, path: str) -> Errors:
    """Kubernetes' pod-update rule: mask the mutable fields, then the rest must be equal."""
    new, old = json.loads(json.dumps(as_dict(new))), json.loads(json.dumps(as_dict(old)))
    errs: Errors = []
    for key in ("containers", "initContainers"):
        nc, oc = as_list(new.get(key)), as_list(old.get(key))
        if len(nc) != len(oc):
            continue
        for a, b in zip(nc, oc):
            if isinstance(a, dict) and isinstance(b, dict):
                a["image"] = b.get("image")
    # activeDeadlineSeconds may be added or lowered, never removed or raised.
    na, oa = new.get("activeDeadlineSeconds"), old.get("activeDeadlineSeconds")
    if oa is None or (na is not None and is_int(na) and is_int(oa) and na <= oa):
        new["activeDeadlineSeconds"] = oa
    elif na is None:
        errs.append(invalid(f"{path}.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
        new["activeDeadlineSeconds"] = oa
    # tolerations may only be added (existing ones kept).
    nt, ot = as_list(new.get("tolerations")), as_list(old.get("tolerations"))
    if all(t in nt for t in ot):
        new["tolerations"] = old.get("tolerations")
    # schedulingGates may be removed; nodeName is set through the binding subresource.
    ng, og = as_list(new.get("schedulingGates")), as_list(old.get("schedulingGates"))
    if all(g in og for g in ng):
        new["schedulingGates"] = old.get("schedulingGates")
    if is_int(old.get("terminationGracePeriodSeconds")) and old["terminationGracePeriodSeconds"] < 0 \
            and new.get("terminationGracePeriodSeconds") == 1:
        new["terminationGracePeriodSeconds"] = old["terminationGracePeriodSeconds"]
    new = {k: v for k, v in new.items() if v is not None}
    old = {k: v for k, v in old.items() if v is not None}
    if new != old:
        errs.append(forbidden(path, POD_UPDATE_MSG))
    return errs
