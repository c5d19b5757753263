"""The Docker Engine API application: routing, API versions, JSON errors.

How route modules plug in
-------------------------
Each module named in :data:`ROUTE_MODULES` (relative to this package) exposes::

    def routes(engine: Engine) -> list[web.RouteDef]      # required
    def setup(engine: Engine) -> None                     # optional, called first

Paths are written WITHOUT the version prefix (``web.get("/images/json", h)``);
:func:`make_app` serves each one both bare and as ``/v{version}/...`` (the docker
CLI and docker-py always send the prefix after negotiating). A module that does
not exist yet is skipped, so parts can land independently. Register fixed paths
before ``{name:.+}`` patterns in your own list: the router tries them in order.

In a handler: ``request.app[ENGINE_KEY]`` is the :class:`Engine`;
``request[API_VERSION_KEY]`` is the negotiated version as a ``(major, minor)`` tuple
(the server's maximum when the path had no prefix). Raise ``errors.ApiError``
subclasses (or the image store's errors) for Docker's ``{"message": ...}`` body.
Streaming endpoints use :class:`skiff.nodeagent.runtime.dockerapi.stream.JsonStream`.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from skiff.nodeagent.runtime.dockerapi.errors import ApiError, error_response
from skiff.nodeagent.runtime.engine import API_VERSION, MIN_API_VERSION, Engine
from skiff.nodeagent.runtime.images import errors as image_errors

log = logging.getLogger(__name__)

ENGINE_KEY: web.AppKey[Engine] = web.AppKey("engine", Engine)
API_VERSION_KEY: web.RequestKey[tuple[int, int]] = web.RequestKey("api_version", tuple)

# Order matters only for overlapping patterns; each module keeps its own order.
ROUTE_MODULES = ["system", "images", "containers", "exec", "networks", "volumes", "build"]

_VERSION_PREFIX = r"/v{api_version:[0-9]+\.[0-9]+}"


def parse_version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


MAX_VERSION = parse_version(API_VERSION)
MIN_VERSION = parse_version(MIN_API_VERSION)


def _load_route_modules() -> list[object]:
    mods = []
    for name in ROUTE_MODULES:
        full = f"{__package__}.{name}"
        try:
            mods.append(importlib.import_module(full))
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise
    return mods


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _version_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    raw = request.match_info.get("api_version")
    if raw is not None:
        version = parse_version(raw)
        if version > MAX_VERSION:
            return error_response(
                400,
                f"client version {raw} is too new. Maximum supported API version is {API_VERSION}",
            )
        if version < MIN_VERSION:
            return error_response(
                400,
                f"client version {raw} is too old. Minimum supported API version is "
                f"{MIN_API_VERSION}, please upgrade your client to a newer version",
            )
        request[API_VERSION_KEY] = version
    else:
        request[API_VERSION_KEY] = MAX_VERSION
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return error_response(exc.status, exc.reason if exc.status != 404 else "page not found")
        raise
    except ApiError as exc:
        return error_response(exc.status, exc.message)
    except image_errors.ImageError as exc:
        return error_response(exc.status, str(exc))
    except Exception as exc:  # a bug: say so in Docker's shape, keep the traceback in the log
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, f"internal error in {request.method} {request.path}: {exc}")
    resp.headers.setdefault("Api-Version", API_VERSION)
    resp.headers.setdefault("Server", f"Skiff/{API_VERSION} (linux)")
    return resp


def make_app(engine: Engine) -> web.Application:
    app = web.Application(middlewares=[_version_and_errors], client_max_size=0)
    app[ENGINE_KEY] = engine
    defs: list[web.RouteDef] = []
    for mod in _load_route_modules():
        setup = getattr(mod, "setup", None)
        if setup is not None:
            setup(engine)
        defs.extend(mod.routes(engine))  # type: ignore[attr-defined]
    for d in defs:
        d.register(app.router)
    for d in defs:
        kwargs = {k: v for k, v in d.kwargs.items() if k != "name"}
        web.RouteDef(d.method, _VERSION_PREFIX + d.path, d.handler, kwargs).register(app.router)

    async def _start(_: web.Application) -> None:
        await engine.start()

    async def _stop(_: web.Application) -> None:
        await engine.stop()

    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    return app
