"""The kubelet API's routing and auth, against an in-process server (no runtime needed)."""
from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from skiff.nodeagent.kubelet.server import KubeletApi


def test_auth_health_and_missing_pod() -> None:
    async def run() -> None:
        api = KubeletApi(pods=lambda key: None, cri=None, logs_root="/nonexistent", token="t0k")  # type: ignore[arg-type]
        async with TestClient(TestServer(api.app())) as client:
            assert (await client.get("/healthz")).status == 200
            assert (await client.get("/containerLogs/default/p/c")).status == 401
            wrong = await client.get("/containerLogs/default/p/c", headers={"Authorization": "Bearer nope"})
            assert wrong.status == 401
            auth = {"Authorization": "Bearer t0k"}
            missing = await client.get("/containerLogs/default/p/c", headers=auth)
            assert (missing.status, await missing.text()) == (404, 'pods "p" not found')
            for path in ("/portForward/default/p", "/attach/default/p/c"):
                gone = await client.get(path, headers=auth)
                assert (gone.status, await gone.text()) == (404, 'pods "p" not found'), path

    asyncio.run(run())


def test_port_forward_refuses_bad_ports_before_asking_the_runtime() -> None:
    async def run() -> None:
        pod = {"metadata": {"name": "p", "namespace": "default", "uid": "u1"}}
        api = KubeletApi(pods=lambda key: pod, cri=None, logs_root="/nonexistent", token="t0k")  # type: ignore[arg-type]
        async with TestClient(TestServer(api.app())) as client:
            bad = await client.get("/portForward/default/p?ports=80,http", headers={"Authorization": "Bearer t0k"})
            assert (bad.status, await bad.text()) == (400, "invalid port 'http' in ports: ports must be numbers "
                                                           "from 1 to 65535")

    asyncio.run(run())
