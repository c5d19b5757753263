"""Where strategic merge patch looks up how a field merges: strategy and merge key.

The table is keyed by schema definition and field, e.g. ``("io.k8s.api.core.v1.PodSpec",
"containers") -> PatchMeta(("merge",), "name")``. It is read from the ``x-kubernetes-patch-strategy``
and ``x-kubernetes-patch-merge-key`` extensions of :mod:`skiff.api.schema` (the same data as
the ``patchStrategy``/``patchMergeKey`` Go struct tags Kubernetes uses). Patch code only sees
the small :class:`PatchSchema` protocol, so tests can hand it a fake schema.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

from skiff.api import schema as api_schema

MERGE = "merge"
REPLACE = "replace"
RETAIN_KEYS = "retainKeys"


@dataclass(frozen=True)
class PatchMeta:
    """How one field merges: ``strategies`` as listed in the schema, ``merge_key`` for lists of maps."""

    strategies: tuple[str, ...] = ()
    merge_key: str | None = None

    @property
    def strategy(self) -> str:
        """The strategy other than ``retainKeys`` (``merge``, ``replace`` or ``""``)."""
        rest = [s for s in self.strategies if s != RETAIN_KEYS]
        return rest[0] if rest else ""

    @property
    def retain_keys(self) -> bool:
        return RETAIN_KEYS in self.strategies


class PatchSchema(Protocol):
    """What the patch algorithms need to know about a type: its fields' metadata and types."""

    @property
    def name(self) -> str: ...

    def field(self, key: str) -> tuple[PatchMeta, "PatchSchema"]:
        """Metadata of field ``key`` and the schema of its value (of its elements for a list)."""
        ...


class OpaqueSchema:
    """No knowledge: maps merge, lists replace (what Kubernetes does for unknown fields)."""

    name = "unknown"

    def field(self, key: str) -> tuple[PatchMeta, PatchSchema]:
        return PatchMeta(), self


OPAQUE = OpaqueSchema()


class DefinitionSchema:
    """A :class:`PatchSchema` over a node of :mod:`skiff.api.schema`."""

    def __init__(self, node: api_schema.Node) -> None:
        self._node = node

    @property
    def name(self) -> str:
        return self._node.ref or self._node.shape.value

    def field(self, key: str) -> tuple[PatchMeta, PatchSchema]:
        node = self._node
        if node.shape is api_schema.Shape.MAP:
            return PatchMeta(), _schema_of(node.items)
        if node.shape is not api_schema.Shape.OBJECT:
            return PatchMeta(), OPAQUE
        child = node.field(key)
        if child is None:
            return PatchMeta(), OPAQUE
        meta = _meta_of(child)
        if child.shape is api_schema.Shape.ARRAY:
            return meta, _schema_of(child.items)
        return meta, _schema_of(child)


def _meta_of(node: api_schema.Node) -> PatchMeta:
    raw = node.patch_strategy or ""
    strategies = tuple(s for s in raw.split(",") if s)
    return PatchMeta(strategies, node.patch_merge_key or None)


def _schema_of(node: api_schema.Node) -> PatchSchema:
    if node.shape in (api_schema.Shape.OBJECT, api_schema.Shape.MAP):
        return DefinitionSchema(node)
    return OPAQUE


@functools.cache
def schema_for(definition: str) -> PatchSchema:
    """The patch schema of a named definition (``io.k8s.api.apps.v1.Deployment``)."""
    return DefinitionSchema(api_schema.root(definition))


def resolve(kind_definition: str | PatchSchema | None) -> PatchSchema:
    if kind_definition is None:
        return OPAQUE
    if isinstance(kind_definition, str):
        try:
            return schema_for(kind_definition)
        except KeyError:
            return OPAQUE
    return kind_definition


@functools.cache
def patch_table() -> dict[tuple[str, str], PatchMeta]:
    """Every (definition, field) with a patch strategy or merge key, as Kubernetes declares them."""
    table: dict[tuple[str, str], PatchMeta] = {}
    for name, definition in api_schema.definitions().items():
        for fname, prop in (definition.get("properties") or {}).items():
            strategy = prop.get("x-kubernetes-patch-strategy")
            key = prop.get("x-kubernetes-patch-merge-key")
            if strategy or key:
                table[(name, fname)] = PatchMeta(tuple(s for s in (strategy or "").split(",") if s), key)
    return table
