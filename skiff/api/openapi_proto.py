"""Protobuf encoding of a swagger 2.0 document as gnostic's ``openapi.v2.Document``.

kubectl (and client-go's ``OpenAPISchema``) fetch ``/openapi/v2`` only as
``application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and parse it with gnostic's
generated types, so the API server must serve this encoding. The messages used are few, so the
wire format is written directly from the field numbers of gnostic's ``openapiv2/OpenAPIv2.proto``
(no generated code, no protoc). Vendor extensions and defaults are ``Any`` messages carrying
their value as YAML text (JSON is valid YAML), as kube-openapi produces them. Pure functions.
"""
from __future__ import annotations

import json
import struct
from typing import Any, Iterable, Mapping

CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


# --- wire format ------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _bytes(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _str(field: int, s: str | None) -> bytes:
    return _bytes(field, s.encode()) if s else b""


def _strs(field: int, values: Iterable[str] | None) -> bytes:
    return b"".join(_bytes(field, v.encode()) for v in values or ())


def _msg(field: int, data: bytes, *, always: bool = False) -> bytes:
    """A nested message; an empty one is written only when ``always`` (it must be present)."""
    return _bytes(field, data) if data or always else b""


def _bool(field: int, v: Any) -> bytes:
    return _key(field, 0) + b"\x01" if v else b""


def _int(field: int, v: Any) -> bytes:
    return _key(field, 0) + _varint(int(v)) if v else b""


def _double(field: int, v: Any) -> bytes:
    return _key(field, 1) + struct.pack("<d", float(v)) if v else b""


# --- openapi.v2 messages ------------------------------------------------------------------------


def _any(value: Any) -> bytes:
    """``Any{yaml: ...}`` (field 2)."""
    return _str(2, json.dumps(value, separators=(",", ":"), sort_keys=True) + "\n")


def _named_any(name: str, value: Any) -> bytes:
    return _str(1, name) + _bytes(2, _any(value))


def _extensions(field: int, obj: Mapping[str, Any]) -> bytes:
    return b"".join(_bytes(field, _named_any(k, v)) for k, v in obj.items() if k.startswith("x-"))


def schema(s: Mapping[str, Any]) -> bytes:
    out = [_str(1, s.get("$ref")), _str(2, s.get("format")), _str(3, s.get("title")),
           _str(4, s.get("description"))]
    if "default" in s:
        out.append(_bytes(5, _any(s["default"])))
    out += [_double(6, s.get("multipleOf")), _double(7, s.get("maximum")), _bool(8, s.get("exclusiveMaximum")),
            _double(9, s.get("minimum")), _bool(10, s.get("exclusiveMinimum")), _int(11, s.get("maxLength")),
            _int(12, s.get("minLength")), _str(13, s.get("pattern")), _int(14, s.get("maxItems")),
            _int(15, s.get("minItems")), _bool(16, s.get("uniqueItems")), _int(17, s.get("maxProperties")),
            _int(18, s.get("minProperties")), _strs(19, s.get("required"))]
    out += [_bytes(20, _any(v)) for v in s.get("enum") or ()]
    ap = s.get("additionalProperties")
    if isinstance(ap, Mapping):
        out.append(_bytes(21, _bytes(1, schema(ap))))
    elif isinstance(ap, bool):
        out.append(_bytes(21, _key(2, 0) + (b"\x01" if ap else b"\x00")))
    if s.get("type"):
        t = s["type"]
        out.append(_bytes(22, _strs(1, [t] if isinstance(t, str) else t)))
    items = s.get("items")
    if isinstance(items, Mapping):
        out.append(_bytes(23, _bytes(1, schema(items))))
    elif isinstance(items, list):
        out.append(_bytes(23, b"".join(_bytes(1, schema(i)) for i in items)))
    out += [_bytes(24, schema(a)) for a in s.get("allOf") or ()]
    props = s.get("properties")
    if isinstance(props, Mapping):
        out.append(_bytes(25, b"".join(_bytes(1, _str(1, k) + _bytes(2, schema(v))) for k, v in props.items())))
    out += [_str(26, s.get("discriminator")), _bool(27, s.get("readOnly"))]
    out.append(_extensions(31, s))
    return b"".join(out)


