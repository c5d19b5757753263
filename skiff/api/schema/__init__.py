"""The structural schema of every served kind, as Kubernetes names and shapes it.

The data (``definitions.json``) is generated at dev time from the ``kubernetes`` Python client
by ``deploy/codegen/gen_schema.py``; this module only loads and navigates it, so the runtime
never imports the client. Definitions use swagger-2.0 shapes with ``$ref`` to
``#/definitions/<name>`` and Kubernetes' names (``io.k8s.api.apps.v1.DeploymentSpec``).

Navigation: :func:`walk` follows a field path (``["spec", "template", "spec", "containers", 0,
"image"]``) from a root definition and says what is there: an object (with a definition
name), an array, a map, or a scalar (``string``, ``integer``, ``boolean``, ``number``,
``int-or-string``, ``quantity``, ``time``, ``any``). It must not validate objects; see
:mod:`skiff.api.validation` for that.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping

from skiff.api.resources import Resource

_DATA = Path(__file__).with_name("definitions.json")
REF_PREFIX = "#/definitions/"

QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
MICRO_TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"
RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"
FIELDS_V1 = "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

_GROUP_PACKAGE = {
    "": "io.k8s.api.core.v1", "apps": "io.k8s.api.apps.v1", "batch": "io.k8s.api.batch.v1",
    "autoscaling": "io.k8s.api.autoscaling.v1", "policy": "io.k8s.api.policy.v1",
    "coordination.k8s.io": "io.k8s.api.coordination.v1", "discovery.k8s.io": "io.k8s.api.discovery.v1",
    "networking.k8s.io": "io.k8s.api.networking.v1", "rbac.authorization.k8s.io": "io.k8s.api.rbac.v1",
    "storage.k8s.io": "io.k8s.api.storage.v1", "scheduling.k8s.io": "io.k8s.api.scheduling.v1",
}


class Shape(str, Enum):
    """What a field holds, as far as a patch or a type check cares."""

    OBJECT = "object"  # a struct with known properties
    ARRAY = "array"
    MAP = "map"  # string keys, values of one schema (additionalProperties)
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    INT_OR_STRING = "int-or-string"
    QUANTITY = "quantity"  # a string or a number on the wire
    TIME = "time"
    ANY = "any"  # RawExtension, FieldsV1, free-form objects


@functools.cache
def _definitions() -> dict[str, dict[str, Any]]:
    with _DATA.open("rb") as f:
        data: dict[str, dict[str, Any]] = json.load(f)["definitions"]
    return data


def definitions() -> Mapping[str, dict[str, Any]]:
    """Every definition by name (read-only by convention: callers must copy before editing)."""
    return _definitions()


def definition(name: str) -> dict[str, Any]:
    """The definition called ``name``; KeyError naming it when there is none."""
    try:
        return _definitions()[name]
    except KeyError:
        raise KeyError(f"no schema definition {name!r}") from None


def package_of(group: str) -> str:
    return _GROUP_PACKAGE[group]


def root_definition(resource: Resource) -> str:
    """The definition name of a served kind (``io.k8s.api.apps.v1.Deployment``)."""
    return f"{package_of(resource.group)}.{resource.kind}"


def list_definition(resource: Resource) -> str:
    return f"{package_of(resource.group)}.{resource.list_kind}"


def ref_name(schema: Mapping[str, Any]) -> str | None:
    ref = schema.get("$ref")
    if ref is None:
        all_of = schema.get("allOf")
        if all_of and len(all_of) == 1:
            ref = all_of[0].get("$ref")
    return ref[len(REF_PREFIX):] if isinstance(ref, str) and ref.startswith(REF_PREFIX) else None


@dataclass(frozen=True)
class Node:
    """What :func:`walk` found: the field's own schema (property extensions kept) and its shape."""

    shape: Shape
    schema: Mapping[str, Any]  # resolved: the referenced definition with the property's own keys over it
    ref: str | None = None  # definition name when the field is a reference

    @property
    def items(self) -> Node:
        """The element of an array, or the value of a map."""
        if self.shape is Shape.ARRAY:
            return node_of(self.schema.get("items", {}))
        if self.shape is Shape.MAP:
            return node_of(self.schema.get("additionalProperties", {}))
        raise TypeError(f"a {self.shape.value} has no items")

    @property
    def properties(self) -> Mapping[str, Any]:
        return self.schema.get("properties", {}) if self.shape is Shape.OBJECT else {}

    def field(self, name: str) -> Node | None:
        prop = self.properties.get(name)
        return node_of(prop) if prop is not None else None

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(self.schema.get("required", ()))

    @property
    def patch_strategy(self) -> str | None:
        return self.schema.get("x-kubernetes-patch-strategy")

    @property
    def patch_merge_key(self) -> str | None:
        return self.schema.get("x-kubernetes-patch-merge-key")

    @property
    def list_type(self) -> str | None:
        return self.schema.get("x-kubernetes-list-type")

    @property
    def list_map_keys(self) -> tuple[str, ...]:
        return tuple(self.schema.get("x-kubernetes-list-map-keys", ()))


