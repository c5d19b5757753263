"""The API's validation entry points: schema check, Kubernetes' defaults, and field validation.

``check_schema(resource, obj)`` reports unknown fields and wrong JSON types (what strict decoding
rejects); ``apply_defaults(resource, obj)`` fills in Kubernetes' defaults in place;
``validate(resource, obj, old=None)`` returns the list of :class:`FieldError` a Kubernetes API
server would report on create (``old is None``) or update, metadata included. The rules of each
kind live in :mod:`skiff.api.validate_kinds` and :mod:`skiff.api.validate_pod`; this module only
dispatches. Nothing here performs I/O.
"""
from __future__ import annotations

from typing import Any

from skiff.api import names
from skiff.api.defaults import apply_defaults
from skiff.api.fielderrors import (OMIT, CauseType, FieldError, aggregate_message, invalid_status)
from skiff.api.resources import Resource
from skiff.api.schemacheck import SchemaReport, TypeProblem, check_schema
from skiff.api.validate_common import validate_object_meta, validate_object_meta_update
from skiff.api.validate_kinds import CREATE, NAME_RULES, UPDATE

__all__ = [
    "CauseType", "FieldError", "OMIT", "SchemaReport", "TypeProblem", "aggregate_message", "apply_defaults",
    "check_schema", "invalid_status", "validate",
]


def validate(resource: Resource, obj: dict[str, Any], *, old: dict[str, Any] | None = None) -> list[FieldError]:
    """Kubernetes' validation of ``obj`` (already defaulted); on update ``old`` is the stored object."""
    name_fn = NAME_RULES.get(resource.kind, names.name_is_dns_subdomain)
    errs = validate_object_meta(obj.get("metadata"), namespaced=resource.namespaced, name_fn=name_fn)
    create = CREATE.get(resource.kind)
    if create is not None:
        errs += create(obj)
    if old is not None:
        errs += validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
        update = UPDATE.get(resource.kind)
        if update is not None:
            errs += update(obj, old)
    return errs
