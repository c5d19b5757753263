"""RFC 7386 JSON merge patch (``application/merge-patch+json``) and the diff that produces one.

Objects merge member by member, ``null`` deletes, anything else (lists included) replaces.
Pure: inputs are never changed.
"""
from __future__ import annotations

import copy
from typing import Any

JSON = Any


def apply_merge_patch(obj: JSON, patch: JSON) -> JSON:
    """``obj`` with ``patch`` merged in, as a new value."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(obj) if isinstance(obj, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = apply_merge_patch(result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def create_merge_patch(original: JSON, modified: JSON) -> JSON:
    """The smallest merge patch turning ``original`` into ``modified`` (both objects)."""
    if not isinstance(original, dict) or not isinstance(modified, dict):
        return copy.deepcopy(modified)
    patch: dict[str, Any] = {}
    for key in original:
        if key not in modified:
            patch[key] = None
    for key, value in modified.items():
        if key not in original:
            patch[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(original[key], dict):
            sub = create_merge_patch(original[key], value)
            if sub:
                patch[key] = sub
        elif original[key] != value or type(original[key]) is not type(value):
            patch[key] = copy.deepcopy(value)
    return patch
