"""``apply``, ``create`` (from files and the common generators) and ``delete``.

Client-side apply as kubectl: the object's own JSON (sorted keys, compact, trailing
newline) is kept in ``kubectl.kubernetes.io/last-applied-configuration``; a missing object
is created with it, an existing one gets the three-way strategic merge patch of
(last-applied, manifest, live) -- nothing is sent when that patch is empty ("unchanged").
``--server-side`` sends ``apply-patch+yaml`` with a field manager instead. Every manifest
is parsed before the first request, so a file that fails to parse applies nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import json
import posixpath
from pathlib import Path
from typing import Any

from skiff.api import schema as api_schema
from skiff.api.patch import PatchError, create_three_way_merge_patch
from skiff.api.resources import Resource
from skiff.client import ApiError, PatchType

from . import manifests
from .cmd_get import add_output_flags, parse_targets
from .common import Cli, CommandError, error_message, kind_group, parse_duration, ref
from .printers import OutputSpec, render_objects

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
CLIENT_SIDE_MANAGER = "kubectl-client-side-apply"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    a = sub.add_parser("apply", help="Apply a configuration to a resource by file name or stdin")
    _file_flags(a, required=False)
    add_output_flags(a)
    a.add_argument("--server-side", action="store_true")
    a.add_argument("--force-conflicts", action="store_true")
    a.add_argument("--field-manager", default="")
    a.add_argument("--dry-run", default="none", nargs="?", const="unchanged")
    a.add_argument("--validate", default="strict", nargs="?", const="strict")
    a.add_argument("--overwrite", default="true")
    a.add_argument("--prune", action="store_true")
    a.add_argument("-l", "--selector", default="")
    a.add_argument("--all", action="store_true")
    a.add_argument("--force", action="store_true")
    a.add_argument("--wait", action="store_true")
    a.add_argument("--record", action="store_true")
    asub = a.add_subparsers(dest="apply_verb", parser_class=type(a))
    for name in ("view-last-applied", "set-last-applied", "edit-last-applied"):
        s = asub.add_parser(name)
        s.add_argument("args", nargs="*")
        s.add_argument("-f", "--filename", action="append", default=[])
        s.add_argument("-o", "--output", default="yaml")
        s.add_argument("--create-annotation", action="store_true")
        s.set_defaults(run=view_last_applied if name == "view-last-applied" else _unsupported(name))
    a.set_defaults(run=apply)

    c = sub.add_parser("create", help="Create a resource from a file or from stdin")
    _file_flags(c, required=False)
    add_output_flags(c)
    c.add_argument("--dry-run", default="none", nargs="?", const="unchanged")
    c.add_argument("--validate", default="strict", nargs="?", const="strict")
    c.add_argument("--save-config", action="store_true")
    c.add_argument("--field-manager", default="kubectl-create")
    c.add_argument("--edit", action="store_true")
    c.add_argument("--record", action="store_true")
    c.set_defaults(run=create)
    gen = c.add_subparsers(dest="generator", parser_class=type(c))
    d = gen.add_parser("deployment", aliases=["deploy"])
    d.add_argument("name")
    d.add_argument("--image", action="append", default=[])
    d.add_argument("--replicas", type=int, default=1)
    d.add_argument("--port", type=int, default=-1)
    d.add_argument("command", nargs="*")
    n = gen.add_parser("namespace", aliases=["ns"])
    n.add_argument("name")
    cm = gen.add_parser("configmap", aliases=["cm"])
    cm.add_argument("name")
    _data_flags(cm)
    sec = gen.add_parser("secret")
    ssub = sec.add_subparsers(dest="secret_type", parser_class=type(c))
    sg = ssub.add_parser("generic")
    sg.add_argument("name")
    sg.add_argument("--type", default="")
    _data_flags(sg)
    sa = gen.add_parser("serviceaccount", aliases=["sa"])
    sa.add_argument("name")
    for g in (d, n, cm, sg, sa):
        g.add_argument("--dry-run", default="none", nargs="?", const="unchanged")
        g.add_argument("-o", "--output", default="")
        g.add_argument("--validate", default="strict")
        g.add_argument("--save-config", action="store_true")
        g.add_argument("--field-manager", default="kubectl-create")
        g.set_defaults(run=create_generated)

    x = sub.add_parser("delete", help="Delete resources by file names, stdin, resources and names, or by "
                                      "resources and label selector")
    _file_flags(x, required=False)
    x.add_argument("args", nargs="*")
    x.add_argument("-l", "--selector", default="")
    x.add_argument("--field-selector", default="")
    x.add_argument("--all", action="store_true")
    x.add_argument("-A", "--all-namespaces", action="store_true")
    x.add_argument("--cascade", default="background", nargs="?", const="background")
    x.add_argument("--grace-period", type=int, default=-1)
    x.add_argument("--now", action="store_true")
    x.add_argument("--force", action="store_true")
    x.add_argument("--wait", default="true", nargs="?", const="true")
    x.add_argument("--timeout", default="0s")
    x.add_argument("--ignore-not-found", action="store_true")
    x.add_argument("--dry-run", default="none", nargs="?", const="unchanged")
    x.add_argument("-o", "--output", default="")
    x.add_argument("-i", "--interactive", action="store_true")
    x.set_defaults(run=delete)


def _file_flags(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("-f", "--filename", action="append", default=[])
    p.add_argument("-R", "--recursive", action="store_true")
    p.add_argument("-k", "--kustomize", default="")


def _data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from-literal", action="append", default=[])
    p.add_argument("--from-file", action="append", default=[])
    p.add_argument("--from-env-file", action="append", default=[])
    p.add_argument("--append-hash", action="store_true")


def _unsupported(name: str) -> Any:
    async def run(cli: Cli, args: argparse.Namespace) -> int:
        raise CommandError(f"apply {name} is not supported by skiffctl")
    return run


def _dry_run(value: str) -> str:
    if value in ("none", "false", ""):
        return "none"
    if value in ("client", "server"):
        return value
    if value in ("unchanged", "true"):
        return "client"
    raise CommandError(f"Invalid dry-run value ({value}). Must be \"none\", \"server\", or \"client\".")


def _suffix(dry: str) -> str:
    return {"none": "", "client": " (dry run)", "server": " (server dry run)"}[dry]


def _validation(value: str) -> str | None:
    v = (value or "strict").lower()
    return {"strict": "Strict", "true": "Strict", "warn": "Warn", "ignore": "Ignore", "false": "Ignore"}.get(v) \
        or _bad_validate(value)


def _bad_validate(value: str) -> str:
    raise CommandError(f'invalid - validate option "{value}"; must be one of: strict (or true), warn, ignore '
                       f'(or false)')


async def _load(cli: Cli, args: argparse.Namespace) -> list[manifests.Manifest]:
    if args.kustomize:
        raise CommandError("skiffctl does not support kustomize (-k)")
    if not args.filename:
        raise CommandError("must specify one of -f and -k")
    docs = manifests.load(args.filename, recursive=args.recursive, stdin=cli.stdin)
    for m in docs:
        manifests.validate_basic(m)
    return docs


def _place(cli: Cli, res: Resource, obj: dict[str, Any]) -> str | None:
    """Set the namespace kubectl would (and refuse a conflicting ``-n``); None for cluster-scoped kinds."""
    meta = obj.setdefault("metadata", {})
    if not res.namespaced:
        return None
    ns = meta.get("namespace")
    if ns and cli.namespace_overridden and ns != cli.namespace:
        raise CommandError(f'the namespace from the provided object "{ns}" does not match the namespace '
                           f'"{cli.namespace}". You must pass \'--namespace={ns}\' to perform this operation.')
    ns = ns or cli.namespace
    meta["namespace"] = ns
    return str(ns)


def last_applied_json(obj: dict[str, Any]) -> str:
    """kubectl's ``GetModifiedConfiguration``: the object without the annotation, compact sorted JSON + newline."""
    clean = copy.deepcopy(obj)
    annotations = dict((clean.get("metadata") or {}).get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    clean.setdefault("metadata", {})["annotations"] = annotations
    return json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=False) \
        .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def with_last_applied(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    text = last_applied_json(obj)
    annotations = dict((out.get("metadata") or {}).get("annotations") or {})
    annotations[LAST_APPLIED] = text
    out.setdefault("metadata", {})["annotations"] = annotations
    return out


def _definition(res: Resource) -> str | None:
    try:
        return api_schema.root_definition(res)
    except KeyError:
        return None


def apply_patch_for(res: Resource, modified: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The three-way strategic merge patch kubectl apply sends (pure)."""
    original_text = ((current.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    original = json.loads(original_text) if original_text else None
    kind_def = _definition(res)
    return create_three_way_merge_patch(original, modified, current, kind_definition=kind_def)


async def apply(cli: Cli, args: argparse.Namespace) -> int:
    docs = await _load(cli, args)
    spec = OutputSpec.parse(args.output, allowed=("json", "yaml", "name", "jsonpath", "jsonpath-as-json",
                                                  "custom-columns", "go-template", "template"))
    dry = _dry_run(args.dry_run)
    validation = _validation(args.validate)
    if args.prune:
        raise CommandError("skiffctl apply --prune is not supported yet")
    errors: list[str] = []
    printed: list[tuple[Resource, dict[str, Any]]] = []
    resolved = [(m, await cli.resource_for(m.obj, where=m.source)) for m in docs]
    for m, res in resolved:
        obj = copy.deepcopy(m.obj)
        ns = _place(cli, res, obj)
        name = str(obj["metadata"].get("name") or "")
        if not name:
            raise CommandError(f'error when retrieving current configuration of:\nResource: "{res.qualified}", '
                               f'GroupVersionKind: "{res.api_version}, Kind={res.kind}"\nName: "", Namespace: '
                               f'"{ns or ""}"\nfrom server for: "{m.source}": resource name may not be empty')
        try:
            result, verb = await (_apply_server_side(cli, res, obj, ns, args, dry, validation) if args.server_side
                                  else _apply_client_side(cli, res, obj, ns, m, dry, validation))
        except ApiError as e:
            errors.append(error_message(e))
            continue
        except PatchError as e:
            errors.append(f"error: error when applying {m.source}: {e}")
            continue
        cli.print_warnings()
        if spec.format:
            printed.append((res, result))
        else:
            cli.print(f"{ref(res, name)} {verb}{_suffix(dry)}")
    if printed:
        cli.out.write(render_objects([o for _, o in printed], spec, single=len(printed) == 1,
                                     name_of=lambda o: ref(printed[0][0], o["metadata"]["name"])))
    for e in errors:
        cli.err.write(e + "\n")
    return 1 if errors else 0


async def _apply_client_side(cli: Cli, res: Resource, obj: dict[str, Any], ns: str | None, m: manifests.Manifest,
                             dry: str, validation: str | None) -> tuple[dict[str, Any], str]:
    name = obj["metadata"]["name"]
    modified = with_last_applied(obj)
    try:
        current = await cli.api.get(res, name, namespace=ns)
    except ApiError as e:
        if e.code != 404:
            raise
        if dry == "client":
            return modified, "created"
        try:
            created = await cli.api.create(res, modified, namespace=ns, dry_run=dry == "server",
                                           field_manager=CLIENT_SIDE_MANAGER, field_validation=validation)
        except ApiError as ce:
            raise _with_source(ce, "creating", m.source) from ce
        return created, "created"
    patch = apply_patch_for(res, modified, current)
    if not patch:
        return current, "unchanged"
    if dry == "client":
        return current, "configured"
    try:
        patched = await cli.api.patch(res, name, patch, patch_type=PatchType.STRATEGIC, namespace=ns,
                                      dry_run=dry == "server", field_manager=CLIENT_SIDE_MANAGER,
                                      field_validation=validation)
    except ApiError as pe:
        raise _with_source(pe, "patching", m.source) from pe
    return patched, "configured"


async def _apply_server_side(cli: Cli, res: Resource, obj: dict[str, Any], ns: str | None, args: argparse.Namespace,
                             dry: str, validation: str | None) -> tuple[dict[str, Any], str]:
    if dry == "client":
        raise CommandError("--dry-run=client doesn't work with --server-side (did you mean --dry-run=server instead?)")
    result = await cli.api.patch(res, obj["metadata"]["name"], obj, patch_type=PatchType.APPLY, namespace=ns,
                                 dry_run=dry == "server", field_manager=args.field_manager or "kubectl",
                                 force=True if args.force_conflicts else None, field_validation=validation)
    return result, "serverside-applied"


def _with_source(e: ApiError, verb: str, source: str) -> ApiError:
    """kubectl's ``AddSourceToErr``: ``error when creating "f.yaml": <message>``."""
    status = dict(e.status)
    status["message"] = f'error when {verb} "{source}": {e.message}'
    return type(e)(status, http_status=e.code)


async def view_last_applied(cli: Cli, args: argparse.Namespace) -> int:
    targets, _ = await parse_targets(cli, args.args, filenames=args.filename)
    for t in targets:
        for name in t.names:
            obj = await cli.api.get(t.resource, name, namespace=t.namespace or cli.namespace)
            text = ((obj.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
            if not text:
                raise CommandError(f"no last-applied-configuration annotation found on resource: {name}")
            from . import formats
            doc = json.loads(text)
            cli.out.write(formats.to_json(doc) if args.output == "json" else formats.to_yaml(doc))
    return 0


# -- create -------------------------------------------------------------------------------

async def create(cli: Cli, args: argparse.Namespace) -> int:
    docs = await _load(cli, args)
    dry = _dry_run(args.dry_run)
    spec = OutputSpec.parse(args.output)
    validation = _validation(args.validate)
    errors: list[str] = []
    for m in docs:
        res = await cli.resource_for(m.obj, where=m.source)
        obj = copy.deepcopy(m.obj)
        ns = _place(cli, res, obj)
        if args.save_config:
            obj = with_last_applied(obj)
        try:
            if dry == "client":
                created = obj
            else:
                created = await cli.api.create(res, obj, namespace=ns, dry_run=dry == "server",
                                               field_manager=args.field_manager, field_validation=validation)
        except ApiError as e:
            errors.append(error_message(_with_source(e, "creating", m.source)))
            continue
        cli.print_warnings()
        _report(cli, res, created, "created", dry, spec)
    for e in errors:
        cli.err.write(e + "\n")
    return 1 if errors else 0


def _report(cli: Cli, res: Resource, obj: dict[str, Any], verb: str, dry: str, spec: OutputSpec) -> None:
    if spec.format and spec.format != "name":
        cli.out.write(render_objects([obj], spec, single=True, name_of=lambda o: ref(res, o["metadata"]["name"])))
    elif spec.format == "name":
        cli.print(ref(res, obj["metadata"]["name"]))
    else:
        cli.print(f"{ref(res, obj['metadata']['name'])} {verb}{_suffix(dry)}")


def container_name(image: str) -> str:
    """kubectl's name for a container made from ``image`` (base name, no tag or digest)."""
    base = posixpath.basename(image.split("@", 1)[0])
    return base.split(":", 1)[0]


def deployment_manifest(name: str, images: list[str], *, replicas: int = 1, port: int = -1,
                        command: list[str] | None = None) -> dict[str, Any]:
    """What ``kubectl create deployment`` builds (pure)."""
    labels = {"app": name}
    containers = []
    for image in images:
        c: dict[str, Any] = {"image": image, "name": container_name(image), "resources": {}}
        if command:
            c["command"] = list(command)
        if port >= 0:
            c["ports"] = [{"containerPort": port}]
        containers.append(c)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"creationTimestamp": None, "labels": labels, "name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "strategy": {},
                     "template": {"metadata": {"creationTimestamp": None, "labels": labels},
                                  "spec": {"containers": containers}}},
            "status": {}}


def _data_from_sources(args: argparse.Namespace, *, binary: bool) -> tuple[dict[str, str], dict[str, str]]:
    """``--from-literal``, ``--from-file`` and ``--from-env-file`` -> (data, binaryData)."""
    data: dict[str, str] = {}
    binary_data: dict[str, str] = {}

    def put(key: str, value: bytes) -> None:
        if key in data or key in binary_data:
            raise CommandError(f'cannot add key "{key}", another key by that name already exists in Data for '
                               f'ConfigMap "{args.name}"')
        if binary:
            data[key] = base64.b64encode(value).decode()
            return
        try:
            data[key] = value.decode()
        except UnicodeDecodeError:
            binary_data[key] = base64.b64encode(value).decode()

    for lit in args.from_literal:
        key, eq, value = lit.partition("=")
        if not eq or not key:
            raise CommandError(f'invalid literal source {lit}, expected key=value')
        put(key, value.encode())
    for source in args.from_file:
        key, eq, path = source.partition("=")
        if not eq:
            key, path = "", source
        p = Path(path)
        if p.is_dir():
            for f in sorted(p.iterdir()):
                if f.is_file():
                    put(f.name, f.read_bytes())
        else:
            try:
                put(key or p.name, p.read_bytes())
            except OSError as e:
                raise CommandError(f"error reading {path}: {e.strerror}") from e
    for env_file in args.from_env_file:
        for line in Path(env_file).read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=")
            put(key, value.encode())
    return data, binary_data


def generated(args: argparse.Namespace) -> dict[str, Any]:
    """The object a ``create <generator>`` command describes (pure)."""
    g = args.generator
    if g in ("deployment", "deploy"):
        if not args.image:
            raise CommandError("required flag(s) \"image\" not set")
        return deployment_manifest(args.name, args.image, replicas=args.replicas, port=args.port,
                                   command=args.command or None)
    if g in ("namespace", "ns"):
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"creationTimestamp": None, "name": args.name},
                "spec": {}, "status": {}}
    if g in ("serviceaccount", "sa"):
        return {"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"creationTimestamp": None, "name": args.name}}
    if g in ("configmap", "cm"):
        data, binary_data = _data_from_sources(args, binary=False)
        obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"creationTimestamp": None, "name": args.name}}
        if data:
            obj["data"] = data
        if binary_data:
            obj["binaryData"] = binary_data
        return obj
    if g == "secret":
        if args.secret_type != "generic":
            raise CommandError("skiffctl create secret supports only 'generic'")
        data, _ = _data_from_sources(args, binary=True)
        obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"creationTimestamp": None, "name": args.name}}
        if data:
            obj["data"] = data
        if args.type:
            obj["type"] = args.type
        return obj
    raise CommandError(f"unknown generator {g}")


