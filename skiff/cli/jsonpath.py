"""kubectl's JSONPath templates (``-o jsonpath=``, ``custom-columns``, ``--sort-by``, ``wait --for=jsonpath``).

Supports what client-go's ``util/jsonpath`` does: text outside ``{}``, ``.field``,
``['field']``, ``[n]``, ``[a:b:c]``, ``[*]``, ``..field`` (recursive), ``[?(@.k == "v")]``
filters (``== != < > <= >=`` and existence), unions ``[a,b]``, string literals
(``{"\\n"}``), ``{range ...}{end}``, ``$`` and ``@``. Several results of one action print
space-separated; maps and lists print as compact JSON. Pure.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


class JSONPathError(ValueError):
    pass


# -- nodes ---------------------------------------------------------------------------------

@dataclass
class Field:
    name: str  # "*" for all values


@dataclass
class Recursive:
    pass


@dataclass
class Index:
    start: int | None
    end: int | None = None
    step: int | None = None
    is_slice: bool = False
    wildcard: bool = False


@dataclass
class Filter:
    left: list[Any]
    op: str | None
    right: list[Any] | None


@dataclass
class Literal:
    value: Any


@dataclass
class Union:
    branches: list[list[Any]]


@dataclass
class Root:
    pass


@dataclass
class Text:
    text: str


@dataclass
class Action:
    path: list[Any]


@dataclass
class Range:
    path: list[Any]
    body: list[Any] = field(default_factory=list)


# -- parsing -------------------------------------------------------------------------------

def _split_template(template: str) -> list[tuple[str, str]]:
    """``[("text", ...), ("action", ...)]``; braces inside quoted strings do not count."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(template)
    text_start = 0
    while i < n:
        if template[i] == "{":
            if i > text_start:
                out.append(("text", template[text_start:i]))
            j, quote = i + 1, None
            while j < n:
                ch = template[j]
                if quote:
                    if ch == "\\":
                        j += 1
                    elif ch == quote:
                        quote = None
                elif ch in "\"'":
                    quote = ch
                elif ch == "}":
                    break
                j += 1
            if j >= n:
                raise JSONPathError(f"unclosed action")
            out.append(("action", template[i + 1:j]))
            i = text_start = j + 1
            continue
        i += 1
    if text_start < n:
        out.append(("text", template[text_start:]))
    return out


