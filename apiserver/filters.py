"""Label and field selectors of a list/watch request turned into one predicate on objects."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from skiff.api import selectors
from skiff.api.resources import Resource

from . import status

Obj = dict[str, Any]


def make_filter(res: Resource, label_selector: str | None, field_selector: str | None) -> Callable[[Obj], bool]:
    try:
        labels = selectors.parse_label_selector(label_selector or "")
    except selectors.SelectorError as exc:
        raise status.bad_request(f"unable to parse requirement: {exc}") from exc
    try:
        fields = selectors.parse_field_selector_for(res.group, res.kind, field_selector or "")
    except selectors.SelectorError as exc:
        raise status.bad_request(str(exc)) from exc
    if labels.empty and fields.empty:
        return lambda obj: True
    return lambda obj: labels.matches(obj.get("metadata", {}).get("labels") or {}) and fields.matches_object(obj)
