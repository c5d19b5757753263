"""Builds the ``meta.k8s.io/v1`` Table a client gets with ``Accept: ...;as=Table;g=meta.k8s.io;v=v1``.

Rows carry the cells of :mod:`.columns` and, per ``includeObject``, the object's
PartialObjectMetadata (the default), the whole object, or nothing.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from skiff.api.resources import Resource

from .columns import printer_for

Obj = dict[str, Any]

INCLUDE_OBJECT = ("None", "Metadata", "Object")


class IncludeObjectError(ValueError):
    """``includeObject`` named none of None, Metadata, Object."""


def _row_object(resource: Resource, obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}


def table(resource: Resource, objects: list[Obj], *, now: dt.datetime, include_object: str = "Metadata") -> Obj:
    """The Table of ``objects`` (all of kind ``resource``) with ages measured at ``now``."""
    include = include_object or "Metadata"
    if include not in INCLUDE_OBJECT:
        raise IncludeObjectError(f'includeObject: Unsupported value: "{include_object}": supported values: '
                                 '"None", "Metadata", "Object"')
    printer = printer_for(resource.group, resource.kind)
    rows = []
    for obj in objects:
        row: Obj = {"cells": printer.row(obj, now), "object": _row_object(resource, obj, include)}
        if resource.kind == "Pod":
            from .pods import pod_row_conditions
            conditions = pod_row_conditions(obj)
            if conditions:
                row["conditions"] = conditions
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "columnDefinitions": printer.columns(), "rows": rows}