async def create_generated(cli: Cli, args: argparse.Namespace) -> int:
    obj = generated(args)
    dry = _dry_run(args.dry_run)
    spec = OutputSpec.parse(args.output)
    res = await cli.resource_for(obj)
    ns = cli.namespace if res.namespaced else None
    if dry == "client":
        if ns and spec.format:
            obj["metadata"]["namespace"] = ns if cli.namespace_overridden else obj["metadata"].get("namespace")
            if obj["metadata"]["namespace"] is None:
                del obj["metadata"]["namespace"]
        _report(cli, res, obj, "created", dry, spec)
        return 0
    body = copy.deepcopy(obj)
    if args.save_config:
        body = with_last_applied(body)
    try:
        created = await cli.api.create(res, body, namespace=ns, dry_run=dry == "server",
                                       field_manager=args.field_manager, field_validation=_validation(args.validate))
    except ApiError as e:
        if e.code == 422:
            raise
        raise CommandError(f"failed to create {res.kind.lower()}: {e.message}") from e
    _report(cli, res, created, "created", dry, spec)
    return 0


# -- delete -------------------------------------------------------------------------------

def _propagation(cascade: str) -> str:
    c = cascade.lower()
    mapping = {"background": "Background", "true": "Background", "foreground": "Foreground",
               "orphan": "Orphan", "false": "Orphan"}
    if c not in mapping:
        raise CommandError(f'invalid cascade value ({cascade}). Must be "background", "foreground", or "orphan".')
    return mapping[c]


