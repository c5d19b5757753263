"""``skiffctl get``: server-side Tables for humans, objects for ``-o yaml|json|name|jsonpath|custom-columns``.

Argument shapes as kubectl: ``TYPE[,TYPE] [NAME...]``, ``TYPE/NAME...``, ``all`` (the
server's ``all`` category), ``-f FILE``. Tables of several kinds are separated by a blank
line and names carry ``kind.group/``; "No resources found" goes to stderr.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from skiff.api.resources import Resource
from skiff.client import TABLE_ACCEPT, ApiError, Gone

from . import jsonpath, manifests
from .common import Cli, CommandError, _duration, error_message, kind_group, ref
from .printers import TAB_MINWIDTH, OutputSpec, render_objects
from .tables import TableOptions, table_lines
from .tabwriter import RememberingWriter, format_lines


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("get", help="Display one or many resources")
    p.add_argument("args", nargs="*")
    add_output_flags(p)
    p.add_argument("-l", "--selector", default="")
    p.add_argument("--field-selector", default="")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("--show-labels", action="store_true")
    p.add_argument("-L", "--label-columns", action="append", default=[])
    p.add_argument("--sort-by", default="")
    p.add_argument("--no-headers", action="store_true")
    p.add_argument("-w", "--watch", action="store_true")
    p.add_argument("--watch-only", action="store_true")
    p.add_argument("--show-kind", action="store_true")
    p.add_argument("--ignore-not-found", action="store_true")
    p.add_argument("--chunk-size", type=int, default=500)
    p.add_argument("-f", "--filename", action="append", default=[])
    p.add_argument("-R", "--recursive", action="store_true")
    p.add_argument("--output-watch-events", action="store_true")
    p.add_argument("--raw", default="")
    p.add_argument("--subresource", default="")
    p.set_defaults(run=run)


def add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="")
    p.add_argument("--allow-missing-template-keys", default="true")
    p.add_argument("--template", default="")
    p.add_argument("--show-managed-fields", action="store_true")


@dataclass
class Target:
    resource: Resource
    names: list[str] = field(default_factory=list)
    namespace: str | None = None  # set for -f targets


async def parse_targets(cli: Cli, args: list[str], *, filenames: list[str] = (),  # type: ignore[assignment]
                        recursive: bool = False) -> tuple[list[Target], bool]:
    """kubectl's resource builder: returns targets and whether a single item was named."""
    targets: list[Target] = []
    if filenames:
        for m in manifests.load(list(filenames), recursive=recursive, stdin=cli.stdin):
            res = await cli.resource_for(m.obj, where=m.source)
            meta = m.obj.get("metadata") or {}
            targets.append(Target(res, [str(meta.get("name", ""))], meta.get("namespace")))
        return targets, len(targets) == 1
    if not args:
        raise CommandError('You must specify the type of resource to get. Use "skiffctl api-resources" for a '
                           "complete list of supported resources.\n\nerror: Required resource not specified.\n"
                           'Use "skiffctl explain <resource>" for a detailed description of that resource '
                           "(e.g. skiffctl explain pods).\nSee 'skiffctl get -h' for help and examples", raw=True)
    if any("/" in a for a in args):
        bad = [a for a in args if "/" not in a]
        if bad:
            raise CommandError(f"there is no need to specify a resource type as a separate argument when passing "
                               f"arguments in resource/name form (e.g. 'skiffctl get resource/<resource_name>' "
                               f"instead of 'skiffctl get resource resource/<resource_name>'")
        for a in args:
            kind, _, name = a.partition("/")
            if not name:
                raise CommandError(f"arguments in resource/name form must have a single resource and name")
            res = await cli.resource(kind)
            if targets and targets[-1].resource == res:
                targets[-1].names.append(name)
            else:
                targets.append(Target(res, [name]))
        return targets, len(args) == 1
    kinds, names = args[0], args[1:]
    for kind in (k for k in kinds.split(",") if k):
        if kind == "all":
            for res in await cli.discovery():
                if "all" in res.categories and all(t.resource != res for t in targets):
                    targets.append(Target(res, list(names)))
            continue
        res = await cli.resource(kind)
        if all(t.resource != res for t in targets):
            targets.append(Target(res, list(names)))
    return targets, len(targets) == 1 and len(names) == 1


