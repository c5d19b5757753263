"""Reading container logs in the CRI format for ``kubectl logs`` (pure, plus file reads).

A CRI line is ``TIMESTAMP STREAM F|P CONTENT``; partial (``P``) lines are joined with the
lines after them, as the kubelet does. :func:`render` applies the query of
``/containerLogs`` (``tailLines``, ``sinceSeconds``/``sinceTime``, ``timestamps``,
``limitBytes``) to parsed records.
"""
from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


class LogQueryError(ValueError):
    """A bad query parameter (names it)."""


@dataclass(frozen=True)
class Record:
    time: str
    stream: str
    full: bool
    content: bytes


@dataclass(frozen=True)
class Query:
    follow: bool = False
    previous: bool = False
    tail_lines: int | None = None
    since: float | None = None  # unix seconds
    timestamps: bool = False
    limit_bytes: int | None = None


def parse_line(line: bytes) -> Record | None:
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        return None
    return Record(parts[0].decode(), parts[1].decode(), parts[2] == b"F", parts[3] if len(parts) > 3 else b"")


def parse(lines: Iterable[bytes]) -> Iterator[Record]:
    for line in lines:
        rec = parse_line(line)
        if rec is not None:
            yield rec


def timestamp(text: str) -> float:
    base, _, frac = text.rstrip("Z").partition(".")
    t = dt.datetime.strptime(base[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp()
    return t + float("0." + (frac or "0"))


def _bool(v: str | None) -> bool:
    return (v or "").lower() in ("true", "1")


def query_from(params: dict[str, str], *, now: float) -> Query:
    def integer(name: str) -> int | None:
        if params.get(name) in (None, ""):
            return None
        try:
            value = int(params[name])
        except ValueError:
            raise LogQueryError(f"{name}: {params[name]!r} is not an integer") from None
        if value < 0 or (name == "limitBytes" and value == 0):
            raise LogQueryError(f"{name}: must be {'greater than 0' if name == 'limitBytes' else 'non-negative'}")
        return value

    since = None
    secs = integer("sinceSeconds")
    if secs is not None:
        since = now - secs
    elif params.get("sinceTime"):
        try:
            since = timestamp(params["sinceTime"])
        except ValueError:
            raise LogQueryError(f"sinceTime: {params['sinceTime']!r} is not an RFC 3339 time") from None
    return Query(follow=_bool(params.get("follow")), previous=_bool(params.get("previous")),
                 tail_lines=integer("tailLines"), since=since, timestamps=_bool(params.get("timestamps")),
                 limit_bytes=integer("limitBytes"))


def lines_of(records: Iterable[Record]) -> Iterator[Record]:
    """Partial records joined into the full lines they make (content keeps no newline)."""
    pending: list[Record] = []
    for r in records:
        pending.append(r)
        if r.full:
            yield Record(pending[0].time, r.stream, True, b"".join(p.content for p in pending))
            pending = []
    if pending:
        yield Record(pending[0].time, pending[-1].stream, False, b"".join(p.content for p in pending))


def select(records: Iterable[Record], q: Query) -> list[Record]:
    picked: Iterable[Record] = (r for r in lines_of(records) if q.since is None or timestamp(r.time) >= q.since)
    if q.tail_lines is not None:
        return list(deque(picked, maxlen=q.tail_lines)) if q.tail_lines > 0 else []
    return list(picked)


def render(r: Record, q: Query) -> bytes:
    text = r.content + (b"\n" if r.full else b"")
    return (r.time.encode() + b" " + text) if q.timestamps else text
