"""OpenAPI v2 and v3 documents of the served API, built from the schema and the table of kinds.

``v2_document()`` is what ``/openapi/v2`` serves (swagger 2.0), ``v3_index()`` what ``/openapi/v3``
serves, ``v3_document("apis/apps/v1")`` one group-version's OpenAPI 3.0 document. They follow
the shapes the Kubernetes API server produces, because clients read more than the schemas:
``kubectl explain`` finds a kind by ``x-kubernetes-group-version-kind`` and follows
``$ref``/``allOf`` references; kubectl's query-parameter verifier looks for ``fieldValidation``
and ``dryRun`` among the parameters of the PATCH operation tagged with the kind's GVK before it
relies on server-side validation. Documents are built once and cached; callers must not edit
them. No I/O.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
from typing import Any

from skiff.api import openapi_proto, schema
from skiff.api.resources import RESOURCES, Resource, group_versions

V2_REF = "#/definitions/"
V3_REF = "#/components/schemas/"
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
STATUS = META + "Status"
DELETE_OPTIONS = META + "DeleteOptions"
WATCH_EVENT = META + "WatchEvent"
PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml"]
SCALE = "io.k8s.api.autoscaling.v1.Scale"

_QUERY_PARAMS: dict[str, tuple[str, str, str]] = {
    # name: (type, description)
    "pretty": ("string", "", "If 'true', then the output is pretty printed."),
    "dryRun": ("string", "", "When present, indicates that modifications should not be persisted. An invalid or "
               "unrecognized dryRun directive will result in an error response and no further processing of the "
               "request. Valid values are: - All: all dry run stages will be processed"),
    "fieldManager": ("string", "", "fieldManager is a name associated with the actor or entity that is making these "
                     "changes. The value must be less than or 128 characters long, and only contain printable "
                     "characters, as defined by https://golang.org/pkg/unicode/#IsPrint."),
    "fieldValidation": ("string", "", "fieldValidation instructs the server on how to handle objects in the request "
                        "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This "
                        "will ignore any unknown fields that are silently dropped from the object, and will ignore "
                        "all but the last duplicate field that the decoder encounters. - Warn: This will send a "
                        "warning via the standard warning response header for each unknown field that is dropped "
                        "from the object, and for each duplicate field that is encountered. - Strict: This will "
                        "fail the request with a BadRequest error if any unknown fields would be dropped from the "
                        "object, or if any duplicate fields are present."),
    "force": ("boolean", "", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting "
              "fields owned by other people. Force flag must be unset for non-apply patch requests."),
    "labelSelector": ("string", "", "A selector to restrict the list of returned objects by their labels. Defaults "
                      "to everything."),
    "fieldSelector": ("string", "", "A selector to restrict the list of returned objects by their fields. Defaults "
                      "to everything."),
    "limit": ("integer", "", "limit is a maximum number of responses to return for a list call."),
    "continue": ("string", "", "The continue option should be set when retrieving more results from the server."),
    "resourceVersion": ("string", "", "resourceVersion sets a constraint on what resource versions a request may be "
                        "served from."),
    "resourceVersionMatch": ("string", "", "resourceVersionMatch determines how resourceVersion is applied to list "
                             "calls."),
    "watch": ("boolean", "", "Watch for changes to the described resources and return them as a stream of add, "
              "update, and remove notifications. Specify resourceVersion."),
    "allowWatchBookmarks": ("boolean", "", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
    "sendInitialEvents": ("boolean", "", "`sendInitialEvents=true` may be set together with `watch=true`."),
    "timeoutSeconds": ("integer", "", "Timeout for the list/watch call."),
    "gracePeriodSeconds": ("integer", "", "The duration in seconds before the object should be deleted."),
    "propagationPolicy": ("string", "", "Whether and how garbage collection will be performed. Acceptable values "
                          "are: 'Orphan', 'Deletion', 'Foreground'."),
    "orphanDependents": ("boolean", "", "Deprecated: please use the PropagationPolicy."),
    "ignoreStoreReadErrorWithClusterBreakingPotential": ("boolean", "", "if set to true, it will trigger an unsafe "
                                                         "deletion of the resource in case the normal deletion flow "
                                                         "fails with a corrupt object error."),
}
_LIST_PARAMS = ["allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
                "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch"]
_WRITE_PARAMS = ["dryRun", "fieldManager", "fieldValidation"]
_DELETE_PARAMS = ["dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
                  "orphanDependents", "propagationPolicy"]


def _camel_group(group: str) -> str:
    if not group:
        return "Core"
    first = group.split(".")[0]
    special = {"rbac": "RbacAuthorization", "coordination": "Coordination", "discovery": "Discovery",
               "networking": "Networking", "storage": "Storage", "scheduling": "Scheduling"}
    return special.get(first, first[:1].upper() + first[1:])


def _op_id(verb: str, res: Resource, *, namespaced: bool, suffix: str = "", all_ns: bool = False) -> str:
    gv = f"{_camel_group(res.group)}{res.version[:1].upper()}{res.version[1:]}"
    scope = "Namespaced" if namespaced else ""
    tail = "ForAllNamespaces" if all_ns else ""
    return f"{verb}{gv}{scope}{res.kind}{suffix}{tail}"


def _tag(res: Resource) -> str:
    return (f"{res.group.split('.')[0]}_{res.version}" if res.group else f"core_{res.version}").replace("-", "_")


def _gvk(res: Resource, kind: str | None = None, group: str | None = None, version: str | None = None) -> dict[str, str]:
    return {"group": res.group if group is None else group, "version": version or res.version,
            "kind": kind or res.kind}


class _Paths:
    """Builds the path items of one resource in a version-neutral form, then renders v2 or v3."""

    def __init__(self, v3: bool) -> None:
        self.v3 = v3
        self.paths: dict[str, Any] = {}

    def ref(self, name: str) -> dict[str, str]:
        return {"$ref": (V3_REF if self.v3 else V2_REF) + name}

    def param(self, name: str, *, where: str = "query", required: bool = False) -> dict[str, Any]:
        typ, _, desc = _QUERY_PARAMS.get(name, ("string", "", ""))
        if where == "path":
            desc = {"name": f"name of the {{kind}}", "namespace": "object name and auth scope, such as for teams "
                    "and projects"}.get(name, "")
        p: dict[str, Any] = {"name": name, "in": where, "description": desc}
        if required:
            p["required"] = True
        if self.v3:
            p["schema"] = {"type": typ, "uniqueItems": True}
        else:
            p["type"] = typ
            p["uniqueItems"] = True
        return p

    def body(self, schema_name: str, content_types: list[str]) -> dict[str, Any]:
        if self.v3:
            return {"requestBody": {"required": True, "content": {
                ct: {"schema": self.ref(schema_name)} for ct in content_types}}}
        return {"parameters": [{"name": "body", "in": "body", "required": True, "schema": self.ref(schema_name)}]}

    def responses(self, codes: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for code, name in codes.items():
            desc = {"200": "OK", "201": "Created", "202": "Accepted"}.get(code, code)
            if self.v3:
                out[code] = {"description": desc, "content": {
                    ct: {"schema": self.ref(name)} for ct in ("application/json", "application/yaml",
                                                             "application/vnd.kubernetes.protobuf")}}
            else:
                out[code] = {"description": desc, "schema": self.ref(name)}
        out["401"] = {"description": "Unauthorized"}
        return out

    def op(self, *, op_id: str, desc: str, action: str, gvk: dict[str, str], params: list[str],
           responses: dict[str, str], body: tuple[str, list[str]] | None = None, tag: str) -> dict[str, Any]:
        o: dict[str, Any] = {"tags": [tag], "description": desc, "operationId": op_id}
        if not self.v3:
            o["consumes"] = body[1] if body else ["*/*"]
            o["produces"] = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
            o["schemes"] = ["https"]
        ps = [self.param(p) for p in params]
        if body:
            b = self.body(*body)
            if self.v3:
                o.update(b)
            else:
                ps = b["parameters"] + ps
        if ps:
            o["parameters"] = ps
        o["responses"] = self.responses(responses)
        o["x-kubernetes-action"] = action
        o["x-kubernetes-group-version-kind"] = gvk
        return o

    def add(self, path: str, item: dict[str, Any], path_params: list[str]) -> None:
        params = [self.param(p, where="path", required=True) for p in path_params]
        for p in params:
            p["description"] = p["description"].replace("{kind}", path.rstrip("/").split("/")[-2]
                                                         if path.endswith("}") else "")
        params.append(self.param("pretty"))
        item["parameters"] = params
        self.paths[path] = item


def _resource_paths(b: _Paths, res: Resource) -> None:
    root = schema.root_definition(res)
    lst = schema.list_definition(res)
    tag = _tag(res)
    ns_params = ["namespace"] if res.namespaced else []
    coll = res.path(namespace="{namespace}") if res.namespaced else res.path()
    item_path = coll + "/{name}"
    gvk = _gvk(res)
    verbs = set(res.verbs)
    coll_item: dict[str, Any] = {}
    if "list" in verbs:
        coll_item["get"] = b.op(op_id=_op_id("list", res, namespaced=res.namespaced), action="list", gvk=gvk,
                                desc=f"list or watch objects of kind {res.kind}", params=_LIST_PARAMS,
                                responses={"200": lst}, tag=tag)
    if "create" in verbs:
        coll_item["post"] = b.op(op_id=_op_id("create", res, namespaced=res.namespaced), action="post", gvk=gvk,
                                 desc=f"create a {res.kind}", params=_WRITE_PARAMS,
                                 responses={"200": root, "201": root, "202": root},
                                 body=(root, ["*/*"]), tag=tag)
    if "deletecollection" in verbs:
        coll_item["delete"] = b.op(op_id=_op_id("deleteCollection", res, namespaced=res.namespaced),
                                   action="deletecollection", gvk=gvk, desc=f"delete collection of {res.kind}",
                                   params=_DELETE_PARAMS + [p for p in _LIST_PARAMS if p not in ("watch",)],
                                   responses={"200": STATUS}, body=(DELETE_OPTIONS, ["*/*"]), tag=tag)
    b.add(coll, coll_item, ns_params)

    item: dict[str, Any] = {}
    if "get" in verbs:
        item["get"] = b.op(op_id=_op_id("read", res, namespaced=res.namespaced), action="get", gvk=gvk,
                           desc=f"read the specified {res.kind}", params=[], responses={"200": root}, tag=tag)
    if "update" in verbs:
        item["put"] = b.op(op_id=_op_id("replace", res, namespaced=res.namespaced), action="put", gvk=gvk,
                           desc=f"replace the specified {res.kind}", params=_WRITE_PARAMS,
                           responses={"200": root, "201": root}, body=(root, ["*/*"]), tag=tag)
    if "patch" in verbs:
        item["patch"] = b.op(op_id=_op_id("patch", res, namespaced=res.namespaced), action="patch", gvk=gvk,
                             desc=f"partially update the specified {res.kind}", params=_WRITE_PARAMS + ["force"],
                             responses={"200": root, "201": root}, body=("io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
                                                                         PATCH_TYPES), tag=tag)
    if "delete" in verbs:
        item["delete"] = b.op(op_id=_op_id("delete", res, namespaced=res.namespaced), action="delete", gvk=gvk,
                              desc=f"delete a {res.kind}", params=_DELETE_PARAMS,
                              responses={"200": STATUS, "202": STATUS}, body=(DELETE_OPTIONS, ["*/*"]), tag=tag)
    b.add(item_path, item, ["name"] + ns_params)

    if res.namespaced and "list" in verbs:
        b.add(res.path(), {"get": b.op(op_id=_op_id("list", res, namespaced=False, all_ns=True), action="list",
                                       gvk=gvk, desc=f"list or watch objects of kind {res.kind}",
                                       params=_LIST_PARAMS, responses={"200": lst}, tag=tag)}, [])

    for sub in ("status", "scale"):
        if sub not in res.subresources:
            continue
        target = root if sub == "status" else SCALE
        sgvk = gvk if sub == "status" else {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        suffix = "Status" if sub == "status" else "Scale"
        b.add(f"{item_path}/{sub}", {
            "get": b.op(op_id=_op_id("read", res, namespaced=res.namespaced, suffix=suffix), action="get", gvk=sgvk,
                        desc=f"read {sub} of the specified {res.kind}", params=[], responses={"200": target}, tag=tag),
            "put": b.op(op_id=_op_id("replace", res, namespaced=res.namespaced, suffix=suffix), action="put",
                        gvk=sgvk, desc=f"replace {sub} of the specified {res.kind}", params=_WRITE_PARAMS,
                        responses={"200": target, "201": target}, body=(target, ["*/*"]), tag=tag),
            "patch": b.op(op_id=_op_id("patch", res, namespaced=res.namespaced, suffix=suffix), action="patch",
                          gvk=sgvk, desc=f"partially update {sub} of the specified {res.kind}",
                          params=_WRITE_PARAMS + ["force"], responses={"200": target, "201": target},
                          body=("io.k8s.apimachinery.pkg.apis.meta.v1.Patch", PATCH_TYPES), tag=tag),
        }, ["name"] + ns_params)


_PATCH_DEF = {"description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH "
                             "request body.", "type": "object"}


def _closure(names: list[str]) -> list[str]:
    """Every definition reachable from ``names``, sorted."""
    seen: set[str] = set()
    stack = list(names)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(_refs(schema.definition(n)))
    return sorted(seen)


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


def _v3_schema(s: Any) -> Any:
    """A v2 definition rewritten as Kubernetes' v3 does: ``allOf`` around references with siblings."""
    if isinstance(s, list):
        return [_v3_schema(v) for v in s]
    if not isinstance(s, dict):
        return s
    out = {k: _v3_schema(v) for k, v in s.items() if k != "$ref"}
    if "$ref" in s:
        ref = {"$ref": V3_REF + s["$ref"][len(V2_REF):]}
        if not out:
            return ref
        out["allOf"] = [ref]
        return out
    return out


