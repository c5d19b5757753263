"""``skiffctl config``: view and edit kubeconfig files (no server needed).

``view`` prints the merged config with secrets redacted as kubectl does (``DATA+OMITTED``,
``REDACTED``); edits (``use-context``, ``set-context``, ``delete-context``,
``set-cluster``, ``set-credentials``, ``rename-context``) rewrite one file: the explicit
``--kubeconfig``, else the first existing file of ``$KUBECONFIG``, else ``~/.kube/config``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
from pathlib import Path
from typing import Any

import yaml

from skiff.client import kubeconfig as kc

from . import formats
from .common import Cli, CommandError
from .printers import align


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("config", help="Modify kubeconfig files")
    csub = p.add_subparsers(dest="config_verb", metavar="SUBCOMMAND", parser_class=type(p))
    v = csub.add_parser("view")
    v.add_argument("--minify", action="store_true")
    v.add_argument("--raw", action="store_true")
    v.add_argument("--flatten", action="store_true")
    v.add_argument("-o", "--output", default="yaml")
    v.set_defaults(run=view)
    g = csub.add_parser("get-contexts")
    g.add_argument("names", nargs="*")
    g.add_argument("-o", "--output", default="")
    g.add_argument("--no-headers", action="store_true")
    g.set_defaults(run=get_contexts)
    csub.add_parser("current-context").set_defaults(run=current_context)
    u = csub.add_parser("use-context", aliases=["use"])
    u.add_argument("name")
    u.set_defaults(run=use_context)
    s = csub.add_parser("set-context")
    s.add_argument("name", nargs="?")
    s.add_argument("--current", action="store_true")
    s.add_argument("--cluster-name", dest="set_cluster", default=None)
    s.add_argument("--user-name", dest="set_user", default=None)
    s.set_defaults(run=set_context)
    d = csub.add_parser("delete-context")
    d.add_argument("name")
    d.set_defaults(run=delete_context)
    r = csub.add_parser("rename-context")
    r.add_argument("old")
    r.add_argument("new")
    r.set_defaults(run=rename_context)
    for name, fn in (("get-clusters", get_clusters), ("get-users", get_users)):
        csub.add_parser(name).set_defaults(run=fn)
    sc = csub.add_parser("set-cluster")
    sc.add_argument("name")
    sc.add_argument("--certificate-authority-file", dest="ca", default=None)
    sc.add_argument("--embed-certs", action="store_true")
    sc.set_defaults(run=set_cluster)
    cr = csub.add_parser("set-credentials")
    cr.add_argument("name")
    cr.set_defaults(run=set_credentials)


_ORDER = {
    "": ("kind", "apiVersion", "preferences", "clusters", "users", "contexts", "current-context", "extensions"),
    "cluster": ("server", "tls-server-name", "insecure-skip-tls-verify", "certificate-authority",
                "certificate-authority-data", "proxy-url", "disable-compression", "extensions"),
    "user": ("client-certificate", "client-certificate-data", "client-key", "client-key-data", "token", "tokenFile",
             "as", "as-uid", "as-groups", "as-user-extra", "username", "password", "auth-provider", "exec",
             "extensions"),
    "context": ("cluster", "user", "namespace", "extensions"),
}


def _go_order(data: dict[str, Any]) -> dict[str, Any]:
    """kubectl prints ``config view -o json`` from Go structs: fields in declaration order."""
    def ordered(d: dict[str, Any], kind: str) -> dict[str, Any]:
        keys = _ORDER[kind]
        return {k: d[k] for k in sorted(d, key=lambda k: keys.index(k) if k in keys else len(keys))}

    out = ordered(data, "")
    for section, body in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
        if out.get(section):
            out[section] = [{"name": e["name"], body: ordered(e.get(body) or {}, body)} for e in out[section]]
    return out


def _redacted(data: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for entry in out.get("clusters") or []:
        cluster = entry.get("cluster") or {}
        if cluster.get("certificate-authority-data"):
            cluster["certificate-authority-data"] = "DATA+OMITTED"
    for entry in out.get("users") or []:
        user = entry.get("user") or {}
        for key in ("client-certificate-data", "client-key-data", "token"):
            if user.get(key):
                user[key] = "REDACTED" if key != "token" else "REDACTED"
        if user.get("password"):
            user["password"] = "REDACTED"
    return out


def _normalized(data: dict[str, Any]) -> dict[str, Any]:
    """kubectl's round trip through its Config type: entries sorted by name, empty fields dropped."""
    out = {"apiVersion": "v1", "kind": "Config", "preferences": data.get("preferences") or {},
           "clusters": sorted(data.get("clusters") or [], key=lambda e: e.get("name", "")),
           "contexts": sorted(data.get("contexts") or [], key=lambda e: e.get("name", "")),
           "users": sorted(data.get("users") or [], key=lambda e: e.get("name", "")),
           "current-context": data.get("current-context") or ""}
    for section in ("clusters", "contexts", "users"):
        if not out[section]:
            out[section] = None
    return out


