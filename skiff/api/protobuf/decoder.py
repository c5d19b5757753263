"""Kubernetes protobuf (``application/vnd.kubernetes.protobuf``) to the JSON form of the object.

A body is the magic ``k8s\\x00`` then a ``runtime.Unknown`` envelope whose ``typeMeta`` names the
kind and whose ``raw`` is the object's message. The message is read by field number with the
tables of ``tables.json`` (made by ``deploy/codegen/gen_protobuf.py`` from the descriptors that
Kubernetes generates) and rendered as Kubernetes' Go code would render the decoded struct as
JSON:

* only fields on the wire appear (a nil pointer, slice or map without ``omitempty``, flag ``n``, is
  ``null``); a zero scalar on the wire is dropped (``omitempty``) unless the
  Go field is a pointer or has no ``omitempty`` (table flag ``k``), so ``replicas: 0`` stays;
* messages always appear (Go never omits a struct), embedded ``json:",inline"`` structs (flag
  ``i``) merge into their owner, ``bytes`` are base64, maps are objects;
* Quantity, IntOrString, Time, MicroTime, Duration, RawExtension and FieldsV1 take their own
  JSON form; an empty Time is ``null`` as in Go.

It decodes only: responses stay JSON, which every client accepts. Pure functions, no I/O past
loading the tables once.
"""
from __future__ import annotations

import base64
import json
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import orjson

from skiff.api.protobuf import wire
from skiff.api.protobuf.wire import ProtobufError

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

_TABLES = json.loads((Path(__file__).parent / "tables.json").read_text())
KINDS: dict[str, str] = _TABLES["kinds"]
MESSAGES: dict[str, dict[str, list[str]]] = _TABLES["messages"]

# Go renders a nil pointer, slice or map without ``omitempty`` as null (``ClusterRole.rules``).
_NULL_WHEN_ABSENT = {message: [name for name, _t, flags in fields.values() if "n" in flags]
                     for message, fields in MESSAGES.items()}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_GO_ZERO_TIME_SECONDS = -62135596800  # time.Time{}.Unix(): Go renders it as null


def decode(body: bytes) -> dict[str, Any]:
    """The JSON object (with ``apiVersion`` and ``kind``) that a protobuf request body carries."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic number k8s\\x00")
    envelope = _decode_unknown(body[len(MAGIC):])
    api_version, kind = envelope["apiVersion"], envelope["kind"]
    if envelope["contentEncoding"]:
        raise ProtobufError(f"runtime.Unknown contentEncoding {envelope['contentEncoding']!r} is not supported")
    raw: bytes = envelope["raw"]
    content_type = envelope["contentType"]
    if content_type and content_type != CONTENT_TYPE:
        if content_type.startswith("application/json"):
            return _json_object(raw, where=f"{kind} (raw JSON)")
        raise ProtobufError(f"runtime.Unknown contentType {content_type!r} is not supported")
    if not kind or not api_version:
        raise ProtobufError("runtime.Unknown typeMeta lacks apiVersion or kind")
    message = KINDS.get(f"{api_version}/{kind}")
    if message is None:
        raise ProtobufError(f"no protobuf message is known for kind {kind} of {api_version}")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    obj.update(decode_message(message, raw, path=kind))
    return obj


def _decode_unknown(data: bytes) -> dict[str, Any]:
    """The ``runtime.Unknown`` envelope: typeMeta (1: apiVersion, kind), raw, contentEncoding, contentType."""
    out: dict[str, Any] = {"apiVersion": "", "kind": "", "raw": b"", "contentEncoding": "", "contentType": ""}
    names = {2: "raw", 3: "contentEncoding", 4: "contentType"}
    for number, wire_type, value in wire.iter_fields(data, where="runtime.Unknown"):
        if number not in (1, 2, 3, 4):
            continue
        where = f"runtime.Unknown.{names.get(number, 'typeMeta')}"
        _expect(wire_type, wire.LENGTH_DELIMITED, where=where)
        data_ = _as_bytes(value, where=where)
        if number == 1:
            for n, t, v in wire.iter_fields(data_, where=where):
                if n in (1, 2):
                    name = "apiVersion" if n == 1 else "kind"
                    _expect(t, wire.LENGTH_DELIMITED, where=f"{where}.{name}")
                    out[name] = _text(_as_bytes(v, where=where), where=f"{where}.{name}")
        else:
            out[names[number]] = data_ if number == 2 else _text(data_, where=where)
    return out


def decode_message(message: str, data: bytes, *, path: str) -> dict[str, Any]:
    """One message of the tables as a JSON object; ``path`` (``Deployment.spec``) names it in errors."""
    fields = MESSAGES.get(message)
    if fields is None:
        raise ProtobufError(f"{path}: no table for message {message}")
    out: dict[str, Any] = {}
    for number, wire_type, value in wire.iter_fields(data, where=f"{path} ({_short(message)})"):
        spec = fields.get(str(number))
        if spec is None:
            continue  # a field newer than our tables: Go's decoder skips it too
        name, typ, flags = spec
        where = f"{path}.{name} ({_short(message)} field {number})"
        if "m" in flags:
            _expect(wire_type, wire.LENGTH_DELIMITED, where=where)
            key, item = _decode_map_entry(typ, _as_bytes(value, where=where), where=where)
            out.setdefault(name, {})[key] = item
        elif "r" in flags:
            out.setdefault(name, []).extend(_decode_repeated(typ, wire_type, value, where=where))
        elif "i" in flags:
            _expect(wire_type, wire.LENGTH_DELIMITED, where=where)
            out.update(decode_message(typ, _as_bytes(value, where=where), path=path))
        else:
            item = _decode_value(typ, wire_type, value, where=where)
            if "k" not in flags and typ in _SCALAR_TYPES and _is_zero(item):
                out.pop(name, None)
            else:
                out[name] = item
    for name in _NULL_WHEN_ABSENT[message]:
        out.setdefault(name, None)
    return out


def _is_zero(item: Any) -> bool:
    """Go's ``omitempty`` test for the scalars: "", 0, false (and an empty []byte, base64 "")."""
    return isinstance(item, (str, int, float)) and not item