_EXTRA_ROOTS = [STATUS, DELETE_OPTIONS, WATCH_EVENT, "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList"]


@functools.cache
def v2_document() -> dict[str, Any]:
    """The swagger 2.0 document of every served kind (``/openapi/v2``)."""
    b = _Paths(v3=False)
    for res in RESOURCES:
        _resource_paths(b, res)
    defs = {n: copy.deepcopy(schema.definition(n)) for n in _closure(list(schema.definitions()))}
    defs["io.k8s.apimachinery.pkg.apis.meta.v1.Patch"] = dict(_PATCH_DEF)
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": b.paths,
        "definitions": dict(sorted(defs.items())),
        "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "type": "apiKey",
                                                "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}],
    }


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


@functools.cache
def _v3_documents() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for group, version in group_versions():
        resources = [r for r in RESOURCES if (r.group, r.version) == (group, version)]
        b = _Paths(v3=True)
        roots = list(_EXTRA_ROOTS)
        for res in resources:
            _resource_paths(b, res)
            roots += [schema.root_definition(res), schema.list_definition(res)]
            if "scale" in res.subresources:
                roots.append(SCALE)
        schemas = {n: _v3_schema(copy.deepcopy(schema.definition(n))) for n in _closure(roots)}
        schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Patch"] = dict(_PATCH_DEF)
        docs[_gv_path(group, version)] = {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "unversioned"},
            "paths": b.paths,
            "components": {
                "schemas": dict(sorted(schemas.items())),
                "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication",
                                                    "name": "authorization", "in": "header"}},
            },
        }
    return docs


