"""The API server: aiohttp app, authentication, non-resource endpoints, start-up.

``ApiServer`` owns the store, the watch cache and the registry; ``build_app`` wires
routes and middlewares. Every request needs a bearer token — one of ``tokens``, or a
service-account JWT this server signed (:mod:`.tokenrequest`) — except the health checks
(as Kubernetes lets anonymous users read /healthz etc.).
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import platform
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from skiff.api.resources import by_kind

from . import discovery, satokens, status
from .etcd.store import Store
from .handlers import ResourceHandlers, respond
from .metrics import Metrics
from .registry import Registry, WriteOptions
from .watchcache import WatchCache

log = logging.getLogger(__name__)

GIT_VERSION = "v1.30.0-skiff.0.1.0"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
ANONYMOUS_PATHS = ("/healthz", "/livez", "/readyz", "/version")


@dataclass
class ApiServer:
    etcd_endpoints: list[str]
    tokens: set[str]
    advertise_url: str = "https://127.0.0.1:6443"
    compaction_interval: float = 300.0
    watch_cache_size: int = 50000
    agent_token: str | None = None  # presented to node agents when proxying logs/exec
    default_toleration_seconds: tuple[int, int] = (300, 300)  # not-ready, unreachable
    signing_key: Any = None  # the service-account RSA key (satokens.ensure_signing_key); None: no tokens
    store: Store = field(init=False)
    cache: WatchCache = field(init=False)
    registry: Registry = field(init=False)
    metrics: Metrics = field(default_factory=Metrics)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _sa_auth: Any = None

    async def start(self) -> None:
        self.store = Store(self.etcd_endpoints)
        await self.store.connect()
        self.cache = WatchCache(self.store, capacity=self.watch_cache_size)
        self.registry = Registry(self.store, self.cache, default_toleration_seconds=self.default_toleration_seconds)
        await self._bootstrap()
        await self.cache.start()
        await self._bootstrap_kubernetes_service()
        if self.signing_key is not None:
            from .tokenrequest import ServiceAccountAuthenticator

            self._sa_auth = ServiceAccountAuthenticator(self.registry, self.signing_key.public_key())
        self._tasks.append(asyncio.create_task(self._compact_loop(), name="compaction"))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.cache.stop()
        await self.store.close()

    async def _bootstrap(self) -> None:
        ns = by_kind("v1", "Namespace")
        assert ns is not None
        for name in DEFAULT_NAMESPACES:
            if await self.store.get(self.registry.key(ns, None, name)) is None:
                # The cache is not running yet; the registry's create only needs etcd.
                try:
                    await self.registry.create(ns, None, {"metadata": {"name": name}}, WriteOptions())
                except status.StatusError as exc:
                    if exc.code != 409:
                        raise

    async def _bootstrap_kubernetes_service(self) -> None:
        """The ``default/kubernetes`` Service (10.96.0.1:443), its Endpoints and EndpointSlice: how pods
        find the API (at the advertised address, the one the lab's pods reach)."""
        host, _, port = self.advertise_url.split("//", 1)[-1].rpartition(":")
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return  # Endpoints need an IP; a hostname-advertised server skips this, as kube does
        svc_res, ep_res = by_kind("v1", "Service"), by_kind("v1", "Endpoints")
        slice_res = by_kind("discovery.k8s.io/v1", "EndpointSlice")
        assert svc_res is not None and ep_res is not None and slice_res is not None
        labels = {"component": "apiserver", "provider": "kubernetes"}
        wanted = {
            svc_res: {"metadata": {"name": "kubernetes", "labels": labels},
                      "spec": {"clusterIP": "10.96.0.1", "type": "ClusterIP", "sessionAffinity": "None",
                               "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                          "targetPort": int(port)}]}},
            ep_res: {"metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                     "subsets": [{"addresses": [{"ip": host.strip("[]")}],
                                  "ports": [{"name": "https", "port": int(port), "protocol": "TCP"}]}]},
            # what the proxy programs 10.96.0.1:443 from (kube-apiserver's reconciler writes it too)
            slice_res: {"metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}},
                        "addressType": "IPv6" if ":" in host else "IPv4",
                        "endpoints": [{"addresses": [host.strip("[]")], "conditions": {"ready": True}}],
                        "ports": [{"name": "https", "port": int(port), "protocol": "TCP"}]},
        }
        for res, obj in wanted.items():
            kv = await self.store.get(self.registry.key(res, "default", "kubernetes"))
            if kv is None:
                try:
                    await self.registry.create(res, "default", obj, WriteOptions())
                except status.StatusError as exc:
                    log.warning("could not create default/kubernetes %s: %s", res.kind, exc.message)
            elif res is ep_res and kv.value.get("subsets") != obj["subsets"]:
                await self.registry.update(res, "default", "kubernetes", {**kv.value, "subsets": obj["subsets"]},
                                           WriteOptions())
            elif res is slice_res and (kv.value.get("endpoints"), kv.value.get("ports")) != (obj["endpoints"],
                                                                                             obj["ports"]):
                await self.registry.update(res, "default", "kubernetes", {**kv.value, "endpoints": obj["endpoints"],
                                                                           "ports": obj["ports"]}, WriteOptions())

    async def _compact_loop(self) -> None:
        """Compact etcd to the revision seen one interval ago, as kube-apiserver does."""
        previous = 0
        while True:
            await asyncio.sleep(self.compaction_interval)
            try:
                if previous:
                    await self.store.compact(previous)
                previous = await self.store.current_revision()
            except Exception as exc:  # noqa: BLE001 - try again next interval
                log.warning("compaction failed: %s", exc)

    # -- HTTP ---------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        handlers = ResourceHandlers(self.registry, agent_token=self.agent_token, signing_key=self.signing_key)
        app = web.Application(middlewares=[self._errors, self._auth], client_max_size=64 * 1024 * 1024)
        r = app.router
        for p in ("/healthz", "/livez", "/readyz"):
            r.add_get(p, self._health)
            r.add_get(p + "/{check:.*}", self._health)
        r.add_get("/version", self._version)
        r.add_get("/metrics", self._metrics)
        r.add_get("/api", self._api)
        r.add_get("/apis", self._apis)
        r.add_get("/openapi/v2", self._openapi_v2)
        r.add_get("/openapi/v3", self._openapi_v3_index)
        r.add_get("/openapi/v3/{path:.*}", self._openapi_v3)
        r.add_get("/api/{version}", self._api_version)
        r.add_get("/apis/{group}", self._api_group)
        r.add_get("/apis/{group}/{version}", self._api_group_version)
        r.add_post("/api/v1/namespaces/{namespace}/bindings", self._legacy_binding(handlers))
        r.add_get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", self._no_crds)
        r.add_route("*", "/api/{tail:.+}", handlers.handle)
        r.add_route("*", "/apis/{tail:.+}", handlers.handle)
        return app

    async def _no_crds(self, request: web.Request) -> web.Response:
        """Skiff serves no custom resources yet; kubectl's client-side validation lists CRDs
        to tell an unknown kind from a custom one, so the (always empty) list is answered."""
        return respond({"kind": "CustomResourceDefinitionList", "apiVersion": "apiextensions.k8s.io/v1",
                        "metadata": {"resourceVersion": str(self.cache.revision)}, "items": []})

    @staticmethod
    def _legacy_binding(handlers: ResourceHandlers) -> Any:
        from .subresources import handle_legacy_binding

        async def handle(request: web.Request) -> web.StreamResponse:
            return await handle_legacy_binding(handlers, request)

        return handle

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.perf_counter()
        code = 500
        try:
            resp = await handler(request)
            code = resp.status
            return resp
        except status.StatusError as exc:
            code = exc.code
            return web.json_response(exc.body(), status=exc.code, headers=exc.headers)
        except web.HTTPException as exc:
            code = exc.status
            if exc.status == 404:
                err = status.StatusError(404, "NotFound", "the server could not find the requested resource")
                return web.json_response(err.body(), status=404)
            if exc.status == 405:
                err = status.method_not_allowed("the server does not allow this method on the requested resource")
                return web.json_response(err.body(), status=405)
            raise
        except Exception as exc:  # noqa: BLE001 - never a traceback to the user
            log.exception("internal error on %s %s", request.method, request.path)
            err = status.StatusError(500, "InternalError", f"Internal error occurred: {exc}")
            return web.json_response(err.body(), status=500)
        finally:
            self.metrics.observe(request.method, request.path, code, time.perf_counter() - started,
                                 watch="watch=" in request.query_string)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path in ANONYMOUS_PATHS or request.path.startswith(("/healthz/", "/livez/", "/readyz/")):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if token and any(hmac.compare_digest(token, t) for t in self.tokens):
            return await handler(request)
        if token and self._sa_auth is not None and satokens.looks_like_jwt(token):
            user = await self._sa_auth.authenticate(token)
            if user is not None:
                # no RBAC yet: a service account may do what every other token may
                request["user"] = user
                return await handler(request)
        raise status.unauthorized()

    async def _health(self, request: web.Request) -> web.Response:
        ok = self.cache.ready.is_set()
        if request.path.startswith("/readyz") or request.path.startswith("/healthz"):
            try:
                await asyncio.wait_for(self.store.current_revision(), 2)
            except Exception:  # noqa: BLE001
                ok = False
        if "verbose" in request.query:
            text = f"[{'+' if ok else '-'}]etcd {'ok' if ok else 'failed'}\n{request.path.strip('/')} " \
                   f"{'check passed' if ok else 'check failed'}\n"
            return web.Response(text=text, status=200 if ok else 500)
        return web.Response(text="ok" if ok else "etcd not ready", status=200 if ok else 500)

    async def _version(self, request: web.Request) -> web.Response:
        return respond({
            "major": "1", "minor": "30", "gitVersion": GIT_VERSION, "gitCommit": "skiff", "gitTreeState": "clean",
            "buildDate": "2026-11-25T00:00:00Z", "goVersion": f"python{platform.python_version()}",
            "compiler": "cpython", "platform": f"linux/{_arch()}",
        })

    async def _metrics(self, request: web.Request) -> web.Response:
        extra = {"apiserver_storage_objects": {res: self.cache.count(res) for res in self._prefixes()},
                 "etcd_revision": self.cache.revision}
        return web.Response(body=self.metrics.render(extra), content_type="text/plain",
                            headers={"Content-Type": "text/plain; version=0.0.4"})

    def _prefixes(self) -> list[str]:
        from skiff.api.resources import RESOURCES

        return [self.registry.prefix(r) for r in RESOURCES]

    @staticmethod
    def _aggregated_version(request: web.Request) -> str | None:
        for part in request.headers.get("Accept", "").split(","):
            params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
            if params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList":
                if params.get("v") in ("v2", "v2beta1"):
                    return params["v"]
            elif part.strip().split(";")[0] in ("application/json", "*/*"):
                return None
        return None

    def _aggregated(self, request: web.Request, core: bool) -> web.Response | None:
        v = self._aggregated_version(request)
        if v is None:
            return None
        body = discovery.aggregated(core, api_version=f"apidiscovery.k8s.io/{v}")
        resp = respond(body)
        resp.content_type = "application/json"
        resp.headers["Content-Type"] = f"application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"
        return resp

    async def _api(self, request: web.Request) -> web.Response:
        return self._aggregated(request, True) or respond(discovery.core_versions(self.advertise_url.split("//")[-1]))

    async def _apis(self, request: web.Request) -> web.Response:
        return self._aggregated(request, False) or respond(discovery.group_list())

    async def _api_version(self, request: web.Request) -> web.Response:
        body = discovery.resource_list("", request.match_info["version"])
        if body is None:
            raise web.HTTPNotFound()
        return respond(body)

    async def _api_group(self, request: web.Request) -> web.Response:
        body = discovery.group(request.match_info["group"])
        if body is None:
            raise web.HTTPNotFound()
        return respond(body)

    async def _api_group_version(self, request: web.Request) -> web.Response:
        body = discovery.resource_list(request.match_info["group"], request.match_info["version"])
        if body is None:
            raise web.HTTPNotFound()
        return respond(body)

    async def _openapi_v2(self, request: web.Request) -> web.Response:
        from skiff.api import openapi

        # kubectl and client-go ask for gnostic protobuf only; others get JSON.
        body, ctype = openapi.v2_response(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": ctype})

    async def _openapi_v3_index(self, request: web.Request) -> web.Response:
        from skiff.api import openapi

        return respond(openapi.v3_index())

    async def _openapi_v3(self, request: web.Request) -> web.Response:
        from skiff.api import openapi

        path = request.match_info["path"]
        if openapi.v3_document(path) is None:
            raise web.HTTPNotFound()
        resp = web.Response(body=openapi.document_bytes(path), content_type="application/json")
        resp.headers["Cache-Control"] = "public, immutable" if "hash" in request.query else "no-cache"
        return resp


def _arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx
