"""The ``scale`` and ``binding`` subresources."""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from aiohttp import web

from skiff.api.resources import Resource

from . import status
from skiff.api import fielderrors
from skiff.api.selectors import selector_string

from .handlers import _check_type, decode, read_body, respond, _write_opts
from .paths import Target

if TYPE_CHECKING:
    from .handlers import ResourceHandlers

Obj = dict[str, Any]


def to_scale(res: Resource, obj: Obj) -> Obj:
    meta = obj["metadata"]
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
        "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                   "selector": selector_string(obj.get("spec", {}).get("selector"))},
    }


async def handle_scale(h: "ResourceHandlers", request: web.Request, t: Target) -> web.Response:
    assert t.name is not None
    res = t.resource
    if request.method == "GET":
        return respond(to_scale(res, await h.registry.get(res, t.namespace, t.name)), request=request)
    if request.method not in ("PUT", "PATCH"):
        raise status.method_not_allowed("the server does not allow this method on the requested resource")
    body = decode(await read_body(request), request.content_type)
    if request.method == "PUT":
        _check_type(res, body, allow_scale=True)
    from .patching import apply_patch_body

    def change(current: Obj) -> Obj:
        scale = to_scale(res, current)
        if request.method == "PUT":
            wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
            if wanted_rv and wanted_rv != scale["metadata"].get("resourceVersion"):
                raise status.stale(res, t.name or "")
            new_scale = body
        else:
            new_scale = apply_patch_body(request.content_type, scale, body, definition="io.k8s.api.autoscaling.v1.Scale")
        replicas = (new_scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise status.invalid(res, t.name or "", [
                fielderrors.invalid("spec.replicas", replicas, "must be greater than or equal to 0")])
        updated = copy.deepcopy(current)
        updated.setdefault("spec", {})["replicas"] = replicas
        return updated

    obj = await h.registry.mutate(res, t.namespace, t.name, change, _write_opts(request))
    return respond(to_scale(res, obj), request=request)


async def handle_binding(h: "ResourceHandlers", request: web.Request, t: Target) -> web.Response:
    assert t.name is not None
    if request.method != "POST":
        raise status.method_not_allowed("the server does not allow this method on the requested resource")
    body = decode(await read_body(request), request.content_type)
    node = ((body or {}).get("target") or {}).get("name")
    if not node:
        raise status.invalid(t.resource, t.name, [fielderrors.required("target.name")])
    return await bind(h, request, t.resource, t.namespace, t.name, node)


async def handle_legacy_binding(h: "ResourceHandlers", request: web.Request) -> web.Response:
    """``POST /api/v1/namespaces/NS/bindings``: the older spelling of ``pods/NAME/binding``."""
    from skiff.api.resources import by_kind

    pods = by_kind("v1", "Pod")
    assert pods is not None
    body = decode(await read_body(request), request.content_type)
    name = ((body or {}).get("metadata") or {}).get("name")
    node = ((body or {}).get("target") or {}).get("name")
    if not name:
        raise status.invalid(pods, "", [fielderrors.required("metadata.name")])
    if not node:
        raise status.invalid(pods, name, [fielderrors.required("target.name")])
    return await bind(h, request, pods, request.match_info["namespace"], name, node)


async def bind(h: "ResourceHandlers", request: web.Request, res: Resource, namespace: str | None, name: str,
               node: str) -> web.Response:
    def assign(pod: Obj) -> Obj:
        current = pod.get("spec", {}).get("nodeName")
        if pod["metadata"].get("deletionTimestamp"):
            raise status.conflict(res, name, "pod is being deleted, cannot be assigned to a host")
        if current:
            raise status.conflict(res, name, f"pod {name} is already assigned to node \"{current}\"")
        pod["spec"]["nodeName"] = node
        conds = [c for c in pod.setdefault("status", {}).get("conditions", []) if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": h.now().strftime("%Y-%m-%dT%H:%M:%SZ")})
        pod["status"]["conditions"] = conds
        return pod

    # one write, as kube-apiserver's assignPod: nodeName and PodScheduled=True together
    await h.registry.mutate(res, namespace, name, assign, _write_opts(request), subresource="binding")
    return respond(status.success(), code=201, request=request)


async def handle_eviction(h: "ResourceHandlers", request: web.Request, t: Target) -> web.Response:
    """``pods/NAME/eviction`` (what ``kubectl drain`` posts): a delete that honours the eviction's
    DeleteOptions and the pod's PodDisruptionBudget, as kube-apiserver's eviction REST does: a
    terminal, pending or terminating pod goes at once; otherwise its one budget must allow a
    disruption, which is taken (``disruptionsAllowed - 1``, the pod in ``disruptedPods``) by a
    compare-and-swap on the budget's status before the pod is deleted; else 429."""
    assert t.name is not None
    body = decode(await read_body(request), request.content_type)
    if not isinstance(body, dict) or body.get("kind") not in (None, "Eviction"):
        raise status.bad_request("the body must be a policy/v1 Eviction")
    name = (body.get("metadata") or {}).get("name")
    if name and name != t.name:
        raise status.bad_request(f"name in URL does not match name in Eviction object")
    options = body.get("deleteOptions") or {}
    pod = await h.registry.get(t.resource, t.namespace, t.name)
    if not _ignores_budget(pod) and not body.get("dryRun") and not options.get("dryRun"):
        await _take_disruption(h, request, pod)
    await h.registry.delete(t.resource, t.namespace, t.name, options, _write_opts(request))
    return respond(status.success(), code=201, request=request)


def _ignores_budget(pod: Obj) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or bool(pod["metadata"].get("deletionTimestamp"))


def _too_many_requests(message: str, causes: list[dict[str, str]]) -> status.StatusError:
    return status.StatusError(429, "TooManyRequests", message, details={"causes": causes})


async def _take_disruption(h: "ResourceHandlers", request: web.Request, pod: Obj) -> None:
    from skiff.api.resources import find
    from skiff.api.selectors import SelectorError, from_label_selector

    pdbs = find("poddisruptionbudgets.policy")
    ns, labels = pod["metadata"].get("namespace"), pod["metadata"].get("labels") or {}

    def matches(pdb: Obj) -> bool:
        try:
            return from_label_selector((pdb.get("spec") or {}).get("selector")).matches(labels)
        except SelectorError:
            return False

    found = (await h.registry.list(pdbs, ns, match=matches)).items
    if not found:
        return
    if len(found) > 1:
        raise status.StatusError(500, "InternalError", "This pod has more than one PodDisruptionBudget, "
                                 "which the eviction subresource does not support.")
    pdb_name = found[0]["metadata"]["name"]
    pod_name = pod["metadata"]["name"]

    def take(pdb: Obj) -> Obj:
        st = pdb.setdefault("status", {})
        if int(st.get("observedGeneration") or 0) < int(pdb["metadata"].get("generation") or 0):
            raise _too_many_requests("Cannot evict pod as it would violate the pod's disruption budget.", [
                {"reason": "DisruptionBudget",
                 "message": "The disruption budget %s is still being processed by the server." % pdb_name}])
        allowed = int(st.get("disruptionsAllowed") or 0)
        if allowed <= 0:
            raise _too_many_requests("Cannot evict pod as it would violate the pod's disruption budget.", [
                {"reason": "DisruptionBudget", "message": "The disruption budget %s needs %d healthy pods and has "
                 "%d currently" % (pdb_name, int(st.get("desiredHealthy") or 0), int(st.get("currentHealthy") or 0))}])
        st["disruptionsAllowed"] = allowed - 1
        st["disruptedPods"] = {**(st.get("disruptedPods") or {}),
                               pod_name: h.now().strftime("%Y-%m-%dT%H:%M:%SZ")}
        return pdb

    await h.registry.mutate(pdbs, ns, pdb_name, take, _write_opts(request), subresource="status")
