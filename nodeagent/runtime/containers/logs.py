"""Reading Docker's json-file logs: filters for ``docker logs`` (pure + file reads)."""
from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import orjson


class Entry(NamedTuple):
    stream: str
    time: str
    data: bytes


def parse_time_arg(value: str | None) -> float | None:
    """``since``/``until`` as Docker sends them: unix seconds with optional fraction."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return t.timestamp()


def entry_ts(time: str) -> float:
    base, _, frac = time.rstrip("Z").partition(".")
    t = dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp()
    return t + float("0." + (frac or "0"))


def parse_lines(lines: Iterable[bytes]) -> Iterator[Entry]:
    for line in lines:
        if not line.strip():
            continue
        try:
            rec: dict[str, Any] = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a line being written right now
        yield Entry(rec.get("stream", "stdout"), rec.get("time", ""), rec.get("log", "").encode("utf-8", "surrogateescape"))


def select(entries: Iterable[Entry], *, stdout: bool, stderr: bool, since: float | None, until: float | None,
           tail: int | None) -> list[Entry]:
    picked: Iterable[Entry] = (
        e for e in entries
        if (stdout and e.stream == "stdout" or stderr and e.stream == "stderr")
        and (since is None or entry_ts(e.time) > since)
        and (until is None or entry_ts(e.time) <= until)
    )
    if tail is not None:
        return list(deque(picked, maxlen=tail)) if tail > 0 else []
    return list(picked)


def frame(stream: str, data: bytes, *, tty: bool) -> bytes:
    """Docker's multiplexed stream frame (raw bytes when the container has a tty)."""
    if tty:
        return data
    kind = 2 if stream == "stderr" else 1
    return bytes([kind, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def render(e: Entry, *, timestamps: bool, tty: bool) -> bytes:
    data = e.data
    if timestamps:
        data = e.time.encode() + b" " + data
    return frame(e.stream, data, tty=tty)
