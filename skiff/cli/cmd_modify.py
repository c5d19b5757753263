"""Verbs that change one field of existing objects: ``scale``, ``label``, ``annotate``, ``patch``,
``set image``, ``edit``, ``diff``.

Each reads the object, decides the change with a pure function (``label_change``,
``image_patch``...), and sends one patch, printing kubectl's one-line result.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from skiff.api.patch import create_two_way_merge_patch
from skiff.api.patch import create_merge_patch
from skiff.api.resources import Resource
from skiff.client import ApiError, PatchType

from . import formats, manifests
from .cmd_apply import (_definition, _dry_run, _place, _suffix, apply_patch_for, last_applied_json,
                        with_last_applied)
from .cmd_get import Target, parse_targets
from .common import Cli, CommandError, error_message, ref
from .printers import OutputSpec, render_objects


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("scale", help="Set a new size for a deployment, replica set, or stateful set")
    _targets(s)
    s.add_argument("--replicas", type=int, required=True)
    s.add_argument("--current-replicas", type=int, default=-1)
    s.add_argument("--resource-version", default="")
    s.add_argument("-o", "--output", default="")
    s.add_argument("--dry-run", default="none", nargs="?", const="unchanged")
    s.add_argument("--timeout", default="0s")
    s.set_defaults(run=scale)
    for verb, fn in (("label", label), ("annotate", annotate)):
        p = sub.add_parser(verb, help=f"Update the {verb}s on a resource")
        _targets(p)
        p.add_argument("--overwrite", action="store_true")
        p.add_argument("--list", action="store_true")
        p.add_argument("--resource-version", default="")
        p.add_argument("-o", "--output", default="")
        p.add_argument("--dry-run", default="none", nargs="?", const="unchanged")
        p.add_argument("--field-selector", default="")
        p.add_argument("-A", "--all-namespaces", action="store_true")
        p.set_defaults(run=fn)
    pa = sub.add_parser("patch", help="Update fields of a resource")
    _targets(pa)
    pa.add_argument("-p", "--patch", default=None)
    pa.add_argument("--patch-file", default="")
    pa.add_argument("--type", default="strategic")
    pa.add_argument("--subresource", default="")
    pa.add_argument("-o", "--output", default="")
    pa.add_argument("--dry-run", default="none", nargs="?", const="unchanged")
    pa.add_argument("--field-manager", default="kubectl-patch")
    pa.set_defaults(run=patch)
    st = sub.add_parser("set", help="Set specific features on objects")
    ssub = st.add_subparsers(dest="set_verb", parser_class=type(st))
    si = ssub.add_parser("image")
    _targets(si)
    si.add_argument("-o", "--output", default="")
    si.add_argument("--dry-run", default="none", nargs="?", const="unchanged")
    si.set_defaults(run=set_image)
    ed = sub.add_parser("edit", help="Edit a resource on the server")
    _targets(ed)
    ed.add_argument("-o", "--output", default="yaml")
    ed.add_argument("--output-patch", action="store_true")
    ed.add_argument("--save-config", action="store_true")
    ed.add_argument("--subresource", default="")
    ed.add_argument("--windows-line-endings", action="store_true")
    ed.set_defaults(run=edit)
    df = sub.add_parser("diff", help="Diff the live version against a would-be applied version")
    df.add_argument("-f", "--filename", action="append", default=[])
    df.add_argument("-R", "--recursive", action="store_true")
    df.add_argument("--server-side", action="store_true")
    df.add_argument("--force-conflicts", action="store_true")
    df.add_argument("--field-manager", default="kubectl-client-side-apply")
    df.add_argument("--show-managed-fields", action="store_true")
    df.add_argument("-l", "--selector", default="")
    df.add_argument("--prune", action="store_true")
    df.set_defaults(run=diff)


def _targets(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*")
    p.add_argument("-f", "--filename", action="append", default=[])
    p.add_argument("-R", "--recursive", action="store_true")
    p.add_argument("-l", "--selector", default="")
    p.add_argument("--all", action="store_true")
    p.add_argument("--local", action="store_true", default=False, dest="local_flag")


async def _objects(cli: Cli, args: argparse.Namespace, positional: list[str], *,
                   all_namespaces: bool = False) -> list[tuple[Resource, str, str | None]]:
    """Resolve targets into (resource, name, namespace), expanding ``-l``/``--all``."""
    targets, _ = await parse_targets(cli, positional, filenames=args.filename, recursive=args.recursive)
    out: list[tuple[Resource, str, str | None]] = []
    for t in targets:
        ns = (t.namespace or cli.namespace) if t.resource.namespaced else None
        if t.names:
            out.extend((t.resource, n, ns) for n in t.names)
        elif getattr(args, "all", False) or getattr(args, "selector", ""):
            lst = await cli.api.list(t.resource, namespace=ns, all_namespaces=all_namespaces,
                                     label_selector=args.selector or None)
            for o in lst.get("items") or []:
                m = o.get("metadata") or {}
                out.append((t.resource, m["name"], m.get("namespace") if t.resource.namespaced else None))
        else:
            raise CommandError("resource(s) were provided, but no name was specified")
    return out


# -- scale --------------------------------------------------------------------------------

async def scale(cli: Cli, args: argparse.Namespace) -> int:
    if args.replicas < 0:
        raise CommandError("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
    dry = _dry_run(args.dry_run)
    objs = await _objects(cli, args, args.args)
    if not objs:
        raise CommandError("no objects passed to scale")
    errors = []
    for res, name, ns in objs:
        if "scale" not in res.subresources:
            errors.append(f'error: no scaler has been implemented for {{"{res.group}" "{res.kind}"}}')
            continue
        try:
            if args.current_replicas >= 0 or args.resource_version:
                current = await cli.api.get(res, name, namespace=ns, subresource="scale")
                have = int((current.get("spec") or {}).get("replicas") or 0)
                if args.current_replicas >= 0 and have != args.current_replicas:
                    errors.append(f"error: Expected replicas to be {args.current_replicas}, was {have}")
                    continue
                rv = (current.get("metadata") or {}).get("resourceVersion")
                if args.resource_version and rv != args.resource_version:
                    errors.append(f"error: Expected resource version to be {args.resource_version}, was {rv}")
                    continue
            await cli.api.patch(res, name, {"spec": {"replicas": args.replicas}}, patch_type=PatchType.MERGE,
                                namespace=ns, subresource="scale", dry_run=dry == "server")
        except ApiError as e:
            errors.append(error_message(e))
            continue
        cli.print(ref(res, name) if args.output == "name" else f"{ref(res, name)} scaled{_suffix(dry)}")
    for e in errors:
        cli.err.write(e + "\n")
    return 1 if errors else 0


# -- label / annotate -----------------------------------------------------------------------

def parse_pairs(tokens: list[str], *, what: str) -> tuple[dict[str, str], list[str]]:
    """``k=v`` and ``k-`` arguments -> (to set, to remove); errors as kubectl's."""
    add: dict[str, str] = {}
    remove: list[str] = []
    for t in tokens:
        if "=" in t:
            k, _, v = t.partition("=")
            if not k:
                raise CommandError(f"invalid {what} spec: {t}")
            add[k] = v
        elif t.endswith("-"):
            remove.append(t[:-1])
        else:
            raise CommandError(f"invalid {what} spec: {t}")
    for k in remove:
        if k in add:
            raise CommandError(f"can not both modify and remove {what} in the same command")
    return add, remove