def _decode_map_entry(typ: str, data: bytes, *, where: str) -> tuple[str, Any]:
    key, value, seen = "", None, False
    for number, wire_type, raw in wire.iter_fields(data, where=f"{where} map entry"):
        if number == 1:
            _expect(wire_type, wire.LENGTH_DELIMITED, where=f"{where} map key")
            key = _text(_as_bytes(raw, where=where), where=f"{where} map key")
        elif number == 2:
            value, seen = _decode_value(typ, wire_type, raw, where=f"{where}[{key!r}]"), True
    if not seen:  # an absent value is the zero value of its type
        if typ in _VARINT_TYPES:
            value = _VARINT_TYPES[typ](0)
        elif typ in _FIXED_TYPES:
            value = 0.0
        else:
            value = _decode_value(typ, wire.LENGTH_DELIMITED, b"", where=f"{where}[{key!r}]")
    return key, value


def _decode_repeated(typ: str, wire_type: int, value: int | bytes, *, where: str) -> list[Any]:
    if typ in _VARINT_TYPES and wire_type == wire.LENGTH_DELIMITED:  # packed
        return [_decode_value(typ, wire.VARINT, v, where=where)
                for v in wire.iter_packed_varints(_as_bytes(value, where=where), where=where)]
    if typ in _FIXED_TYPES and wire_type == wire.LENGTH_DELIMITED:
        size = 8 if typ == "double" else 4
        data = _as_bytes(value, where=where)
        if len(data) % size:
            raise ProtobufError(f"{where}: packed {typ} data of {len(data)} bytes")
        return [_decode_value(typ, _FIXED_TYPES[typ], int.from_bytes(data[i:i + size], "little"), where=where)
                for i in range(0, len(data), size)]
    return [_decode_value(typ, wire_type, value, where=where)]


def _decode_value(typ: str, wire_type: int, value: int | bytes, *, where: str) -> Any:
    if typ in _VARINT_TYPES:
        _expect(wire_type, wire.VARINT, where=where)
        return _VARINT_TYPES[typ](_as_int(value, where=where))
    if typ in _FIXED_TYPES:
        _expect(wire_type, _FIXED_TYPES[typ], where=where)
        raw = _as_int(value, where=where)
        if typ == "double":
            return struct.unpack("<d", raw.to_bytes(8, "little"))[0]
        return struct.unpack("<f", raw.to_bytes(4, "little"))[0]
    _expect(wire_type, wire.LENGTH_DELIMITED, where=where)
    data = _as_bytes(value, where=where)
    if typ == "string":
        return _text(data, where=where)
    if typ == "bytes":
        return base64.b64encode(data).decode("ascii")
    special = _SPECIAL.get(typ)
    if special is not None:
        return special(data, where)
    return decode_message(typ, data, path=where.split(" (", 1)[0])


# --- special types ------------------------------------------------------------------------------


def _sub_fields(data: bytes, where: str) -> dict[int, int | bytes]:
    return {number: value for number, _w, value in wire.iter_fields(data, where=where)}


def _quantity(data: bytes, where: str) -> str:
    value = _sub_fields(data, where).get(1, b"")
    return _text(_as_bytes(value, where=where), where=f"{where} Quantity") or "0"


