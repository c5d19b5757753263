"""Label selectors (strings and ``LabelSelector`` objects) and field selectors, as Kubernetes parses them.

Label selector strings follow k8s.io/apimachinery/pkg/labels: ``a=b,c==d,e!=f,g in (x,y),
h notin (z),i,!j,k>1,l<2``, with the same tokenizer, the same parse errors and the same key and
value syntax checks. ``LabelSelector`` dicts (``matchLabels``/``matchExpressions``) convert to
the same requirements. Field selectors follow k8s.io/apimachinery/pkg/fields with the
per-kind field labels the Kubernetes API server accepts. Pure functions only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping, Sequence

from skiff.api.labels import is_label_value, is_qualified_name


class SelectorError(ValueError):
    """A selector that does not parse; ``str()`` is Kubernetes' message."""


class Op(str, Enum):
    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


@dataclass(frozen=True)
class Requirement:
    key: str
    op: Op
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        if self.op in (Op.IN, Op.EQUALS, Op.DOUBLE_EQUALS):
            return has and labels[self.key] in self.values
        if self.op in (Op.NOT_IN, Op.NOT_EQUALS):
            return not has or labels[self.key] not in self.values
        if self.op is Op.EXISTS:
            return has
        if self.op is Op.DOES_NOT_EXIST:
            return not has
        if not has:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.op is Op.GREATER_THAN else have < want

    def __str__(self) -> str:
        if self.op is Op.EXISTS:
            return self.key
        if self.op is Op.DOES_NOT_EXIST:
            return "!" + self.key
        if self.op in (Op.IN, Op.NOT_IN):
            return f"{self.key} {self.op.value} ({','.join(self.values)})"
        sym = {Op.GREATER_THAN: ">", Op.LESS_THAN: "<"}.get(self.op, self.op.value)
        return f"{self.key}{sym}{self.values[0]}"


