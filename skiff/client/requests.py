"""Sans-I/O request building: (resource, verb, namespace, name, ...) -> one HTTP request.

Everything here is pure: no sockets, no clocks. ``transport.ApiClient`` sends what these
functions return, and tests check the method, path, query, headers and body directly.
Objects are plain dicts, serialized as JSON (the API server also accepts JSON for
``apply-patch+yaml``, since JSON is YAML).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from skiff.api.resources import Resource

JSON = "application/json"
#: what kubectl sends for ``get``: a server-side Table, else the plain object
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


class PatchType(str, Enum):
    JSON = "json"
    MERGE = "merge"
    STRATEGIC = "strategic"
    APPLY = "apply"

    @property
    def content_type(self) -> str:
        return _PATCH_CONTENT_TYPES[self]


_PATCH_CONTENT_TYPES = {
    PatchType.JSON: "application/json-patch+json",
    PatchType.MERGE: "application/merge-patch+json",
    PatchType.STRATEGIC: "application/strategic-merge-patch+json",
    PatchType.APPLY: "application/apply-patch+yaml",
}


class Verb(str, Enum):
    GET = "get"
    LIST = "list"
    WATCH = "watch"
    CREATE = "create"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"
    DELETE_COLLECTION = "deletecollection"


_METHODS = {
    Verb.GET: "GET", Verb.LIST: "GET", Verb.WATCH: "GET", Verb.CREATE: "POST", Verb.UPDATE: "PUT",
    Verb.PATCH: "PATCH", Verb.DELETE: "DELETE", Verb.DELETE_COLLECTION: "DELETE",
}
_NEEDS_NAME = {Verb.GET, Verb.UPDATE, Verb.PATCH, Verb.DELETE}


@dataclass(frozen=True)
class Request:
    """One HTTP request, ready to send. ``query`` keeps order (repeated keys allowed)."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None

    @property
    def url_path(self) -> str:
        """Path plus the encoded query string."""
        return f"{self.path}?{urlencode(self.query)}" if self.query else self.path


def resource_path(resource: Resource, *, namespace: str | None = None, name: str | None = None,
                  subresource: str | None = None) -> str:
    """The REST path; ``namespace`` is ignored for cluster-scoped kinds and optional for lists."""
    if subresource and not name:
        raise ValueError(f"subresource {subresource!r} of {resource.plural} needs a name")
    base = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
    if resource.namespaced and namespace:
        base += f"/namespaces/{quote(namespace, safe='')}"
    base += f"/{resource.plural}"
    if name:
        base += f"/{quote(name, safe='')}"
    if subresource:
        base += f"/{subresource}"
    return base


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _clean_query(params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None) -> tuple[tuple[str, str], ...]:
    if not params:
        return ()
    items = params.items() if isinstance(params, Mapping) else params
    out: list[tuple[str, str]] = []
    for k, v in items:
        if v is None:
            continue
        if isinstance(v, (list, tuple)):
            out.extend((k, _query_value(x)) for x in v)
        else:
            out.append((k, _query_value(v)))
    return tuple(out)


def encode_body(body: Any) -> bytes | None:
    """dict/list -> JSON bytes; bytes and str pass through (str as UTF-8)."""
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return orjson.dumps(body)


def build(verb: Verb | str, resource: Resource, *, namespace: str | None = None, name: str | None = None,
          subresource: str | None = None, body: Any = None, query: Mapping[str, Any] | None = None,
          patch_type: PatchType | str | None = None, accept: str = JSON,
          headers: Mapping[str, str] | None = None) -> Request:
    """Build the request for one API verb.

    ``query`` values of ``None`` are dropped, booleans become ``true``/``false``, lists
    repeat the key. ``watch`` adds ``watch=true``; ``patch`` needs ``patch_type``.
    """
    verb = Verb(verb)
    if verb in _NEEDS_NAME and not name:
        raise ValueError(f"{verb.value} of {resource.plural} needs a name")
    if resource.namespaced and verb in (Verb.CREATE, Verb.UPDATE, Verb.GET, Verb.PATCH, Verb.DELETE,
                                        Verb.DELETE_COLLECTION) and not namespace:
        raise ValueError(f"{verb.value} of namespaced {resource.plural} needs a namespace")
    q = dict(query or {})
    if verb is Verb.WATCH:
        q = {"watch": True, **q}
    hdrs = {"Accept": accept}
    data = encode_body(body)
    if verb is Verb.PATCH:
        if patch_type is None:
            raise ValueError("patch needs a patch_type (json, merge, strategic or apply)")
        hdrs["Content-Type"] = PatchType(patch_type).content_type
    elif data is not None:
        hdrs["Content-Type"] = JSON
    if headers:
        hdrs.update(headers)
    # list/watch/deletecollection may span all namespaces; create may take the name from the body
    ns = namespace if resource.namespaced else None
    path = resource_path(resource, namespace=ns, name=name if verb not in (Verb.LIST, Verb.WATCH,
                                                                           Verb.DELETE_COLLECTION, Verb.CREATE)
                         else None, subresource=subresource)
    return Request(_METHODS[verb], path, _clean_query(q), hdrs, data)


