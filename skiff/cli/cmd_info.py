"""Cluster and discovery verbs: ``version``, ``api-resources``, ``api-versions``, ``cluster-info``,
``explain``; and the verbs whose server side is not there yet (``top``, ``cp``)
that say plainly when the server does not serve them yet."""
from __future__ import annotations

import argparse
import json
from typing import Any

from skiff.api.resources import Resource
from skiff.client import ApiError
from skiff.client import requests as rq

from . import explain as explain_v3
from . import formats
from .common import Cli, CommandError
from .printers import align

CLIENT_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-skiff.0.1.0", "gitCommit": "",
                  "gitTreeState": "clean", "buildDate": "", "goVersion": "", "compiler": "cpython",
                  "platform": "linux/amd64"}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    v = sub.add_parser("version", help="Print the client and server version information")
    v.add_argument("--client", action="store_true")
    v.add_argument("-o", "--output", default="")
    v.set_defaults(run=version)
    r = sub.add_parser("api-resources", help="Print the supported API resources on the server")
    r.add_argument("--namespaced", default=None)
    r.add_argument("--api-group", default=None)
    r.add_argument("--verbs", default="")
    r.add_argument("--categories", default="")
    r.add_argument("-o", "--output", default="")
    r.add_argument("--no-headers", action="store_true")
    r.add_argument("--sort-by", default="")
    r.add_argument("--cached", action="store_true")
    r.set_defaults(run=api_resources)
    a = sub.add_parser("api-versions", help="Print the supported API versions on the server")
    a.set_defaults(run=api_versions)
    c = sub.add_parser("cluster-info", help="Display cluster information")
    c.add_argument("what", nargs="?")
    c.set_defaults(run=cluster_info)
    e = sub.add_parser("explain", help="Get documentation for a resource")
    e.add_argument("path")
    e.add_argument("--recursive", action="store_true")
    e.add_argument("--api-version", default="")
    e.add_argument("-o", "--output", default="")
    e.set_defaults(run=explain)
    for name, what in (("top", "top (metrics)"), ("cp", "cp")):
        s = sub.add_parser(name, help=f"{name} (arrives with the node agent)")
        s.add_argument("rest", nargs=argparse.REMAINDER)
        s.set_defaults(run=_unserved(name, what))


def _unserved(verb: str, what: str) -> Any:
    async def run(cli: Cli, args: argparse.Namespace) -> int:
        raise CommandError(f"skiffctl {verb}: the server does not serve {what} yet "
                           f"(it arrives with the node agent and metrics work)")
    return run


async def version(cli: Cli, args: argparse.Namespace) -> int:
    server: dict[str, Any] | None = None
    server_error: Exception | None = None
    if not args.client:
        try:
            server = await cli.api.raw("GET", "/version")
        except (ApiError, OSError) as e:
            server_error = e
    if args.output in ("json", "yaml"):
        doc: dict[str, Any] = {"clientVersion": CLIENT_VERSION, "kustomizeVersion": "v5.5.0"}
        if server is not None:
            doc["serverVersion"] = server
        cli.out.write(json.dumps(doc, indent=2) + "\n" if args.output == "json" else formats.to_yaml(doc))
    elif args.output:
        raise CommandError("--output must be 'yaml' or 'json'")
    else:
        cli.print(f"Client Version: {CLIENT_VERSION['gitVersion']}")
        cli.print("Kustomize Version: v5.5.0")
        if server is not None:
            cli.print(f"Server Version: {server.get('gitVersion', '')}")
    if server_error is not None:
        raise server_error
    return 0


async def api_resources(cli: Cli, args: argparse.Namespace) -> int:
    resources = list(await cli.discovery())
    if args.namespaced is not None:
        want = args.namespaced.lower() in ("true", "1", "t")
        resources = [r for r in resources if r.namespaced == want]
    if args.api_group is not None:
        resources = [r for r in resources if r.group == args.api_group]
    if args.verbs:
        need = [v for v in args.verbs.split(",") if v]
        resources = [r for r in resources if all(v in r.verbs for v in need)]
    if args.categories:
        need = [c for c in args.categories.split(",") if c]
        resources = [r for r in resources if all(c in r.categories for c in need)]
    # kubectl: by the chosen field (group by default), ties by resource name
    if args.sort_by == "name":
        resources.sort(key=lambda r: (r.plural, r.plural))
    elif args.sort_by == "kind":
        resources.sort(key=lambda r: (r.kind, r.plural))
    elif args.sort_by:
        raise CommandError('--sort-by accepts only name or kind')
    else:
        resources.sort(key=lambda r: (r.group, r.plural))
    if args.output == "name":
        for r in resources:
            cli.print(r.qualified)
        return 0
    wide = args.output == "wide"
    if args.output not in ("", "wide"):
        raise CommandError(f'--output {args.output} is not available')
    header = "NAME\tSHORTNAMES\tAPIVERSION\tNAMESPACED\tKIND" + ("\tVERBS\tCATEGORIES" if wide else "")
    lines = [] if args.no_headers else [header]
    for r in resources:
        cells = [r.plural, ",".join(r.short_names), r.api_version, "true" if r.namespaced else "false", r.kind]
        if wide:
            cells += [",".join(r.verbs), ",".join(r.categories)]
        lines.append("\t".join(cells))
    cli.out.write(align(lines))
    return 0


