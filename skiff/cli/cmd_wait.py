"""``skiffctl wait --for=condition=C[=V] | delete | create | jsonpath={...}=V`` on named or selected objects.

``parse_for`` turns the flag into a ``Condition``; ``Condition.met(obj)`` decides purely.
The command re-checks on each watch event of the object until met or ``--timeout``.
"""
from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from typing import Any

from skiff.api.resources import Resource
from skiff.client import ApiError, Gone

from . import jsonpath
from .cmd_get import parse_targets
from .common import Cli, CommandError, parse_duration, ref


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    w = sub.add_parser("wait", help="Wait for a specific condition on one or many resources")
    w.add_argument("args", nargs="*")
    w.add_argument("--for", dest="for_", default="")
    w.add_argument("--timeout", default="30s")
    w.add_argument("-l", "--selector", default="")
    w.add_argument("--field-selector", default="")
    w.add_argument("--all", action="store_true")
    w.add_argument("-A", "--all-namespaces", action="store_true")
    w.add_argument("-f", "--filename", action="append", default=[])
    w.add_argument("-R", "--recursive", action="store_true")
    w.add_argument("-o", "--output", default="")
    w.set_defaults(run=wait)


@dataclass(frozen=True)
class Condition:
    kind: str  # condition | delete | create | jsonpath
    name: str = ""
    value: str = "true"
    path: str = ""

    def met(self, obj: dict[str, Any] | None) -> bool:
        if self.kind == "delete":
            return obj is None
        if obj is None:
            return False
        if self.kind == "create":
            return True
        if self.kind == "condition":
            for c in (obj.get("status") or {}).get("conditions") or []:
                if str(c.get("type", "")).lower() == self.name.lower():
                    return str(c.get("status", "")).lower() == self.value.lower()
            return False
        values = jsonpath.find_values(self.path, obj)
        if not self.value:
            return bool(values)
        return len(values) == 1 and jsonpath.text_of(values[0]) == self.value


def parse_for(value: str) -> Condition:
    """``--for`` as kubectl accepts it. Pure."""
    if not value:
        raise CommandError("--for must be set")
    lowered = value.lower()
    if lowered == "delete":
        return Condition("delete")
    if lowered == "create":
        return Condition("create")
    if lowered.startswith("condition="):
        cond = value[len("condition="):]
        name, eq, want = cond.partition("=")
        return Condition("condition", name=name, value=want if eq else "true")
    if lowered.startswith("jsonpath="):
        expr = value[len("jsonpath="):]
        if expr[:1] in ("'", '"') and expr.find(expr[0], 1) > 0:
            close = expr.find(expr[0], 1)
            expr = expr[1:close] + expr[close + 1:]
        # the value follows the closing brace (or the last '=' of a relaxed path)
        if "}" in expr:
            path, _, rest = expr.rpartition("}")
            path += "}"
            want = rest[1:] if rest.startswith("=") else ""
            if rest and not rest.startswith("="):
                raise CommandError(f"jsonpath wait format must be --for=jsonpath='{{JSONPath expression}}'="
                                   f"{{desired value}}")
        else:
            path, eq, want = expr.partition("=")
        try:
            jsonpath.parse(jsonpath.relaxed(path))
        except jsonpath.JSONPathError as e:
            raise CommandError(f"unrecognized --for={value}: {e}") from e
        return Condition("jsonpath", path=path, value=want)
    raise CommandError(f"unrecognized condition: \"{value}\"")


async def wait(cli: Cli, args: argparse.Namespace) -> int:
    cond = parse_for(args.for_)
    timeout = parse_duration(args.timeout)
    targets, _ = await parse_targets(cli, args.args, filenames=args.filename, recursive=args.recursive)
    items: list[tuple[Resource, str, str | None]] = []
    for t in targets:
        ns = (t.namespace or cli.namespace) if t.resource.namespaced else None
        if t.names:
            items.extend((t.resource, n, ns) for n in t.names)
        else:
            lst = await cli.api.list(t.resource, namespace=ns, all_namespaces=args.all_namespaces,
                                     label_selector=args.selector or None, field_selector=args.field_selector or None)
            items.extend((t.resource, o["metadata"]["name"], o["metadata"].get("namespace"))
                         for o in lst.get("items") or [])
    if not items:
        raise CommandError("no matching resources found")
    if cond.kind == "delete":
        # kubectl reports nothing for named objects that are already gone
        present = []
        for res, name, ns in items:
            try:
                await cli.api.get(res, name, namespace=ns)
                present.append((res, name, ns))
            except ApiError as e:
                if e.code != 404:
                    raise
        items = present
    errors = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for res, name, ns in items:
        remaining = max(deadline - loop.time(), 0.0)
        try:
            ok = await asyncio.wait_for(_until(cli, res, name, ns, cond), remaining if timeout > 0 else 0.001)
        except asyncio.TimeoutError:
            ok = False
        if ok:
            cli.print(ref(res, name) if args.output == "name" else f"{ref(res, name)} condition met")
        else:
            errors.append(f"error: timed out waiting for the condition on {res.plural}/{name}")
    for e in errors:
        cli.err.write(e + "\n")
    return 1 if errors else 0


async def _until(cli: Cli, res: Resource, name: str, ns: str | None, cond: Condition) -> bool:
    while True:
        lst = await cli.api.list(res, namespace=ns, field_selector=f"metadata.name={name}")
        items = lst.get("items") or []
        obj = items[0] if items else None
        if obj is None and cond.kind not in ("delete", "create"):
            raise ApiError({"kind": "Status", "code": 404, "reason": "NotFound",
                            "message": f'{res.qualified} "{name}" not found'})
        if cond.met(obj):
            return True
        rv = (lst.get("metadata") or {}).get("resourceVersion")
        try:
            async for etype, ev in cli.api.watch(res, namespace=ns, field_selector=f"metadata.name={name}",
                                                 resource_version=rv):
                if etype == "DELETED":
                    if cond.met(None):
                        return True
                    if cond.kind != "create":
                        raise ApiError({"kind": "Status", "code": 404, "reason": "NotFound",
                                        "message": f'{res.qualified} "{name}" not found'})
                elif etype in ("ADDED", "MODIFIED") and cond.met(ev):
                    return True
        except Gone:
            continue