def label_change(current: dict[str, str], add: dict[str, str], remove: list[str], *, overwrite: bool,
                 what: str) -> dict[str, str]:
    """The new label (annotation) map; refuses to change a value without ``--overwrite``. Pure."""
    new = dict(current)
    for k, v in add.items():
        if k in current and current[k] != v and not overwrite:
            raise CommandError(f"'{k}' already has a value ({current[k]}), and --overwrite is false")
        new[k] = v
    for k in remove:
        new.pop(k, None)
    return new


def _split_args(tokens: list[str]) -> tuple[list[str], list[str]]:
    """Resource arguments first, then ``k=v``/``k-`` pairs (kubectl's order)."""
    for i, t in enumerate(tokens):
        if "=" in t or (t.endswith("-") and i > 0):
            return tokens[:i], tokens[i:]
    return tokens, []


async def _label_like(cli: Cli, args: argparse.Namespace, *, field: str, what: str, done: str,
                      undone: str | None, unchanged: str) -> int:
    positional, pairs = _split_args(args.args)
    if args.filename:
        pairs, positional = args.args, []
    add, remove = parse_pairs(pairs, what=what)
    if not pairs and not args.list:
        raise CommandError(f"at least one {what} update is required")
    dry = _dry_run(args.dry_run)
    spec = OutputSpec.parse(args.output)
    objs = await _objects(cli, args, positional, all_namespaces=args.all_namespaces)
    errors = []
    for res, name, ns in objs:
        try:
            obj = await cli.api.get(res, name, namespace=ns)
            meta = obj.get("metadata") or {}
            current = dict(meta.get(field) or {})
            if args.list:
                for k in sorted(current):
                    cli.print(f"{k}={current[k]}")
                continue
            new = label_change(current, add, remove, overwrite=args.overwrite, what=what)
            if field == "labels":
                for k in remove:
                    if k not in current:
                        cli.print(f'label "{k}" not found.')
            before = json.dumps(obj, sort_keys=True)
            changed_obj = copy.deepcopy(obj)
            changed_obj.setdefault("metadata", {})[field] = new
            after = json.dumps(changed_obj, sort_keys=True)
            if before == after:
                msg = unchanged
            else:
                msg = done
                if undone and not args.overwrite and len(after) < len(before):
                    msg = undone
            result = obj
            if new != current and dry != "client":
                body: dict[str, Any] = {"metadata": {field: {k: v for k, v in new.items() if current.get(k) != v}}}
                for k in current:
                    if k not in new:
                        body["metadata"][field][k] = None
                if args.resource_version:
                    body["metadata"]["resourceVersion"] = args.resource_version
                result = await cli.api.patch(res, name, body, patch_type=PatchType.MERGE, namespace=ns,
                                             dry_run=dry == "server")
        except ApiError as e:
            errors.append(error_message(e))
            continue
        if spec.format:
            cli.out.write(render_objects([result], spec, single=True, name_of=lambda o, r=res: ref(r, o["metadata"]["name"])))
        else:
            cli.print(f"{ref(res, name)} {msg}{_suffix(dry)}")
    for e in errors:
        cli.err.write(e + "\n")
    return 1 if errors else 0