@dataclass(frozen=True)
class LabelSelector:
    """A parsed selector: requirements ANDed. ``nothing`` matches no object (a nil LabelSelector)."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)

# --- the lexer -------------------------------------------------------------------------------

_SPECIAL = set("=!(),><")
_SYMBOLS = {"!": "DOES_NOT_EXIST", "!=": "NOT_EQUALS", "(": "OPEN", ")": "CLOSE", ",": "COMMA",
            "=": "EQUALS", "==": "DOUBLE_EQUALS", ">": "GT", "<": "LT"}
_KEYWORDS = {"in": "IN", "notin": "NOTIN"}
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"


def _tokens(s: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in " \t\r\n":
            i += 1
        if i >= n:
            out.append(("END", ""))
            return out
        if s[i] in _SPECIAL:
            buf, last = "", None
            while i < n and s[i] in _SPECIAL:
                if buf + s[i] in _SYMBOLS:
                    buf += s[i]
                    last = buf
                    i += 1
                elif last is not None:
                    break
                else:
                    buf += s[i]
                    i += 1
            if last is None:
                out.append(("ERROR", f"error expected: keyword found '{buf}'"))
            else:
                out.append((_SYMBOLS[last], last))
            continue
        start = i
        while i < n and s[i] not in _SPECIAL and s[i] not in " \t\r\n":
            i += 1
        word = s[start:i]
        out.append((_KEYWORDS.get(word, "ID"), word))


def _quote(v: str) -> str:
    return json.dumps(v, ensure_ascii=False)


def _invalid(field: str, value: str, msgs: list[str]) -> str:
    return f"{field}: Invalid value: {_quote(value)}: {'; '.join(msgs)}"


class _Parser:
    def __init__(self, s: str) -> None:
        self.items = _tokens(s)
        self.pos = 0

    def lookahead(self, values: bool) -> tuple[str, str]:
        tok, lit = self.items[self.pos]
        if values and tok in ("IN", "NOTIN"):
            tok = "ID"
        return tok, lit

    def consume(self, values: bool) -> tuple[str, str]:
        tok, lit = self.lookahead(values)
        self.pos += 1
        return tok, lit

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead(True)
            if tok in ("ID", "DOES_NOT_EXIST"):
                try:
                    reqs.append(self.requirement())
                except SelectorError as e:
                    raise SelectorError(f"unable to parse requirement: {e}") from None
                t, lit2 = self.consume(True)
                if t == "END":
                    return reqs
                if t == "COMMA":
                    t2, l2 = self.lookahead(True)
                    if t2 not in ("ID", "DOES_NOT_EXIST"):
                        raise SelectorError(f"found '{l2}', expected: identifier after ','")
                else:
                    raise SelectorError(f"found '{lit2}', expected: ',' or 'end of string'")
            elif tok == "END":
                return reqs
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        op: Op | None = None
        tok, lit = self.consume(True)
        if tok == "DOES_NOT_EXIST":
            op = Op.DOES_NOT_EXIST
            tok, lit = self.consume(True)
        if tok != "ID":
            raise SelectorError(f"found '{lit}', expected: identifier")
        key = lit
        msgs = is_qualified_name(key)
        if msgs:
            raise SelectorError(_invalid("<nil>", key, msgs))
        if op is Op.DOES_NOT_EXIST or self.lookahead(True)[0] in ("END", "COMMA"):
            # "!a=b" ends the requirement at "a"; the caller then trips over "=".
            return _new_requirement(key, op or Op.EXISTS, ())
        op = self.operator()
        if op in (Op.IN, Op.NOT_IN):
            values = self.values_list()
        else:
            values = self.exact_value()
        return _new_requirement(key, op, tuple(sorted(set(values))))

    def operator(self) -> Op:
        tok, lit = self.consume(False)
        ops = {"IN": Op.IN, "NOTIN": Op.NOT_IN, "EQUALS": Op.EQUALS, "DOUBLE_EQUALS": Op.DOUBLE_EQUALS,
               "NOT_EQUALS": Op.NOT_EQUALS, "GT": Op.GREATER_THAN, "LT": Op.LESS_THAN}
        if tok in ops:
            return ops[tok]
        raise SelectorError(f"found '{lit}', expected: {_BINARY_OPERATORS}")

    def values_list(self) -> list[str]:
        tok, lit = self.consume(True)
        if tok != "OPEN":
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead(True)
        if tok in ("ID", "COMMA"):
            values = self.identifiers()
            if self.consume(True)[0] != "CLOSE":
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == "CLOSE":
            self.consume(True)
            return [""]
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def identifiers(self) -> list[str]:
        values: list[str] = []
        while True:
            tok, lit = self.consume(True)
            if tok == "ID":
                values.append(lit)
                t2, l2 = self.lookahead(True)
                if t2 == "COMMA":
                    continue
                if t2 == "CLOSE":
                    return values
                raise SelectorError(f"found '{l2}', expected: ',' or ')'")
            if tok == "COMMA":
                if not values:
                    values.append("")
                t2, _ = self.lookahead(True)
                if t2 == "CLOSE":
                    values.append("")
                    return values
                if t2 == "COMMA":
                    self.consume(True)
                    values.append("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> list[str]:
        tok, _ = self.lookahead(True)
        if tok in ("END", "COMMA"):
            return [""]
        tok, lit = self.consume(True)
        if tok == "ID":
            return [lit]
        raise SelectorError(f"found '{lit}', expected: identifier")


def _new_requirement(key: str, op: Op, values: Sequence[str]) -> Requirement:
    """Kubernetes' NewRequirement checks, with its field paths and messages."""
    errs: list[str] = []
    key_msgs = is_qualified_name(key)
    if key_msgs:
        errs.append(_invalid("key", key, key_msgs))
    if op in (Op.IN, Op.NOT_IN) and not values:
        errs.append(f"values: Invalid value: []string{{}}: for 'in', 'notin' operators, values set can't be empty")
    elif op in (Op.EQUALS, Op.DOUBLE_EQUALS, Op.NOT_EQUALS) and len(values) != 1:
        errs.append(f"values: Invalid value: {_go_strings(values)}: exact-match compatibility requires one single value")
    elif op in (Op.EXISTS, Op.DOES_NOT_EXIST) and values:
        errs.append(f"values: Invalid value: {_go_strings(values)}: values set must be empty for exists and does not exist")
    elif op in (Op.GREATER_THAN, Op.LESS_THAN):
        if len(values) != 1:
            errs.append(f"values: Invalid value: {_go_strings(values)}: for 'Gt', 'Lt' operators, exactly one value is required")
        for i, v in enumerate(values):
            try:
                if not (-(2**63) <= int(v, 10) < 2**63) or v.strip() != v or "_" in v:
                    raise ValueError
            except ValueError:
                errs.append(_invalid(f"values[{i}]", v, ["for 'Gt', 'Lt' operators, the value must be an integer"]))
    for i, v in enumerate(values):
        msgs = is_label_value(v)
        if msgs:
            errs.append(_invalid(f"values[{i}][{key}]", v, msgs))
    if errs:
        raise SelectorError(errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]")
    return Requirement(key, op, tuple(values))


