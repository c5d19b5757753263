"""Registry client against a scripted in-process server: resume with Range, digest checks, auth."""
from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from skiff.nodeagent.runtime.images.auth import Credentials
from skiff.nodeagent.runtime.images.errors import BadContent, Unauthorized
from skiff.nodeagent.runtime.images.registry import RegistryClient

BLOB = os.urandom(300_000)
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


async def start(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_download_resumes_with_range_after_drop(tmp_path: Path) -> None:
    seen: list[str] = []

    async def v2(request: web.Request) -> web.Response:
        return web.Response(text="{}")

    async def blob(request: web.Request) -> web.StreamResponse:
        rng = request.headers.get("Range", "")
        seen.append(rng)
        if not rng:
            resp = web.StreamResponse(status=200, headers={"Content-Length": str(len(BLOB))})
            await resp.prepare(request)
            await resp.write(BLOB[:100_000])
            request.transport.close()  # type: ignore[union-attr]
            return resp
        start = int(rng.split("=")[1].rstrip("-"))
        return web.Response(status=206, body=BLOB[start:],
                            headers={"Content-Range": f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}"})

    app = web.Application()
    app.router.add_get("/v2/", v2)
    app.router.add_get("/v2/r/blobs/{d}", blob)
    server = await start(app)
    try:
        async with aiohttp.ClientSession() as session:
            client = RegistryClient(session, f"127.0.0.1:{server.port}", insecure=True)
            dest = tmp_path / "blob"
            await client.download_blob("r", DIGEST, dest, size=len(BLOB))
            assert dest.read_bytes() == BLOB
            assert seen[0] == "" and seen[1].startswith("bytes=") and seen[1] != "bytes=0-"
    finally:
        await server.close()


async def test_digest_mismatch_leaves_no_file(tmp_path: Path) -> None:
    async def v2(request: web.Request) -> web.Response:
        return web.Response(text="{}")

    async def blob(request: web.Request) -> web.Response:
        return web.Response(body=BLOB[:-1] + b"X")

    app = web.Application()
    app.router.add_get("/v2/", v2)
    app.router.add_get("/v2/r/blobs/{d}", blob)
    server = await start(app)
    try:
        async with aiohttp.ClientSession() as session:
            client = RegistryClient(session, f"127.0.0.1:{server.port}", insecure=True)
            dest = tmp_path / "blob"
            with pytest.raises(BadContent, match="digest mismatch"):
                await client.download_blob("r", DIGEST, dest, size=len(BLOB))
            assert not dest.exists()
    finally:
        await server.close()


async def test_bearer_flow_requests_scope_with_basic_credentials() -> None:
    token_requests: list[dict[str, str]] = []
    port_holder: dict[str, int] = {}

    def challenge() -> web.Response:
        realm = f"http://127.0.0.1:{port_holder['p']}/token"
        return web.Response(status=401, headers={
            "WWW-Authenticate": f'Bearer realm="{realm}",service="svc",scope="repository:team/app:pull"'})

    async def v2(request: web.Request) -> web.Response:
        return challenge()

    async def manifest(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer tok-alice":
            return challenge()
        body = b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}'
        return web.Response(body=body, content_type="application/vnd.docker.distribution.manifest.v2+json")

    async def token(request: web.Request) -> web.Response:
        token_requests.append({"scope": request.query.get("scope", ""), "service": request.query.get("service", ""),
                               "auth": request.headers.get("Authorization", "")})
        if request.headers.get("Authorization") != "Basic " + base64.b64encode(b"alice:pw").decode():
            return web.Response(status=401)
        return web.json_response({"token": "tok-alice"})

    app = web.Application()
    app.router.add_get("/v2/", v2)
    app.router.add_get("/v2/team/app/manifests/{ref}", manifest)
    app.router.add_get("/token", token)
    server = await start(app)
    port_holder["p"] = server.port
    try:
        async with aiohttp.ClientSession() as session:
            good = RegistryClient(session, f"127.0.0.1:{server.port}", insecure=True,
                                  credentials=Credentials("alice", "pw"))
            body, mt, digest = await good.get_manifest("team/app", "v1")
            assert mt == "application/vnd.docker.distribution.manifest.v2+json"
            assert digest == "sha256:" + hashlib.sha256(body).hexdigest()
            assert token_requests[-1]["scope"] == "repository:team/app:pull"
            assert token_requests[-1]["service"] == "svc"
            bad = RegistryClient(session, f"127.0.0.1:{server.port}", insecure=True,
                                 credentials=Credentials("alice", "wrong"))
            with pytest.raises(Unauthorized):
                await bad.get_manifest("team/app", "v1")
            with pytest.raises(Unauthorized):
                await bad.login()
    finally:
        await server.close()