async def view(cli: Cli, args: argparse.Namespace) -> int:
    merged = cli.kubeconfig
    data = copy.deepcopy(merged.data)
    if args.minify:
        ctx_name = cli.flags.get("context") or merged.current_context
        if not ctx_name:
            raise CommandError("current-context must exist in order to minify")
        ctx = merged.named("contexts", ctx_name)
        if ctx is None:
            raise CommandError(f'cannot locate context {ctx_name}')
        data["contexts"] = [e for e in data["contexts"] if e["name"] == ctx_name]
        data["clusters"] = [e for e in data["clusters"] if e["name"] == ctx.get("cluster")]
        data["users"] = [e for e in data["users"] if e["name"] == ctx.get("user")]
        data["current-context"] = ctx_name
    if args.flatten:
        for section, keys in (("clusters", ("certificate-authority",)), ("users", ("client-certificate", "client-key"))):
            for entry in data.get(section) or []:
                body = entry.get(section[:-1]) or {}
                for key in keys:
                    if body.get(key):
                        base = merged.origin.get((section, entry["name"]))
                        path = Path(body[key]) if base is None else base.parent / body[key]
                        import base64
                        body[f"{key}-data"] = base64.b64encode(path.read_bytes()).decode()
                        del body[key]
    if not args.raw and not args.flatten:
        data = _redacted(data)
    data = _normalized(data)
    if args.output == "json":
        cli.out.write(json.dumps(_go_order(data), indent=4, ensure_ascii=False) + "\n")
    elif args.output == "yaml":
        cli.out.write(formats.to_yaml({k: v for k, v in data.items()}))
    else:
        raise CommandError(f'unable to match a printer suitable for the output format "{args.output}", allowed '
                           f'formats are: json,yaml')
    return 0


async def get_contexts(cli: Cli, args: argparse.Namespace) -> int:
    merged = cli.kubeconfig
    contexts = sorted(merged.data.get("contexts") or [], key=lambda e: e.get("name", ""))
    if args.names:
        missing = [n for n in args.names if all(c["name"] != n for c in contexts)]
        contexts = [c for c in contexts if c["name"] in args.names]
        if missing:
            for n in missing:
                cli.err.write(f'error: context {n} not found\n')
    if args.output == "name":
        for c in contexts:
            cli.print(c["name"])
        return 0
    if args.output:
        raise CommandError(f"output must be one of '' or 'name': {args.output}")
    lines = [] if args.no_headers else ["CURRENT\tNAME\tCLUSTER\tAUTHINFO\tNAMESPACE"]
    for c in contexts:
        body = c.get("context") or {}
        mark = "*" if c["name"] == merged.current_context else ""
        lines.append("\t".join([mark, c["name"], body.get("cluster", ""), body.get("user", ""),
                                body.get("namespace", "")]))
    cli.out.write(align(lines))
    return 0


async def get_clusters(cli: Cli, args: argparse.Namespace) -> int:
    cli.print("NAME")
    for c in sorted(cli.kubeconfig.data.get("clusters") or [], key=lambda e: e.get("name", "")):
        cli.print(c["name"])
    return 0


async def get_users(cli: Cli, args: argparse.Namespace) -> int:
    cli.print("NAME")
    for c in sorted(cli.kubeconfig.data.get("users") or [], key=lambda e: e.get("name", "")):
        cli.print(c["name"])
    return 0


async def current_context(cli: Cli, args: argparse.Namespace) -> int:
    name = cli.kubeconfig.current_context
    if not name:
        raise CommandError("current-context is not set")
    cli.print(name)
    return 0


def _target_file(cli: Cli) -> Path:
    explicit = cli.flags.get("kubeconfig")
    if explicit:
        return Path(explicit)
    paths = kc.default_paths()
    for p in paths:
        if p.exists():
            return p
    return paths[-1] if os.environ.get("KUBECONFIG") else paths[0]