_IDENT = re.compile(r"(?:[A-Za-z0-9_\-/*]|\\.)+")


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def parse_path(self, *, stop: str = "") -> list[Any]:
        """Path elements until the end or a char in ``stop`` (at nesting level 0)."""
        nodes: list[Any] = []
        while self.i < len(self.s):
            ch = self.peek()
            if ch in stop:
                break
            if ch == " ":
                self.i += 1
            elif ch == "$":
                self.i += 1
                nodes.append(Root())
            elif ch == "@":
                self.i += 1
            elif ch == ".":
                if self.peek(1) == ".":
                    self.i += 2
                    nodes.append(Recursive())
                    continue
                self.i += 1
                m = _IDENT.match(self.s, self.i)
                if m:
                    nodes.append(Field(m.group(0).replace("\\.", ".")))
                    self.i = m.end()
            elif ch == "[":
                nodes.append(self.parse_bracket())
            elif ch in "\"'":
                nodes.append(Literal(self.parse_string()))
            elif ch == ",":
                # union at action level: {.a,.b}
                self.i += 1
                rest = self.parse_path(stop=stop)
                return [Union([nodes, rest])]
            else:
                m = re.compile(r"-?[0-9]+(\.[0-9]+)?").match(self.s, self.i)
                if m:
                    self.i = m.end()
                    nodes.append(Literal(float(m.group(0)) if m.group(1) else int(m.group(0))))
                    continue
                m = re.compile(r"true|false").match(self.s, self.i)
                if m:
                    self.i = m.end()
                    nodes.append(Literal(m.group(0) == "true"))
                    continue
                m = _IDENT.match(self.s, self.i)
                if m:  # a bare identifier: kubectl treats it as a field name
                    nodes.append(Field(m.group(0)))
                    self.i = m.end()
                    continue
                raise JSONPathError(f"unrecognized character in action: {ch!r}")
        return nodes

    def parse_string(self) -> str:
        quote = self.peek()
        j = self.i + 1
        while j < len(self.s) and self.s[j] != quote:
            if self.s[j] == "\\":
                j += 1
            j += 1
        if j >= len(self.s):
            raise JSONPathError("unclosed quote")
        raw = self.s[self.i + 1:j]
        self.i = j + 1
        if quote == "'":
            return raw
        try:
            return str(json.loads('"' + raw + '"'))
        except json.JSONDecodeError:
            return raw.encode().decode("unicode_escape")

    def parse_bracket(self) -> Any:
        self.i += 1  # [
        if self.peek() == "?":
            self.i += 1
            if self.peek() != "(":
                raise JSONPathError("unrecognized filter")
            self.i += 1
            left = self.parse_path(stop=")=!<>")
            op = None
            right = None
            m = re.compile(r"\s*(==|!=|<=|>=|<|>)\s*").match(self.s, self.i)
            if m:
                op = m.group(1)
                self.i = m.end()
                right = self.parse_path(stop=")")
            if self.peek() != ")":
                raise JSONPathError("unclosed filter")
            self.i += 1
            self.expect("]")
            return Filter(left, op, right)
        if self.peek() in "\"'":
            names = []
            while True:
                names.append(self.parse_string())
                while self.peek() == " ":
                    self.i += 1
                if self.peek() == ",":
                    self.i += 1
                    while self.peek() == " ":
                        self.i += 1
                    continue
                break
            self.expect("]")
            return Field(names[0]) if len(names) == 1 else Union([[Field(n)] for n in names])
        end = self.s.find("]", self.i)
        if end < 0:
            raise JSONPathError("unclosed array expect ]")
        body = self.s[self.i:end].strip()
        self.i = end + 1
        if body == "*":
            return Index(None, wildcard=True)
        if "," in body:
            return Union([[self._index(p.strip())] for p in body.split(",")])
        return self._index(body)

    @staticmethod
    def _index(body: str) -> Index:
        if ":" in body:
            parts = body.split(":")
            if len(parts) > 3:
                raise JSONPathError(f"invalid array index {body}")
            vals = [int(p) if p.strip() else None for p in parts] + [None] * (3 - len(parts))
            return Index(vals[0], vals[1], vals[2], is_slice=True)
        try:
            return Index(int(body))
        except ValueError:
            raise JSONPathError(f"invalid array index {body}") from None

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise JSONPathError(f"expected {ch!r} at {self.i}")
        self.i += 1


def parse(template: str) -> list[Any]:
    """Parse a template into Text / Action / Range nodes."""
    root: list[Any] = []
    stack: list[list[Any]] = [root]
    for kind, chunk in _split_template(template):
        if kind == "text":
            stack[-1].append(Text(chunk))
            continue
        stripped = chunk.strip()
        if stripped.startswith("range ") or stripped == "range":
            node = Range(_Parser(stripped[5:]).parse_path())
            stack[-1].append(node)
            stack.append(node.body)
        elif stripped == "end":
            if len(stack) == 1:
                raise JSONPathError("not in range, nothing to end")
            stack.pop()
        else:
            stack[-1].append(Action(_Parser(chunk).parse_path()))
    if len(stack) != 1:
        raise JSONPathError("unclosed range")
    return root


# -- evaluation ----------------------------------------------------------------------------

_MISSING = object()


