"""Newline-delimited JSON progress streams (pull, push, load, build).

The response starts lazily: an error raised before the first message still
becomes an ordinary HTTP error (as dockerd does), after it an
``{"errorDetail": ..., "error": ...}`` message ends the stream.
"""
from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def progress_bar(current: int, total: int) -> str:
    """Docker's ``[=====>     ]  1.2MB/2.4MB`` progress text."""
    width = 50
    if total > 0:
        filled = min(width, int(width * current / total))
        bar = "=" * filled + (">" if filled < width else "") + " " * max(0, width - filled - 1)
        return f"[{bar}] {human_size(current):>8}/{human_size(total)}"
    return f"{human_size(current):>8}"


def human_size(n: float) -> str:
    units = ["B", "kB", "MB", "GB", "TB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.4g}{units[i]}" if i else f"{int(n)}B"


class JsonStream:
    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response: web.StreamResponse | None = None

    @property
    def started(self) -> bool:
        return self.response is not None

    async def send(self, msg: dict[str, Any]) -> None:
        if self.response is None:
            self.response = web.StreamResponse(status=200)
            self.response.content_type = "application/json"
            await self.response.prepare(self.request)
        await self.response.write(orjson.dumps(msg) + b"\r\n")

    async def status(self, status: str, *, id: str | None = None, **extra: Any) -> None:
        msg: dict[str, Any] = {"status": status}
        if id is not None:
            msg["id"] = id
        msg.update(extra)
        await self.send(msg)

    async def error(self, message: str) -> None:
        await self.send({"errorDetail": {"message": message}, "error": message})

    async def finish(self) -> web.StreamResponse:
        if self.response is None:
            self.response = web.StreamResponse(status=200)
            self.response.content_type = "application/json"
            await self.response.prepare(self.request)
        await self.response.write_eof()
        return self.response
