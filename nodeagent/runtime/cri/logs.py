"""Container logs in the CRI format (``TIMESTAMP STREAM F|P CONTENT``, one line each) at the
path the kubelet chose (``log_directory/log_path``).

The engine's shim writes Docker's json-file records; a :class:`LogCopier` per CRI
container follows that file and appends CRI lines to the kubelet's file, remembering its
offset next to the engine's log so an engine restart neither loses nor repeats lines.
:func:`cri_line` is the pure translation.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

import orjson

log = logging.getLogger(__name__)
POLL = 0.05


def cri_line(record: bytes) -> bytes | None:
    """One json-file record as one CRI log line; a record without a trailing newline
    (a chunk of a long line, or the last bytes before exit) is a partial (``P``) line."""
    try:
        doc = orjson.loads(record)
    except orjson.JSONDecodeError:
        return None
    text = str(doc.get("log", ""))
    tag = "F"
    if text.endswith("\n"):
        text = text[:-1]
    else:
        tag = "P"
    stream = "stderr" if doc.get("stream") == "stderr" else "stdout"
    return f"{doc.get('time', '')} {stream} {tag} {text}\n".encode("utf-8", "surrogateescape")


def translate(chunk: bytes) -> tuple[bytes, int]:
    """CRI lines for the complete records in ``chunk`` and how many bytes they used."""
    end = chunk.rfind(b"\n") + 1
    out = [line for rec in chunk[:end].splitlines() if rec.strip() and (line := cri_line(rec)) is not None]
    return b"".join(out), end


class LogCopier:
    """Follows ``source`` (json-file) into ``target`` (CRI) until ``running()`` is false and
    the source is drained."""

    def __init__(self, source: str, target: str, running: Callable[[], bool]) -> None:
        self.source = source
        self.target = target
        self.running = running
        self.offset_file = source + ".cri-offset"
        self.task: asyncio.Task[None] | None = None

    def _offset(self) -> int:
        try:
            return int(open(self.offset_file).read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def copy_once(self) -> bool:
        """Copy what is new; True when something was copied."""
        offset = self._offset()
        try:
            with open(self.source, "rb") as src:
                src.seek(offset)
                chunk = src.read(1 << 20)
        except FileNotFoundError:
            return False
        lines, used = translate(chunk)
        if not used:
            return False
        os.makedirs(os.path.dirname(self.target) or ".", exist_ok=True)
        with open(self.target, "ab") as dst:
            dst.write(lines)
        tmp = self.offset_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(offset + used))
        os.replace(tmp, self.offset_file)
        return True

    async def run(self) -> None:
        while True:
            try:
                copied = await asyncio.to_thread(self.copy_once)
            except OSError as exc:
                log.warning("CRI log %s: %s", self.target, exc)
                copied = False
            if not copied:
                if not self.running():
                    await asyncio.to_thread(self.copy_once)
                    return
                await asyncio.sleep(POLL)

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