async def delete(cli: Cli, args: argparse.Namespace) -> int:
    propagation = _propagation(args.cascade)
    dry = _dry_run(args.dry_run)
    grace = args.grace_period
    if args.now:
        if grace >= 0:
            raise CommandError("--now and --grace-period cannot be specified together")
        grace = 1
    if args.force:
        cli.err.write("Warning: Immediate deletion does not wait for confirmation that the running resource has "
                      "been terminated. The resource may continue to run on the cluster indefinitely.\n")
        if grace < 0:
            grace = 0
    if args.force and grace != 0 and grace != 1:
        pass
    wait = str(args.wait).lower() in ("true", "1", "t", "yes") and dry == "none"
    items: list[tuple[Resource, str, str | None]] = []
    sources: dict[int, str] = {}
    errors: list[str] = []
    if args.filename:
        for m in manifests.load(args.filename, recursive=args.recursive, stdin=cli.stdin):
            res = await cli.resource_for(m.obj, where=m.source)
            meta = m.obj.get("metadata") or {}
            sources[len(items)] = m.source
            items.append((res, str(meta.get("name")), (meta.get("namespace") or cli.namespace) if res.namespaced
                          else None))
    else:
        if not args.args:
            raise CommandError("You must provide one or more resources by argument or filename.\n"
                               "Example resource specifications include:\n   '-f rsrc.yaml'\n   "
                               "'--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'")
        targets, _ = await parse_targets(cli, args.args)
        for t in targets:
            ns = cli.namespace if t.resource.namespaced else None
            if t.names:
                if args.selector or args.all:
                    raise CommandError("name cannot be provided when a selector is specified")
                items.extend((t.resource, n, ns) for n in t.names)
                continue
            if not (args.all or args.selector or args.field_selector):
                raise CommandError(f'resource(s) were provided, but no name was specified')
            lst = await cli.api.list(t.resource, namespace=ns, all_namespaces=args.all_namespaces,
                                     label_selector=args.selector or None,
                                     field_selector=args.field_selector or None)
            for o in lst.get("items") or []:
                meta = o.get("metadata") or {}
                items.append((t.resource, meta["name"], meta.get("namespace") if t.resource.namespaced else None))
        if not items:
            cli.print("No resources found")
            return 0
    deleted: list[tuple[Resource, str, str | None, str | None]] = []
    for index, (res, name, ns) in enumerate(items):
        try:
            if dry == "client":
                result: dict[str, Any] = {}
            else:
                result = await cli.api.delete(res, name, namespace=ns, propagation_policy=propagation,
                                              grace_period_seconds=grace if grace >= 0 else None,
                                              dry_run=dry == "server")
        except ApiError as e:
            if e.code == 404 and args.ignore_not_found:
                continue
            errors.append(error_message(_with_source(e, "deleting", sources[index]) if index in sources else e))
            continue
        if args.output == "name":
            cli.print(ref(res, name))
        else:
            cli.print(f'{kind_group(res)} "{name}" deleted{_suffix(dry)}')
        uid = (result.get("metadata") or {}).get("uid") if result.get("kind") != "Status" else \
            (result.get("details") or {}).get("uid")
        deleted.append((res, name, ns, uid))
    if wait and deleted:
        timeout = parse_duration(args.timeout) if args.timeout not in ("0", "0s", "") else None
        await _wait_gone(cli, deleted, timeout=timeout, errors=errors)
    for e in errors:
        cli.err.write(e + "\n")
    return 1 if errors else 0


async def _wait_gone(cli: Cli, objs: list[tuple[Resource, str, str | None, str | None]], *,
                     timeout: float | None, errors: list[str]) -> None:
    """Poll until each object is gone (or replaced by one with another uid)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (timeout or 7 * 24 * 3600.0)
    pending = list(objs)
    delay = 0.05
    while pending:
        still = []
        for res, name, ns, uid in pending:
            try:
                obj = await cli.api.get(res, name, namespace=ns)
            except ApiError as e:
                if e.code == 404:
                    continue
                raise
            if uid and (obj.get("metadata") or {}).get("uid") != uid:
                continue
            still.append((res, name, ns, uid))
        pending = still
        if not pending:
            return
        if loop.time() > deadline:
            for res, name, _, _ in pending:
                errors.append(f"error: timed out waiting for the condition on {res.plural}/{name}")
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
