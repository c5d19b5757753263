"""SPDY/3.1 framing: the frames kubectl's port-forward sends inside its WebSocket tunnel.

kubectl ≥ 1.30 opens ``pods/portforward`` as a WebSocket with the subprotocol
``SPDY/3.1+portforward.k8s.io`` and runs an ordinary SPDY/3.1 session (Go's
``moby/spdystream``) over the bytes of its binary messages. This module is the sans-I/O
part of the server side: :class:`FrameParser` turns bytes (in any chunking) into frames,
:class:`FrameEncoder` turns frames into bytes. Header blocks are zlib streams, one per
direction for the whole session, primed with the SPDY/3 dictionary and flushed with
``Z_SYNC_FLUSH`` after each block (draft-mbelshe-httpbis-spdy-00 §2.6.10).

Not here: flow control is not enforced (spdystream neither sends nor honours
WINDOW_UPDATE; the frame is parsed and left to the caller), and no I/O.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Union

VERSION = 3
# control frame types
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
# flags
FLAG_FIN, FLAG_UNIDIRECTIONAL = 0x01, 0x02
FLAG_SETTINGS_CLEAR = 0x01
# RST_STREAM status codes
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, UNSUPPORTED_VERSION, CANCEL = 1, 2, 3, 4, 5
INTERNAL_ERROR, FLOW_CONTROL_ERROR, STREAM_IN_USE, STREAM_ALREADY_CLOSED = 6, 7, 8, 9
# GOAWAY status codes
GOAWAY_OK, GOAWAY_PROTOCOL_ERROR, GOAWAY_INTERNAL_ERROR = 0, 1, 2
MAX_FRAME_LENGTH = (1 << 24) - 1
MAX_HEADER_BLOCK = 1 << 20

Headers = dict[str, list[str]]

_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges "
    "age allow authorization cache-control connection content-base content-encoding content-language "
    "content-length content-location content-md5 content-range content-type date etag expect expires from "
    "host if-match if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after server te trailer "
    "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status 200|OK version "
    "HTTP/1.1 url public set-cookie keep-alive origin").split()
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")


def _dictionary() -> bytes:
    """The SPDY/3 header dictionary: length-prefixed words (``|`` stands for a space), then text."""
    out = bytearray()
    for word in _WORDS:
        w = word.replace("|", " ").encode()
        out += struct.pack(">I", len(w)) + w
    return bytes(out) + _TAIL.encode()


DICTIONARY = _dictionary()


class SpdyError(Exception):
    """A session-level protocol error: the peer sent something SPDY/3.1 does not allow."""


@dataclass
class DataFrame:
    stream_id: int
    data: bytes = b""
    fin: bool = False


@dataclass
class SynStream:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    associated_id: int = 0
    priority: int = 0
    slot: int = 0
    fin: bool = False
    unidirectional: bool = False


@dataclass
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    fin: bool = False


@dataclass
class HeadersFrame:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    fin: bool = False


@dataclass
class RstStream:
    stream_id: int
    status: int


@dataclass
class Settings:
    entries: list[tuple[int, int, int]] = field(default_factory=list)  # (flags, id, value)
    clear: bool = False


@dataclass
class Ping:
    id: int


@dataclass
class GoAway:
    last_good_stream_id: int
    status: int = GOAWAY_OK


@dataclass
class WindowUpdate:
    stream_id: int
    delta: int


Frame = Union[DataFrame, SynStream, SynReply, HeadersFrame, RstStream, Settings, Ping, GoAway, WindowUpdate]


# -- header blocks ----------------------------------------------------------------------------

def encode_header_block(headers: Headers) -> bytes:
    """The uncompressed name/value block: names lower-cased, several values joined by NUL."""
    out = bytearray(struct.pack(">I", len(headers)))
    for name, values in headers.items():
        n = name.lower().encode()
        v = b"\x00".join(x.encode() for x in values)
        out += struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v
    return bytes(out)


def decode_header_block(block: bytes) -> Headers:
    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(block):
            raise SpdyError("header block is truncated")
        chunk = block[pos:pos + n]
        pos += n
        return chunk

    pos = 0
    (count,) = struct.unpack(">I", take(4))
    headers: Headers = {}
    for _ in range(count):
        (nlen,) = struct.unpack(">I", take(4))
        if nlen == 0:
            raise SpdyError("header block has an empty name")
        name = take(nlen).decode("utf-8", "replace")
        if name != name.lower():
            raise SpdyError(f"header name {name!r} is not lower-case")
        (vlen,) = struct.unpack(">I", take(4))
        values = take(vlen).decode("utf-8", "replace").split("\x00")
        headers.setdefault(name, []).extend(values)
    return headers


class HeaderCompressor:
    """One direction's compression context: every block continues the same zlib stream."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                   zdict=DICTIONARY)

    def compress(self, headers: Headers) -> bytes:
        return self._z.compress(encode_header_block(headers)) + self._z.flush(zlib.Z_SYNC_FLUSH)