async def label(cli: Cli, args: argparse.Namespace) -> int:
    return await _label_like(cli, args, field="labels", what="label", done="labeled", undone="unlabeled",
                             unchanged="not labeled")


async def annotate(cli: Cli, args: argparse.Namespace) -> int:
    return await _label_like(cli, args, field="annotations", what="annotation", done="annotated", undone=None,
                             unchanged="annotated")


# -- patch --------------------------------------------------------------------------------

def _patch_body(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise CommandError(f"unable to parse \"{text}\": {e}") from e


async def patch(cli: Cli, args: argparse.Namespace) -> int:
    if args.patch is None and not args.patch_file:
        raise CommandError("must specify --patch or --patch-file containing the contents of the patch")
    text = Path(args.patch_file).read_text() if args.patch_file else args.patch
    body = _patch_body(text)
    ptype = args.type
    if ptype not in ("json", "merge", "strategic"):
        raise CommandError(f'--type must be one of [json merge strategic], not "{ptype}"')
    dry = _dry_run(args.dry_run)
    spec = OutputSpec.parse(args.output)
    objs = await _objects(cli, args, args.args)
    errors = []
    for res, name, ns in objs:
        try:
            before = await cli.api.get(res, name, namespace=ns, subresource=args.subresource or None)
            result = await cli.api.patch(res, name, body, patch_type=ptype, namespace=ns,
                                         subresource=args.subresource or None, dry_run=dry != "none",
                                         field_manager=args.field_manager)
        except ApiError as e:
            errors.append(error_message(e))
            continue
        cli.print_warnings()
        if spec.format:
            cli.out.write(render_objects([result], spec, single=True, name_of=lambda o, r=res: ref(r, o["metadata"]["name"])))
            continue
        same = _strip_rv(before) == _strip_rv(result)
        cli.print(f"{ref(res, name)} patched{' (no change)' if same else ''}{_suffix(dry)}")
    for e in errors:
        cli.err.write(e + "\n")
    return 1 if errors else 0


def _strip_rv(obj: dict[str, Any]) -> dict[str, Any]:
    o = copy.deepcopy(obj)
    meta = o.get("metadata") or {}
    for k in ("resourceVersion", "managedFields", "generation"):
        meta.pop(k, None)
    return o


# -- set image ----------------------------------------------------------------------------

def image_patch(template_spec: dict[str, Any], images: dict[str, str]) -> dict[str, Any] | None:
    """Strategic patch setting container images; ``*`` means every container. Pure.

    Returns None when a named container does not exist."""
    patch: dict[str, Any] = {}
    for field in ("initContainers", "containers"):
        changes = []
        for c in template_spec.get(field) or []:
            new = images.get(c["name"], images.get("*"))
            if new is not None and new != c.get("image"):
                changes.append({"name": c["name"], "image": new})
        if changes:
            patch[field] = changes
    names = {c["name"] for f in ("initContainers", "containers") for c in template_spec.get(f) or []}
    if any(k != "*" and k not in names for k in images):
        return None
    return patch


async def set_image(cli: Cli, args: argparse.Namespace) -> int:
    positional = [a for a in args.args if "=" not in a]
    images = dict(a.split("=", 1) for a in args.args if "=" in a)
    if not images:
        raise CommandError("at least one image update is required")
    dry = _dry_run(args.dry_run)
    errors = []
    for res, name, ns in await _objects(cli, args, positional):
        try:
            obj = await cli.api.get(res, name, namespace=ns)
            if res.kind == "Pod":
                pod_spec = obj.get("spec") or {}
                wrap = lambda p: {"spec": p}  # noqa: E731
            elif res.kind == "CronJob":
                pod_spec = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                wrap = lambda p: {"spec": {"jobTemplate": {"spec": {"template": {"spec": p}}}}}  # noqa: E731
            else:
                pod_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
                wrap = lambda p: {"spec": {"template": {"spec": p}}}  # noqa: E731
            p = image_patch(pod_spec, images)
            if p is None:
                missing = [k for k in images if k != "*"]
                errors.append(f'error: unable to find container named "{missing[0]}"')
                continue
            if p and dry != "client":
                await cli.api.patch(res, name, wrap(p), patch_type=PatchType.STRATEGIC, namespace=ns,
                                    dry_run=dry == "server")
        except ApiError as e:
            errors.append(error_message(e))
            continue
        if p:
            cli.print(f"{ref(res, name)} image updated{_suffix(dry)}")
    for e in errors:
        cli.err.write(e + "\n")
    return 1 if errors else 0


# -- edit ---------------------------------------------------------------------------------

EDIT_HEADER = ("# Please edit the object below. Lines beginning with a '#' will be ignored,\n"
               "# and an empty file will abort the edit. If an error occurs while saving this file will be\n"
               "# reopened with the relevant failures.\n#\n")


def _editor() -> list[str]:
    for var in ("KUBE_EDITOR", "EDITOR"):
        if os.environ.get(var):
            return shlex.split(os.environ[var])
    return ["vi"]


def strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


async def edit(cli: Cli, args: argparse.Namespace) -> int:
    objs = await _objects(cli, args, args.args)
    if not objs:
        raise CommandError("no objects passed to edit")
    errors = []
    for res, name, ns in objs:
        original = await cli.api.get(res, name, namespace=ns, subresource=args.subresource or None)
        shown = copy.deepcopy(original)
        (shown.get("metadata") or {}).pop("managedFields", None)
        text = EDIT_HEADER + (formats.to_json(shown) if args.output == "json" else formats.to_yaml(shown))
        with tempfile.NamedTemporaryFile("w", prefix="skiffctl-edit-", suffix=".yaml", delete=False) as f:
            f.write(text)
            path = f.name
        try:
            rc = subprocess.call([*_editor(), path])
            if rc != 0:
                raise CommandError(f"there was a problem with the editor {_editor()[0]!r}")
            edited_text = Path(path).read_text()
        finally:
            Path(path).unlink(missing_ok=True)
        body = strip_comments(edited_text).strip()
        if not body or strip_comments(edited_text) == strip_comments(text):
            cli.err.write("Edit cancelled, no changes made.\n")
            continue
        try:
            edited = yaml.safe_load(body)
        except yaml.YAMLError as e:
            errors.append(f"error: {e}")
            continue
        if edited == shown:
            cli.err.write("Edit cancelled, no changes made.\n")
            continue
        base = copy.deepcopy(shown)
        p = create_two_way_merge_patch(base, edited, kind_definition=_definition(res))
        if args.save_config:
            edited = with_last_applied(edited)
            p = create_two_way_merge_patch(base, edited, kind_definition=_definition(res))
        try:
            await cli.api.patch(res, name, p, patch_type=PatchType.STRATEGIC, namespace=ns,
                                subresource=args.subresource or None, field_manager="kubectl-edit")
        except ApiError as e:
            errors.append(error_message(e))
            continue
        cli.print(f"{ref(res, name)} edited")
    for e in errors:
        cli.err.write(e + "\n")
    return 1 if errors else 0


# -- diff ---------------------------------------------------------------------------------

def diff_file_name(res: Resource, ns: str | None, name: str) -> str:
    """kubectl's file names: ``apps.v1.Deployment.default.web``, ``v1.Namespace..x`` style."""
    prefix = f"{res.group}.{res.version}" if res.group else res.version
    return f"{prefix}.{res.kind}.{ns or ''}.{name}"


def _for_diff(obj: dict[str, Any] | None, *, show_managed: bool) -> str:
    if not obj:
        return ""
    o = copy.deepcopy(obj)
    if not show_managed:
        (o.get("metadata") or {}).pop("managedFields", None)
    if o.get("kind") == "Secret":
        for k in list((o.get("data") or {})):
            o["data"][k] = "***"
    return formats.to_yaml(o)


async def diff(cli: Cli, args: argparse.Namespace) -> int:
    if not args.filename:
        raise CommandError("must specify one of -f and -k")
    docs = manifests.load(args.filename, recursive=args.recursive, stdin=cli.stdin)
    live_dir = Path(tempfile.mkdtemp(prefix="LIVE-"))
    merged_dir = Path(tempfile.mkdtemp(prefix="MERGED-"))
    try:
        for m in docs:
            manifests.validate_basic(m)
            res = await cli.resource_for(m.obj, where=m.source)
            obj = copy.deepcopy(m.obj)
            ns = _place(cli, res, obj)
            name = obj["metadata"]["name"]
            try:
                live: dict[str, Any] | None = await cli.api.get(res, name, namespace=ns)
            except ApiError as e:
                if e.code != 404:
                    raise
                live = None
            if args.server_side:
                merged = await cli.api.patch(res, name, obj, patch_type=PatchType.APPLY, namespace=ns, dry_run=True,
                                             field_manager=args.field_manager, force=args.force_conflicts or None)
            elif live is None:
                merged = await cli.api.create(res, obj, namespace=ns, dry_run=True, field_manager=args.field_manager)
            else:
                # kubectl diff patches with the manifest alone: the last-applied annotation stays as it is
                p = apply_patch_for(res, json.loads(last_applied_json(obj)), live)
                merged = live if not p else await cli.api.patch(res, name, p, patch_type=PatchType.STRATEGIC,
                                                                namespace=ns, dry_run=True,
                                                                field_manager=args.field_manager)
            fname = diff_file_name(res, ns, name)
            (live_dir / fname).write_text(_for_diff(live, show_managed=args.show_managed_fields))
            (merged_dir / fname).write_text(_for_diff(merged, show_managed=args.show_managed_fields))
        external = os.environ.get("KUBECTL_EXTERNAL_DIFF")
        cmd = shlex.split(external) if external else ["diff", "-u", "-N"]
        proc = subprocess.run([*cmd, str(live_dir), str(merged_dir)], capture_output=True, text=True)
        cli.out.write(proc.stdout)
        if proc.stderr:
            cli.err.write(proc.stderr)
        if proc.returncode > 1:
            raise CommandError(f"exit status {proc.returncode}", code=proc.returncode)
        return proc.returncode
    finally:
        for d in (live_dir, merged_dir):
            for f in d.iterdir():
                f.unlink()
            d.rmdir()


__all__ = ["Target", "create_merge_patch"]