def _parameter(p: Mapping[str, Any]) -> bytes:
    """``ParametersItem`` holding a ``Parameter`` (or a ``JsonReference`` for ``$ref``)."""
    if "$ref" in p:
        return _bytes(2, _str(1, p["$ref"]) + _str(2, p.get("description")))
    where = p.get("in")
    if where == "body":
        body = (_str(1, p.get("description")) + _str(2, p.get("name")) + _str(3, where)
                + _bool(4, p.get("required")) + _msg(5, schema(p.get("schema") or {}), always=True)
                + _extensions(6, p))
        param = _bytes(1, body)
    else:
        # Header/Path/Query sub-schemas share a layout up to `type` except for allow_empty_value.
        if where == "query":
            sub = (_bool(1, p.get("required")) + _str(2, where) + _str(3, p.get("description"))
                   + _str(4, p.get("name")) + _bool(5, p.get("allowEmptyValue")) + _str(6, p.get("type"))
                   + _str(7, p.get("format")) + _bool(20, p.get("uniqueItems")) + _extensions(23, p))
            which = 3
        elif where == "path":
            sub = (_bool(1, p.get("required")) + _str(2, where) + _str(3, p.get("description"))
                   + _str(4, p.get("name")) + _str(5, p.get("type")) + _str(6, p.get("format"))
                   + _bool(19, p.get("uniqueItems")) + _extensions(22, p))
            which = 4
        else:  # header
            sub = (_bool(1, p.get("required")) + _str(2, where) + _str(3, p.get("description"))
                   + _str(4, p.get("name")) + _str(5, p.get("type")) + _str(6, p.get("format"))
                   + _bool(19, p.get("uniqueItems")) + _extensions(22, p))
            which = 1
        param = _bytes(2, _bytes(which, sub))
    return _bytes(1, param)


def _responses(rs: Mapping[str, Any]) -> bytes:
    out = []
    for code, r in rs.items():
        if code.startswith("x-"):
            continue
        if "$ref" in r:
            value = _bytes(2, _str(1, r["$ref"]))
        else:
            body = _str(1, r.get("description"))
            if isinstance(r.get("schema"), Mapping):
                body += _bytes(2, _bytes(1, schema(r["schema"])))
            body += _extensions(5, r)
            value = _bytes(1, body)
        out.append(_bytes(1, _str(1, code) + _bytes(2, value)))
    return b"".join(out) + _extensions(2, rs)


def _operation(o: Mapping[str, Any]) -> bytes:
    return (_strs(1, o.get("tags")) + _str(2, o.get("summary")) + _str(3, o.get("description"))
            + _str(5, o.get("operationId")) + _strs(6, o.get("produces")) + _strs(7, o.get("consumes"))
            + b"".join(_bytes(8, _parameter(p)) for p in o.get("parameters") or ())
            + _msg(9, _responses(o.get("responses") or {}), always=True) + _strs(10, o.get("schemes"))
            + _bool(11, o.get("deprecated")) + _extensions(13, o))


_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item(item: Mapping[str, Any]) -> bytes:
    out = [_str(1, item.get("$ref"))]
    for method, field in _METHODS.items():
        if isinstance(item.get(method), Mapping):
            out.append(_bytes(field, _operation(item[method])))
    out += [_bytes(9, _parameter(p)) for p in item.get("parameters") or ()]
    out.append(_extensions(10, item))
    return b"".join(out)


def _security_definitions(defs: Mapping[str, Any]) -> bytes:
    out = []
    for name, d in defs.items():
        if d.get("type") == "apiKey":
            item = _bytes(2, _str(1, d.get("type")) + _str(2, d.get("name")) + _str(3, d.get("in"))
                          + _str(4, d.get("description")) + _extensions(5, d))
        elif d.get("type") == "basic":
            item = _bytes(1, _str(1, d.get("type")) + _str(2, d.get("description")) + _extensions(3, d))
        else:
            continue
        out.append(_bytes(1, _str(1, name) + _bytes(2, item)))
    return b"".join(out)


def _security(reqs: Iterable[Mapping[str, Any]]) -> bytes:
    out = []
    for req in reqs:
        pairs = b"".join(_bytes(1, _str(1, k) + _bytes(2, _strs(1, v))) for k, v in req.items())
        out.append(_bytes(12, pairs))
    return b"".join(out)


def document(doc: Mapping[str, Any]) -> bytes:
    """The ``openapi.v2.Document`` wire encoding of a swagger 2.0 JSON document."""
    info = doc.get("info") or {}
    paths = doc.get("paths") or {}
    out = [_str(1, doc.get("swagger")),
           _bytes(2, _str(1, info.get("title")) + _str(2, info.get("version")) + _str(3, info.get("description"))),
           _str(3, doc.get("host")), _str(4, doc.get("basePath")), _strs(5, doc.get("schemes")),
           _strs(6, doc.get("consumes")), _strs(7, doc.get("produces")),
           _bytes(8, _extensions(1, paths) + b"".join(
               _bytes(2, _str(1, p) + _bytes(2, _path_item(item))) for p, item in paths.items() if p.startswith("/"))),
           _bytes(9, b"".join(_bytes(1, _str(1, n) + _bytes(2, schema(s)))
                              for n, s in (doc.get("definitions") or {}).items()))]
    out.append(_security(doc.get("security") or ()))
    if doc.get("securityDefinitions"):
        out.append(_bytes(13, _security_definitions(doc["securityDefinitions"])))
    out.append(_extensions(16, doc))
    return b"".join(out)
