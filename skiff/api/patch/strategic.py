"""Strategic merge patch, as k8s.io/apimachinery/pkg/util/strategicpatch applies it.

Maps merge key by key (``null`` deletes); lists replace unless the schema says
``patchStrategy: merge``: then lists of maps merge element by element on the merge key and
lists of scalars merge as sets. Directives: ``$patch: replace|delete`` in a map, ``{"$patch":
"replace"}`` / ``{"$patch": "delete", <key>: v}`` in a list, ``$deleteFromPrimitiveList/<f>``,
``$setElementOrder/<f>`` and ``$retainKeys``. Order follows Kubernetes: ``$setElementOrder`` >
the patch's order > the live order.

Public entry: :func:`apply_strategic_merge_patch`. The internal :func:`merge_map` also merges
two patches (``MergeOptions()``), which the three-way diff needs. Inputs are copied first.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from .errors import PatchError
from .strategies import MERGE, REPLACE, PatchSchema, resolve

DIRECTIVE = "$patch"
DELETE = "delete"
RETAIN_KEYS_DIRECTIVE = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"

Obj = dict[str, Any]


@dataclass(frozen=True)
class MergeOptions:
    #: apply ``$deleteFromPrimitiveList``/``$setElementOrder`` (True) or carry them (merging patches)
    merge_parallel_list: bool = False
    #: drop nulls that match nothing (True when applying to an object)
    ignore_unmatched_nulls: bool = False


APPLY_OPTIONS = MergeOptions(merge_parallel_list=True, ignore_unmatched_nulls=True)


def apply_strategic_merge_patch(obj: Obj, patch: Obj, *, kind_definition: str | PatchSchema | None) -> Obj:
    """``obj`` with the strategic merge ``patch`` applied, as a new object."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object")
    schema = resolve(kind_definition)
    result = merge_map(copy.deepcopy(obj), copy.deepcopy(patch), schema, APPLY_OPTIONS)
    return result


