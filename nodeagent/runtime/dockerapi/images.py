"""Image endpoints of the Docker Engine API, and ``/auth`` (docker login).

Handlers parse the request, call the image subsystem
(``skiff.nodeagent.runtime.images``) and shape Docker's answers; they hold no
image logic of their own.
"""
from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

from aiohttp import web

from skiff.nodeagent.runtime.dockerapi.app import API_VERSION_KEY
from skiff.nodeagent.runtime.dockerapi.errors import (
    BadRequest,
    NotFound,
    NotImplementedByEngine,
    json_response,
)
from skiff.nodeagent.runtime.dockerapi.stream import JsonStream, progress_bar
from skiff.nodeagent.runtime.engine import Engine
from skiff.nodeagent.runtime.images import archive, views
from skiff.nodeagent.runtime.images import reference as refs
from skiff.nodeagent.runtime.images.auth import Credentials, decode_registry_auth
from skiff.nodeagent.runtime.images.changes import ChangeError, apply_changes
from skiff.nodeagent.runtime.images.errors import ImageError, ImageNotFound, Unauthorized
from skiff.nodeagent.runtime.images.pull import pull
from skiff.nodeagent.runtime.images.push import push
from skiff.nodeagent.runtime.images.store import now_rfc3339

log = logging.getLogger(__name__)


