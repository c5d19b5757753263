"""Structural check of an object against the schema: unknown fields and wrong JSON types.

What Kubernetes' strict decoder reports before validation runs: ``unknown field
"spec.replicass"`` (paths as its strict decoder spells them, ``spec.template.spec.containers[0].imagee``)
and type mismatches (``json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas
of type int32``). JSON ``null`` is accepted anywhere (it means "unset"). Pure; never edits the object.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from skiff.api import schema
from skiff.api.quantity import QuantityError, parse
from skiff.api.resources import Resource
from skiff.api.schema import Node, Shape


@dataclass(frozen=True)
class TypeProblem:
    """A value of the wrong JSON type (or unparseable special string) at ``field``."""

    field: str
    message: str  # Go's decoder message, e.g. "json: cannot unmarshal string into Go struct field ..."

    def __str__(self) -> str:
        return self.message


@dataclass
class SchemaReport:
    unknown: list[str] = field(default_factory=list)  # field paths, as Kubernetes' strict decoding names them
    type_errors: list[TypeProblem] = field(default_factory=list)

    @property
    def unknown_messages(self) -> list[str]:
        """``unknown field "spec.replicass"`` for each unknown field (Kubernetes' strict-decoding text)."""
        return [f'unknown field "{p}"' for p in self.unknown]

    @property
    def ok(self) -> bool:
        return not self.unknown and not self.type_errors


def _json_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _short(ref: str | None) -> str:
    return ref.rsplit(".", 1)[-1] if ref else ""


def _go_type(node: Node) -> str:
    if node.shape is Shape.OBJECT:
        return f"v1.{_short(node.ref)}" if node.ref else "struct"
    if node.shape is Shape.ARRAY:
        return "[]" + _go_type(node.items)
    if node.shape is Shape.MAP:
        return "map[string]" + _go_type(node.items)
    if node.shape is Shape.INTEGER:
        return str(node.schema.get("format", "int32"))
    if node.shape is Shape.NUMBER:
        return "float64"
    if node.shape is Shape.BOOLEAN:
        return "bool"
    if node.shape is Shape.STRING:
        return "[]uint8" if node.schema.get("format") == "byte" else "string"
    if node.shape is Shape.QUANTITY:
        return "resource.Quantity"
    if node.shape is Shape.INT_OR_STRING:
        return "intstr.IntOrString"
    if node.shape is Shape.TIME:
        return "v1.Time"
    return "interface {}"


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class _Checker:
    def __init__(self) -> None:
        self.report = SchemaReport()

    def type_error(self, path: str, struct: str, value: Any, node: Node) -> None:
        got = _json_type(value)
        if got == "number" and node.shape is Shape.INTEGER:
            got = f"number {value!r}"
        where = f"Go struct field {struct}.{path}" if struct else "Go value"
        self.report.type_errors.append(
            TypeProblem(path, f"json: cannot unmarshal {got} into {where} of type {_go_type(node)}"))

    def check(self, node: Node, value: Any, path: str, struct: str) -> None:
        if value is None:
            return
        shape = node.shape
        if shape is Shape.OBJECT:
            if not isinstance(value, dict):
                self.type_error(path, struct, value, node)
                return
            props = node.properties
            inner = _short(node.ref) or struct
            for key, v in value.items():
                sub = f"{path}.{key}" if path else key
                prop = props.get(key)
                if prop is None:
                    if not (path == "" and key in ("apiVersion", "kind")):
                        self.report.unknown.append(sub)
                    continue
                self.check(schema.node_of(prop), v, sub, inner)
        elif shape is Shape.ARRAY:
            if not isinstance(value, list):
                self.type_error(path, struct, value, node)
                return
            items = node.items
            for i, v in enumerate(value):
                self.check(items, v, f"{path}[{i}]", struct)
        elif shape is Shape.MAP:
            if not isinstance(value, dict):
                self.type_error(path, struct, value, node)
                return
            items = node.items
            for k, v in value.items():
                self.check(items, v, f"{path}[{k}]" if items.shape is not Shape.OBJECT else f"{path}.{k}", struct)
        elif shape is Shape.STRING:
            if not isinstance(value, str):
                self.type_error(path, struct, value, node)
            elif node.schema.get("format") == "byte":
                self.check_base64(path, value)
        elif shape is Shape.INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                self.type_error(path, struct, value, node)
        elif shape is Shape.NUMBER:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.type_error(path, struct, value, node)
        elif shape is Shape.BOOLEAN:
            if not isinstance(value, bool):
                self.type_error(path, struct, value, node)
        elif shape is Shape.INT_OR_STRING:
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                self.report.type_errors.append(TypeProblem(
                    path, f"json: cannot unmarshal {_json_type(value)} into Go value of type int32"))
        elif shape is Shape.QUANTITY:
            try:
                if isinstance(value, (dict, list)):
                    raise QuantityError("quantities must match the regular expression "
                                        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
                parse(value)
            except QuantityError as e:
                self.report.type_errors.append(TypeProblem(path, str(e)))
        elif shape is Shape.TIME:
            if not isinstance(value, str):
                self.report.type_errors.append(TypeProblem(
                    path, f"json: cannot unmarshal {_json_type(value)} into Go struct field {struct}.{path} of type string"))
            elif value and not _valid_time(value):
                self.report.type_errors.append(TypeProblem(
                    path, f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": cannot parse "{value}" as "2006"'))
        # Shape.ANY: free-form

    def check_base64(self, path: str, value: str) -> None:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pos = next((i for i, c in enumerate(value) if not (c.isalnum() or c in "+/=")), len(value) - len(value) % 4)
            self.report.type_errors.append(TypeProblem(path, f"illegal base64 data at input byte {pos}"))


def _valid_time(s: str) -> bool:
    if not _RFC3339.match(s):
        return False
    try:
        datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def check_schema(resource: Resource | str, obj: Mapping[str, Any]) -> SchemaReport:
    """Unknown fields and JSON type errors of ``obj`` against the schema of ``resource``."""
    c = _Checker()
    c.check(schema.root(resource), obj, "", "")
    return c.report
