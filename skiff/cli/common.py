"""What every skiffctl command shares: global flags, the client, resource names, kubectl's errors.

``Cli`` is created once per invocation from the global flags (``--kubeconfig``,
``--context``, ``-n``, ``--server``, ``--token``, ``--insecure-skip-tls-verify``); it
opens the ``ApiClient`` lazily so commands that need no server (``config``) never
connect. ``CommandError`` carries a message printed as ``error: ...`` with exit code 1;
``ApiError`` is printed as kubectl prints a server error.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from skiff.api import resources as api_resources
from skiff.api.resources import Resource
from skiff.client import ApiClient, ApiError, ClientConfig, Kubeconfig, KubeconfigError
from skiff.client import kubeconfig as kc


class CommandError(Exception):
    """A user-facing failure; printed as ``error: <message>`` unless ``raw`` (printed as is)."""

    def __init__(self, message: str, *, code: int = 1, raw: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.raw = raw


#: global flags: name -> (takes a value, short alias)
GLOBAL_FLAGS: dict[str, tuple[bool, str | None]] = {
    "kubeconfig": (True, None), "context": (True, None), "namespace": (True, "n"), "server": (True, "s"),
    "token": (True, None), "cluster": (True, None), "user": (True, None), "request-timeout": (True, None),
    "insecure-skip-tls-verify": (False, None), "v": (True, "v"), "certificate-authority": (True, None),
    "client-certificate": (True, None), "client-key": (True, None), "as": (True, None),
    "cache-dir": (True, None), "match-server-version": (False, None), "tls-server-name": (True, None),
    "username": (True, None), "password": (True, None), "warnings-as-errors": (False, None),
}
_SHORT = {alias: name for name, (_, alias) in GLOBAL_FLAGS.items() if alias}


def split_globals(argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Pull kubectl's global flags out of ``argv`` wherever they are (before ``--``)."""
    found: dict[str, Any] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        name = value = None
        if arg.startswith("--"):
            key, eq, val = arg[2:].partition("=")
            if key in GLOBAL_FLAGS:
                name, value = key, (val if eq else None)
        elif arg.startswith("-") and len(arg) >= 2 and arg[1] in _SHORT:
            name = _SHORT[arg[1]]
            tail = arg[2:]
            value = tail[1:] if tail.startswith("=") else (tail or None)
        if name is None:
            rest.append(arg)
            i += 1
            continue
        takes_value, _ = GLOBAL_FLAGS[name]
        if takes_value and value is None:
            if i + 1 >= len(argv):
                raise CommandError(f"flag needs an argument: --{name}")
            value = argv[i + 1]
            i += 1
        elif not takes_value:
            value = True if value is None else value.lower() in ("true", "1", "t")
        found[name] = value
        i += 1
    return found, rest


def kind_group(res: Resource) -> str:
    """kubectl's lower-case ``kind.group`` (``deployment.apps``, ``pod``)."""
    return f"{res.kind.lower()}.{res.group}" if res.group else res.kind.lower()


def ref(res: Resource, name: str) -> str:
    """``deployment.apps/web``, as kubectl's name printer shows an object."""
    return f"{kind_group(res)}/{name}"


