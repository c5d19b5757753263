"""SPDY/3.1 framing: every frame kind round-trips, header blocks share one zlib stream per
direction, bytes may arrive in any chunking, and malformed input is a clear SpdyError."""
from __future__ import annotations

import struct
import zlib

import pytest

from skiff.machinery import spdy


def test_dictionary_is_the_spdy3_one() -> None:
    d = spdy.DICTIONARY
    assert len(d) == 1423
    assert d.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert b"\x00\x00\x00\x06status\x00\x00\x00\x06200 OK" in d
    assert d.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


FRAMES = [
    spdy.DataFrame(1, b"hello"),
    spdy.DataFrame(3, b"", fin=True),
    spdy.SynStream(1, {"streamtype": ["error"], "port": ["80"], "requestid": ["0"]}),
    spdy.SynStream(5, {"a": ["x", "y"]}, associated_id=3, priority=7, fin=True, unidirectional=True),
    spdy.SynReply(1, {}),
    spdy.SynReply(7, {"status": ["200"]}, fin=True),
    spdy.HeadersFrame(9, {"x-more": ["1"]}),
    spdy.RstStream(3, spdy.REFUSED_STREAM),
    spdy.Settings([(0, 4, 100), (1, 7, 65536)], clear=True),
    spdy.Ping(11),
    spdy.GoAway(9, spdy.GOAWAY_PROTOCOL_ERROR),
    spdy.WindowUpdate(0, 1 << 20),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: type(f).__name__)
def test_each_frame_round_trips(frame: spdy.Frame) -> None:
    assert spdy.FrameParser().feed(spdy.FrameEncoder().encode(frame)) == [frame]


def test_a_session_byte_by_byte_keeps_the_header_context() -> None:
    """Later header blocks refer back to earlier ones: one compressor, one decompressor per direction."""
    enc, parser = spdy.FrameEncoder(), spdy.FrameParser()
    wire = b"".join(enc.encode(f) for f in FRAMES * 3)
    out: list[spdy.Frame] = []
    for i in range(len(wire)):
        out += parser.feed(wire[i:i + 1])
    assert out == FRAMES * 3


def test_control_frame_layout_on_the_wire() -> None:
    wire = spdy.FrameEncoder().encode(spdy.Ping(0x01020304))
    assert wire == bytes([0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 1, 2, 3, 4])
    data = spdy.FrameEncoder().encode(spdy.DataFrame(5, b"ab", fin=True))
    assert data == bytes([0, 0, 0, 5, 0x01, 0, 0, 2]) + b"ab"


def test_header_block_is_zlib_with_the_dictionary() -> None:
    """What a peer (Go's spdystream) decodes: a zlib stream whose DICTID is the SPDY/3 dictionary's."""
    wire = spdy.FrameEncoder().encode(spdy.SynReply(1, {"port": ["8080"]}))
    block = wire[12:]
    assert struct.unpack(">I", block[2:6])[0] == zlib.adler32(spdy.DICTIONARY)
    plain = zlib.decompressobj(zdict=spdy.DICTIONARY).decompress(block)
    assert plain == struct.pack(">I", 1) + struct.pack(">I", 4) + b"port" + struct.pack(">I", 4) + b"8080"


def test_header_names_are_lower_cased_and_looked_up_case_insensitively() -> None:
    (f,) = spdy.FrameParser().feed(spdy.FrameEncoder().encode(spdy.SynStream(1, {"StreamType": ["data"]})))
    assert isinstance(f, spdy.SynStream) and f.headers == {"streamtype": ["data"]}
    assert spdy.header(f.headers, "streamType") == "data" and spdy.header(f.headers, "port") == ""


def test_unknown_control_frames_are_skipped() -> None:
    unknown = struct.pack(">HHI", 0x8003, 10, 3) + b"abc"
    assert spdy.FrameParser().feed(unknown + spdy.FrameEncoder().encode(spdy.Ping(1))) == [spdy.Ping(1)]


def test_incomplete_frames_wait_for_more_bytes() -> None:
    parser = spdy.FrameParser()
    wire = spdy.FrameEncoder().encode(spdy.DataFrame(1, b"x" * 100))
    assert parser.feed(wire[:50]) == []
    assert parser.feed(wire[50:]) == [spdy.DataFrame(1, b"x" * 100)]


BAD = [
    ("version 2", struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\0\0\0\1", "unsupported SPDY version 2"),
    ("short ping", struct.pack(">HHI", 0x8003, spdy.PING, 2) + b"\0\1", "length 2, not 4"),
    ("short syn_stream", struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, 4) + b"\0\0\0\1", "too short"),
    ("not zlib", struct.pack(">HHI", 0x8003, spdy.SYN_REPLY, 8) + b"\0\0\0\1garb", "does not decompress"),
    ("settings count", struct.pack(">HHI", 0x8003, spdy.SETTINGS, 4) + b"\0\0\0\2", "length 4, not 20"),
]


@pytest.mark.parametrize("wire,message", [(w, m) for _, w, m in BAD], ids=[i for i, _, _ in BAD])
def test_malformed_frames_raise(wire: bytes, message: str) -> None:
    with pytest.raises(spdy.SpdyError, match=message):
        spdy.FrameParser().feed(wire)


def test_truncated_and_upper_case_header_blocks_raise() -> None:
    with pytest.raises(spdy.SpdyError, match="truncated"):
        spdy.decode_header_block(struct.pack(">II", 1, 10) + b"abc")
    with pytest.raises(spdy.SpdyError, match="not lower-case"):
        spdy.decode_header_block(struct.pack(">II", 1, 4) + b"Port" + struct.pack(">I", 0))


def test_oversized_payload_is_refused_when_encoding() -> None:
    with pytest.raises(ValueError, match="24-bit"):
        spdy.FrameEncoder().encode(spdy.DataFrame(1, b"x" * (1 << 24)))
