"""OCI distribution (registry v2) client: manifests, blobs, uploads, auth.

One :class:`RegistryClient` talks to one registry host for one set of
credentials. It handles the scheme (https, falling back to plain http only for
insecure registries, as Docker does), anonymous / Basic / Bearer-token auth (the
``WWW-Authenticate`` challenge flow, token cached per scope), digest
verification of everything it downloads and resumable blob downloads (HTTP
Range) when a connection drops.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from skiff.nodeagent.runtime.images.auth import Challenge, Credentials, parse_challenges
from skiff.nodeagent.runtime.images.errors import BadContent, RegistryError, Unauthorized

log = logging.getLogger(__name__)

MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST_ACCEPT = ", ".join([MT_OCI_INDEX, MT_DOCKER_LIST, MT_DOCKER_MANIFEST, MT_OCI_MANIFEST])
INDEX_TYPES = {MT_OCI_INDEX, MT_DOCKER_LIST}
MANIFEST_TYPES = {MT_DOCKER_MANIFEST, MT_OCI_MANIFEST}

_CHUNK = 1 << 20
Progress = Callable[[int, int], Awaitable[None]]


def detect_media_type(body: bytes, header: str | None) -> str:
    ct = (header or "").split(";")[0].strip()
    if ct in INDEX_TYPES or ct in MANIFEST_TYPES or ct == MT_DOCKER_SCHEMA1:
        return ct
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadContent(f"manifest: not JSON: {exc}") from exc
    mt = doc.get("mediaType") if isinstance(doc, dict) else None
    if mt:
        return str(mt)
    if isinstance(doc, dict) and "manifests" in doc:
        return MT_OCI_INDEX
    if isinstance(doc, dict) and doc.get("schemaVersion") == 1:
        return MT_DOCKER_SCHEMA1
    return MT_OCI_MANIFEST


def describe_client_error(method: str, url: str, exc: Exception) -> str:
    """Go-style wording, as the docker CLI users know it from dockerd."""
    if isinstance(exc, (aiohttp.ClientSSLError, aiohttp.ClientOSError)) and "WRONG_VERSION_NUMBER" in str(exc):
        return f'{method} "{url}": http: server gave HTTP response to HTTPS client'
    if isinstance(exc, aiohttp.ClientConnectorError):
        err = exc.os_error
        reason = (err.strerror or str(err)).lower() if err is not None else str(exc)
        return f'{method} "{url}": dial tcp {exc.host}:{exc.port}: connect: {reason}'
    return f'{method} "{url}": {exc}'


def _registry_message(body: bytes) -> str:
    try:
        errs = orjson.loads(body).get("errors") or []
    except (orjson.JSONDecodeError, AttributeError):
        return body.decode(errors="replace").strip()[:200]
    parts = []
    for e in errs:
        code = str(e.get("code", "")).lower().replace("_", " ")
        msg = str(e.get("message", ""))
        parts.append(f"{code}: {msg}" if code and msg else code or msg)
    return "; ".join(parts)


class RegistryClient:
    def __init__(
        self, session: aiohttp.ClientSession, host: str, *, insecure: bool,
        credentials: Credentials | None = None, ca_file: Path | None = None,
    ) -> None:
        self.session = session
        self.host = host
        self.insecure = insecure
        self.credentials = credentials
        self._base: str | None = None
        self._tokens: dict[str, str] = {}
        self._basic = False
        self._challenge: Challenge | None = None
        if ca_file is not None and ca_file.exists():
            self._ssl: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_file))
        elif insecure:
            self._ssl = False
        else:
            self._ssl = True

    # -- connection and auth ------------------------------------------------
    async def base(self) -> str:
        if self._base is None:
            https = f"https://{self.host}"
            try:
                async with self.session.get(f"{https}/v2/", ssl=self._ssl) as resp:
                    await resp.read()
                    self._note_challenge(resp)
                self._base = https
            except (aiohttp.ClientConnectorError, aiohttp.ClientSSLError,
                    aiohttp.ServerDisconnectedError, aiohttp.ClientOSError,
                    aiohttp.ClientResponseError) as exc:
                if not self.insecure:
                    raise RegistryError(describe_client_error("Get", f"{https}/v2/", exc)) from exc
                http = f"http://{self.host}"
                try:
                    async with self.session.get(f"{http}/v2/") as resp:
                        await resp.read()
                        self._note_challenge(resp)
                except aiohttp.ClientError as exc2:
                    raise RegistryError(describe_client_error("Get", f"{http}/v2/", exc2)) from exc2
                self._base = http
        return self._base

    def _note_challenge(self, resp: aiohttp.ClientResponse) -> None:
        if resp.status == 401:
            for ch in parse_challenges(resp.headers.get("WWW-Authenticate", "")):
                if ch.scheme in ("bearer", "basic"):
                    self._challenge = ch
                    return

    async def _token(self, ch: Challenge, scopes: list[str], *, force: bool = False) -> str:
        key = " ".join(sorted(scopes))
        if not force and key in self._tokens:
            return self._tokens[key]
        realm = ch.params.get("realm")
        if not realm:
            raise RegistryError(f"registry {self.host}: bearer challenge without realm")
        query: list[tuple[str, str]] = []
        if "service" in ch.params:
            query.append(("service", ch.params["service"]))
        for s in scopes:
            query.append(("scope", s))
        headers = {}
        creds = self.credentials
        if creds is not None and creds.registry_token:
            return creds.registry_token
        if creds is not None and creds.username:
            query.append(("account", creds.username))
            headers["Authorization"] = creds.basic_header()
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        try:
            async with self.session.get(url, headers=headers, ssl=self._ssl_for(realm)) as resp:
                body = await resp.read()
                if resp.status in (401, 403):
                    raise Unauthorized(
                        f"unauthorized: authentication required (token server {realm} answered {resp.status})"
                    )
                if resp.status != 200:
                    raise RegistryError(f"token server {realm}: HTTP {resp.status}: {body[:200]!r}")
        except aiohttp.ClientError as exc:
            raise RegistryError(f'Get "{realm}": {exc}') from exc
        doc = orjson.loads(body)
        token = str(doc.get("token") or doc.get("access_token") or "")
        if not token:
            raise RegistryError(f"token server {realm}: answer has no token")
        self._tokens[key] = token
        return token

    def _ssl_for(self, url: str) -> ssl.SSLContext | bool:
        if url.startswith("https://" + self.host):
            return self._ssl
        return True if not self.insecure else False

    async def _auth_header(self, scopes: list[str], *, force: bool = False) -> dict[str, str]:
        ch = self._challenge
        if ch is None:
            return {}
        if ch.scheme == "basic":
            if self.credentials is None or not self.credentials.username:
                return {}
            return {"Authorization": self.credentials.basic_header()}
        return {"Authorization": "Bearer " + await self._token(ch, scopes, force=force)}

    async def request(
        self, method: str, path: str, *, scopes: list[str], headers: dict[str, str] | None = None,
        data: Any = None, allow_redirects: bool = True, absolute: bool = False,
    ) -> aiohttp.ClientResponse:
        """Send one request, answering one auth challenge; caller releases the response."""
        url = path if absolute else await self.base() + path
        for attempt in range(2):
            hdrs = dict(headers or {})
            hdrs.update(await self._auth_header(scopes, force=attempt > 0))
            try:
                resp = await self.session.request(
                    method, url, headers=hdrs, data=data, allow_redirects=allow_redirects,
                    ssl=self._ssl_for(url),
                )
            except aiohttp.ClientError as exc:
                raise RegistryError(describe_client_error(method.capitalize(), url, exc)) from exc
            retryable = data is None or isinstance(data, (bytes, bytearray))
            if resp.status == 401 and attempt == 0 and retryable:
                before = self._challenge
                self._note_challenge(resp)
                if self._challenge is not None and (before is None or self._challenge.scheme == "bearer"):
                    resp.release()
                    continue
            return resp
        return resp

    async def login(self) -> None:
        """Check the credentials (``docker login``); raises Unauthorized."""
        base = await self.base()
        ch = self._challenge
        if ch is None:
            return
        if ch.scheme == "bearer":
            await self._token(ch, [], force=True)
            return
        resp = await self.request("GET", "/v2/", scopes=[])
        async with resp:
            if resp.status != 200:
                raise Unauthorized(
                    f"login attempt to {base}/v2/ failed with status: {resp.status} {resp.reason}"
                )

    # -- manifests -----------------------------------------------------------------
    async def list_tags(self, repo: str) -> list[str]:
        """``GET /v2/<repo>/tags/list`` following ``Link`` pagination."""
        tags: list[str] = []
        path = f"/v2/{repo}/tags/list?n=1000"
        for _ in range(100):
            resp = await self.request("GET", path, scopes=[f"repository:{repo}:pull"])
            async with resp:
                body = await resp.read()
                if resp.status == 404:
                    raise RegistryError(f"repository {repo} not found: {_registry_message(body)}", status=404)
                if resp.status in (401, 403):
                    raise Unauthorized(_registry_message(body) or "unauthorized")
                if resp.status != 200:
                    raise RegistryError(f"tags list: HTTP {resp.status}: {_registry_message(body)}")
                tags.extend(orjson.loads(body).get("tags") or [])
                link = resp.headers.get("Link", "")
            if not link.startswith("<"):
                break
            path = link[1 : link.index(">")]
        return sorted(tags)

    async def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        """Return ``(body, media type, digest)``; the digest is verified when asked by digest."""
        resp = await self.request(
            "GET", f"/v2/{repo}/manifests/{reference}",
            scopes=[f"repository:{repo}:pull"], headers={"Accept": MANIFEST_ACCEPT},
        )
        async with resp:
            body = await resp.read()
            if resp.status == 404:
                raise RegistryError(_registry_message(body) or "manifest unknown", status=404)
            if resp.status in (401, 403):
                raise Unauthorized(f"{_registry_message(body) or 'unauthorized'}")
            if resp.status != 200:
                raise RegistryError(f"registry {self.host}: HTTP {resp.status}: {_registry_message(body)}")
            ct = resp.headers.get("Content-Type")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise BadContent(f"manifest digest mismatch: asked for {reference}, got {digest}")
        return body, detect_media_type(body, ct), digest

    async def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        resp = await self.request(
            "PUT", f"/v2/{repo}/manifests/{reference}",
            scopes=[f"repository:{repo}:pull,push"], headers={"Content-Type": media_type}, data=body,
        )
        async with resp:
            text = await resp.read()
            if resp.status not in (200, 201, 202):
                raise RegistryError(f"manifest upload failed: HTTP {resp.status}: {_registry_message(text)}",
                                    status=resp.status if resp.status in (400, 401, 403, 404) else 500)
        return "sha256:" + hashlib.sha256(body).hexdigest()

    # -- blobs -----------------------------------------------------------------------
    async def get_blob_bytes(self, repo: str, digest: str, *, limit: int = 16 << 20) -> bytes:
        resp = await self.request("GET", f"/v2/{repo}/blobs/{digest}", scopes=[f"repository:{repo}:pull"])
        async with resp:
            if resp.status != 200:
                raise RegistryError(f"blob {digest}: HTTP {resp.status}", status=404 if resp.status == 404 else 500)
            body = await resp.content.read(limit + 1)
        if len(body) > limit:
            raise BadContent(f"blob {digest} is larger than {limit} bytes")
        got = "sha256:" + hashlib.sha256(body).hexdigest()
        if got != digest:
            raise BadContent(f"digest mismatch for blob {digest}: content is {got}")
        return body

    async def download_blob(
        self, repo: str, digest: str, dest: Path, *, size: int = -1, progress: Progress | None = None,
        retries: int = 3,
    ) -> None:
        """Stream a blob to ``dest``, resuming with Range after a dropped connection,
        and verify its digest (``BadContent`` and no file on mismatch)."""
        sha = hashlib.sha256()
        done = 0
        with open(dest, "wb") as out:
            for attempt in range(retries + 1):
                headers = {"Range": f"bytes={done}-"} if done else {}
                try:
                    resp = await self.request(
                        "GET", f"/v2/{repo}/blobs/{digest}", scopes=[f"repository:{repo}:pull"],
                        headers=headers,
                    )
                    async with resp:
                        if done and resp.status == 200:
                            out.seek(0)
                            out.truncate()
                            sha = hashlib.sha256()
                            done = 0
                        elif resp.status not in (200, 206):
                            raise RegistryError(
                                f"blob {digest}: HTTP {resp.status}: {_registry_message(await resp.read())}",
                                status=404 if resp.status == 404 else 500,
                            )
                        async for chunk in resp.content.iter_chunked(_CHUNK):
                            out.write(chunk)
                            sha.update(chunk)
                            done += len(chunk)
                            if progress is not None:
                                await progress(done, size)
                    break
                except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError,
                        asyncio.TimeoutError, aiohttp.ClientOSError) as exc:
                    if attempt == retries:
                        raise RegistryError(f"blob {digest}: download failed: {exc}") from exc
                    log.info("blob %s: connection lost at %d bytes, resuming", digest, done)
        got = "sha256:" + sha.hexdigest()
        if got != digest or (size >= 0 and done != size):
            dest.unlink(missing_ok=True)
            raise BadContent(f"digest mismatch for layer {digest[:19]}: downloaded content is {got}")

    async def blob_exists(self, repo: str, digest: str) -> bool:
        resp = await self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scopes=[f"repository:{repo}:pull,push"])
        async with resp:
            return resp.status == 200

    async def mount_blob(self, repo: str, digest: str, source_repo: str) -> bool:
        """Cross-repository mount; False when the registry started an upload instead."""
        q = urlencode({"mount": digest, "from": source_repo})
        resp = await self.request(
            "POST", f"/v2/{repo}/blobs/uploads/?{q}",
            scopes=[f"repository:{repo}:pull,push", f"repository:{source_repo}:pull"],
        )
        async with resp:
            await resp.read()
            if resp.status == 201:
                return True
            if resp.status == 202:
                loc = resp.headers.get("Location", "")
                if loc:
                    cancel = await self.request("DELETE", await self._abs(loc), scopes=[f"repository:{repo}:pull,push"], absolute=True)
                    cancel.release()
            return False

    async def _abs(self, location: str) -> str:
        if location.startswith("http://") or location.startswith("https://"):
            return location
        return await self.base() + location

    async def upload_blob(
        self, repo: str, digest: str, path: Path, *, progress: Progress | None = None,
    ) -> None:
        """POST an upload session, PATCH the content streamed, PUT ?digest= to close it."""
        scopes = [f"repository:{repo}:pull,push"]
        resp = await self.request("POST", f"/v2/{repo}/blobs/uploads/", scopes=scopes)
        async with resp:
            body = await resp.read()
            if resp.status != 202:
                raise RegistryError(f"blob upload: HTTP {resp.status}: {_registry_message(body)}",
                                    status=resp.status if resp.status in (401, 403, 404) else 500)
            location = await self._abs(resp.headers["Location"])
        size = os.path.getsize(path)

        async def chunks():  # type: ignore[no-untyped-def]
            sent = 0
            with open(path, "rb") as fh:
                while True:
                    data = fh.read(_CHUNK)
                    if not data:
                        break
                    sent += len(data)
                    yield data
                    if progress is not None:
                        await progress(sent, size)

        resp = await self.request(
            "PATCH", location, scopes=scopes, absolute=True,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            data=chunks(),
        )
        async with resp:
            body = await resp.read()
            if resp.status not in (202, 204):
                raise RegistryError(f"blob upload: PATCH HTTP {resp.status}: {_registry_message(body)}")
            location = await self._abs(resp.headers.get("Location", location))
        sep = "&" if "?" in location else "?"
        resp = await self.request("PUT", f"{location}{sep}digest={digest}", scopes=scopes, absolute=True,
                                  headers={"Content-Length": "0"})
        async with resp:
            body = await resp.read()
            if resp.status not in (201, 204):
                raise RegistryError(f"blob upload: PUT HTTP {resp.status}: {_registry_message(body)}")

    async def upload_blob_bytes(self, repo: str, digest: str, data: bytes) -> None:
        scopes = [f"repository:{repo}:pull,push"]
        resp = await self.request("POST", f"/v2/{repo}/blobs/uploads/", scopes=scopes)
        async with resp:
            body = await resp.read()
            if resp.status != 202:
                raise RegistryError(f"blob upload: HTTP {resp.status}: {_registry_message(body)}",
                                    status=resp.status if resp.status in (401, 403, 404) else 500)
            location = await self._abs(resp.headers["Location"])
        sep = "&" if "?" in location else "?"
        resp = await self.request("PUT", f"{location}{sep}digest={digest}", scopes=scopes, absolute=True,
                                  headers={"Content-Type": "application/octet-stream"}, data=data)
        async with resp:
            body = await resp.read()
            if resp.status not in (201, 204):
                raise RegistryError(f"blob upload: PUT HTTP {resp.status}: {_registry_message(body)}")