async def run(cli: Cli, args: argparse.Namespace) -> int:
    spec = OutputSpec.parse(args.output)
    targets, single = await parse_targets(cli, args.args, filenames=args.filename, recursive=args.recursive)
    if (args.watch or args.watch_only) and len(targets) != 1:
        raise CommandError("you may only specify a single resource type")
    multi_kind = len(targets) > 1 or args.show_kind or (args.args and args.args[0].split(",").count("all") > 0
                                                           and len(targets) > 0 and not args.filename)
    errors: list[str] = []
    writer = RememberingWriter(padding=3, minwidth=TAB_MINWIDTH)
    if spec.human:
        writer = await _print_tables(cli, args, targets, spec, multi_kind=bool(multi_kind), errors=errors)
    else:
        await _print_objects(cli, args, targets, spec, single=single, errors=errors)
    if (args.watch or args.watch_only) and not errors:
        await _watch(cli, args, targets[0], spec, writer)
    for e in errors:
        cli.err.write(e + "\n")
    return 1 if errors else 0


def _namespace_args(cli: Cli, args: argparse.Namespace, target: Target) -> dict[str, Any]:
    if not target.resource.namespaced:
        return {}
    if args.all_namespaces and not target.names:
        return {"all_namespaces": True}
    return {"namespace": target.namespace or cli.namespace}


async def _fetch_tables(cli: Cli, args: argparse.Namespace, target: Target,
                        errors: list[str]) -> list[dict[str, Any]]:
    """One Table per listed type, or one per named object (kubectl asks for each name)."""
    api = cli.api
    res = target.resource
    ns = _namespace_args(cli, args, target)
    accept = TABLE_ACCEPT
    tables = []
    if target.names:
        for name in target.names:
            try:
                tables.append(await api.send(_with_include(
                    _get_request(res, name, ns.get("namespace"), accept), args)))
            except ApiError as e:
                if not (args.ignore_not_found and e.code == 404):
                    errors.append(error_message(e))
        return tables
    try:
        page = await api.send(_with_include(_list_request(cli, args, res, ns, accept), args))
    except ApiError as e:
        raise list_error(e, res, args) from None
    return [page]


def list_error(e: ApiError, res: Resource, args: argparse.Namespace) -> ApiError:
    """kubectl's resource builder rewrites BadRequest/NotFound list errors to name what it listed. Pure."""
    if e.code not in (400, 404):
        return e
    gvr = f"{res.group}/{res.version}, Resource={res.plural}"
    selector, fields = args.selector or "", args.field_selector or ""
    if not selector and not fields:
        message = f'Unable to list "{gvr}": {e.message}'
    else:
        message = f'Unable to find "{gvr}" that match label selector "{selector}", field selector "{fields}": ' \
                  f"{e.message}"
    return type(e)({**e.status, "message": message})


def _get_request(res: Resource, name: str, namespace: str | None, accept: str) -> Any:
    from skiff.client import requests as rq

    return rq.get(res, name, namespace=namespace, accept=accept)


def _list_request(cli: Cli, args: argparse.Namespace, res: Resource, ns: dict[str, Any], accept: str) -> Any:
    from skiff.client import requests as rq

    return rq.list_(res, namespace=None if ns.get("all_namespaces") else ns.get("namespace"),
                    label_selector=args.selector or None, field_selector=args.field_selector or None,
                    accept=accept)


def _with_include(req: Any, args: argparse.Namespace) -> Any:
    from dataclasses import replace

    if args.sort_by:
        return replace(req, query=(*req.query, ("includeObject", "Object")))
    return req


