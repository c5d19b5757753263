"""managedFields bookkeeping: server-side apply and ordinary writes, as Kubernetes' field manager does.

:func:`server_side_apply` merges an applied configuration into the live object, reports
conflicts with fields other managers own and would see changed (unless ``force``), records the
applier's field set (operation ``Apply``) and removes fields the applier stopped applying when
nobody else owns them. :func:`record_update` tracks what a create/update/patch changed
(operation ``Update``) and takes those fields from other managers. Pure: ``now`` is passed in.
"""
from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

from .errors import PatchError
from .fieldpath import (Path, Type, compare, field_set, from_fields_v1, merge, path_string, prefixes, remove_paths,
                        root_type, to_fields_v1)

Obj = dict[str, Any]

APPLY = "Apply"
UPDATE = "Update"
BEFORE_FIRST_APPLY = "before-first-apply"

#: Paths Kubernetes never tracks (its ``stripMeta``).
_STRIPPED: set[Path] = {
    (("f", "apiVersion"),), (("f", "kind"),), (("f", "metadata"),),
    *((("f", "metadata"), ("f", name)) for name in (
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation", "managedFields",
        "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds")),
}


@dataclass(frozen=True)
class Conflict:
    """Another manager owns ``field`` (SMD path string) and this apply would change it."""

    manager: str
    operation: str
    api_version: str | None  # set for Update managers: Kubernetes names their version in the message
    field: str
    subresource: str = ""

    @property
    def manager_text(self) -> str:
        """Kubernetes' ``printManager``: ``"kubectl" using apps/v1`` for updaters, ``"name"`` for appliers."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == UPDATE and self.api_version:
            text += f" using {self.api_version}"
        return text


def conflict_message(conflicts: list[Conflict]) -> str:
    """The Status message Kubernetes returns for apply conflicts."""
    if len(conflicts) == 1:
        c = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {c.manager_text}: {c.field}"
    by_manager: dict[str, list[str]] = {}
    for c in conflicts:
        by_manager.setdefault(c.manager_text, []).append(c.field)
    lines: list[str] = []
    for manager in sorted(by_manager, key=lambda m: m.split('"')[1]):
        lines.append(f"conflicts with {manager}:")
        lines.extend(f"- {f}" for f in by_manager[manager])
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


@dataclass
class _Entry:
    manager: str
    operation: str
    api_version: str
    time: str | None
    fields: set[Path]
    subresource: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.manager, self.operation, self.subresource)

    def encode(self) -> Obj:
        out: Obj = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = to_fields_v1(self.fields)
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def _timestamp(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode(entries: Any) -> dict[tuple[str, str, str], _Entry]:
    out: dict[tuple[str, str, str], _Entry] = {}
    for raw in entries or ():
        if not isinstance(raw, dict) or not raw.get("manager") and not raw.get("fieldsV1"):
            continue
        e = _Entry(str(raw.get("manager", "")), str(raw.get("operation", UPDATE)), str(raw.get("apiVersion", "")),
                   raw.get("time"), from_fields_v1(raw.get("fieldsV1")), str(raw.get("subresource", "")))
        if e.key in out:
            out[e.key].fields |= e.fields
        else:
            out[e.key] = e
    return out


def _encode(entries: dict[tuple[str, str, str], _Entry]) -> list[Obj]:
    live = [e for e in entries.values() if e.fields]

    def order(e: _Entry) -> tuple[Any, ...]:
        ts = e.time or ""
        return (e.operation, ts, e.manager, e.api_version, e.subresource)
    return [e.encode() for e in sorted(live, key=order)]


def _strip(paths: set[Path]) -> set[Path]:
    return {p for p in paths if p not in _STRIPPED and p[:2] not in _STRIPPED}


def _without_managed(obj: Obj | None) -> Obj:
    if not obj:
        return {}
    out = copy.copy(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def record_update(old: Obj | None, new: Obj, *, manager: str, now: dt.datetime,
                  kind_definition: str | None = None, subresource: str | None = None) -> Obj:
    """``new`` with managedFields updated for a create/update/patch by ``manager``."""
    t = root_type(kind_definition)
    old_clean, new_clean = _without_managed(old), _without_managed(new)
    old_entries = (old or {}).get("metadata", {}).get("managedFields")
    sent = (new.get("metadata") or {}).get("managedFields")
    base = old_entries
    if sent is not None and sent != old_entries:
        base = sent  # a client may reset managedFields (``[{}]`` clears them), as Kubernetes allows
    entries = _decode(base)
    added, modified, removed = compare(old_clean if old else None, new_clean, t)
    added, modified, removed = _strip(added), _strip(modified), _strip(removed)
    changed = added | modified
    if changed or removed:
        for e in entries.values():
            if e.key != (manager, UPDATE, subresource or ""):
                e.fields -= changed | removed
        key = (manager, UPDATE, subresource or "")
        mine = entries.get(key) or _Entry(manager, UPDATE, str(new.get("apiVersion", "")), None, set(),
                                          subresource or "")
        mine.fields = (mine.fields - removed) | changed
        mine.api_version = str(new.get("apiVersion", mine.api_version))
        mine.time = _timestamp(now)
        entries[key] = mine
    result = copy.copy(new)
    meta = dict(result.get("metadata") or {})
    encoded = _encode(entries)
    if encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)
    result["metadata"] = meta
    return result


def server_side_apply(live: Obj | None, applied: Obj, *, manager: str, force: bool, now: dt.datetime,
                      kind_definition: str | None = None, subresource: str | None = None) -> tuple[Obj, list[Conflict]]:
    """Apply ``applied`` for ``manager``: (new object, []) or (``live`` unchanged, conflicts)."""
    if not manager:
        raise PatchError("fieldManager: Required value: is required for apply patch", field="fieldManager")
    if not isinstance(applied, dict):
        raise PatchError("apply patch must be an object")
    if (applied.get("metadata") or {}).get("managedFields"):
        raise PatchError("metadata.managedFields must be nil", field="metadata.managedFields")
    t = root_type(kind_definition)
    live_clean = _without_managed(live)
    config = _without_managed(applied)
    merged = merge(live_clean, config, t)
    entries = _decode((live or {}).get("metadata", {}).get("managedFields"))
    if live and not entries:
        owned = _strip(set(field_set(live_clean, t)))
        if owned:
            entries[(BEFORE_FIRST_APPLY, UPDATE, "")] = _Entry(BEFORE_FIRST_APPLY, UPDATE,
                                                               str(live.get("apiVersion", "")), None, owned)
    key = (manager, APPLY, subresource or "")
    previous = set(entries[key].fields) if key in entries else set()
    applied_set = _strip(set(field_set(config, t)))
    added, modified, removed = compare(live_clean if live else None, merged, t, maps_as_members=False)
    changed = _strip(added | modified)
    conflicts: list[Conflict] = []
    for e in entries.values():
        if e.key == key:
            continue
        for path in sorted(e.fields & changed, key=path_string):
            conflicts.append(Conflict(e.manager, e.operation, e.api_version if e.operation == UPDATE else None,
                                      path_string(path), e.subresource))
    if conflicts and not force:
        conflicts.sort(key=lambda c: (c.manager, c.field))
        return copy.deepcopy(live) if live else {}, conflicts
    for e in entries.values():
        if e.key != key:
            e.fields -= changed | _strip(removed)
    api_version = str(applied.get("apiVersion") or (live or {}).get("apiVersion", ""))
    entries[key] = _Entry(manager, APPLY, api_version, _timestamp(now), applied_set, subresource or "")
    result = _prune(merged, previous - applied_set, entries, t)
    meta = dict(result.get("metadata") or {})
    encoded = _encode(entries)
    if encoded:
        meta["managedFields"] = encoded
    result["metadata"] = meta
    return result, []


def _prune(obj: Obj, dropped: set[Path], entries: dict[tuple[str, str, str], _Entry], t: Type) -> Obj:
    """Remove fields the applier stopped applying, unless some manager still owns them or below them."""
    if not dropped:
        return obj
    owned: set[Path] = set()
    for e in entries.values():
        owned.update(prefixes(e.fields))
    pruned: Obj = remove_paths(obj, {p for p in dropped if p not in owned}, t)
    return pruned
