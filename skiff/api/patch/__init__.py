"""Patch algorithms on JSON dicts: JSON patch, merge patch, strategic merge patch, server-side apply.

Every function is pure (inputs are never mutated) and raises :class:`PatchError` for a bad
patch; the API server maps that to a Status. Nothing here does I/O.
"""
from __future__ import annotations

from .diff import create_three_way_merge_patch, create_two_way_merge_patch
from .errors import PatchError
from .jsonpatch import apply_json_patch
from .managed import Conflict, conflict_message, record_update, server_side_apply
from .merge import apply_merge_patch, create_merge_patch
from .strategic import apply_strategic_merge_patch
from .strategies import PatchMeta, PatchSchema, patch_table

__all__ = [
    "PatchError", "apply_json_patch", "apply_merge_patch", "create_merge_patch", "apply_strategic_merge_patch",
    "create_two_way_merge_patch", "create_three_way_merge_patch", "PatchMeta", "PatchSchema", "patch_table",
    "Conflict", "conflict_message", "record_update", "server_side_apply",
]