def _go_strings(values: Sequence[str]) -> str:
    return "[]string{" + ", ".join(_quote(v) for v in values) + "}"


def parse_label_selector(s: str) -> LabelSelector:
    """Parse a selector string (``labelSelector=`` or ``kubectl -l``); '' selects everything."""
    reqs = _Parser(s).parse()
    # Kubernetes sorts requirements by key, which only matters for printing.
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


_EXPR_OPS = {"In": Op.IN, "NotIn": Op.NOT_IN, "Exists": Op.EXISTS, "DoesNotExist": Op.DOES_NOT_EXIST}


def from_label_selector(sel: Mapping[str, Any] | None) -> LabelSelector:
    """A ``LabelSelector`` object (matchLabels/matchExpressions); None selects nothing, {} everything."""
    if sel is None:
        return NOTHING
    reqs: list[Requirement] = []
    for k, v in sorted((sel.get("matchLabels") or {}).items()):
        reqs.append(_new_requirement(k, Op.EQUALS, (v,)))
    for expr in sel.get("matchExpressions") or ():
        op_name = expr.get("operator")
        if op_name not in _EXPR_OPS:
            raise SelectorError(f"{_quote(str(op_name))} is not a valid label selector operator")
        op = _EXPR_OPS[op_name]
        values = tuple(sorted(set(expr.get("values") or ()))) if op in (Op.IN, Op.NOT_IN) else tuple(expr.get("values") or ())
        reqs.append(_new_requirement(expr.get("key", ""), op, values))
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


def selector_string(sel: Mapping[str, Any] | None) -> str:
    """``LabelSelector`` object -> string (what kubectl and the scale subresource print)."""
    return str(from_label_selector(sel))


# --- field selectors -------------------------------------------------------------------------

_META_ONLY = ("metadata.name", "metadata.namespace")
#: Field labels each kind accepts beyond metadata.name/namespace (Kubernetes' conversion funcs).
FIELD_LABELS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
                  "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                  "status.podIP", "status.podIPs", "status.nominatedNodeName"),
    ("", "Node"): ("metadata.name", "spec.unschedulable"),
    ("", "Namespace"): ("metadata.name", "status.phase"),
    ("", "PersistentVolume"): ("metadata.name",),
    ("", "Secret"): ("metadata.name", "metadata.namespace", "type"),
    ("", "Service"): ("metadata.name", "metadata.namespace", "spec.clusterIP", "spec.type"),
    ("", "Event"): ("metadata.name", "metadata.namespace", "involvedObject.kind", "involvedObject.namespace",
                    "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
                    "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                    "reportingComponent", "source", "type"),
    ("apps", "ReplicaSet"): ("metadata.name", "metadata.namespace", "status.replicas"),
    ("apps", "StatefulSet"): ("metadata.name", "metadata.namespace", "status.successful"),
    ("batch", "Job"): ("metadata.name", "metadata.namespace", "status.successful"),
    ("certificates.k8s.io", "CertificateSigningRequest"): ("metadata.name", "spec.signerName"),
}
_CUSTOM_CONVERSION = {k for k in FIELD_LABELS}


