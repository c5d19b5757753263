"""``POST /build``: the classic builder (``DOCKER_BUILDKIT=0 docker build``).

The request body is the build context as a tar; the query carries ``t``
(repeated), ``dockerfile``, ``buildargs``, ``labels`` (JSON), ``target``,
``nocache``, ``rm``, ``forcerm``, ``q``, ``pull`` and ``networkmode``;
``X-Registry-Config`` the credentials for pulling base images. A bad request or
an unparsable Dockerfile answers an HTTP error before any output (as dockerd);
once steps run, progress is streamed and a failure ends the stream with
``{"errorDetail": ..., "error": ...}``, which the CLI prints before it exits non-zero.
"""
from __future__ import annotations

import asyncio
import logging
import posixpath
import shutil
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from skiff.nodeagent.runtime.build import context as ctxmod
from skiff.nodeagent.runtime.build.builder import Builder, BuildError, BuildOptions
from skiff.nodeagent.runtime.build.dockerfile import DockerfileError, parse
from skiff.nodeagent.runtime.dockerapi.app import ENGINE_KEY
from skiff.nodeagent.runtime.dockerapi.errors import BadRequest, NotImplementedByEngine
from skiff.nodeagent.runtime.dockerapi.stream import JsonStream
from skiff.nodeagent.runtime.engine import Engine
from skiff.nodeagent.runtime.images import reference as refs
from skiff.nodeagent.runtime.images.auth import decode_registry_config
from skiff.nodeagent.runtime.images.errors import ImageError

log = logging.getLogger(__name__)


def _flag(q: Any, name: str, default: bool = False) -> bool:
    v = q.get(name)
    if v is None or v == "":
        return default
    return str(v).lower() in ("1", "true", "yes")


def _json_map(q: Any, name: str) -> dict[str, Any]:
    raw = q.get(name)
    if not raw:
        return {}
    try:
        val = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid {name} parameter: {exc}") from None
    if val is None:
        return {}
    if not isinstance(val, dict):
        raise BadRequest(f"invalid {name} parameter: not a JSON object")
    return val


def parse_options(q: Any, headers: Any) -> BuildOptions:
    """Query and headers of ``POST /build`` to options; a bad field is a 400 naming it."""
    if q.get("remote"):
        raise NotImplementedByEngine("remote build contexts (git or URL) are not supported by Skiff's builder; "
                                     "send the context as a tar")
    if q.get("version") == "2":
        raise BadRequest("BuildKit (builder version 2) is not supported by this daemon; use DOCKER_BUILDKIT=0")
    tags = [t for t in q.getall("t", []) if t]
    for t in tags:
        try:
            ref = refs.parse_normalized(t)
        except refs.ReferenceError:
            raise BadRequest(f"invalid reference format: {t}") from None
        if ref.digest:
            raise BadRequest(f"invalid reference format: {t}: a build tag cannot carry a digest")
    build_args = {str(k): (None if v is None else str(v)) for k, v in _json_map(q, "buildargs").items()}
    labels = {str(k): str(v) for k, v in _json_map(q, "labels").items()}
    try:
        creds = decode_registry_config(headers.get("X-Registry-Config"))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    dockerfile = q.get("dockerfile") or "Dockerfile"
    return BuildOptions(
        dockerfile=dockerfile, tags=tags, build_args=build_args, labels=labels, target=q.get("target", ""),
        no_cache=_flag(q, "nocache"), remove=_flag(q, "rm", True), force_remove=_flag(q, "forcerm"),
        pull=_flag(q, "pull"), quiet=_flag(q, "q"), network_mode=q.get("networkmode", "") or "",
        credentials=creds,
    )


async def _unpack_body(request: web.Request, engine: Engine, dest: Path) -> None:
    spool = engine.images.temp_path("context-tar-")
    try:
        with open(spool, "wb") as out:
            async for chunk in request.content.iter_chunked(1 << 20):
                out.write(chunk)

        def unpack() -> None:
            with open(spool, "rb") as f:
                ctxmod.unpack(f, dest)

        try:
            await asyncio.to_thread(unpack)
        except ctxmod.ContextError as exc:
            raise BadRequest(str(exc)) from None
    finally:
        spool.unlink(missing_ok=True)


def _read_dockerfile(root: Path, name: str) -> str:
    rel = posixpath.normpath("/" + name).lstrip("/")
    path = root / rel
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise BadRequest(f"Cannot locate specified Dockerfile: {name}") from None


async def _cancel_when_gone(request: web.Request, task: asyncio.Future[Any]) -> None:
    """dockerd stops a build whose client went away (Ctrl-C on docker build); aiohttp does
    not cancel the handler, so watch the connection and cancel the build's task."""
    while not task.done():
        transport = request.transport
        if transport is None or transport.is_closing():
            task.cancel()
            return
        await asyncio.sleep(0.2)


class _Output:
    """The stream, or in quiet mode a buffer of the step output shown only on failure."""

    def __init__(self, stream: JsonStream, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.held: list[str] = []

    async def __call__(self, msg: dict[str, Any]) -> None:
        if self.quiet and "stream" in msg:
            self.held.append(msg["stream"])
            return
        if self.quiet and "status" in msg:
            return
        await self.stream.send(msg)

    async def fail(self, message: str, code: int | None) -> None:
        if self.held:
            await self.stream.send({"stream": "".join(self.held)})
        detail: dict[str, Any] = {"message": message}
        if code:
            detail["code"] = code
        await self.stream.send({"errorDetail": detail, "error": message})


async def build(request: web.Request) -> web.StreamResponse:
    engine: Engine = request.app[ENGINE_KEY]
    opts = parse_options(request.query, request.headers)
    workdir = engine.images.temp_path("build-")
    ctx = workdir / "context"
    ctx.mkdir(parents=True)
    try:
        await _unpack_body(request, engine, ctx)
        text = _read_dockerfile(ctx, opts.dockerfile)
        keep = {posixpath.normpath(opts.dockerfile).lstrip("/"), ".dockerignore"}
        await asyncio.to_thread(ctxmod.apply_dockerignore, ctx, keep=keep)
        try:
            df = parse(text)
        except DockerfileError as exc:
            raise BadRequest(str(exc)) from None
        stream = JsonStream(request)
        out = _Output(stream, opts.quiet)
        builder = Builder(images=engine.images, registries=engine.registries, containers=engine.containers,
                          workdir=workdir, emit=out, options=opts)
        task = asyncio.ensure_future(builder.build(df, ctx))
        watcher = asyncio.ensure_future(_cancel_when_gone(request, task))
        try:
            try:
                image_id = await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise
                return stream.response or web.Response(status=499)  # the client hung up: nobody to tell
            except ConnectionError:
                return stream.response or web.Response(status=499)
            finally:
                watcher.cancel()
            for t in opts.tags:
                await engine.images.tag(image_id, t)
            if opts.quiet:  # as dockerd: only the ID, the step output was held back
                await stream.send({"stream": image_id + "\n"})
            else:
                await stream.send({"stream": f"Successfully built {image_id[7:19]}\n"})
                for t in opts.tags:
                    await stream.send({"stream": f"Successfully tagged {refs.with_default_tag(refs.parse_normalized(t)).familiar()}\n"})
        except BuildError as exc:
            await out.fail(exc.message, exc.code)
        except ImageError as exc:
            await out.fail(str(exc), None)
        except Exception as exc:  # a bug: the stream has started, so say it there; the traceback goes to the log
            log.exception("build failed")
            await out.fail(f"internal error: {exc}", None)
        return await stream.finish()
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


def routes(engine: Engine) -> list[web.RouteDef]:
    return [web.post("/build", build)]
