"""Print ``meta.k8s.io/v1`` Table responses the way kubectl's table printer does. Pure.

``table_lines`` turns one Table into tab-separated lines (header first unless
``no_headers``); the caller aligns lines with ``tabwriter.format_lines``. Decorations
follow kubectl: ``-A`` prepends NAMESPACE, ``--show-labels`` appends LABELS,
``--label-columns`` adds one column per key, ``with_kind`` prefixes names
(``deployment.apps/web``), priority-1 columns show only with ``-o wide``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .tabwriter import escape


@dataclass(frozen=True)
class TableOptions:
    wide: bool = False
    no_headers: bool = False
    with_namespace: bool = False
    show_labels: bool = False
    label_columns: tuple[str, ...] = ()
    #: ``pod`` / ``deployment.apps`` prefix for the name column (``get all``, several kinds)
    kind_prefix: str | None = None
    column_labels: tuple[str, ...] = field(default=())


def format_labels(labels: Mapping[str, str] | None) -> str:
    """``labels.FormatLabels``: sorted ``k=v`` joined by commas, ``<none>`` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def cell_text(cell: Any) -> str:
    """One cell as Go's ``fmt.Sprint`` of a decoded JSON value, truncated at the first line break."""
    if cell is None:
        return ""
    if isinstance(cell, str):
        for i, ch in enumerate(cell):
            if ch in "\f\n\r":
                return escape(cell[:i]) + "..."
        return escape(cell)
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, list):
        return "[" + " ".join(cell_text(c) for c in cell) + "]"
    if isinstance(cell, dict):
        return "map[" + " ".join(f"{k}:{cell_text(v)}" for k, v in sorted(cell.items())) + "]"
    return escape(str(cell))


def _row_meta(row: Mapping[str, Any]) -> dict[str, Any]:
    obj = row.get("object") or {}
    return dict(obj.get("metadata") or {})


def table_lines(table: Mapping[str, Any], options: TableOptions) -> list[str]:
    """Header (if any rows and not ``no_headers``) and one line per row, cells joined by tabs."""
    columns = list(table.get("columnDefinitions") or [])
    rows = list(table.get("rows") or [])
    shown = [i for i, c in enumerate(columns) if options.wide or not c.get("priority")]
    name_index = next((i for i, c in enumerate(columns) if c.get("name", "").lower() == "name"), None)
    lines: list[str] = []
    if not options.no_headers:
        if not rows:
            return []
        header = [str(columns[i].get("name", "")).upper() for i in shown]
        if options.with_namespace:
            header.insert(0, "NAMESPACE")
        header.extend(k.split("/")[-1].upper() for k in options.label_columns)
        if options.show_labels:
            header.append("LABELS")
        lines.append("\t".join(header))
    for row in rows:
        cells = list(row.get("cells") or [])
        texts = []
        for i in shown:
            if i >= len(cells):
                continue
            text = cell_text(cells[i])
            if options.kind_prefix and i == name_index:
                text = f"{options.kind_prefix}/{text}"
            texts.append(text)
        meta = _row_meta(row)
        if options.with_namespace:
            texts.insert(0, str(meta.get("namespace") or ""))
        labels = meta.get("labels") or {}
        for key in options.label_columns:
            texts.append(str(labels.get(key, "")))
        if options.show_labels:
            texts.append(format_labels(labels))
        lines.append("\t".join(texts))
    return lines
