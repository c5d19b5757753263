"""Field sets as structured-merge-diff (sigs.k8s.io/structured-merge-diff) builds them.

A path is a tuple of elements: ``("f", name)`` a field or map key, ``("k", '{"name":"x"}')``
a list item by its keys, ``("v", '"a"')`` a member of a set, ``("i", 0)`` an index. A field
set maps each member path to the value there (or :data:`NODE` for an owned parent such as a
list item). This module also does SMD's merge of an applied configuration into a live object,
the comparison behind ``Update`` bookkeeping, pruning, and the ``fieldsV1`` wire encoding.

List and map semantics come from the schema: ``x-kubernetes-list-type`` (else, as Kubernetes'
schema conversion does, ``patchStrategy: merge`` with a key = map list, without = set, other
lists atomic), ``x-kubernetes-map-type: atomic``. Pure functions; inputs are never changed.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from skiff.api import schema as api_schema

Element = tuple[str, Any]
Path = tuple[Element, ...]

NODE = object()  # value marker for members that are parents (list items, granular maps)

#: Defaults Kubernetes fills for list-map key fields that an object may omit.
_KEY_DEFAULTS = {"protocol": "TCP"}


@dataclass(frozen=True)
class Type:
    """What SMD needs of a schema node: its relationship and how to reach its children."""

    kind: str  # struct | map | deduced | scalar | atomic | list_map | list_set | list_atomic
    node: api_schema.Node | None = None
    keys: tuple[str, ...] = ()

    def child(self, name: str) -> Type | None:
        """The type of field/key ``name`` (None: a field the struct does not declare)."""
        if self.kind == "deduced" or self.node is None:
            return DEDUCED
        if self.kind == "map":
            return type_of(self.node.items)
        sub = self.node.field(name)
        return type_of(sub) if sub is not None else None

    def elem(self) -> Type:
        return type_of(self.node.items) if self.node is not None else DEDUCED


DEDUCED = Type("deduced")


def type_of(node: api_schema.Node) -> Type:
    shape = node.shape
    if shape is api_schema.Shape.OBJECT:
        if node.schema.get("x-kubernetes-map-type") == "atomic":
            return Type("atomic", node)
        return Type("struct", node)
    if shape is api_schema.Shape.MAP:
        if node.schema.get("x-kubernetes-map-type") == "atomic":
            return Type("atomic", node)
        return Type("map", node)
    if shape is api_schema.Shape.ARRAY:
        list_type = node.list_type
        if list_type is None:
            strategies = (node.patch_strategy or "").split(",")
            if "merge" in strategies:
                list_type = "map" if node.patch_merge_key else "set"
            else:
                list_type = "atomic"
        if list_type == "map":
            keys = node.list_map_keys or ((node.patch_merge_key,) if node.patch_merge_key else ())
            return Type("list_map", node, tuple(keys)) if keys else Type("list_atomic", node)
        return Type("list_set" if list_type == "set" else "list_atomic", node)
    if shape is api_schema.Shape.ANY:
        return DEDUCED
    return Type("scalar", node)


def root_type(kind_definition: str | None) -> Type:
    if not kind_definition:
        return DEDUCED
    try:
        return type_of(api_schema.root(kind_definition))
    except KeyError:
        return DEDUCED


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def item_element(item: Any, t: Type) -> Element:
    """The path element naming a list item."""
    if t.kind == "list_map" and isinstance(item, dict):
        key = {k: item.get(k, _KEY_DEFAULTS.get(k)) for k in t.keys if k in item or k in _KEY_DEFAULTS}
        return ("k", _json(dict(sorted(key.items()))))
    return ("v", _json(item))


# -- building field sets -------------------------------------------------------------------------

def field_set(value: Any, t: Type, *, maps_as_members: bool = False) -> dict[Path, Any]:
    """SMD's ``ToFieldSet``: every owned path of ``value`` with the value found there.

    ``maps_as_members`` also records granular maps themselves (what an ``Update`` that adds a map
    owns, Kubernetes' ``"."`` under ``f:labels``).
    """
    out: dict[Path, Any] = {}
    _walk(value, t, (), out, maps_as_members)
    return out


def _walk(value: Any, t: Type, path: Path, out: dict[Path, Any], maps: bool) -> None:
    kind = t.kind
    if kind in ("scalar", "atomic", "list_atomic"):
        if path:
            out[path] = value
        return
    if kind == "deduced":
        if isinstance(value, dict):
            kind = "map"
        else:
            if path:
                out[path] = value
            return
    if kind in ("struct", "map"):
        if not isinstance(value, dict):
            if path:
                out[path] = value
            return
        if maps and kind == "map" and path:
            out[path] = NODE
        for key, child_value in value.items():
            child_t = t.child(key) if t.kind != "deduced" else DEDUCED
            declared = kind == "struct" and child_t is not None
            sub = path + (("f", key),)
            _walk(child_value, child_t or DEDUCED, sub, out, maps)
            if child_value is None or (isinstance(child_value, dict) and not child_value):
                out[sub] = child_value
            elif not declared and sub not in out:
                out[sub] = NODE
        return
    # list_map / list_set
    if not isinstance(value, list):
        if path:
            out[path] = value
        return
    elem_t = t.elem()
    for item in value:
        sub = path + (item_element(item, t),)
        if t.kind == "list_set" or not isinstance(item, dict):
            out[sub] = item
            continue
        _walk(item, elem_t, sub, out, maps)
        out[sub] = NODE


def compare(old: Any, new: Any, t: Type, *, maps_as_members: bool = True) -> tuple[set[Path], set[Path], set[Path]]:
    """(added, modified, removed) member paths between two objects of type ``t``."""
    before = field_set(old, t, maps_as_members=maps_as_members) if old is not None else {}
    after = field_set(new, t, maps_as_members=maps_as_members)
    added = set(after) - set(before)
    removed = set(before) - set(after)
    modified = {p for p in set(before) & set(after)
                if before[p] is not NODE and after[p] is not NODE and not _same(before[p], after[p])}
    return added, modified, removed


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


# -- merge (apply) --------------------------------------------------------------------------------

def merge(live: Any, config: Any, t: Type) -> Any:
    """SMD's merge of an applied configuration over the live object (new value, inputs untouched)."""
    kind = t.kind
    if kind == "deduced":
        kind = "map" if isinstance(live, dict) and isinstance(config, dict) else "scalar"
    if kind in ("struct", "map"):
        if not isinstance(config, dict) or not isinstance(live, dict):
            return copy.deepcopy(config)
        out = copy.deepcopy(live)
        for key, value in config.items():
            child = (t.child(key) if t.kind != "deduced" else DEDUCED) or DEDUCED
            if value is None:
                out.pop(key, None)
            else:
                out[key] = merge(live.get(key), value, child)
        return out
    if kind in ("list_map", "list_set"):
        if not isinstance(config, list) or not isinstance(live, list):
            return copy.deepcopy(config)
        return _merge_lists(live, config, t)
    return copy.deepcopy(config)


def _merge_lists(lhs: list[Any], rhs: list[Any], t: Type) -> list[Any]:
    """SMD's ``visitListItems`` order: live order, with shared items placed as the config orders them."""
    elem_t = t.elem()
    lpes = [item_element(i, t) for i in lhs]
    rpes = [item_element(i, t) for i in rhs]
    lmap = {pe: item for pe, item in zip(lpes, lhs)}
    rmap = {pe: item for pe, item in zip(rpes, rhs)}
    shared = [pe for pe in rpes if pe in lmap]
    next_shared = shared.pop(0) if shared else None
    merged_rhs: set[Element] = set()
    out: list[Any] = []

    def item(pe: Element) -> Any:
        left, right = lmap.get(pe), rmap.get(pe)
        if right is None:
            return copy.deepcopy(left)
        if left is None or t.kind == "list_set":
            return copy.deepcopy(right)
        return merge(left, right, elem_t)

    li = ri = 0
    while li < len(lpes) or ri < len(rpes):
        if li < len(lpes) and ri < len(rpes):
            pe = lpes[li]
            if pe == rpes[ri]:
                merged_rhs.add(pe)
                out.append(item(pe))
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if pe in rmap and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(lpes):
            pe = lpes[li]
            if pe not in rmap:
                out.append(copy.deepcopy(lhs[li]))
                li += 1
                continue
            if pe in merged_rhs:
                li += 1
                continue
        if ri < len(rpes):
            pe = rpes[ri]
            merged_rhs.add(pe)
            out.append(item(pe))
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop(0) if shared else None
    return out


# -- removing paths (prune) -----------------------------------------------------------------------

def remove_paths(obj: Any, paths: Iterable[Path], t: Type) -> Any:
    """A copy of ``obj`` without the given member paths (a removed parent takes its children)."""
    out = copy.deepcopy(obj)
    chosen = set(paths)
    # Only the topmost paths: removing a list item's key field first would make the item unfindable.
    for path in sorted(chosen, key=len):
        if any(path[:i] in chosen for i in range(1, len(path))):
            continue
        _remove(out, path, t)
    return out


def _remove(value: Any, path: Path, t: Type) -> None:
    parent, parent_t = value, t
    for el in path[:-1]:
        found = _step(parent, el, parent_t)
        if found is None:
            return
        parent, parent_t = found
    last = path[-1]
    if last[0] == "f" and isinstance(parent, dict):
        parent.pop(last[1], None)
    elif last[0] in ("k", "v") and isinstance(parent, list):
        parent[:] = [i for i in parent if item_element(i, parent_t) != last]


def _step(value: Any, el: Element, t: Type) -> tuple[Any, Type] | None:
    if el[0] == "f" and isinstance(value, dict) and el[1] in value:
        child = (t.child(el[1]) if t.kind not in ("deduced",) else DEDUCED) or DEDUCED
        return value[el[1]], child
    if el[0] in ("k", "v") and isinstance(value, list):
        for item in value:
            if item_element(item, t) == el:
                return item, t.elem()
    return None


# -- wire encoding --------------------------------------------------------------------------------

def _element_key(el: Element) -> str:
    kind, val = el
    return f"{kind}:{val}"


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """The ``fieldsV1`` object of a set of paths (``{"f:spec": {"f:replicas": {}}}``)."""
    root: dict[str, Any] = {}
    members = set(paths)
    for path in sorted(members, key=lambda p: [_element_key(e) for e in p]):
        node = root
        for el in path:
            node = node.setdefault(_element_key(el), {})
    for path in members:
        node = root
        for el in path:
            node = node[_element_key(el)]
        if node:
            node["."] = {}
    return _sorted_tree(root)


def _sorted_tree(node: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted_tree(node[k]) for k in sorted(node)}


def from_fields_v1(fields: Any) -> set[Path]:
    """The set of paths a ``fieldsV1`` object names; malformed input yields what could be read."""
    out: set[Path] = set()
    if isinstance(fields, dict):
        _read(fields, (), out)
    return out


def _read(node: dict[str, Any], path: Path, out: set[Path]) -> None:
    if not node and path:
        out.add(path)
        return
    for key, child in node.items():
        if key == ".":
            if path:
                out.add(path)
            continue
        kind, _, raw = key.partition(":")
        el: Element
        if kind == "i":
            try:
                el = ("i", int(raw))
            except ValueError:
                continue
        elif kind in ("f", "k", "v"):
            el = (kind, raw)
        else:
            continue
        if isinstance(child, dict):
            _read(child, path + (el,), out)


def path_string(path: Path) -> str:
    """SMD's ``Path.String()``: ``.spec.template.spec.containers[name="app"].image``."""
    parts: list[str] = []
    for kind, val in path:
        if kind == "f":
            parts.append("." + str(val))
        elif kind == "k":
            try:
                fields = json.loads(val)
                parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in fields.items()) + "]")
            except (ValueError, AttributeError):
                parts.append(f"[{val}]")
        elif kind == "v":
            parts.append(f"[={val}]")
        else:
            parts.append(f"[{val}]")
    return "".join(parts)


def prefixes(paths: Iterable[Path]) -> Iterator[Path]:
    for p in paths:
        for i in range(1, len(p) + 1):
            yield p[:i]
