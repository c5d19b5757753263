"""The protobuf wire format, read only: varints and the (field number, wire type, value) stream.

Knows nothing of Kubernetes types; the decoder gives each value its meaning. Errors are
``ProtobufError`` with the name of the message being read, so a caller can tell which part of
a body was malformed. Pure functions.
"""
from __future__ import annotations

from typing import Iterator

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
_MASK64 = (1 << 64) - 1


class ProtobufError(ValueError):
    """A protobuf body that cannot be decoded; the message names the message type and field."""


def read_varint(data: bytes, pos: int, *, where: str) -> tuple[int, int]:
    """The unsigned varint at ``pos`` and the position after it."""
    result = shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise ProtobufError(f"{where}: truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError(f"{where}: varint longer than 10 bytes")


def iter_fields(data: bytes, *, where: str) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value): an int for varints and fixed, bytes for length-delimited.

    Fixed-width values are returned as their little-endian unsigned integer.
    """
    pos, end = 0, len(data)
    while pos < end:
        key, pos = read_varint(data, pos, where=where)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError(f"{where}: field number 0 is invalid")
        field_where = f"{where} field {number}"
        if wire == VARINT:
            value, pos = read_varint(data, pos, where=field_where)
            yield number, wire, value
        elif wire == LENGTH_DELIMITED:
            size, pos = read_varint(data, pos, where=field_where)
            if pos + size > end:
                raise ProtobufError(f"{field_where}: length {size} runs past the end of the data")
            yield number, wire, data[pos:pos + size]
            pos += size
        elif wire in (FIXED64, FIXED32):
            width = 8 if wire == FIXED64 else 4
            if pos + width > end:
                raise ProtobufError(f"{field_where}: truncated fixed-width value")
            yield number, wire, int.from_bytes(data[pos:pos + width], "little")
            pos += width
        else:
            raise ProtobufError(f"{field_where}: unsupported wire type {wire}")


def iter_packed_varints(data: bytes, *, where: str) -> Iterator[int]:
    pos = 0
    while pos < len(data):
        value, pos = read_varint(data, pos, where=where)
        yield value


def to_signed(value: int, bits: int) -> int:
    """Two's complement of the low ``bits`` of a varint (negative int32s are sign-extended to 64)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value