def _sort_rows(table: dict[str, Any], sort_by: str) -> None:
    path = jsonpath.relaxed(sort_by)

    def key(row: dict[str, Any]) -> tuple[int, Any]:
        try:
            values = jsonpath.find_values(path, row.get("object") or {})
        except jsonpath.JSONPathError:
            values = []
        if not values:
            return (0, "")
        v = values[0]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (1, v)
        return (2, str(v))

    table["rows"] = sorted(table.get("rows") or [], key=key)


async def _print_tables(cli: Cli, args: argparse.Namespace, targets: list[Target], spec: OutputSpec, *,
                        multi_kind: bool, errors: list[str]) -> RememberingWriter:
    printed_any = False
    all_namespaced = not args.all_namespaces
    chunks: list[list[str]] = []
    for target in targets:
        all_namespaced = all_namespaced and target.resource.namespaced
        if args.watch_only:
            continue
        options = TableOptions(
            wide=spec.format == "wide", no_headers=args.no_headers,
            with_namespace=bool(args.all_namespaces and target.resource.namespaced and not target.names),
            show_labels=args.show_labels, label_columns=tuple(_label_columns(args.label_columns)),
            kind_prefix=kind_group(target.resource) if multi_kind else None)
        lines: list[str] = []
        header_done = False
        for table in await _fetch_tables(cli, args, target, errors):
            if args.sort_by:
                _sort_rows(table, args.sort_by)
            if not table.get("rows"):
                continue
            tl = table_lines(table, options)
            if header_done and not args.no_headers:
                tl = tl[1:]
            header_done = True
            lines.extend(tl)
        if lines:
            chunks.append(lines)
            printed_any = True
    writer = RememberingWriter(padding=3, minwidth=TAB_MINWIDTH)
    for i, lines in enumerate(chunks):
        if i and not args.no_headers:
            cli.out.write("\n")
        text = format_lines(lines, padding=3, minwidth=TAB_MINWIDTH)
        cli.out.write(text)
        # a later -w continues with these widths, as kubectl's remembering tab writer does
        writer = RememberingWriter(padding=3, minwidth=TAB_MINWIDTH)
        writer.format(lines)
    if not printed_any and not errors and not args.ignore_not_found and not args.watch_only:
        if all_namespaced:
            cli.err.write(f"No resources found in {cli.namespace} namespace.\n")
        else:
            cli.err.write("No resources found\n")
    return writer


def _label_columns(values: list[str]) -> list[str]:
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


async def _print_objects(cli: Cli, args: argparse.Namespace, targets: list[Target], spec: OutputSpec, *,
                         single: bool, errors: list[str]) -> None:
    objs: list[tuple[Resource, dict[str, Any]]] = []
    for target in targets:
        res = target.resource
        ns = _namespace_args(cli, args, target)
        if target.names:
            for name in target.names:
                try:
                    obj = await cli.api.get(res, name, namespace=ns.get("namespace"))
                    objs.append((res, _typed(res, obj)))
                except ApiError as e:
                    if not (args.ignore_not_found and e.code == 404):
                        errors.append(error_message(e))
        else:
            try:
                lst = await cli.api.list(res, namespace=ns.get("namespace"),
                                         all_namespaces=bool(ns.get("all_namespaces")),
                                         label_selector=args.selector or None,
                                         field_selector=args.field_selector or None)
            except ApiError as e:
                raise list_error(e, res, args) from None
            objs.extend((res, _typed(res, o)) for o in lst.get("items") or [])
    if args.sort_by:
        objs.sort(key=lambda p: _sort_key(p[1], args.sort_by))
    if not args.show_managed_fields:
        for _, o in objs:
            (o.get("metadata") or {}).pop("managedFields", None)
    if not objs and spec.format in ("name", "custom-columns"):
        if not errors and not args.ignore_not_found:
            if spec.format == "custom-columns" and not args.no_headers:
                pass
            cli.err.write(f"No resources found in {cli.namespace} namespace.\n" if
                          all(t.resource.namespaced for t in targets) and not args.all_namespaces
                          else "No resources found\n")
        return
    by_id = {id(o): r for r, o in objs}
    text = render_objects([o for _, o in objs], spec, single=single and len(objs) == 1,
                          name_of=lambda o: ref(by_id[id(o)], o["metadata"]["name"]), no_headers=args.no_headers)
    cli.out.write(text)


