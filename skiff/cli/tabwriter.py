"""Go's ``text/tabwriter`` as kubectl configures it (minwidth 0, padding 3, pad with spaces).

Cells are separated by ``\\t``; the text after a line's last tab is not aligned. A column
is aligned over the run of consecutive lines that have a cell in it (Go's "column
block"), which is why a blank line between two tables resets the widths. Pure.
"""
from __future__ import annotations

import unicodedata


def _width(s: str) -> int:
    # Go counts runes (utf8.RuneCount), not display cells
    return len(s)


def format_lines(lines: list[str], *, padding: int = 3, minwidth: int = 0) -> str:
    """Align ``\\t``-separated ``lines`` (no trailing newlines) and return the joined text with newlines."""
    cells = [line.split("\t") for line in lines]
    widths: list[list[int]] = [[0] * max(len(c) - 1, 0) for c in cells]
    _format(cells, widths, 0, 0, len(cells), padding=padding, minwidth=minwidth)
    out = []
    for row, w in zip(cells, widths):
        parts = [cell + " " * (w[i] - _width(cell)) for i, cell in enumerate(row[:-1])]
        parts.append(row[-1])
        out.append("".join(parts))
    return "".join(line + "\n" for line in out)


def _format(cells: list[list[str]], widths: list[list[int]], column: int, line0: int, line1: int, *,
            padding: int, minwidth: int) -> None:
    """Go's recursive ``format``: find blocks of lines having ``column``, size them, recurse right."""
    this = line0
    while this < line1:
        if column >= len(cells[this]) - 1:
            this += 1
            continue
        # a column block starts here
        start = this
        width = minwidth
        while this < line1 and column < len(cells[this]) - 1:
            width = max(width, _width(cells[this][column]) + padding)
            this += 1
        for i in range(start, this):
            widths[i][column] = width
        _format(cells, widths, column + 1, start, this, padding=padding, minwidth=minwidth)


def escape(s: str) -> str:
    """kubectl's ``WriteEscaped``: non-printable characters are shown as Go-quoted escapes."""
    if s.isprintable():
        return s
    out = []
    for ch in s:
        if ch.isprintable() or ch == "\t":
            out.append(ch)
        elif unicodedata.category(ch).startswith("C"):
            out.append(repr(ch)[1:-1])
        else:
            out.append(ch)
    return "".join(out)


class RememberingWriter:
    """kubectl's ``RememberWidths`` writer for ``get -w``: columns only ever grow between flushes."""

    def __init__(self, *, padding: int = 3, minwidth: int = 0) -> None:
        self.padding = padding
        self.minwidth = minwidth
        self.widths: list[int] = []

    def format(self, lines: list[str]) -> str:
        rows = [line.split("\t") for line in lines]
        for row in rows:
            for i, cell in enumerate(row[:-1]):
                w = max(self.minwidth, _width(cell) + self.padding)
                if i >= len(self.widths):
                    self.widths.append(w)
                elif w > self.widths[i]:
                    self.widths[i] = w
        out = []
        for row in rows:
            parts = [cell + " " * (self.widths[i] - _width(cell)) for i, cell in enumerate(row[:-1])]
            parts.append(row[-1])
            out.append("".join(parts) + "\n")
        return "".join(out)
