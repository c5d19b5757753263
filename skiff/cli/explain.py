"""``explain`` text from an OpenAPI v3 document, as kubectl's ``plaintext`` template renders it.

A port of kubectl's ``explain/v2/templates/plaintext.tmpl`` (kubectl 1.28+): the same walk
through ``$ref``/``allOf``/``items``/``additionalProperties``, the same type guesses
(``<ObjectMeta>``, ``[]Container``, ``map[string]string``), the same blank lines, and
go-wordwrap's line breaking. Pure: the caller fetches the document.
"""
from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


class FieldNotFound(Exception):
    """The field path leaves the schema; ``partial`` is what kubectl has printed by then."""

    def __init__(self, field: str, partial: str) -> None:
        super().__init__(f'field "{field}" does not exist')
        self.partial = partial


def _map_props(v: Any) -> bool:
    """A non-empty schema for additionalProperties (Go templates skip `true` and `{}` alike)."""
    return isinstance(v, dict) and bool(v)


def wrap(text: str, limit: int) -> str:
    """mitchellh/go-wordwrap ``WrapString``: break at spaces, keep newlines, never split a word."""
    out: list[str] = []
    current = 0
    word: list[str] = []
    space: list[str] = []
    for ch in text:
        if ch == "\n":
            if not word:
                if current + len(space) <= limit:
                    out.extend(space)
            else:
                out.extend(space)
                out.extend(word)
                word = []
            space = []
            out.append(ch)
            current = 0
        elif ch.isspace() and ch != "\u00a0":
            if not space or word:
                current += len(space) + len(word)
                out.extend(space)
                out.extend(word)
                space, word = [], []
            space.append(ch)
        else:
            word.append(ch)
            if current + len(space) + len(word) > limit and len(word) < limit:
                out.append("\n")
                current = 0
                space = []
    if not word:
        if current + len(space) <= limit:
            out.extend(space)
    else:
        out.extend(space)
        out.extend(word)
    return "".join(out)


def indent(amount: int, text: str) -> str:
    pad = " " * amount
    return pad + text.replace("\n", "\n" + pad)