def v3_document(gv_path: str) -> dict[str, Any] | None:
    """The OpenAPI 3.0 document of one group-version (``"api/v1"``, ``"apis/apps/v1"``), or None."""
    return _v3_documents().get(gv_path.strip("/"))


@functools.cache
def _v3_hashes() -> dict[str, str]:
    return {p: hashlib.sha512(document_bytes(p)).hexdigest().upper() for p in _v3_documents()}


@functools.cache
def document_bytes(gv_path: str) -> bytes:
    """The JSON bytes of a v3 document (what the hash covers; serve these for a stable ETag)."""
    doc = v3_document(gv_path)
    if doc is None:
        raise KeyError(gv_path)
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


@functools.cache
def v2_bytes() -> bytes:
    return json.dumps(v2_document(), separators=(",", ":"), sort_keys=True).encode()


@functools.cache
def v2_protobuf() -> bytes:
    """``/openapi/v2`` as gnostic protobuf: what kubectl and client-go ask for (``Accept:
    application/com.github.proto-openapi.spec.v2@v1.0+protobuf``, see ``V2_PROTOBUF``)."""
    return openapi_proto.document(v2_document())


V2_PROTOBUF = openapi_proto.CONTENT_TYPE
#: What Kubernetes answers with: Go's mime parser rejects the '@' spelling clients send.
V2_PROTOBUF_RESPONSE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def v2_response(accept: str) -> tuple[bytes, str]:
    """``(body, content_type)`` for ``GET /openapi/v2`` given the request's Accept header:
    gnostic protobuf when asked for (kubectl, client-go), JSON otherwise."""
    if "com.github.proto-openapi.spec.v2" in accept:
        return v2_protobuf(), V2_PROTOBUF_RESPONSE
    return v2_bytes(), "application/json"


def v3_hash(gv_path: str) -> str | None:
    return _v3_hashes().get(gv_path.strip("/"))


def v3_index() -> dict[str, Any]:
    """``/openapi/v3``: each group-version's document and its content hash."""
    return {"paths": {p: {"serverRelativeURL": f"/openapi/v3/{p}?hash={h}"} for p, h in _v3_hashes().items()}}