def _walk(values: list[Any], path: list[Any], *, root: Any, allow_missing: bool) -> list[Any]:
    cur = values
    for node in path:
        nxt: list[Any] = []
        if isinstance(node, Root):
            nxt = [root]
        elif isinstance(node, Literal):
            nxt = [node.value]
        elif isinstance(node, Field):
            for v in cur:
                if isinstance(v, dict):
                    if node.name == "*":
                        nxt.extend(v[k] for k in sorted(v))
                    elif node.name in v:
                        nxt.append(v[node.name])
                    elif not allow_missing:
                        raise JSONPathError(f"{node.name} is not found")
                elif isinstance(v, list) and node.name == "*":
                    nxt.extend(v)
        elif isinstance(node, Recursive):
            for v in cur:
                nxt.extend(_descendants(v))
        elif isinstance(node, Index):
            for v in cur:
                if not isinstance(v, list):
                    continue
                if node.wildcard:
                    nxt.extend(v)
                elif node.is_slice:
                    nxt.extend(v[slice(node.start, node.end, node.step)])
                else:
                    assert node.start is not None
                    idx = node.start
                    if -len(v) <= idx < len(v):
                        nxt.append(v[idx])
                    elif not allow_missing:
                        raise JSONPathError(f"array index out of bounds: index {idx}, length {len(v)}")
        elif isinstance(node, Filter):
            for v in cur:
                items = v if isinstance(v, list) else [v]
                nxt.extend(item for item in items if _match(item, node, root=root))
        elif isinstance(node, Union):
            for branch in node.branches:
                nxt.extend(_walk(cur, branch, root=root, allow_missing=allow_missing))
        cur = nxt
    return cur


def _descendants(v: Any) -> list[Any]:
    out = [v]
    if isinstance(v, dict):
        for k in sorted(v):
            out.extend(_descendants(v[k]))
    elif isinstance(v, list):
        for x in v:
            out.extend(_descendants(x))
    return out


def _match(item: Any, f: Filter, *, root: Any) -> bool:
    left = _walk([item], f.left, root=root, allow_missing=True)
    if f.op is None:
        return bool(left)
    right = _walk([item], f.right or [], root=root, allow_missing=True)
    if not left or not right:
        return False
    a, b = left[0], right[0]
    try:
        if f.op == "==":
            return bool(a == b)
        if f.op == "!=":
            return bool(a != b)
        if isinstance(a, str) != isinstance(b, str):
            return False
        return bool({"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[f.op])
    except TypeError:
        return False


def text_of(value: Any) -> str:
    """One result as kubectl prints it: strings raw, maps/lists as compact JSON."""
    if isinstance(value, (dict, list)):
        # Go's json.Marshal: map keys sorted, <, > and & escaped
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def execute(nodes: list[Any], data: Any, *, root: Any = _MISSING, allow_missing: bool = True) -> str:
    if root is _MISSING:
        root = data
    out: list[str] = []
    for node in nodes:
        if isinstance(node, Text):
            out.append(node.text)
        elif isinstance(node, Action):
            results = _walk([data], node.path, root=root, allow_missing=allow_missing)
            out.append(" ".join(text_of(r) for r in results))
        elif isinstance(node, Range):
            for item in _walk([data], node.path, root=root, allow_missing=allow_missing):
                out.append(execute(node.body, item, root=root, allow_missing=allow_missing))
    return "".join(out)


def find_values(path: str, data: Any, *, allow_missing: bool = True) -> list[Any]:
    """The values a single-action template selects (used by custom-columns, sort-by and wait)."""
    nodes = parse(relaxed(path))
    actions = [n for n in nodes if isinstance(n, Action)]
    if len(actions) != 1:
        raise JSONPathError(f"unexpected path string, expected a single expression: {path}")
    return _walk([data], actions[0].path, root=data, allow_missing=allow_missing)


def relaxed(path: str) -> str:
    """kubectl's ``RelaxedJSONPathExpression``: ``.a.b``, ``a.b`` and ``{.a.b}`` all mean ``{.a.b}``."""
    if not path:
        return path
    m = re.fullmatch(r"\{?(.*?)\}?", path.strip(), re.S)
    inner = m.group(1) if m else path
    if inner and not inner.startswith(("." , "$", "[")):
        inner = "." + inner
    return "{" + inner + "}"
