"""The Docker Engine API app: ping, version, info, version prefixes, JSON errors."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from skiff.nodeagent.runtime.dockerapi.app import make_app
from skiff.nodeagent.runtime.engine import Engine, EngineConfig, registry_is_insecure


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    engine = Engine(EngineConfig(root=tmp_path / "root"))
    app = make_app(engine)
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_ping_headers(client: TestClient) -> None:
    resp = await client.get("/_ping")
    assert resp.status == 200
    assert await resp.text() == "OK"
    assert resp.headers["API-Version"] == "1.45"
    assert resp.headers["OSType"] == "linux"
    head = await client.head("/_ping")
    assert head.status == 200


@pytest.mark.parametrize("path", ["/version", "/v1.45/version", "/v1.24/version"])
async def test_version_paths(client: TestClient, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 200
    body = await resp.json()
    assert body["ApiVersion"] == "1.45"
    assert body["MinAPIVersion"] == "1.24"
    assert body["Os"] == "linux"


@pytest.mark.parametrize(
    ("path", "needle"),
    [("/v1.99/version", "too new"), ("/v1.12/version", "too old")],
    ids=["too-new", "too-old"],
)
async def test_version_out_of_range(client: TestClient, path: str, needle: str) -> None:
    resp = await client.get(path)
    assert resp.status == 400
    assert resp.headers["Content-Type"] == "application/json"
    assert needle in (await resp.json())["message"]


async def test_unknown_path_is_docker_error(client: TestClient) -> None:
    resp = await client.get("/v1.45/nothing/here")
    assert resp.status == 404
    assert resp.headers["Content-Type"] == "application/json"
    assert (await resp.json()) == {"message": "page not found"}


async def test_info_counts_images_and_root(client: TestClient, tmp_path: Path) -> None:
    body = await (await client.get("/v1.45/info")).json()
    assert body["Images"] == 0
    assert body["Driver"] == "overlay2"
    assert body["DockerRootDir"] == str(tmp_path / "root")


def test_route_module_contract(tmp_path: Path) -> None:
    """A route module's paths are served bare and under /v1.NN, and setup() runs first."""
    import sys
    import types

    from skiff.nodeagent.runtime.dockerapi import app as app_mod

    mod = types.ModuleType("skiff.nodeagent.runtime.dockerapi._probe")
    seen: list[str] = []

    def setup(engine: Engine) -> None:
        engine.attach("probe", "attached")
        seen.append("setup")

    def routes(engine: Engine) -> list[web.RouteDef]:
        seen.append("routes:" + engine.probe)

        async def h(request: web.Request) -> web.Response:
            return web.Response(text="probe")

        return [web.get("/probe", h)]

    mod.setup = setup  # type: ignore[attr-defined]
    mod.routes = routes  # type: ignore[attr-defined]
    sys.modules[mod.__name__] = mod
    old = list(app_mod.ROUTE_MODULES)
    app_mod.ROUTE_MODULES.append("_probe")
    try:
        app = make_app(Engine(EngineConfig(root=tmp_path / "r")))
    finally:
        app_mod.ROUTE_MODULES[:] = old
        del sys.modules[mod.__name__]
    assert seen == ["setup", "routes:attached"]
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert "/probe" in paths
    assert r"/v{api_version}/probe" in paths


@pytest.mark.parametrize(
    ("registry", "insecure", "expected"),
    [
        ("127.0.0.1:5000", [], True),
        ("localhost:5000", [], True),
        ("[::1]:5000", [], True),
        ("reg.cloud.com", [], False),
        ("10.10.12.5:5000", ["10.10.12.0/24"], True),
        ("10.10.13.5:5000", ["10.10.12.0/24"], False),
        ("reg.cloud.com:5000", ["reg.cloud.com:5000"], True),
    ],
)
def test_insecure_registry(registry: str, insecure: list[str], expected: bool) -> None:
    assert registry_is_insecure(registry, insecure) is expected
