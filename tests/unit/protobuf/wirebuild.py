"""A tiny protobuf wire writer for tests: fields by number, built independently of the decoder."""
from __future__ import annotations

import struct


def varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # negative ints are sign-extended to 10 bytes, as Go writes them
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def num(number: int, value: int) -> bytes:
    """A varint field (int32, int64, bool)."""
    return key(number, 0) + varint(value)


def raw(number: int, data: bytes) -> bytes:
    """A length-delimited field."""
    return key(number, 2) + varint(len(data)) + data


def s(number: int, text: str) -> bytes:
    return raw(number, text.encode())


def m(number: int, *parts: bytes) -> bytes:
    """A nested message field made of the given fields."""
    return raw(number, b"".join(parts))


def entry(number: int, k: str, value_field: bytes) -> bytes:
    """One map entry: key 1, value field 2 (give it already encoded, e.g. ``s(2, "v")``)."""
    return m(number, s(1, k), value_field)


def double(number: int, value: float) -> bytes:
    return key(number, 1) + struct.pack("<d", value)


def envelope(api_version: str, kind: str, body: bytes, *, content_type: str = "") -> bytes:
    """The magic and a runtime.Unknown around ``body``, as client-go writes it."""
    return b"k8s\x00" + m(1, s(1, api_version), s(2, kind)) + raw(2, body) + s(3, "") + s(4, content_type)


def quantity(number: int, text: str) -> bytes:
    return m(number, s(1, text))


def int_or_string(number: int, value: int | str) -> bytes:
    if isinstance(value, str):
        return m(number, num(1, 1), num(2, 0), s(3, value))
    return m(number, num(1, 0), num(2, value), s(3, ""))


def metadata(name: str, *extra: bytes, namespace: str = "") -> bytes:
    """ObjectMeta as Go writes it: every non-pointer field, zero or not, and an empty creationTimestamp."""
    return m(1, s(1, name), s(2, ""), s(3, namespace), s(4, ""), s(5, ""), s(6, ""), num(7, 0), raw(8, b""),
             *extra)