@dataclass
class Cli:
    """One invocation: global flags, output streams, and a lazily opened API client."""

    flags: dict[str, Any] = field(default_factory=dict)
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    _kubeconfig: Kubeconfig | None = None
    _config: ClientConfig | None = None
    _api: ApiClient | None = None

    @property
    def kubeconfig(self) -> Kubeconfig:
        if self._kubeconfig is None:
            self._kubeconfig = kc.load(self.flags.get("kubeconfig"))
        return self._kubeconfig

    @property
    def config(self) -> ClientConfig:
        if self._config is None:
            try:
                self._config = self.kubeconfig.resolve(
                    context=self.flags.get("context"), cluster=self.flags.get("cluster"),
                    user=self.flags.get("user"), namespace=self.flags.get("namespace"),
                    server=self.flags.get("server"), token=self.flags.get("token"),
                    insecure_skip_tls_verify=self.flags.get("insecure-skip-tls-verify"))
            except KubeconfigError as e:
                raise CommandError(str(e)) from e
        return self._config

    @property
    def namespace(self) -> str:
        if self.flags.get("namespace"):
            return str(self.flags["namespace"])
        return self.config.namespace

    @property
    def namespace_overridden(self) -> bool:
        return bool(self.flags.get("namespace"))

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            timeout = _duration(self.flags.get("request-timeout"))
            self._api = ApiClient(self.config, user_agent="skiffctl/0.1", timeout=timeout or 60.0)
        return self._api

    async def close(self) -> None:
        if self._api is not None:
            await self._api.close()

    def print(self, text: str = "", *, end: str = "\n") -> None:
        self.out.write(text + end)

    def warn(self, text: str) -> None:
        self.err.write(text + "\n")

    def print_warnings(self) -> None:
        if self._api is not None:
            for w in self._api.warnings:
                self.err.write(f"Warning: {w}\n")
            self._api.warnings = []

    async def resource(self, name: str) -> Resource:
        """What the user typed (``po``, ``deployments.apps``, ``Deployment``) -> the served resource."""
        res = api_resources.find(name)
        if res is None:
            res = await self._discovered(name)
        if res is None:
            raise CommandError(f'the server doesn\'t have a resource type "{name}"')
        return res

    async def resource_for(self, obj: Mapping[str, Any], *, where: str = "") -> Resource:
        """The resource serving a manifest's ``apiVersion``/``kind``."""
        api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
        res = api_resources.by_kind(api_version, kind)
        if res is None:
            for cand in await self.discovery():
                if cand.api_version == api_version and cand.kind == kind:
                    return cand
            meta = obj.get("metadata") or {}
            raise CommandError(f'resource mapping not found for name: "{meta.get("name", "")}" namespace: '
                               f'"{meta.get("namespace", "")}" from "{where}": no matches for kind "{kind}" in '
                               f'version "{api_version}"\nensure CRDs are installed first')
        return res

    _discovery: list[Resource] | None = None

    async def discovery(self) -> list[Resource]:
        """Every resource the server lists in discovery (preferred versions), core first."""
        if self._discovery is not None:
            return self._discovery
        out: list[Resource] = []
        core = await self.api.raw("GET", "/api", accept=AGGREGATED_ACCEPT)
        if core.get("kind") == "APIGroupDiscoveryList":
            groups = await self.api.raw("GET", "/apis", accept=AGGREGATED_ACCEPT)
            for doc in (core, groups):
                for item in doc.get("items") or []:
                    versions = item.get("versions") or []
                    if versions:  # the first version listed is the preferred one
                        out.extend(_from_aggregated(item["metadata"].get("name", ""), versions[0]))
            self._discovery = out
            return out
        out.extend(_from_discovery("", "v1", await self.api.raw("GET", "/api/v1")))
        groups = await self.api.raw("GET", "/apis")
        for g in groups.get("groups") or []:
            gv = (g.get("preferredVersion") or {}).get("groupVersion") or g["versions"][0]["groupVersion"]
            group, _, version = gv.partition("/")
            try:
                listing = await self.api.raw("GET", f"/apis/{gv}")
            except ApiError:
                continue
            out.extend(_from_discovery(group, version, listing))
        self._discovery = out
        return out

    async def _discovered(self, name: str) -> Resource | None:
        lowered = name.lower()
        plural, _, group = lowered.partition(".")
        for r in await self.discovery():
            if group and r.group != group and not r.group.startswith(group):
                continue
            if plural in (r.plural, r.singular, r.kind.lower()) or plural in r.short_names:
                return r
        return None


AGGREGATED_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                     "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


def _from_aggregated(group: str, version: Mapping[str, Any]) -> list[Resource]:
    out = []
    for e in version.get("resources") or []:
        kind = (e.get("responseKind") or {}).get("kind") or ""
        out.append(Resource(group, str(version.get("version")), kind, e["resource"], e.get("scope") == "Namespaced",
                            tuple(e.get("shortNames") or ()), tuple(e.get("categories") or ()),
                            tuple(s["subresource"] for s in e.get("subresources") or []), tuple(e.get("verbs") or ())))
    return out


def _from_discovery(group: str, version: str, listing: Mapping[str, Any]) -> list[Resource]:
    entries = listing.get("resources") or []
    subs: dict[str, list[str]] = {}
    for e in entries:
        if "/" in e["name"]:
            base, _, sub = e["name"].partition("/")
            subs.setdefault(base, []).append(sub)
    out = []
    for e in entries:
        if "/" in e["name"]:
            continue
        out.append(Resource(group, version, e["kind"], e["name"], bool(e.get("namespaced")),
                            tuple(e.get("shortNames") or ()), tuple(e.get("categories") or ()),
                            tuple(subs.get(e["name"], ())), tuple(e.get("verbs") or ())))
    return out


def _duration(value: Any) -> float | None:
    """``--request-timeout`` / ``--timeout`` values: ``0``, ``30``, ``30s``, ``1m``, ``1h``."""
    if value in (None, "", "0"):
        return None
    return parse_duration(str(value))


def parse_duration(text: str) -> float:
    """Go's duration syntax (``1h2m3.5s``, ``500ms``) or plain seconds; errors name the value."""
    import re

    text = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise CommandError(f'invalid duration "{text}"')
    return total


def error_message(e: ApiError) -> str:
    """kubectl's rendering of a server error (``StandardErrorMessage`` and the Invalid case)."""
    details = e.details
    if e.reason == "Invalid" or e.code == 422:
        causes = details.get("causes") or []
        if details.get("kind") or details.get("name"):
            head = f'The {details.get("kind", "")} "{details.get("name", "")}" is invalid'
        else:
            head = "The request is invalid"
            if not causes:
                return f"{head}: {e.message}" if e.message else head
        if not causes:
            return head
        lines = [f'{c["field"]}: {c.get("message", "")}' if c.get("field") else str(c.get("message", ""))
                 for c in causes]
        if len(lines) == 1:
            return f"{head}: {lines[0]}"
        return f"{head}: \n" + "\n".join(f"* {line}" for line in lines)
    if e.reason == "Unauthorized" or e.code == 401:
        return f"error: You must be logged in to the server ({e.message or 'Unauthorized'})"
    if e.reason:
        return f"Error from server ({e.reason}): {e.message}"
    return f"Error from server: {e.message}"