class Explainer:
    def __init__(self, document: Schema) -> None:
        self.doc = document

    def resolve(self, ref: Any) -> Schema | None:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None
        cur: Any = self.doc
        for part in ref[1:].split("/"):
            if not part:
                continue
            cur = cur.get(part) if isinstance(cur, dict) else None
            if not isinstance(cur, dict):
                return None
        return dict(cur)

    def gvk_schema(self, gvk: dict[str, str]) -> Schema | None:
        for schema in ((self.doc.get("components") or {}).get("schemas") or {}).values():
            if gvk in (schema.get("x-kubernetes-group-version-kind") or []):
                return dict(schema)
        return None

    def type_guess(self, s: Schema) -> str:
        if s.get("items"):
            return "[]" + self.type_guess(s["items"])
        if _map_props(s.get("additionalProperties")):
            return "map[string]" + self.type_guess(s["additionalProperties"])
        all_of = s.get("allOf") or []
        if all_of and not s.get("properties") and len(all_of) == 1:
            return self.type_guess(all_of[0])
        if s.get("$ref"):
            ref = s["$ref"]
            target = self.resolve(ref)
            if not target or not target.get("type") or target.get("type") == "object":
                return ref.split("/")[-1].split(".")[-1] or "Object"
            return str(target["type"])
        t = s.get("type")
        return "Object" if t == "object" or not t else str(t)

    @staticmethod
    def enum(s: Schema, *, long: bool, limit: int, indent_amount: int = 0) -> str:
        values = s.get("enum") or []
        if not values:
            return ""
        out = "ENUM:" if long else "\n" + " " * indent_amount + "enum: "
        for i, v in enumerate(values):
            if limit > -1 and i >= limit:
                out += ", ...."
                break
            if i > 0 and not long:
                out += ", "
            elif long:
                out += "\n    "
            out += '""' if v == "" else (str(v).lower() if isinstance(v, bool) else str(v))
        return out

    def description(self, s: Schema) -> str:
        s = self.resolve(s.get("$ref")) or s
        out = (str(s["description"]) + "\n") if s.get("description") else ""
        for sub in s.get("allOf") or []:
            out += self.description(sub)
        if s.get("items"):
            out += self.description(s["items"])
        if _map_props(s.get("additionalProperties")):
            out += self.description(s["additionalProperties"])
        return out

    @staticmethod
    def external_docs(s: Schema) -> str:
        docs = s.get("externalDocs") or {}
        if not docs:
            return ""
        out = "EXTERNAL DOCS:\n"
        if docs.get("description"):
            out += indent(4, wrap(str(docs["description"]), 76)) + "\n"
        if docs.get("url"):
            out += indent(4, f"URL: {docs['url']}") + "\n"
        return out

    def field_list(self, s: Schema, level: int, recursive: bool, history: frozenset[str]) -> str:
        ref = s.get("$ref") or ""
        if ref and ref in history:
            return ""
        history = history | {ref}
        resolved = self.resolve(ref) or s
        out = ""
        props = resolved.get("properties") or {}
        for name in sorted(props):
            out += self.field_detail(name, resolved, short=recursive, level=level)
            if recursive:
                out += self.field_list(props[name], level + 1, recursive, history)
        for sub in resolved.get("allOf") or []:
            out += self.field_list(sub, level, recursive, history)
        if resolved.get("items"):
            out += self.field_list(resolved["items"], level, recursive, history)
        if _map_props(resolved.get("additionalProperties")):
            out += self.field_list(resolved["additionalProperties"], level, recursive, history)
        return out

    def field_detail(self, name: str, parent: Schema, *, short: bool, level: int) -> str:
        amount = level * 2
        fs = (parent.get("properties") or {})[name]
        out = indent(amount, name) + f"\t<{self.type_guess(fs)}>"
        if name in (parent.get("required") or []):
            out += " -required-"
        out += self.enum(fs, long=False, limit=4, indent_amount=amount) + "\n"
        if not short:
            out += indent(amount + 2, wrap(str(fs.get("description") or "<no description>"), 78 - amount)) + "\n"
            docs = fs.get("externalDocs") or {}
            if docs:
                out += "\n" + indent(amount + 2, "EXTERNAL DOCS:") + "\n"
                if docs.get("description"):
                    out += indent(amount + 4, wrap(str(docs["description"]), 76 - amount)) + "\n"
                if docs.get("url"):
                    out += indent(amount + 4, f"URL: {docs['url']}") + "\n"
            out += "\n"
        return out

    def output(self, s: Schema, path: list[str], recursive: bool, history: frozenset[str]) -> str:
        ref = s.get("$ref") or ""
        resolved = self.resolve(ref) or s
        if not path:
            out = "DESCRIPTION:\n" + indent(4, wrap(self.description(resolved) or "<empty>", 76)) + "\n"
            docs = self.external_docs(resolved)
            if docs:
                out += "\n" + docs
            fields = self.field_list(resolved, 1, recursive, frozenset())
            if fields:
                out += "FIELDS:\n" + fields
            return out
        if ref and ref in history:
            return ""
        history = history | {ref}
        props = resolved.get("properties") or {}
        if props and path[0] in props:
            sub = props[path[0]]
            head = ""
            if len(path) == 1:
                head = f"FIELD: {path[0]} <{self.type_guess(sub)}>\n" + self.enum(sub, long=True, limit=-1) + "\n\n"
            return head + self.output(sub, path[1:], recursive, frozenset())
        if resolved.get("items"):
            return self.output(resolved["items"], path, recursive, history)
        if _map_props(resolved.get("additionalProperties")):
            return self.output(resolved["additionalProperties"], path, recursive, history)
        for sub in resolved.get("allOf") or []:
            text = self.output(sub, path, recursive, history)
            if text:
                return text
        return ""


def render(document: Schema, gvk: dict[str, str], path: list[str], *, recursive: bool = False) -> str:
    """The whole ``kubectl explain`` text; raises :class:`FieldNotFound` with the header printed so far."""
    header = (f"GROUP:      {gvk['group']}\n" if gvk.get("group") else "") + \
        f"KIND:       {gvk.get('kind', '')}\nVERSION:    {gvk.get('version', '')}\n\n"
    ex = Explainer(document)
    schema = ex.gvk_schema(gvk)
    if schema is None:
        raise LookupError(f"GVK {gvk} not found in OpenAPI schema")
    body = ex.output(schema, path, recursive, frozenset())
    if not body:
        raise FieldNotFound(path[-1], header)
    return header + body + "\n"


def find_gvk(document: Schema, *, prefix: str, version: str, plural: str) -> dict[str, str] | None:
    """The group-version-kind the document's operations on ``plural`` declare (as the template searches)."""
    base = f"{prefix}/{version}"
    candidates = (f"{base}/{plural}", f"{base}/{plural}/{{name}}", f"{base}/namespaces/{{namespace}}/{plural}",
                  f"{base}/namespaces/{{namespace}}/{plural}/{{name}}")
    paths = document.get("paths") or {}
    for p in candidates:
        element = paths.get(p) or {}
        for method in ("get", "post", "put", "patch", "delete"):
            gvk = (element.get(method) or {}).get("x-kubernetes-group-version-kind")
            if isinstance(gvk, dict) and gvk:
                return gvk
    return None