async def api_versions(cli: Cli, args: argparse.Namespace) -> int:
    versions: list[str] = []
    core = await cli.api.raw("GET", "/api")
    versions.extend(core.get("versions") or [])
    groups = await cli.api.raw("GET", "/apis")
    for g in groups.get("groups") or []:
        versions.extend(v["groupVersion"] for v in g.get("versions") or [])
    for v in sorted(set(versions)):
        cli.print(v)
    return 0


async def cluster_info(cli: Cli, args: argparse.Namespace) -> int:
    if args.what == "dump":
        raise CommandError("skiffctl cluster-info dump is not supported; use skiffctl get -A -o yaml")
    await cli.api.raw("GET", "/version")
    # kubectl >= 1.31 colours only a terminal
    tty = hasattr(cli.out, "isatty") and cli.out.isatty()
    green, yellow, reset = ("\x1b[0;32m", "\x1b[0;33m", "\x1b[0m") if tty else ("", "", "")
    cli.print(f"{green}Kubernetes control plane{reset} is running at {yellow}{cli.config.server}{reset}")
    try:
        svcs = await cli.api.send(rq.raw("GET", "/api/v1/namespaces/kube-system/services",
                                         query={"labelSelector": "kubernetes.io/cluster-service=true"}))
    except ApiError:
        svcs = {"items": []}
    for svc in svcs.get("items") or []:
        meta = svc.get("metadata") or {}
        name = (meta.get("labels") or {}).get("kubernetes.io/name") or meta.get("name")
        link = f"{cli.config.server}/api/v1/namespaces/{meta.get('namespace')}/services/{meta.get('name')}/proxy"
        ports = (svc.get("spec") or {}).get("ports") or []
        if ports and ports[0].get("name"):
            link = f"{cli.config.server}/api/v1/namespaces/{meta.get('namespace')}/services/" \
                   f"{meta.get('name')}:{ports[0]['name']}/proxy"
        cli.print(f"{green}{name}{reset} is running at {yellow}{link}{reset}")
    cli.print("")
    cli.print("To further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.")
    return 0


async def explain(cli: Cli, args: argparse.Namespace) -> int:
    """Field documentation from the server's OpenAPI v3 document, in kubectl's plaintext layout."""
    kind_name, *fields = args.path.split(".")
    if args.output not in ("", "plaintext"):
        raise CommandError(f"unsupported output format: {args.output}; skiffctl explain renders plaintext "
                           "from OpenAPI v3 only")
    try:
        res: Resource = await cli.resource(kind_name)
    except CommandError as e:
        raise CommandError(str(e), raw=True) from e  # kubectl explain prints this one without "error: "
    group, version = res.group, res.version
    if args.api_version:
        group, _, version = args.api_version.rpartition("/")
    prefix = f"/apis/{group}" if group else "/api"
    try:
        document = await cli.api.raw("GET", f"/openapi/v3{prefix}/{version}")
    except ApiError as e:
        if e.code == 404:
            raise CommandError(f"couldn't find resource for \"{group + '/' if group else ''}{version}, "
                               f"Resource={res.plural}\"") from e
        raise
    gvk = explain_v3.find_gvk(document, prefix=prefix, version=version, plural=res.plural)
    if gvk is None:
        raise CommandError(f"GVR ({group}/{version}, Resource={res.plural}) not found in OpenAPI schema")
    try:
        cli.out.write(explain_v3.render(document, gvk, fields, recursive=args.recursive))
    except explain_v3.FieldNotFound as e:
        cli.out.write(e.partial)
        raise CommandError(str(e)) from e
    except LookupError as e:
        raise CommandError(str(e)) from e
    return 0