_SPECIAL_SHAPES = {
    QUANTITY: Shape.QUANTITY, INT_OR_STRING: Shape.INT_OR_STRING, TIME: Shape.TIME,
    MICRO_TIME: Shape.TIME, RAW_EXTENSION: Shape.ANY, FIELDS_V1: Shape.ANY,
}


def node_of(schema: Mapping[str, Any]) -> Node:
    """Classify a property schema, following its ``$ref``."""
    name = ref_name(schema)
    if name is not None:
        own = {k: v for k, v in schema.items() if k not in ("$ref", "allOf")}
        if name in _SPECIAL_SHAPES:
            return Node(_SPECIAL_SHAPES[name], {**definition(name), **own}, name)
        return Node(Shape.OBJECT, {**definition(name), **own}, name)
    typ = schema.get("type")
    if typ == "array":
        return Node(Shape.ARRAY, schema)
    if typ == "object":
        if "properties" in schema:
            return Node(Shape.OBJECT, schema)
        if "additionalProperties" in schema:
            return Node(Shape.MAP, schema)
        return Node(Shape.ANY, schema)
    if typ in ("string", "integer", "number", "boolean"):
        return Node(Shape(typ), schema)
    return Node(Shape.ANY, schema)


def root(name_or_resource: str | Resource) -> Node:
    name = name_or_resource if isinstance(name_or_resource, str) else root_definition(name_or_resource)
    return node_of({"$ref": REF_PREFIX + name})


def walk(start: str | Resource | Node, path: Iterable[str | int]) -> Node | None:
    """The node at ``path`` below ``start``, or None when the path leaves the schema.

    A path step is a field name for objects, any key for maps, and an index (an int, a digit
    string or ``"[]"``) for arrays; a field name met at an array applies to its elements
    (``containers.image``). ``Shape.ANY`` swallows the rest of the path.
    """
    node = start if isinstance(start, Node) else root(start)
    for step in path:
        if node.shape is Shape.ARRAY and isinstance(step, str) and step != "[]" and not step.isdigit():
            node = node.items
        if node.shape is Shape.OBJECT:
            if not isinstance(step, str):
                return None
            nxt = node.field(step)
            if nxt is None:
                return None
            node = nxt
        elif node.shape in (Shape.ARRAY, Shape.MAP):
            node = node.items
        elif node.shape is Shape.ANY:
            return node
        else:
            return None
    return node


def field_definition(start: str | Resource, path: str | Iterable[str | int]) -> Node | None:
    """:func:`walk` with a dotted path (``"spec.template.spec.containers.image"``)."""
    steps = path.split(".") if isinstance(path, str) else path
    return walk(start, [s for s in steps if s != ""])
