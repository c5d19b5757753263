"""Parse a Kubernetes REST path into (resource, namespace, name, subresource). Pure."""
from __future__ import annotations

from dataclasses import dataclass

from skiff.api.resources import Resource, by_plural

from . import status


@dataclass(frozen=True)
class Target:
    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None


def parse(path: str) -> Target | None:
    """``None`` when the path is not a resource path at all (discovery and friends)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    plural, name, sub = rest[0], rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None
    if len(rest) > 3:
        raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
    res = by_plural(group, version, plural)
    if res is None:
        raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
    if namespace is not None and not res.namespaced:
        raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
    if sub is not None and sub not in res.subresources:
        raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
    return Target(res, namespace, name, sub)