@dataclass(frozen=True)
class FieldTerm:
    field: str
    value: str
    negate: bool = False


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[FieldTerm, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        for t in self.terms:
            have = fields.get(t.field, "")
            if (have == t.value) == t.negate:
                return False
        return True

    def matches_object(self, obj: Mapping[str, Any]) -> bool:
        return self.matches({t.field: field_value(obj, t.field) for t in self.terms})

    def requires(self, field: str) -> str | None:
        """The value an ``=`` term demands for ``field`` (lets storage narrow a list), if any."""
        for t in self.terms:
            if t.field == field and not t.negate:
                return t.value
        return None

    @property
    def empty(self) -> bool:
        return not self.terms

    def __str__(self) -> str:
        return ",".join(f"{t.field}{'!=' if t.negate else '='}{_escape(t.value)}" for t in self.terms)


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _split_terms(s: str) -> list[str]:
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(s):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def _unescape(v: str) -> str:
    if "\\" not in v and "=" not in v and "," not in v:
        return v
    out, i = [], 0
    while i < len(v):
        ch = v[i]
        if ch == "\\":
            if i + 1 >= len(v):
                raise SelectorError("invalid field selector: invalid escape sequence: \\")
            nxt = v[i + 1]
            if nxt not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{nxt}")
            out.append(nxt)
            i += 2
            continue
        if ch in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {ch}")
        out.append(ch)
        i += 1
    return "".join(out)


def parse_field_selector(s: str) -> FieldSelector:
    """Parse ``fieldSelector=`` syntax (``a=b,c==d,e!=f``); field names are not checked here."""
    terms: list[FieldTerm] = []
    for part in sorted(_split_terms(s)):
        if not part:
            continue
        for i in range(len(part)):
            rest = part[i:]
            op = next((o for o in ("!=", "==", "=") if rest.startswith(o)), None)
            if op:
                terms.append(FieldTerm(part[:i], _unescape(part[i + len(op):]), op == "!="))
                break
        else:
            raise SelectorError(f"invalid selector: '{s}'; can't understand '{part}'")
    return FieldSelector(tuple(terms))


def check_field_labels(group: str, kind: str, sel: FieldSelector) -> None:
    """Raise Kubernetes' error for a field this kind cannot be selected by."""
    allowed = FIELD_LABELS.get((group, kind))
    for t in sel.terms:
        if allowed is None:
            if t.field not in _META_ONLY:
                raise SelectorError(f'"{t.field}" is not a known field selector: only "metadata.name", "metadata.namespace"')
        elif t.field not in allowed:
            raise SelectorError(f"field label not supported: {t.field}")


def parse_field_selector_for(group: str, kind: str, s: str) -> FieldSelector:
    sel = parse_field_selector(s)
    check_field_labels(group, kind, sel)
    return sel


def field_value(obj: Mapping[str, Any], field: str) -> str:
    """The string value Kubernetes' field-set function gives ``field`` of ``obj``."""
    cur: Any = obj
    for step in field.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(step)
    if field == "status.podIPs":
        ips = (obj.get("status") or {}).get("podIPs") or []
        return ",".join(p.get("ip", "") for p in ips)  # Kubernetes indexes only the first; close enough
    if field == "source" and isinstance(cur, Mapping):
        return str(cur.get("component", ""))
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if field in ("spec.hostNetwork", "spec.unschedulable") and cur is None:
        return "false"
    if field in ("status.replicas", "status.successful") and cur is None:
        return "0"
    if cur is None or isinstance(cur, (Mapping, list)):
        return ""
    return str(cur)