def _bool(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


def _creds(request: web.Request) -> Credentials | None:
    try:
        return decode_registry_auth(request.headers.get("X-Registry-Auth"))
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc


def _parse_ref(text: str) -> refs.Reference:
    try:
        return refs.parse_normalized(text)
    except refs.ReferenceError as exc:
        raise BadRequest(str(exc)) from exc


def pull_reference(from_image: str, tag: str) -> refs.Reference:
    """``fromImage`` + ``tag`` query params to the reference to pull (as dockerd)."""
    text = from_image
    if tag:
        text += ("@" if ":" in tag and tag.split(":", 1)[0] in ("sha256", "sha512", "sha384") else ":") + tag
    return refs.with_default_tag(_parse_ref(text))


async def _body_to_file(request: web.Request, engine: Engine, prefix: str) -> Any:
    path = engine.images.temp_path(prefix)
    with open(path, "wb") as out:
        async for chunk in request.content.iter_chunked(1 << 20):
            out.write(chunk)
    return path


async def _run_stream(stream: JsonStream, coro: Any) -> web.StreamResponse:
    """Run a pull/push/load; errors before output are HTTP errors, after it stream errors."""
    try:
        await coro
    except (ImageError, BadRequest) as exc:
        if not stream.started:
            raise
        msg = getattr(exc, "message", None) or str(exc)
        await stream.error(msg)
    except (ConnectionResetError, asyncio.CancelledError):
        raise  # the client went away
    except Exception as exc:
        if not stream.started:
            raise
        log.exception("stream failed")
        await stream.error(f"internal error: {exc}")
    return await stream.finish()


def routes(engine: Engine) -> list[web.RouteDef]:
    store = engine.images

    async def create(request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("fromSrc"):
            return await _import(request)
        from_image = q.get("fromImage", "")
        if not from_image:
            raise BadRequest("fromImage or fromSrc is required")
        ref = pull_reference(from_image, q.get("tag", ""))
        # `docker pull -a NAME` sends no tag: every tag of the repository (as dockerd)
        all_tags = not q.get("tag") and _parse_ref(from_image).tag is None and _parse_ref(from_image).digest is None
        creds = _creds(request)
        stream = JsonStream(request)
        plat = None
        if q.get("platform"):
            parts = q["platform"].split("/")
            plat = {"os": parts[0], "architecture": parts[1] if len(parts) > 1 else "amd64"}
            if len(parts) > 2:
                plat["variant"] = parts[2]

        async def work() -> None:
            if all_tags:
                client = engine.registries.client(ref.domain, creds)
                for t in await client.list_tags(ref.path):
                    await pull(store, engine.registries, ref.with_tag(t), credentials=creds,
                               emit=stream.send, platform=plat, progress_text=progress_bar)
            else:
                await pull(store, engine.registries, ref, credentials=creds, emit=stream.send,
                           platform=plat, progress_text=progress_bar)

        return await _run_stream(stream, work())

    async def _import(request: web.Request) -> web.StreamResponse:
        q = request.query
        src = q["fromSrc"]
        if src != "-":
            raise BadRequest("importing from a URL is not supported by this engine; pipe the file with '-'")
        tags = []
        if q.get("repo"):
            text = q["repo"] + (":" + q["tag"] if q.get("tag") else "")
            ref = _parse_ref(text)
            if ref.digest:
                raise BadRequest("cannot import digest reference")
            tags.append(text)
        try:
            config = apply_changes({}, request.query.getall("changes", []))
        except ChangeError as exc:
            raise BadRequest(str(exc)) from exc
        path = await _body_to_file(request, engine, "import-")
        try:
            layer = await store.add_layer(path, consume=True)
        finally:
            path.unlink(missing_ok=True)
        created = now_rfc3339()
        msg = q.get("message") or f"Imported from {src}"
        cfg: dict[str, Any] = {"created": created, "config": config or None}
        if q.get("message"):
            cfg["comment"] = q["message"]
        plat = q.get("platform", "")
        if plat:
            cfg["os"], _, cfg["architecture"] = plat.partition("/")
        store.pin([layer.diff_id])
        try:
            image = await store.create_image(
                cfg, [layer], tags=tags, history=[{"created": created, "comment": msg}],
            )
        finally:
            store.unpin([layer.diff_id])
        stream = JsonStream(request)
        await stream.send({"status": image.id})
        return await stream.finish()

    async def push_handler(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        tag = request.query.get("tag", "")
        repo = _parse_ref(name)
        if repo.tag or repo.digest:
            tag = tag or repo.tag or ""
            repo = repo.repository()
        creds = _creds(request)
        if tag:
            targets = [repo.with_tag(tag)]
        else:
            targets = sorted(
                {refs.parse_normalized(t) for img in store.list_images() for t in img.repo_tags
                 if refs.parse_normalized(t).repository() == repo},
                key=str,
            )
        if not targets or store.lookup_ref(targets[0]) is None:
            raise NotFound(f"An image does not exist locally with the tag: {repo.familiar_name()}")
        stream = JsonStream(request)

        async def work() -> None:
            await stream.status(f"The push refers to repository [{repo.name}]")
            for target in targets:
                image = store.resolve(str(target))
                await push(store, engine.registries, target, image, credentials=creds,
                           emit=stream.send, progress_text=progress_bar)

        return await _run_stream(stream, work())

    async def list_images(request: web.Request) -> web.Response:
        try:
            filters = views.parse_filters(request.query.get("filters"))
            every = store.list_images()
            images = [i for i in every if views.matches(i, filters, resolve=store.resolve)]
            if not _bool(request, "all"):
                # as dockerd: an untagged image with children is an intermediate (build) image
                parents = {i.parent for i in every if i.parent}
                images = [i for i in images if i.repo_tags or i.repo_digests or i.id not in parents]
            if filters.get("reference"):
                images = [views.restrict_to_reference(i, filters["reference"]) for i in images]
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        version = request[API_VERSION_KEY]
        images.sort(key=lambda i: (views.parse_time(i.created), i.id), reverse=True)
        return json_response([views.summary(i, version=version) for i in images])

    async def inspect(request: web.Request) -> web.Response:
        image = store.resolve(request.match_info["name"])
        dirs = [str(p) for p in store.layer_dirs(image)]
        return json_response(views.inspect(image, layer_dirs=dirs, version=request[API_VERSION_KEY]))

    async def history(request: web.Request) -> web.Response:
        image = store.resolve(request.match_info["name"])
        parents, cur = [], image
        while cur.parent and len(parents) < 1000:
            try:
                cur = store.get(cur.parent)
            except ImageNotFound:
                break
            parents.append(cur)
        return json_response(views.history(image, [store.layer_size(d) for d in image.diff_ids], parents))

    async def tag(request: web.Request) -> web.Response:
        image = store.resolve(request.match_info["name"])
        repo = request.query.get("repo", "")
        if not repo:
            raise BadRequest("repo is required")
        text = repo + (":" + request.query["tag"] if request.query.get("tag") else "")
        ref = _parse_ref(text)
        if ref.digest:
            raise BadRequest("refusing to create a tag with a digest reference")
        await store.tag(image.id, text)
        return web.Response(status=201)

    async def delete(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        records = await store.delete(name, force=_bool(request, "force"), prune=not _bool(request, "noprune"))
        return json_response(records)

    async def prune(request: web.Request) -> web.Response:
        import time

        try:
            filters = views.parse_filters(request.query.get("filters"))
            select = views.prune_selector(filters, now=time.time())
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        all_images = any(v in ("false", "0") for v in filters.get("dangling", []))
        deleted, reclaimed = await store.prune(all_images=all_images, select=select)
        return json_response({"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed})

    def _save_targets(names: list[str]) -> list[tuple[Any, list[str]]]:
        """Images to save, each with the tags to record (as dockerd: a name without
        a tag records every tag of that repository; an ID or digest records none)."""
        out: list[tuple[Any, list[str]]] = []
        for name in names:
            image = store.resolve(name)
            tags: list[str] = []
            try:
                ref = refs.parse_normalized(name)
            except refs.ReferenceError:
                ref = None
            by_reference = ref is not None and not ref.digest and (
                store.lookup_ref(refs.with_default_tag(ref)) == image.id
                or any(refs.parse_normalized(t).repository() == ref.repository() for t in image.repo_tags)
            )
            if ref is not None and by_reference:
                if ref.tag:
                    tags = [ref.familiar()]
                else:
                    tags = [t for t in image.repo_tags if refs.parse_normalized(t).repository() == ref.repository()]
            out.append((image, tags))
        return out

    async def save(request: web.Request) -> web.StreamResponse:
        if "name" in request.match_info:
            names = [request.match_info["name"]]
        else:
            names = request.query.getall("names", [])
        if not names:
            raise BadRequest("no image names given")
        targets = _save_targets(names)
        resp = web.StreamResponse(status=200)
        resp.content_type = "application/x-tar"
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=8)

        class _Writer(io.RawIOBase):
            def __init__(self) -> None:
                self.buf = bytearray()

            def writable(self) -> bool:
                return True

            def write(self, b: Any) -> int:
                self.buf += b
                if len(self.buf) >= 1 << 20:
                    self.flush_buf()
                return len(b)

            def flush_buf(self) -> None:
                if self.buf:
                    asyncio.run_coroutine_threadsafe(queue.put(bytes(self.buf)), loop).result()
                    self.buf = bytearray()

        def produce() -> None:
            w = _Writer()
            try:
                archive.write_archive(store, targets, w)
                w.flush_buf()
            finally:
                asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()

        task = asyncio.create_task(asyncio.to_thread(produce))
        while True:
            chunk = await queue.get()
            if chunk is None:
                break
            await resp.write(chunk)
        await task
        await resp.write_eof()
        return resp

    async def load(request: web.Request) -> web.StreamResponse:
        path = await _body_to_file(request, engine, "load-")
        stream = JsonStream(request)

        async def say(line: str) -> None:
            await stream.send({"stream": line + "\n"})

        async def work() -> None:
            try:
                await archive.read_archive(store, path, say=say)
            finally:
                path.unlink(missing_ok=True)

        return await _run_stream(stream, work())

    async def search(request: web.Request) -> web.Response:
        raise NotImplementedByEngine(
            "search is not supported by this engine: registries have no search API; "
            "list a registry's repositories with GET /v2/_catalog"
        )

    async def auth(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError as exc:
            raise BadRequest("auth: body is not JSON") from exc
        server = str(body.get("serveraddress") or "https://index.docker.io/v1/")
        host = server.split("://", 1)[-1].split("/", 1)[0]
        domain = refs.DEFAULT_DOMAIN if host in ("index.docker.io", "registry-1.docker.io", "docker.io") else host
        creds = Credentials(username=str(body.get("username") or ""), password=str(body.get("password") or ""))
        client = engine.registries.client(domain, creds)
        try:
            await client.login()
        except Unauthorized as exc:
            raise Unauthorized(
                f"login attempt to {await client.base()}/v2/ failed with status: 401 Unauthorized ({exc})"
            ) from exc
        return json_response({"Status": "Login Succeeded", "IdentityToken": ""})

    return [
        web.get("/images/json", list_images),
        web.post("/images/create", create),
        web.post("/images/load", load),
        web.get("/images/get", save),
        web.post("/images/prune", prune),
        web.get("/images/search", search),
        web.get(r"/images/{name:.+}/json", inspect),
        web.get(r"/images/{name:.+}/history", history),
        web.post(r"/images/{name:.+}/push", push_handler),
        web.post(r"/images/{name:.+}/tag", tag),
        web.get(r"/images/{name:.+}/get", save),
        web.delete(r"/images/{name:.+}", delete),
        web.post("/auth", auth),
    ]


__all__ = ["routes", "pull_reference", "ImageNotFound"]