# Small named helpers, the shapes callers use most.

def get(resource: Resource, name: str, *, namespace: str | None = None, subresource: str | None = None,
        accept: str = JSON) -> Request:
    return build(Verb.GET, resource, namespace=namespace, name=name, subresource=subresource, accept=accept)


def list_(resource: Resource, *, namespace: str | None = None, label_selector: str | None = None,
          field_selector: str | None = None, limit: int | None = None, continue_: str | None = None,
          resource_version: str | None = None, accept: str = JSON) -> Request:
    return build(Verb.LIST, resource, namespace=namespace, accept=accept, query={
        "labelSelector": label_selector or None, "fieldSelector": field_selector or None,
        "limit": limit, "continue": continue_ or None, "resourceVersion": resource_version})


def watch(resource: Resource, *, namespace: str | None = None, label_selector: str | None = None,
          field_selector: str | None = None, resource_version: str | None = None,
          allow_bookmarks: bool = True, timeout_seconds: int | None = None, accept: str = JSON) -> Request:
    return build(Verb.WATCH, resource, namespace=namespace, accept=accept, query={
        "labelSelector": label_selector or None, "fieldSelector": field_selector or None,
        "resourceVersion": resource_version, "allowWatchBookmarks": True if allow_bookmarks else None,
        "timeoutSeconds": timeout_seconds})


def create(resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None,
           dry_run: bool = False, field_manager: str | None = None,
           field_validation: str | None = None) -> Request:
    return build(Verb.CREATE, resource, namespace=namespace, body=body, query={
        "dryRun": "All" if dry_run else None, "fieldManager": field_manager,
        "fieldValidation": field_validation})


def update(resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None,
           subresource: str | None = None, dry_run: bool = False, field_manager: str | None = None,
           field_validation: str | None = None) -> Request:
    name = (body.get("metadata") or {}).get("name")
    if not name:
        raise ValueError("update needs metadata.name in the body")
    return build(Verb.UPDATE, resource, namespace=namespace, name=name, subresource=subresource, body=body,
                 query={"dryRun": "All" if dry_run else None, "fieldManager": field_manager,
                        "fieldValidation": field_validation})


def patch(resource: Resource, name: str, body: Any, *, patch_type: PatchType | str,
          namespace: str | None = None, subresource: str | None = None, dry_run: bool = False,
          field_manager: str | None = None, force: bool | None = None,
          field_validation: str | None = None) -> Request:
    return build(Verb.PATCH, resource, namespace=namespace, name=name, subresource=subresource, body=body,
                 patch_type=patch_type, query={
                     "dryRun": "All" if dry_run else None, "fieldManager": field_manager, "force": force,
                     "fieldValidation": field_validation})


def delete_options(*, propagation_policy: str | None = None, grace_period_seconds: int | None = None,
                   preconditions: Mapping[str, str] | None = None, dry_run: bool = False) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` DeleteOptions body (what kubectl sends)."""
    opts: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if propagation_policy:
        opts["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        opts["gracePeriodSeconds"] = grace_period_seconds
    if preconditions:
        opts["preconditions"] = dict(preconditions)
    if dry_run:
        opts["dryRun"] = ["All"]
    return opts


def delete(resource: Resource, name: str, *, namespace: str | None = None,
           propagation_policy: str | None = None, grace_period_seconds: int | None = None,
           preconditions: Mapping[str, str] | None = None, dry_run: bool = False) -> Request:
    return build(Verb.DELETE, resource, namespace=namespace, name=name, body=delete_options(
        propagation_policy=propagation_policy, grace_period_seconds=grace_period_seconds,
        preconditions=preconditions, dry_run=dry_run))


def delete_collection(resource: Resource, *, namespace: str | None = None, label_selector: str | None = None,
                      field_selector: str | None = None, propagation_policy: str | None = None,
                      grace_period_seconds: int | None = None, dry_run: bool = False) -> Request:
    return build(Verb.DELETE_COLLECTION, resource, namespace=namespace,
                 query={"labelSelector": label_selector or None, "fieldSelector": field_selector or None},
                 body=delete_options(propagation_policy=propagation_policy,
                                     grace_period_seconds=grace_period_seconds, dry_run=dry_run))


def raw(method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None,
        accept: str = JSON, content_type: str | None = None) -> Request:
    """Any other path (``/version``, ``/apis``, ``/openapi/v2``)."""
    hdrs = {"Accept": accept}
    data = encode_body(body)
    if data is not None:
        hdrs["Content-Type"] = content_type or JSON
    return Request(method.upper(), path, _clean_query(query), hdrs, data)
