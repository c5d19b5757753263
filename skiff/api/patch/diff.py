"""Computing strategic merge patches: the two-way diff and kubectl's three-way apply patch.

Mirrors strategicpatch's ``diffMaps``/``diffLists``: lists with ``patchStrategy: merge`` diff
element by element (``{"$patch": "delete", <key>: v}`` for removed maps,
``$deleteFromPrimitiveList/<f>`` for removed scalars, ``$setElementOrder/<f>`` when contents or
order change), ``retainKeys`` fields carry ``$retainKeys``, other lists and scalars replace.
:func:`create_three_way_merge_patch` is what ``kubectl apply`` sends: changes from *current*
to *modified* (never deleting what only the server set) plus deletions of what the user
removed since *original* (the last-applied annotation). Pure: inputs are never changed.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

from .errors import PatchError
from .strategic import (DELETE, DELETE_FROM_PRIMITIVE_LIST, DIRECTIVE, RETAIN_KEYS_DIRECTIVE, SET_ELEMENT_ORDER,
                        MergeOptions, _element_kind, _hashable, _normalize_slice, merge_map)
from .strategies import MERGE, REPLACE, PatchSchema, resolve

Obj = dict[str, Any]


@dataclass(frozen=True)
class DiffOptions:
    set_element_order: bool = True
    ignore_changes_and_additions: bool = False
    ignore_deletions: bool = False
    build_retain_keys: bool = False


def create_two_way_merge_patch(original: Obj, modified: Obj, *, kind_definition: str | PatchSchema | None) -> Obj:
    """The strategic merge patch turning ``original`` into ``modified``."""
    return diff_maps(original, modified, resolve(kind_definition), DiffOptions())


def create_three_way_merge_patch(original: Obj | None, modified: Obj, current: Obj, *,
                                 kind_definition: str | PatchSchema | None, overwrite: bool = True) -> Obj:
    """The patch ``kubectl apply`` sends: ``modified`` over ``current``, deleting what left ``original``.

    With ``overwrite=False`` a field the server changed (``original`` → ``current``) that the patch
    changes differently is a :class:`PatchError`.
    """
    schema = resolve(kind_definition)
    original = original or {}
    delta = diff_maps(current, modified, schema, DiffOptions(ignore_deletions=True))
    deletions = diff_maps(original, modified, schema, DiffOptions(ignore_changes_and_additions=True))
    patch = merge_map(copy.deepcopy(deletions), copy.deepcopy(delta), schema, MergeOptions())
    if not overwrite:
        changed = diff_maps(original, current, schema, DiffOptions())
        clash = _first_conflict(patch, changed)
        if clash:
            raise PatchError(f"conflict: the server changed {clash} since it was last applied", field=clash)
    return patch


def _first_conflict(patch: Any, changed: Any, path: str = "") -> str | None:
    if isinstance(patch, dict) and isinstance(changed, dict):
        for key, value in patch.items():
            if key in changed:
                sub = _first_conflict(value, changed[key], f"{path}.{key}" if path else key)
                if sub:
                    return sub
        return None
    return None if patch == changed else (path or ".")


def diff_maps(original: Obj, modified: Obj, schema: PatchSchema, options: DiffOptions) -> Obj:
    patch: Obj = {}
    retain: list[str] = []
    for key, new in modified.items():
        if options.build_retain_keys and new is not None:
            retain.append(key)
        if key not in original:
            if not options.ignore_changes_and_additions:
                patch[key] = copy.deepcopy(new)
            continue
        old = original[key]
        if key == DIRECTIVE and isinstance(old, str) and isinstance(new, str):
            if old != new:
                patch[key] = new
            continue
        if type(old) is not type(new) and not (_number(old) and _number(new)):
            if not options.ignore_changes_and_additions:
                patch[key] = copy.deepcopy(new)
            continue
        if isinstance(old, dict):
            _map_diff(key, old, new, patch, schema, options)
        elif isinstance(old, list):
            _slice_diff(key, old, new, patch, schema, options)
        elif not options.ignore_changes_and_additions and old != new:
            patch[key] = copy.deepcopy(new)
    if not options.ignore_deletions:
        for key in original:
            if key not in modified:
                patch[key] = None
    if retain and (patch or any(v is not None and k not in modified for k, v in original.items())):
        patch[RETAIN_KEYS_DIRECTIVE] = sorted(retain)
    return patch


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _map_diff(key: str, old: Obj, new: Obj, patch: Obj, schema: PatchSchema, options: DiffOptions) -> None:
    meta, sub = schema.field(key)
    if meta.strategy == REPLACE:
        if not options.ignore_changes_and_additions:
            patch[key] = copy.deepcopy(new)
        return
    value = diff_maps(old, new, sub, replace(options, build_retain_keys=meta.retain_keys))
    if value:
        patch[key] = value


def _slice_diff(key: str, old: list[Any], new: list[Any], patch: Obj, schema: PatchSchema,
                options: DiffOptions) -> None:
    meta, sub = schema.field(key)
    if meta.strategy != MERGE:
        if not options.ignore_changes_and_additions and old != new:
            patch[key] = copy.deepcopy(new)
        return
    adds, deletes, order = _diff_lists(old, new, sub, meta.merge_key or "",
                                       replace(options, build_retain_keys=meta.retain_keys), field=key)
    if adds:
        patch[key] = adds
    if deletes:
        patch[DELETE_FROM_PRIMITIVE_LIST + key] = deletes
    if order:
        patch[SET_ELEMENT_ORDER + key] = order


def _diff_lists(old: list[Any], new: list[Any], schema: PatchSchema, merge_key: str, options: DiffOptions,
                *, field: str) -> tuple[list[Any], list[Any], list[Any]]:
    if not old:
        if not new or options.ignore_changes_and_additions:
            return [], [], []
        return copy.deepcopy(new), [], []
    kind = _element_kind(old, new, field=field)
    if kind == "map":
        if not merge_key:
            raise PatchError(f"cannot diff list {field} of maps without a merge key", field=field)
        adds, map_deletes = _diff_lists_of_maps(old, new, schema, merge_key, options)
        adds = _normalize_slice(adds, new, merge_key, True)
        same_order = [_hashable(o.get(merge_key)) for o in old] == [_hashable(n.get(merge_key)) for n in new]
        adds = adds + map_deletes
        order: list[Any] = []
        if options.set_element_order and (
                (not options.ignore_changes_and_additions and (adds or not same_order))
                or (not options.ignore_deletions and adds)):
            order = [{merge_key: n.get(merge_key)} for n in new]
        return adds, [], order
    old_keys = {_hashable(v) for v in old}
    new_keys = {_hashable(v) for v in new}
    adds = [] if options.ignore_changes_and_additions else [copy.deepcopy(v) for v in new if _hashable(v) not in old_keys]
    deletes: list[Any] = []
    if not options.ignore_deletions:
        seen: set[Any] = set()
        for v in sorted(old, key=lambda x: str(x)):
            h = _hashable(v)
            if h not in new_keys and h not in seen:
                seen.add(h)
                deletes.append(v)
    order = []
    if options.set_element_order and ((not options.ignore_deletions and deletes)
                                      or (not options.ignore_changes_and_additions and old != new)):
        order = copy.deepcopy(new)
    return _dedupe_keep(adds), deletes, order


def _dedupe_keep(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for v in values:
        if _hashable(v) not in seen:
            seen.add(_hashable(v))
            out.append(v)
    return out


def _diff_lists_of_maps(old: list[Any], new: list[Any], schema: PatchSchema, merge_key: str,
                        options: DiffOptions) -> tuple[list[Any], list[Any]]:
    old_by = {_hashable(o.get(merge_key)): o for o in old}
    new_keys = {_hashable(n.get(merge_key)) for n in new}
    adds: list[Any] = []
    for item in new:
        if merge_key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {merge_key}", field=merge_key)
        if DIRECTIVE in item:
            continue  # a directive the user wrote is not content to diff (Kubernetes drops it too)
        before = old_by.get(_hashable(item[merge_key]))
        if before is None:
            if not options.ignore_changes_and_additions:
                adds.append(copy.deepcopy(item))
            continue
        value = diff_maps(before, item, schema, options)
        if value:
            value[merge_key] = item[merge_key]
            adds.append(value)
    deletes: list[Any] = []
    if not options.ignore_deletions:
        for o in sorted(old, key=lambda x: str(x.get(merge_key))):
            if _hashable(o.get(merge_key)) not in new_keys:
                deletes.append({DIRECTIVE: DELETE, merge_key: o.get(merge_key)})
    return adds, deletes