def _go(value: Any) -> str:
    """Go's ``%v`` rendering, close enough for messages."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _no_merge_key(item: Any, key: str) -> PatchError:
    return PatchError(f"map: {_go(item)} does not contain declared merge key: {key}", field=key)


def _bad_patch_type(value: Any, item: Any) -> PatchError:
    return PatchError(f"unknown patch type: {_go(value)} in map: {_go(item)}", field=DIRECTIVE)


def merge_map(original: Obj | None, patch: Obj, schema: PatchSchema, options: MergeOptions) -> Obj:
    """Merge ``patch`` into ``original`` in place (both already private copies) and return it."""
    if DIRECTIVE in patch:
        directive = patch[DIRECTIVE]
        if directive == REPLACE:
            del patch[DIRECTIVE]
            return patch
        if directive == DELETE:
            return {}
        raise _bad_patch_type(directive, patch)
    if original is None:
        original = {}
    _apply_retain_keys(original, patch, options)
    _merge_ordered_lists(original, patch, schema, options)
    for key in list(patch):
        value = patch[key]
        is_delete_list = False
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            if not options.merge_parallel_list:
                original[key] = value
                continue
            key = key[len(DELETE_FROM_PRIMITIVE_LIST):]
            is_delete_list = True
        if value is None:
            original.pop(key, None)
            if options.ignore_unmatched_nulls:
                continue
        if key not in original or original[key] is None and value is not None:
            if not is_delete_list:
                original[key] = _discard_nulls(value) if options.ignore_unmatched_nulls else value
            continue
        current = original[key]
        if _kind(current) != _kind(value):
            if not is_delete_list:
                original[key] = _discard_nulls(value) if options.ignore_unmatched_nulls else value
            continue
        meta, sub = schema.field(key)
        if isinstance(current, dict):
            original[key] = value if meta.strategy == REPLACE else merge_map(current, value, sub, options)
        elif isinstance(current, list):
            if meta.strategy == MERGE:
                original[key] = merge_slice(current, value, sub, meta.merge_key or "", options,
                                            is_delete_list=is_delete_list, field=key)
            else:
                original[key] = value
        else:
            original[key] = value
    return original


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "slice"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "float64"
    if isinstance(value, str):
        return "string"
    return "nil"


def _discard_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _discard_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_discard_nulls(v) for v in value]
    return value


def _apply_retain_keys(original: Obj, patch: Obj, options: MergeOptions) -> None:
    if RETAIN_KEYS_DIRECTIVE not in patch:
        return
    retain = patch.pop(RETAIN_KEYS_DIRECTIVE)
    if not options.merge_parallel_list:
        if RETAIN_KEYS_DIRECTIVE in original and original[RETAIN_KEYS_DIRECTIVE] != retain:
            raise PatchError(f"{_go(original[RETAIN_KEYS_DIRECTIVE])} and {_go(retain)} are not deep equal: "
                             "this may happen when calculating the 3-way diff patch")
        original[RETAIN_KEYS_DIRECTIVE] = retain
        return
    if not isinstance(retain, list):
        raise PatchError("invalid patch: the value of $retainKeys must be a list", field=RETAIN_KEYS_DIRECTIVE)
    keep = set(json.dumps(v) if not isinstance(v, str) else v for v in retain)
    for key, value in patch.items():
        if value is None or key.startswith(DELETE_FROM_PRIMITIVE_LIST) or key.startswith(SET_ELEMENT_ORDER):
            continue
        if key not in keep:
            raise PatchError("doesn't satisfy retainKeys directive: all fields present in the patch must be "
                             f"listed in $retainKeys, {key!r} is not", field=RETAIN_KEYS_DIRECTIVE)
    for key in list(original):
        if key not in keep:
            del original[key]


def _merge_ordered_lists(original: Obj, patch: Obj, schema: PatchSchema, options: MergeOptions) -> None:
    """Handle ``$setElementOrder/<f>`` together with the list ``<f>`` it orders."""
    for key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(key)
        if not options.merge_parallel_list:
            if key in original and original[key] != order:
                raise PatchError("invalid patch: $setElementOrder lists of the two patches differ", field=key)
            original[key] = order
        if not isinstance(order, list):
            raise PatchError(f"invalid patch: the value of {key} must be a list", field=key)
        list_key = key[len(SET_ELEMENT_ORDER):]
        found_original, found_patch = list_key in original, list_key in patch
        original_list: list[Any] = original.get(list_key) or [] if found_original else []
        patch_list: list[Any] = patch.get(list_key) or [] if found_patch else []
        if found_original and not isinstance(original.get(list_key) or [], list):
            raise PatchError(f"invalid value for {list_key}: expected a list", field=list_key)
        if found_patch and not isinstance(patch.get(list_key) or [], list):
            raise PatchError(f"invalid patch: {list_key} must be a list", field=list_key)
        meta, sub = schema.field(list_key)
        merge_key = meta.merge_key or ""
        _validate_order(patch_list or [], order, merge_key)
        if found_original and not found_patch:
            merged = original_list
        elif found_patch and not found_original:
            merged = patch_list
        elif found_patch and found_original:
            if meta.strategy == MERGE:
                merged = merge_slice(original_list, patch_list, sub, merge_key, options,
                                     is_delete_list=False, field=list_key)
            else:
                merged = patch_list
        else:
            continue
        maps = _element_kind(original_list or [], patch_list or [], field=list_key) == "map"
        if merge_key:
            in_patch, server_only = _partition_maps(merged, order, merge_key)
        else:
            in_patch, server_only = _partition_primitives(merged, order)
        original[list_key] = _normalize_order(in_patch, server_only, order, original_list or [], merge_key, maps)
        patch.pop(list_key, None)


def _validate_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    if not order or not patch_list:
        return
    items = [v for v in patch_list if not _is_delete(v)] if merge_key else patch_list
    p = s = 0
    while p < len(items) and s < len(order):
        if isinstance(items[p], dict) and DIRECTIVE in items[p]:
            p += 1
            continue
        if _key_of(items[p], merge_key) == _key_of(order[s], merge_key):
            p += 1
        s += 1
    if p < len(items) and s >= len(order):
        raise PatchError(f"The order in patch list:\n{_go(patch_list)}\n doesn't match {SET_ELEMENT_ORDER} "
                         f"list:\n{_go(order)}\n", field=SET_ELEMENT_ORDER)


def _is_delete(item: Any) -> bool:
    return isinstance(item, dict) and item.get(DIRECTIVE) == DELETE


def _key_of(item: Any, merge_key: str) -> Any:
    if merge_key:
        if not isinstance(item, dict):
            raise PatchError(f"invalid value {_go(item)}: expected a map with merge key {merge_key}")
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        return _hashable(item[merge_key])
    return _hashable(item)


def _hashable(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return ("bool", value)
    return value


def _element_kind(original: list[Any], patch: list[Any], *, field: str) -> str:
    kinds = {_kind(v) for v in (*original, *patch)}
    if len(kinds) > 1:
        raise PatchError(f"mixed types in list {field}: {', '.join(sorted(kinds))}", field=field)
    kind = kinds.pop() if kinds else "map"
    if kind == "slice":
        raise PatchError(f"list {field} holds lists, which cannot be merged", field=field)
    return kind


def merge_slice(original: list[Any], patch: list[Any], schema: PatchSchema, merge_key: str,
                options: MergeOptions, *, is_delete_list: bool, field: str) -> list[Any]:
    if not original and not patch:
        return original
    kind = _element_kind(original, patch, field=field)
    if kind != "map":
        if options.merge_parallel_list and is_delete_list:
            drop = {_hashable(v) for v in patch}
            return [v for v in original if _hashable(v) not in drop]
        merged = _dedupe(original + patch)
    else:
        if not merge_key:
            raise PatchError(f"cannot merge lists without merge key for {schema.name}", field=field)
        original, patch = _special_elements(original, patch, merge_key)
        merged = _merge_maps_by_key(original, patch, merge_key, schema, options)
    if merge_key:
        in_patch, server_only = _partition_maps(merged, patch, merge_key)
    else:
        in_patch, server_only = _partition_primitives(merged, patch)
    return _normalize_order(in_patch, server_only, patch, original, merge_key, kind == "map")


def _dedupe(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for v in values:
        h = _hashable(v)
        if h not in seen:
            seen.add(h)
            out.append(v)
    return out


def _special_elements(original: list[Any], patch: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    plain: list[Any] = []
    replace = False
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == DELETE:
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            target = _hashable(item[merge_key])
            original = [o for o in original if not (merge_key in o and _hashable(o[merge_key]) == target)]
        elif directive == REPLACE:
            replace = True
        elif directive == MERGE:
            raise PatchError("merging lists cannot yet be specified in the patch", field=DIRECTIVE)
        else:
            raise _bad_patch_type(directive, item)
    if replace:
        return plain, []
    return original, plain


def _merge_maps_by_key(original: list[Any], patch: list[Any], merge_key: str, schema: PatchSchema,
                       options: MergeOptions) -> list[Any]:
    out = list(original)
    for item in patch:
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        target = _hashable(item[merge_key])
        for i, existing in enumerate(out):
            if not isinstance(existing, dict):
                raise PatchError(f"value for key {i} is not a map.")
            if merge_key in existing and _hashable(existing[merge_key]) == target:
                out[i] = merge_map(existing, item, schema, options)
                break
        else:
            out.append(item)
    return out


def _partition_primitives(values: list[Any], by: list[Any]) -> tuple[list[Any], list[Any]]:
    keys = {_hashable(v) for v in by}
    return [v for v in values if _hashable(v) in keys], [v for v in values if _hashable(v) not in keys]


def _partition_maps(values: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    keys = {_hashable(b[merge_key]) for b in by if isinstance(b, dict) and merge_key in b}
    in_by: list[Any] = []
    others: list[Any] = []
    for v in values:
        (in_by if _key_of(v, merge_key) in keys else others).append(v)
    return in_by, others


def _index(order: list[Any], item: Any, merge_key: str, maps: bool) -> int:
    def val(x: Any) -> Any:
        if maps:
            return _hashable(x.get(merge_key)) if isinstance(x, dict) else None
        return _hashable(x)
    target = val(item)
    for i, v in enumerate(order):
        if val(v) == target:
            return i
    return -1


def _sort_like_go(items: list[Any], order: list[Any], merge_key: str, maps: bool) -> list[Any]:
    """Go's ``sort.SliceStable`` with strategicpatch's comparator (an unknown item sorts first)."""
    def less(a: Any, b: Any) -> bool:
        ia = _index(order, a, merge_key, maps)
        if ia >= 0:
            ib = _index(order, b, merge_key, maps)
            if ib >= 0:
                return ia < ib
        return True
    out = list(items)
    for i in range(1, len(out)):  # insertion sort, as Go does for short slices
        j = i
        while j > 0 and less(out[j], out[j - 1]):
            out[j], out[j - 1] = out[j - 1], out[j]
            j -= 1
    return out


def _normalize_slice(items: list[Any], order: list[Any], merge_key: str, maps: bool) -> list[Any]:
    to_delete: list[Any] = []
    if maps:
        for v in (*items, *order):
            _key_of(v, merge_key)
        to_delete = [v for v in items if _is_delete(v)]
        items = [v for v in items if not _is_delete(v)]
    return _sort_like_go(items, order, merge_key, maps) + to_delete


def _normalize_order(in_patch: list[Any], server_only: list[Any], patch_order: list[Any],
                     server_order: list[Any], merge_key: str, maps: bool) -> list[Any]:
    right = _normalize_slice(in_patch, patch_order, merge_key, maps)
    left = _normalize_slice(server_only, server_order, merge_key, maps)
    # Insert server-only items among the patch's items, keeping both relative orders.
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j]); j += 1
        elif j >= len(right):
            out.append(left[i]); i += 1
        else:
            li = _index(server_order, left[i], merge_key, maps)
            ri = _index(server_order, right[j], merge_key, maps)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i]); i += 1
            else:
                out.append(right[j]); j += 1
    return out