def _edit(cli: Cli, change: Any) -> None:
    path = _target_file(cli)
    data: dict[str, Any] = {}
    if path.exists():
        data = yaml.safe_load(path.read_text()) or {}
    data.setdefault("apiVersion", "v1")
    data.setdefault("kind", "Config")
    change(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = formats.to_yaml(_normalized(data))
    tmp = path.with_name(path.name + ".skiffctl.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _entry(data: dict[str, Any], section: str, name: str) -> dict[str, Any] | None:
    for e in data.get(section) or []:
        if e.get("name") == name:
            return e
    return None


async def use_context(cli: Cli, args: argparse.Namespace) -> int:
    if cli.kubeconfig.named("contexts", args.name) is None:
        raise CommandError(f'no context exists with the name: "{args.name}"')
    _edit(cli, lambda d: d.__setitem__("current-context", args.name))
    cli.print(f'Switched to context "{args.name}".')
    return 0


async def set_context(cli: Cli, args: argparse.Namespace) -> int:
    name = args.name
    if args.current:
        if name:
            raise CommandError("you cannot specify both a context name and --current")
        name = cli.kubeconfig.current_context
        if not name:
            raise CommandError("no current context is set")
    if not name:
        raise CommandError("you must specify a non-empty context name or --current")
    created = cli.kubeconfig.named("contexts", name) is None

    def change(d: dict[str, Any]) -> None:
        e = _entry(d, "contexts", name)
        if e is None:
            e = {"name": name, "context": dict(cli.kubeconfig.named("contexts", name) or {})}
            d.setdefault("contexts", []) or d.__setitem__("contexts", [])
            d["contexts"] = (d.get("contexts") or []) + [e]
        body = e.setdefault("context", {}) or {}
        e["context"] = body
        for flag, key in (("namespace", "namespace"), ("cluster", "cluster"), ("user", "user")):
            if cli.flags.get(flag) is not None:
                body[key] = cli.flags[flag]
        if args.set_cluster:
            body["cluster"] = args.set_cluster
        if args.set_user:
            body["user"] = args.set_user

    _edit(cli, change)
    cli.print(f'Context "{name}" {"created" if created else "modified"}.')
    return 0


async def delete_context(cli: Cli, args: argparse.Namespace) -> int:
    path = _target_file(cli)
    if cli.kubeconfig.named("contexts", args.name) is None:
        raise CommandError(f"cannot delete context {args.name}, not in {path}")
    if cli.kubeconfig.current_context == args.name:
        cli.err.write("warning: this removed your active context, use \"skiffctl config use-context\" to select "
                      "a different one\n")
    _edit(cli, lambda d: d.__setitem__("contexts", [e for e in d.get("contexts") or [] if e.get("name") != args.name]))
    cli.print(f"deleted context {args.name} from {path}")
    return 0


async def rename_context(cli: Cli, args: argparse.Namespace) -> int:
    if cli.kubeconfig.named("contexts", args.old) is None:
        raise CommandError(f"cannot rename the context {args.old!r}, it's not in {_target_file(cli)}")
    if cli.kubeconfig.named("contexts", args.new) is not None:
        raise CommandError(f"cannot rename the context {args.old!r}, the context {args.new!r} already exists in "
                           f"{_target_file(cli)}")

    def change(d: dict[str, Any]) -> None:
        for e in d.get("contexts") or []:
            if e.get("name") == args.old:
                e["name"] = args.new
        if d.get("current-context") == args.old:
            d["current-context"] = args.new

    _edit(cli, change)
    cli.print(f'Context "{args.old}" renamed to "{args.new}".')
    return 0


async def set_cluster(cli: Cli, args: argparse.Namespace) -> int:
    created = cli.kubeconfig.named("clusters", args.name) is None

    def change(d: dict[str, Any]) -> None:
        e = _entry(d, "clusters", args.name)
        if e is None:
            e = {"name": args.name, "cluster": {}}
            d["clusters"] = (d.get("clusters") or []) + [e]
        body = e.setdefault("cluster", {})
        if cli.flags.get("server"):
            body["server"] = cli.flags["server"]
        if cli.flags.get("insecure-skip-tls-verify") is not None:
            body["insecure-skip-tls-verify"] = bool(cli.flags["insecure-skip-tls-verify"])
        ca = args.ca or cli.flags.get("certificate-authority")
        if ca:
            if args.embed_certs:
                import base64
                body["certificate-authority-data"] = base64.b64encode(Path(ca).read_bytes()).decode()
            else:
                body["certificate-authority"] = str(Path(ca).resolve())

    _edit(cli, change)
    cli.print(f'Cluster "{args.name}" {"set" if created else "set"}.')
    return 0


async def set_credentials(cli: Cli, args: argparse.Namespace) -> int:
    def change(d: dict[str, Any]) -> None:
        e = _entry(d, "users", args.name)
        if e is None:
            e = {"name": args.name, "user": {}}
            d["users"] = (d.get("users") or []) + [e]
        body = e.setdefault("user", {})
        for flag, key in (("token", "token"), ("client-certificate", "client-certificate"),
                          ("client-key", "client-key"), ("username", "username"), ("password", "password")):
            if cli.flags.get(flag):
                body[key] = cli.flags[flag]

    _edit(cli, change)
    cli.print(f'User "{args.name}" set.')
    return 0