def _sort_key(obj: dict[str, Any], sort_by: str) -> tuple[int, Any]:
    try:
        values = jsonpath.find_values(sort_by, obj)
    except jsonpath.JSONPathError:
        values = []
    if not values:
        return (0, "")
    v = values[0]
    return (1, v) if isinstance(v, (int, float)) and not isinstance(v, bool) else (2, str(v))


def _typed(res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    """List items come without apiVersion/kind; kubectl's decoder puts them back (first, as Go does)."""
    out = {"apiVersion": obj.get("apiVersion") or res.api_version, "kind": obj.get("kind") or res.kind}
    out.update({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")})
    return out


async def _watch(cli: Cli, args: argparse.Namespace, target: Target, spec: OutputSpec,
                 writer: RememberingWriter) -> None:
    """Follow changes: a table row (or the chosen format) per event, until interrupted."""
    res = target.resource
    ns = _namespace_args(cli, args, target)
    lst = await cli.api.list(res, namespace=ns.get("namespace"), all_namespaces=bool(ns.get("all_namespaces")),
                             label_selector=args.selector or None, field_selector=args.field_selector or None,
                             limit=1)
    rv = (lst.get("metadata") or {}).get("resourceVersion")
    options = TableOptions(wide=spec.format == "wide", no_headers=True,
                           with_namespace=bool(ns.get("all_namespaces")), show_labels=args.show_labels)
    header_pending = args.watch_only
    # --request-timeout bounds the watch as client-go's request timeout does: it ends quietly
    timeout = _duration(cli.flags.get("request-timeout"))
    request_timeout = max(1, round(timeout)) if timeout else None
    field_selector = args.field_selector or None
    if target.names:
        field_selector = f"metadata.name={target.names[0]}"
    while True:
        try:
            async for etype, obj in cli.api.watch(res, namespace=ns.get("namespace"),
                                                  all_namespaces=bool(ns.get("all_namespaces")),
                                                  label_selector=args.selector or None,
                                                  field_selector=field_selector, resource_version=rv,
                                                  timeout_seconds=request_timeout,
                                                  accept=TABLE_ACCEPT if spec.human else "application/json"):
                if etype == "BOOKMARK":
                    rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
                    continue
                if etype == "ERROR":
                    raise CommandError(str(obj.get("message")))
                if obj.get("kind") == "Table":
                    rows = obj.get("rows") or []
                    if rows:
                        rv = ((rows[0].get("object") or {}).get("metadata") or {}).get("resourceVersion", rv)
                    lines = table_lines(obj, options)
                    if header_pending and not args.no_headers:
                        lines = table_lines(obj, TableOptions(wide=options.wide, with_namespace=options.with_namespace,
                                                              show_labels=options.show_labels))
                        header_pending = False
                    cli.out.write(writer.format(lines))
                else:
                    rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
                    typed = _typed(res, obj)
                    text = render_objects([typed], spec, single=True,
                                          name_of=lambda o: ref(res, o["metadata"]["name"]))
                    if args.output_watch_events:
                        text = render_objects([{"type": etype, "object": typed}], spec, single=True,
                                              name_of=lambda o: ref(res, o["object"]["metadata"]["name"]))
                    cli.out.write(text if spec.format not in ("yaml",) else "---\n" + text)
                cli.out.flush()
            return
        except Gone:
            lst = await cli.api.list(res, namespace=ns.get("namespace"),
                                     all_namespaces=bool(ns.get("all_namespaces")), limit=1)
            rv = (lst.get("metadata") or {}).get("resourceVersion")