def _int_or_string(data: bytes, where: str) -> int | str:
    fields = _sub_fields(data, where)
    if _as_int(fields.get(1, 0), where=where) == 1:
        return _text(_as_bytes(fields.get(3, b""), where=where), where=f"{where} IntOrString.strVal")
    return wire.to_signed(_as_int(fields.get(2, 0), where=where), 32)


def _timestamp(data: bytes, where: str, *, micro: bool) -> str | None:
    fields = _sub_fields(data, where)
    seconds = wire.to_signed(_as_int(fields.get(1, 0), where=where), 64)
    nanos = wire.to_signed(_as_int(fields.get(2, 0), where=where), 32)
    if not data or (seconds == _GO_ZERO_TIME_SECONDS and nanos == 0):
        return None
    try:
        moment = _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError as exc:
        raise ProtobufError(f"{where}: time of {seconds} seconds is out of range") from exc
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(data: bytes, where: str) -> str:
    return go_duration(wire.to_signed(_as_int(_sub_fields(data, where).get(1, 0), where=where), 64))


def go_duration(nanoseconds: int) -> str:
    """Go's ``time.Duration.String()``: ``1h2m3.5s``, ``1.5ms``, ``0s``."""
    if nanoseconds == 0:
        return "0s"
    sign, u = ("-" if nanoseconds < 0 else ""), abs(nanoseconds)
    if u < 1_000_000_000:
        unit, prec = (("ns", 0) if u < 1_000 else ("µs", 3) if u < 1_000_000 else ("ms", 6))
        return sign + _frac(u, prec) + unit
    whole, frac = divmod(u, 1_000_000_000)
    text = f"{whole % 60}{_frac(frac, 9)[1:] if frac else ''}s"
    minutes = whole // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes // 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


def _frac(value: int, prec: int) -> str:
    """``value / 10**prec`` with the fraction's trailing zeros (and a bare point) dropped."""
    whole, frac = divmod(value, 10 ** prec) if prec else (value, 0)
    return f"{whole}." + f"{frac:0{prec}d}".rstrip("0") if frac else str(whole)


def _raw_json(data: bytes, where: str) -> Any:
    raw = _as_bytes(_sub_fields(data, where).get(1, b""), where=where)
    if not raw:
        return None
    if raw.startswith(MAGIC):  # a RawExtension holding a protobuf-encoded object
        return decode(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtobufError(f"{where}: raw value is not JSON: {exc}") from exc


def _json_object(raw: bytes, *, where: str) -> dict[str, Any]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtobufError(f"{where}: {exc}") from exc
    if not isinstance(obj, dict):
        raise ProtobufError(f"{where}: not a JSON object")
    return obj


_SPECIAL: dict[str, Callable[[bytes, str], Any]] = {
    "apimachinery.pkg.api.resource.Quantity": _quantity,
    "apimachinery.pkg.util.intstr.IntOrString": _int_or_string,
    "apimachinery.pkg.apis.meta.v1.Time": lambda d, w: _timestamp(d, w, micro=False),
    "apimachinery.pkg.apis.meta.v1.MicroTime": lambda d, w: _timestamp(d, w, micro=True),
    "apimachinery.pkg.apis.meta.v1.Duration": _duration,
    "apimachinery.pkg.apis.meta.v1.FieldsV1": _raw_json,
    "apimachinery.pkg.runtime.RawExtension": _raw_json,
}
_VARINT_TYPES: dict[str, Callable[[int], Any]] = {
    "int32": lambda v: wire.to_signed(v, 32), "int64": lambda v: wire.to_signed(v, 64),
    "uint32": lambda v: v & 0xFFFFFFFF, "uint64": lambda v: v, "bool": lambda v: v != 0,
}
_FIXED_TYPES = {"double": wire.FIXED64, "float": wire.FIXED32}
_LENGTH_TYPES = {"string", "bytes"}
_SCALAR_TYPES = {*_VARINT_TYPES, *_FIXED_TYPES, *_LENGTH_TYPES}  # Go omits their zero under omitempty


# --- small helpers ---------------------------------------------------------------------------------


def _expect(actual: int, expected: int, *, where: str) -> None:
    if actual != expected:
        raise ProtobufError(f"{where}: wire type {actual}, expected {expected}")


def _as_bytes(value: int | bytes, *, where: str = "value") -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError(f"{where}: a number where length-delimited data was expected")
    return value


def _as_int(value: int | bytes, *, where: str = "value") -> int:
    if not isinstance(value, int):
        raise ProtobufError(f"{where}: length-delimited data where a number was expected")
    return value


def _text(data: bytes, *, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtobufError(f"{where}: string is not valid UTF-8") from exc


def _short(message: str) -> str:
    return message.rsplit(".", 1)[-1]
