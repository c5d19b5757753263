"""ApiClient against a small aiohttp stand-in on loopback: auth, errors, watch decoding, Gone."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from skiff.api.resources import find
from skiff.client import ApiClient, ApiError, ClientConfig, Gone
from skiff.client import transport

PODS = find("pods")


def status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


class Fake:
    """Records requests; answers from a small script keyed by (method, path)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, dict, bytes]] = []
        self.watch_lines: list[bytes] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append((request.method, request.path, request.query_string, dict(request.headers), body))
        if request.headers.get("Authorization") != "Bearer sekret":
            return web.json_response(status(401, "Unauthorized", "Unauthorized"), status=401)
        if request.query.get("watch") == "true":
            if request.query.get("resourceVersion") == "1":
                return web.json_response(status(410, "Expired", "too old resource version: 1 (5)"), status=410)
            resp = web.StreamResponse()
            resp.content_type = "application/json"
            await resp.prepare(request)
            for line in self.watch_lines:
                await resp.write(line)
            await resp.write_eof()
            return resp
        if request.path.endswith("/missing"):
            return web.json_response(status(404, "NotFound", 'pods "missing" not found'), status=404)
        if request.path == "/plain":
            return web.Response(status=503, text="upstream down")
        if request.path == "/version":
            return web.json_response({"gitVersion": "v1.32.0"}, headers={"Warning": '299 - "be careful"'})
        if request.method == "POST":
            return web.json_response(orjson.loads(body), status=201)
        return web.json_response({"kind": "Pod", "metadata": {"name": request.path.rsplit("/", 1)[-1]}})


@pytest.fixture
async def fake() -> AsyncIterator[tuple[Fake, str]]:
    f = Fake()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", f.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_get_create_and_auth(fake: tuple[Fake, str]) -> None:
    f, url = fake
    async with ApiClient(ClientConfig(server=url, token="sekret", namespace="team")) as api:
        pod = await api.get(PODS, "web")
        assert pod["metadata"]["name"] == "web"
        created = await api.create(PODS, {"metadata": {"name": "p", "namespace": "other"}})
        assert created["metadata"]["name"] == "p"
    assert f.seen[0][:2] == ("GET", "/api/v1/namespaces/team/pods/web")
    assert f.seen[1][:2] == ("POST", "/api/v1/namespaces/other/pods")
    assert f.seen[1][3]["Content-Type"] == "application/json"


async def test_errors_carry_status(fake: tuple[Fake, str]) -> None:
    _, url = fake
    async with ApiClient(ClientConfig(server=url, token="sekret")) as api:
        with pytest.raises(ApiError) as e:
            await api.get(PODS, "missing")
        assert (e.value.code, e.value.reason, e.value.message) == (404, "NotFound", 'pods "missing" not found')
        with pytest.raises(ApiError) as e:
            await api.raw("GET", "/plain")
        assert (e.value.code, e.value.reason, e.value.message) == (503, "ServiceUnavailable", "upstream down")
    async with ApiClient(ClientConfig(server=url, token="wrong")) as api:
        with pytest.raises(ApiError) as e:
            await api.get(PODS, "x")
        assert e.value.code == 401


async def test_warnings_are_collected(fake: tuple[Fake, str]) -> None:
    _, url = fake
    async with ApiClient(ClientConfig(server=url, token="sekret")) as api:
        assert (await api.raw("GET", "/version"))["gitVersion"] == "v1.32.0"
        assert api.warnings == ["be careful"]


async def test_watch_yields_all_types_then_gone(fake: tuple[Fake, str]) -> None:
    f, url = fake
    pod = {"kind": "Pod", "metadata": {"name": "a", "resourceVersion": "7"}}
    events = [{"type": "ADDED", "object": pod},
              {"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": {"resourceVersion": "9"}}},
              {"type": "ERROR", "object": status(500, "InternalError", "boom")},
              {"type": "ERROR", "object": status(410, "Expired", "too old")},
              {"type": "ADDED", "object": pod}]
    # split one event across two writes to check line reassembly
    raw = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    f.watch_lines = [raw[:30], raw[30:]]
    got = []
    async with ApiClient(ClientConfig(server=url, token="sekret")) as api:
        with pytest.raises(Gone) as e:
            async for etype, obj in api.watch(PODS, namespace="d", resource_version="5"):
                got.append((etype, obj["metadata"].get("resourceVersion")))
        assert e.value.code == 410
        assert got == [("ADDED", "7"), ("BOOKMARK", "9"), ("ERROR", None)]
        assert f.seen[-1][2] == "watch=true&resourceVersion=5&allowWatchBookmarks=true"
        with pytest.raises(Gone):
            async for _ in api.watch(PODS, namespace="d", resource_version="1"):
                pass


def test_status_from_non_status_bodies() -> None:
    assert transport.status_from_response(404, b"")["message"] == "the server could not find the requested resource"
    s = transport.status_from_response(500, b"")
    assert s["reason"] == "InternalError" and "status code 500" in s["message"]


def test_insecure_and_plain_http_ssl() -> None:
    assert transport.ssl_context(ClientConfig(server="http://x")) is False
    ctx = transport.ssl_context(ClientConfig(server="https://x", insecure_skip_tls_verify=True))
    assert ctx.verify_mode == 0 and not ctx.check_hostname
