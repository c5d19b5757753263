"""RFC 6902 JSON patch, with the semantics of the library the Kubernetes API server uses.

Kubernetes applies ``application/json-patch+json`` with evanphx/json-patch (v4): ``add``
replaces an existing member or inserts into an array (``-`` or an index up to the length,
negative indexes counted from the end), its parent must exist; ``remove`` and ``replace`` need
the target to exist; ``test`` compares decoded JSON values (a missing member equals only
``null``); ``move``/``copy`` read ``from``. Pure: the input is never changed.
"""
from __future__ import annotations

import copy
from typing import Any

from .errors import PatchError

JSON = Any


def _decode_pointer(path: Any, *, op: str) -> list[str]:
    if not isinstance(path, str):
        raise PatchError(f"{op} operation has no valid path: {path!r}", field="path")
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f'{op} operation does not apply: invalid path "{path}"', field=path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(token: str, length: int, *, allow_end: bool, path: str, op: str) -> int:
    if token == "-" and allow_end:
        return length
    try:
        idx = int(token)
    except ValueError:
        raise PatchError(f'{op} operation does not apply: invalid array index "{token}" in "{path}"',
                         field=path) from None
    if idx < 0:
        if idx < -length:
            raise PatchError(f'{op} operation does not apply: index out of bounds: {idx} in "{path}"', field=path)
        idx += length
    limit = length if allow_end else length - 1
    if idx > limit:
        raise PatchError(f'{op} operation does not apply: index out of bounds: {idx} in "{path}"', field=path)
    return idx


def _parent(doc: JSON, tokens: list[str], *, path: str, op: str) -> JSON:
    """The container holding the last token, following every earlier token."""
    node = doc
    for tok in tokens[:-1]:
        if isinstance(node, dict) and tok in node:
            node = node[tok]
        elif isinstance(node, list):
            try:
                i = int(tok)
            except ValueError:
                i = -1
            if not 0 <= i < len(node):
                raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}": missing value',
                                 field=path)
            node = node[i]
        else:
            raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}": missing value',
                             field=path)
    if not isinstance(node, (dict, list)):
        raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}": missing value', field=path)
    return node


def _get(doc: JSON, tokens: list[str], *, path: str, op: str) -> tuple[bool, JSON]:
    if not tokens:
        return True, doc
    parent = _parent(doc, tokens, path=path, op=op)
    last = tokens[-1]
    if isinstance(parent, dict):
        return (last in parent), parent.get(last)
    try:
        i = int(last)
    except ValueError:
        return False, None
    if 0 <= i < len(parent):
        return True, parent[i]
    return False, None


def _add(doc: JSON, tokens: list[str], value: JSON, *, path: str, op: str = "add") -> JSON:
    if not tokens:
        return value
    parent = _parent(doc, tokens, path=path, op=op)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    else:
        parent.insert(_index(last, len(parent), allow_end=True, path=path, op=op), value)
    return doc


def _remove(doc: JSON, tokens: list[str], *, path: str, op: str = "remove") -> tuple[JSON, JSON]:
    if not tokens:
        raise PatchError(f"{op} operation does not apply: cannot remove the whole document", field=path)
    parent = _parent(doc, tokens, path=path, op=op)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f'{op} operation does not apply: doc is missing key: "{path}": missing value',
                             field=path)
        return doc, parent.pop(last)
    i = _index(last, len(parent), allow_end=False, path=path, op=op)
    return doc, parent.pop(i)


def _require(op: dict[str, Any], key: str, name: str) -> Any:
    if key not in op:
        raise PatchError(f'{name} operation missing "{key}"', field=key)
    return op[key]


def apply_json_patch(obj: JSON, ops: Any) -> JSON:
    """Apply a list of RFC 6902 operations to a copy of ``obj`` and return it."""
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations")
    doc = copy.deepcopy(obj)
    for n, op in enumerate(ops):
        if not isinstance(op, dict):
            raise PatchError(f"json patch operation {n} is not an object")
        name = op.get("op")
        path = _require(op, "path", str(name))
        tokens = _decode_pointer(path, op=str(name))
        if name == "add":
            doc = _add(doc, tokens, copy.deepcopy(_require(op, "value", name)), path=path)
        elif name == "remove":
            doc, _ = _remove(doc, tokens, path=path)
        elif name == "replace":
            value = copy.deepcopy(_require(op, "value", name))
            found, _ = _get(doc, tokens, path=path, op=name)
            if not found:
                raise PatchError(f'replace operation does not apply: doc is missing key: {path}: missing value',
                                 field=path)
            if not tokens:
                doc = value
            else:
                parent = _parent(doc, tokens, path=path, op=name)
                if isinstance(parent, dict):
                    parent[tokens[-1]] = value
                else:
                    parent[_index(tokens[-1], len(parent), allow_end=False, path=path, op=name)] = value
        elif name in ("move", "copy"):
            src = _require(op, "from", name)
            src_tokens = _decode_pointer(src, op=name)
            if name == "move":
                if src_tokens == tokens:
                    continue
                if tokens[:len(src_tokens)] == src_tokens:
                    raise PatchError(f'move operation does not apply: "{path}" is a child of "{src}"', field=path)
                doc, value = _remove(doc, src_tokens, path=src, op=name)
            else:
                found, value = _get(doc, src_tokens, path=src, op=name)
                if not found:
                    raise PatchError(f'copy operation does not apply: doc is missing from path: "{src}"', field=src)
                value = copy.deepcopy(value)
            doc = _add(doc, tokens, value, path=path, op=name)
        elif name == "test":
            expected = _require(op, "value", name)
            found, actual = _get(doc, tokens, path=path, op=name)
            if not found:
                actual = None
            if not _json_equal(actual, expected):
                raise PatchError(f"testing value {path} failed: test failed", field=path)
        else:
            raise PatchError(f"Unexpected kind: {name}", field="op")
    return doc


def _json_equal(a: JSON, b: JSON) -> bool:
    """JSON equality: 1 == 1.0 but True != 1, as decoded JSON compares in Go."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return bool(a == b)
