"""API server throughput and latency beside raw etcd, in one run.

Starts one etcd (as ``skiff server`` embeds it) and a ``skiff server`` on top of it,
then measures at the same concurrency: creates/s and gets/s through Skiff's API vs
raw ``aetcd`` puts/gets of the same JSON, list latency at 1k and 10k objects
(from etcd and from the watch cache), and watch delivery latency p50/p99.

    .venv/bin/python bench/api.py [--objects 2000] [--concurrency 64]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skiff.apiserver.etcd.embedded import EmbeddedEtcd  # noqa: E402
from skiff.apiserver.etcd.store import Store  # noqa: E402
from tests.support.server import skiff_server  # noqa: E402


def configmap(i: int, ns: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i:06d}", "namespace": ns,
            "labels": {"bench": "yes"}}, "data": {"key": "v" * 200}}


async def bounded(n: int, concurrency: int, fn) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await fn(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - t0)


async def bench_raw(endpoint: str, n: int, concurrency: int) -> dict[str, float]:
    store = Store([endpoint])
    await store.connect()
    try:
        puts = await bounded(n, concurrency, lambda i: store.client.put(
            f"/bench/raw/{i:06d}".encode(), orjson.dumps(configmap(i, "raw"))))
        gets = await bounded(n, concurrency, lambda i: store.client.get(f"/bench/raw/{i:06d}".encode()))
        await store.client.delete_prefix(b"/bench/raw/")
        return {"creates": puts, "gets": gets}
    finally:
        await store.close()


async def bench_api(url: str, token: str, ca: bytes, n: int, concurrency: int) -> dict[str, float]:
    ctx = ssl.create_default_context(cadata=ca.decode())
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = aiohttp.TCPConnector(ssl=ctx, limit=concurrency)
    out: dict[str, float] = {}
    async with aiohttp.ClientSession(url, headers=headers, connector=conn) as s:
        for ns in ("bench", "bench1k", "bench10k"):
            async with s.post("/api/v1/namespaces", data=orjson.dumps(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})) as r:
                assert r.status in (201, 409), await r.text()

        async def create(i: int, ns: str = "bench") -> None:
            async with s.post(f"/api/v1/namespaces/{ns}/configmaps", data=orjson.dumps(configmap(i, ns))) as r:
                if r.status != 201:
                    raise RuntimeError(await r.text())
                await r.read()

        async def get(i: int) -> None:
            async with s.get(f"/api/v1/namespaces/bench/configmaps/cm-{i:06d}") as r:
                assert r.status == 200
                await r.read()

        out["creates"] = await bounded(n, concurrency, create)
        out["gets"] = await bounded(n, concurrency, get)

        async def list_ms(ns: str, rv: str | None) -> float:
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                q = f"?resourceVersion={rv}" if rv is not None else ""
                async with s.get(f"/api/v1/namespaces/{ns}/configmaps{q}") as r:
                    await r.read()
                times.append((time.perf_counter() - t0) * 1000)
            return statistics.median(times)

        await bounded(1000, concurrency, lambda i: create(i, "bench1k"))
        out["list_1k_ms"] = await list_ms("bench1k", None)
        await bounded(10000, concurrency, lambda i: create(i, "bench10k"))
        out["list_10k_ms"] = await list_ms("bench10k", None)
        out["list_10k_cache_ms"] = await list_ms("bench10k", "0")

        # Watch delivery: time from sending a create to its ADDED event arriving.
        sent: dict[str, float] = {}
        lat: list[float] = []
        async with s.get("/api/v1/namespaces/bench/configmaps?watch=1&resourceVersion=0") as w:
            async def reader() -> None:
                async for line in w.content:
                    ev = orjson.loads(line)
                    name = ev["object"]["metadata"]["name"]
                    if ev["type"] == "ADDED" and name in sent:
                        lat.append((time.perf_counter() - sent.pop(name)) * 1000)
                        if len(lat) == 500:
                            return

            task = asyncio.create_task(reader())
            await asyncio.sleep(0.5)

            async def timed_create(i: int) -> None:
                sent[f"cm-{900000 + i:06d}"] = time.perf_counter()
                await create(900000 + i)

            await bounded(500, 8, timed_create)
            await asyncio.wait_for(task, 60)
        lat.sort()
        out["watch_p50_ms"] = lat[len(lat) // 2]
        out["watch_p99_ms"] = lat[int(len(lat) * 0.99) - 1]
    return out


async def bench_raw_list(endpoint: str) -> dict[str, float]:
    store = Store([endpoint])
    await store.connect()
    try:
        out = {}
        for ns, key in (("bench1k", "list_1k_ms"), ("bench10k", "list_10k_ms")):
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                await store.list(f"/registry/configmaps/{ns}/")
                times.append((time.perf_counter() - t0) * 1000)
            out[key] = statistics.median(times)
        return out
    finally:
        await store.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="skiff-bench-") as tmp:
        etcd = EmbeddedEtcd(Path(tmp) / "etcd")
        etcd.start()
        try:
            raw = asyncio.run(bench_raw(etcd.endpoint, args.objects, args.concurrency))
            with skiff_server(Path(tmp) / "server", args=("--etcd-servers", etcd.endpoint,
                                                          "--disable", "scheduler,controllers")) as srv:
                ca = __import__("base64").b64decode(yaml.safe_load(srv.kubeconfig.read_text())["clusters"][0]
                                                    ["cluster"]["certificate-authority-data"])
                api = asyncio.run(bench_api(srv.url, srv.token, ca, args.objects, args.concurrency))
                raw.update(asyncio.run(bench_raw_list(etcd.endpoint)))
        finally:
            etcd.stop()
    print(f"objects={args.objects} concurrency={args.concurrency} (etcd {etcd.binary or 'from PATH'})")
    print(f"{'measure':<24}{'skiff API':>14}{'raw etcd':>14}{'ratio':>10}")
    for key, label, unit in (("creates", "creates/s", ""), ("gets", "gets/s", "")):
        print(f"{label:<24}{api[key]:>14.0f}{raw[key]:>14.0f}{api[key] / raw[key]:>10.2f}")
    print(f"{'list 10k (ms)':<24}{api['list_10k_ms']:>14.1f}{raw['list_10k_ms']:>14.1f}"
          f"{api['list_10k_ms'] / raw['list_10k_ms']:>10.2f}")
    print(f"{'list 10k, cache (ms)':<24}{api['list_10k_cache_ms']:>14.1f}{'':>14}{'':>10}")
    print(f"{'list 1k (ms)':<24}{api['list_1k_ms']:>14.1f}{raw['list_1k_ms']:>14.1f}"
          f"{api['list_1k_ms'] / raw['list_1k_ms']:>10.2f}")
    print(f"{'watch p50 / p99 (ms)':<24}{api['watch_p50_ms']:>9.1f} / {api['watch_p99_ms']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
