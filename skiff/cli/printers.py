"""Output formats shared by ``get`` and the mutating verbs: ``-o yaml|json|name|jsonpath|custom-columns``.

``OutputSpec.parse`` checks ``-o`` as kubectl does; ``render_objects`` turns plain objects
into text. Tables (the human-readable default and ``wide``) live in ``tables``. Pure.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import formats, jsonpath
from .common import CommandError
from .tables import cell_text
from .tabwriter import format_lines

ALLOWED = ("custom-columns", "custom-columns-file", "go-template", "go-template-file", "json", "jsonpath",
           "jsonpath-as-json", "jsonpath-file", "name", "template", "templatefile", "wide", "yaml")

#: kubectl's table writer: minwidth 6, padding 3
TAB_MINWIDTH = 6


def align(lines: list[str]) -> str:
    return format_lines(lines, padding=3, minwidth=TAB_MINWIDTH)


@dataclass(frozen=True)
class OutputSpec:
    format: str  # "" (table), wide, yaml, json, name, jsonpath, jsonpath-as-json, custom-columns
    template: str = ""

    @property
    def human(self) -> bool:
        return self.format in ("", "wide")

    @classmethod
    def parse(cls, value: str | None, *, allowed: tuple[str, ...] = ALLOWED) -> OutputSpec:
        if not value:
            return cls("")
        fmt, eq, template = value.partition("=")
        if fmt in ("jsonpath-file", "custom-columns-file"):
            try:
                with open(template) as f:
                    template = f.read().strip()
            except OSError as e:
                raise CommandError(f"error reading template {template}, {e.strerror}") from e
            fmt = fmt.removesuffix("-file")
        if fmt not in allowed or fmt in ("go-template", "go-template-file", "template", "templatefile"):
            if fmt in ("go-template", "template", "templatefile", "go-template-file") and fmt in allowed:
                raise CommandError("go templates are not supported by skiffctl; use -o jsonpath")
            raise CommandError(f'unable to match a printer suitable for the output format "{value}", '
                               f'allowed formats are: {",".join(allowed)}')
        if fmt in ("jsonpath", "jsonpath-as-json", "custom-columns") and not template:
            if fmt == "custom-columns":
                raise CommandError("custom-columns format specified but no custom columns given")
            raise CommandError("template format specified but no template given")
        if fmt.startswith("jsonpath"):
            try:
                jsonpath.parse(template)
            except jsonpath.JSONPathError as e:
                raise CommandError(f"error parsing jsonpath {template}, {e}") from e
        return cls(fmt, template)


def _custom_columns(spec: str) -> list[tuple[str, str]]:
    cols = []
    for part in spec.split(","):
        header, colon, path = part.partition(":")
        if not colon:
            raise CommandError(f'unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>')
        cols.append((header, jsonpath.relaxed(path)))
    return cols


def custom_columns_lines(objs: list[dict[str, Any]], spec: str, *, no_headers: bool = False) -> list[str]:
    cols = _custom_columns(spec)
    lines = [] if no_headers else ["\t".join(h for h, _ in cols)]
    for obj in objs:
        cells = []
        for _, path in cols:
            try:
                values = jsonpath.find_values(path, obj)
            except jsonpath.JSONPathError:
                values = []
            cells.append(",".join(cell_text(v) for v in values) if values else "<none>")
        lines.append("\t".join(cells))
    return lines


def render_objects(objs: list[dict[str, Any]], spec: OutputSpec, *, single: bool,
                   name_of: Callable[[dict[str, Any]], str], no_headers: bool = False,
                   list_resource_version: str = "") -> str:
    """Text for non-table formats. ``single`` prints one object bare instead of a ``v1 List``."""
    if spec.format == "name":
        return "".join(name_of(o) + "\n" for o in objs)
    if spec.format == "custom-columns":
        return align(custom_columns_lines(objs, spec.template, no_headers=no_headers))
    doc: Any = objs[0] if single and len(objs) == 1 else formats.as_list(objs, resource_version=list_resource_version)
    if spec.format == "yaml":
        return formats.to_yaml(doc)
    if spec.format == "json":
        return formats.to_json(doc)
    if spec.format == "jsonpath":
        try:
            return jsonpath.execute(jsonpath.parse(spec.template), doc)
        except jsonpath.JSONPathError as e:
            raise CommandError(f"error executing jsonpath {spec.template!r}: {e}") from e
    if spec.format == "jsonpath-as-json":
        nodes = jsonpath.parse(spec.template)
        values = [v for n in nodes if isinstance(n, jsonpath.Action)
                  for v in jsonpath._walk([doc], n.path, root=doc, allow_missing=True)]
        return json.dumps(values, indent=4) + "\n"
    raise CommandError(f"unsupported output format {spec.format}")
