"""Docker-style API errors: every failure answers ``{"message": "..."}`` with a status.

Handlers raise :class:`ApiError` (or a subclass); the middleware in app.py turns it,
and the image store's own errors, into Docker's JSON error body. The docker CLI
prints the message as ``Error response from daemon: <message>``.
"""
from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


class ApiError(Exception):
    status = 500

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class NotImplementedByEngine(ApiError):
    status = 501


def json_response(data: Any, *, status: int = 200) -> web.Response:
    """JSON with Content-Type exactly ``application/json``: the docker CLI only parses
    error bodies when the header matches that string (no charset)."""
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS), status=status,
        content_type="application/json",
    )


def error_response(status: int, message: str) -> web.Response:
    return json_response({"message": message}, status=status)