class HeaderDecompressor:
    def __init__(self) -> None:
        self._z = zlib.decompressobj(zdict=DICTIONARY)

    def decompress(self, data: bytes) -> Headers:
        try:
            block = self._z.decompress(data, MAX_HEADER_BLOCK)
        except zlib.error as exc:
            raise SpdyError(f"header block does not decompress: {exc}") from None
        if self._z.unconsumed_tail:
            raise SpdyError("header block is too large")
        return decode_header_block(block)


# -- frames -----------------------------------------------------------------------------------

def _control(ftype: int, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME_LENGTH:
        raise ValueError(f"frame payload of {len(payload)} bytes is over the 24-bit length")
    return struct.pack(">HHI", 0x8000 | VERSION, ftype, (flags << 24) | len(payload)) + payload


class FrameEncoder:
    """Frames to bytes; keeps this side's header compression context."""

    def __init__(self) -> None:
        self._headers = HeaderCompressor()

    def encode(self, frame: Frame) -> bytes:
        if isinstance(frame, DataFrame):
            if len(frame.data) > MAX_FRAME_LENGTH:
                raise ValueError("DATA frame over the 24-bit length")
            return struct.pack(">II", frame.stream_id & 0x7FFFFFFF,
                               ((FLAG_FIN if frame.fin else 0) << 24) | len(frame.data)) + frame.data
        if isinstance(frame, SynStream):
            flags = (FLAG_FIN if frame.fin else 0) | (FLAG_UNIDIRECTIONAL if frame.unidirectional else 0)
            head = struct.pack(">IIBB", frame.stream_id & 0x7FFFFFFF, frame.associated_id & 0x7FFFFFFF,
                               (frame.priority & 0x7) << 5, frame.slot)
            return _control(SYN_STREAM, flags, head + self._headers.compress(frame.headers))
        if isinstance(frame, (SynReply, HeadersFrame)):
            ftype = SYN_REPLY if isinstance(frame, SynReply) else HEADERS
            return _control(ftype, FLAG_FIN if frame.fin else 0,
                            struct.pack(">I", frame.stream_id & 0x7FFFFFFF) + self._headers.compress(frame.headers))
        if isinstance(frame, RstStream):
            return _control(RST_STREAM, 0, struct.pack(">II", frame.stream_id & 0x7FFFFFFF, frame.status))
        if isinstance(frame, Settings):
            body = struct.pack(">I", len(frame.entries)) + b"".join(
                struct.pack(">II", (fl << 24) | (sid & 0xFFFFFF), value) for fl, sid, value in frame.entries)
            return _control(SETTINGS, FLAG_SETTINGS_CLEAR if frame.clear else 0, body)
        if isinstance(frame, Ping):
            return _control(PING, 0, struct.pack(">I", frame.id))
        if isinstance(frame, GoAway):
            return _control(GOAWAY, 0, struct.pack(">II", frame.last_good_stream_id & 0x7FFFFFFF, frame.status))
        if isinstance(frame, WindowUpdate):
            return _control(WINDOW_UPDATE, 0, struct.pack(">II", frame.stream_id & 0x7FFFFFFF,
                                                          frame.delta & 0x7FFFFFFF))
        raise TypeError(f"not a SPDY frame: {frame!r}")


class FrameParser:
    """Bytes in (any chunking), whole frames out; keeps the peer's header decompression context.

    Unknown control frame types are skipped, as SPDY/3 asks; a wrong version or a malformed
    frame raises :class:`SpdyError` (the session must end with GOAWAY)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._headers = HeaderDecompressor()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            word, flags_len = struct.unpack_from(">II", self._buf)
            length = flags_len & 0xFFFFFF
            if len(self._buf) < 8 + length:
                break
            flags = flags_len >> 24
            payload = bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            if word & 0x80000000:
                frame = self._control((word >> 16) & 0x7FFF, word & 0xFFFF, flags, payload)
                if frame is not None:
                    frames.append(frame)
            else:
                frames.append(DataFrame(word & 0x7FFFFFFF, payload, bool(flags & FLAG_FIN)))
        return frames

    def _control(self, version: int, ftype: int, flags: int, p: bytes) -> Frame | None:
        if version != VERSION:
            raise SpdyError(f"unsupported SPDY version {version}")

        def fixed(n: int) -> None:
            if len(p) != n:
                raise SpdyError(f"control frame type {ftype} has length {len(p)}, not {n}")

        fin = bool(flags & FLAG_FIN)
        if ftype == SYN_STREAM:
            if len(p) < 10:
                raise SpdyError("SYN_STREAM is too short")
            sid, assoc, prio, slot = struct.unpack_from(">IIBB", p)
            return SynStream(sid & 0x7FFFFFFF, self._headers.decompress(p[10:]), assoc & 0x7FFFFFFF, prio >> 5,
                             slot, fin, bool(flags & FLAG_UNIDIRECTIONAL))
        if ftype in (SYN_REPLY, HEADERS):
            if len(p) < 4:
                raise SpdyError("SYN_REPLY/HEADERS is too short")
            (sid,) = struct.unpack_from(">I", p)
            cls = SynReply if ftype == SYN_REPLY else HeadersFrame
            return cls(sid & 0x7FFFFFFF, self._headers.decompress(p[4:]), fin)
        if ftype == RST_STREAM:
            fixed(8)
            sid, code = struct.unpack(">II", p)
            return RstStream(sid & 0x7FFFFFFF, code)
        if ftype == SETTINGS:
            if len(p) < 4:
                raise SpdyError("SETTINGS is too short")
            (count,) = struct.unpack_from(">I", p)
            fixed(4 + 8 * count)
            entries = []
            for i in range(count):
                head, value = struct.unpack_from(">II", p, 4 + 8 * i)
                entries.append((head >> 24, head & 0xFFFFFF, value))
            return Settings(entries, bool(flags & FLAG_SETTINGS_CLEAR))
        if ftype == PING:
            fixed(4)
            return Ping(struct.unpack(">I", p)[0])
        if ftype == GOAWAY:
            fixed(8)
            last, code = struct.unpack(">II", p)
            return GoAway(last & 0x7FFFFFFF, code)
        if ftype == WINDOW_UPDATE:
            fixed(8)
            sid, delta = struct.unpack(">II", p)
            return WindowUpdate(sid & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        return None


def header(headers: Headers, name: str) -> str:
    """The first value of a header (names compare case-insensitively), or ''."""
    values = headers.get(name.lower()) or []
    return values[0] if values else ""


__all__ = [
    "DICTIONARY", "DataFrame", "Frame", "FrameEncoder", "FrameParser", "GoAway", "HeadersFrame", "Ping", "RstStream",
    "Settings", "SpdyError", "SynReply", "SynStream", "WindowUpdate", "header",
]
