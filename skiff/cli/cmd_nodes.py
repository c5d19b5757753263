"""Node maintenance: ``cordon``, ``uncordon``, ``drain`` (evictions, DaemonSet and bare-pod rules), ``taint``.

``drain_plan`` decides purely which pods go and why others block; ``parse_taints`` and
``taint_change`` decide the new taint list. The commands apply those decisions.
"""
from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from typing import Any

from skiff.api.resources import find
from skiff.client import ApiError, PatchType
from skiff.client import requests as rq

from .common import Cli, CommandError, error_message, parse_duration

MIRROR = "kubernetes.io/config.mirror"
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for verb in ("cordon", "uncordon"):
        p = sub.add_parser(verb, help=f"Mark node as {'un' if verb == 'cordon' else ''}schedulable")
        p.add_argument("nodes", nargs="*")
        p.add_argument("-l", "--selector", default="")
        p.add_argument("--dry-run", default="none", nargs="?", const="unchanged")
        p.set_defaults(run=cordon if verb == "cordon" else uncordon)
    d = sub.add_parser("drain", help="Drain node in preparation for maintenance")
    d.add_argument("nodes", nargs="*")
    d.add_argument("-l", "--selector", default="")
    d.add_argument("--pod-selector", default="")
    d.add_argument("--ignore-daemonsets", action="store_true")
    d.add_argument("--delete-emptydir-data", action="store_true")
    d.add_argument("--delete-local-data", action="store_true")
    d.add_argument("--force", action="store_true")
    d.add_argument("--grace-period", type=int, default=-1)
    d.add_argument("--timeout", default="0s")
    d.add_argument("--disable-eviction", action="store_true")
    d.add_argument("--skip-wait-for-delete-timeout", type=int, default=0)
    d.add_argument("--dry-run", default="none", nargs="?", const="unchanged")
    d.set_defaults(run=drain)
    t = sub.add_parser("taint", help="Update the taints on one or more nodes")
    t.add_argument("args", nargs="*")
    t.add_argument("-l", "--selector", default="")
    t.add_argument("--all", action="store_true")
    t.add_argument("--overwrite", action="store_true")
    t.add_argument("--dry-run", default="none", nargs="?", const="unchanged")
    t.add_argument("-o", "--output", default="")
    t.set_defaults(run=taint)


def _nodes_res() -> Any:
    res = find("nodes")
    assert res is not None
    return res


async def _node_names(cli: Cli, names: list[str], selector: str) -> list[str]:
    out = []
    for n in names:
        kind, slash, name = n.partition("/")
        if slash:
            if (await cli.resource(kind)).kind != "Node":
                raise CommandError(f"error: {n} is not a node")
            n = name
        out.append(n)
    if selector:
        lst = await cli.api.list(_nodes_res(), label_selector=selector)
        out.extend(o["metadata"]["name"] for o in lst.get("items") or [])
    if not out:
        raise CommandError("resource(s) were provided, but no name was specified")
    return out


async def _set_unschedulable(cli: Cli, name: str, value: bool) -> str:
    node = await cli.api.get(_nodes_res(), name)
    current = bool((node.get("spec") or {}).get("unschedulable"))
    word = "cordoned" if value else "uncordoned"
    if current == value:
        return f"node/{name} already {word}"
    await cli.api.patch(_nodes_res(), name, {"spec": {"unschedulable": True if value else None}},
                        patch_type=PatchType.STRATEGIC)
    return f"node/{name} {word}"


async def _cordon(cli: Cli, args: argparse.Namespace, value: bool) -> int:
    errors = []
    for name in await _node_names(cli, args.nodes, args.selector):
        try:
            cli.print(await _set_unschedulable(cli, name, value))
        except ApiError as e:
            errors.append(error_message(e))
    for e in errors:
        cli.err.write(e + "\n")
    return 1 if errors else 0


async def cordon(cli: Cli, args: argparse.Namespace) -> int:
    return await _cordon(cli, args, True)


async def uncordon(cli: Cli, args: argparse.Namespace) -> int:
    return await _cordon(cli, args, False)


# -- drain --------------------------------------------------------------------------------

@dataclass
class DrainPlan:
    evict: list[dict[str, Any]] = field(default_factory=list)
    ignored_daemonsets: list[str] = field(default_factory=list)
    forced_unmanaged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _key(pod: dict[str, Any]) -> str:
    m = pod.get("metadata") or {}
    return f"{m.get('namespace')}/{m.get('name')}"


def drain_plan(pods: list[dict[str, Any]], *, ignore_daemonsets: bool, force: bool,
               delete_emptydir_data: bool) -> DrainPlan:
    """Which pods a drain evicts, and which block it, with kubectl's messages. Pure."""
    plan = DrainPlan()
    daemon, unmanaged, local = [], [], []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if MIRROR in (meta.get("annotations") or {}):
            continue
        phase = (pod.get("status") or {}).get("phase")
        if meta.get("deletionTimestamp"):
            continue
        controller = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
        finished = phase in ("Succeeded", "Failed")
        if controller is not None and controller.get("kind") == "DaemonSet":
            if ignore_daemonsets:
                plan.ignored_daemonsets.append(_key(pod))
            else:
                daemon.append(_key(pod))
            continue
        if controller is None and not finished:
            if force:
                plan.forced_unmanaged.append(_key(pod))
            else:
                unmanaged.append(_key(pod))
                continue
        if any("emptyDir" in v for v in (pod.get("spec") or {}).get("volumes") or []) and not finished:
            if not delete_emptydir_data:
                local.append(_key(pod))
                continue
        plan.evict.append(pod)
    if unmanaged:
        plan.errors.append("cannot delete Pods that declare no controller (use --force to override): "
                           + ", ".join(unmanaged))
    if daemon:
        plan.errors.append("cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): "
                           + ", ".join(daemon))
    if local:
        plan.errors.append("cannot delete Pods with local storage (use --delete-emptydir-data to override): "
                           + ", ".join(local))
    return plan


async def drain(cli: Cli, args: argparse.Namespace) -> int:
    pods_res = find("pods")
    assert pods_res is not None
    timeout = parse_duration(args.timeout) if args.timeout not in ("0", "0s", "") else None
    for name in await _node_names(cli, args.nodes, args.selector):
        cli.print(await _set_unschedulable(cli, name, True))
        lst = await cli.api.list(pods_res, all_namespaces=True, field_selector=f"spec.nodeName={name}",
                                 label_selector=args.pod_selector or None)
        plan = drain_plan(lst.get("items") or [], ignore_daemonsets=args.ignore_daemonsets, force=args.force,
                          delete_emptydir_data=args.delete_emptydir_data or args.delete_local_data)
        if plan.errors:
            joined = ", ".join(plan.errors)
            cli.err.write(f'error: unable to drain node "{name}" due to error: {joined}, continuing command...\n'
                          f"There are pending nodes to be drained:\n {name}\n")
            for e in plan.errors:
                cli.err.write(e + "\n")
            return 1
        warnings = []
        if plan.forced_unmanaged:
            warnings.append("deleting Pods that declare no controller: " + ", ".join(plan.forced_unmanaged))
        if plan.ignored_daemonsets:
            warnings.append("ignoring DaemonSet-managed Pods: " + ", ".join(plan.ignored_daemonsets))
        if warnings:
            cli.err.write("Warning: " + "; ".join(warnings) + "\n")
        await asyncio.wait_for(_evict_all(cli, plan.evict, grace=args.grace_period,
                                          disable_eviction=args.disable_eviction), timeout)
        cli.print(f"node/{name} drained")
    return 0


async def _evict_all(cli: Cli, pods: list[dict[str, Any]], *, grace: int, disable_eviction: bool) -> None:
    pods_res = find("pods")
    assert pods_res is not None

    async def one(pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        ns, name = meta["namespace"], meta["name"]
        cli.print(f"evicting pod {ns}/{name}")
        options = rq.delete_options(grace_period_seconds=grace if grace >= 0 else None)
        while True:
            try:
                if disable_eviction:
                    await cli.api.delete(pods_res, name, namespace=ns,
                                         grace_period_seconds=grace if grace >= 0 else None)
                else:
                    body = {"apiVersion": "policy/v1", "kind": "Eviction",
                            "metadata": {"name": name, "namespace": ns}, "deleteOptions": options}
                    req = rq.build("create", pods_res, namespace=ns, body=body)
                    req = rq.Request("POST", rq.resource_path(pods_res, namespace=ns, name=name,
                                                              subresource="eviction"), (), req.headers, req.body)
                    await cli.api.send(req)
                break
            except ApiError as e:
                if e.code == 404:
                    if e.details.get("name") == name or f'"{name}" not found' in e.message:
                        break  # the pod is gone already
                    if not disable_eviction:
                        disable_eviction = True  # the server serves no eviction subresource: delete instead
                        continue
                    break
                if e.code == 429:
                    cli.err.write(f'error when evicting pods/"{name}" -n "{ns}" (will retry after 5s): '
                                  f"{e.message}\n")
                    await asyncio.sleep(5)
                    continue
                raise
        await _gone(cli, ns, name, meta.get("uid"))
        cli.print(f"pod/{name} evicted")

    await asyncio.gather(*(one(p) for p in pods))


async def _gone(cli: Cli, ns: str, name: str, uid: str | None) -> None:
    pods_res = find("pods")
    assert pods_res is not None
    delay = 0.1
    while True:
        try:
            pod = await cli.api.get(pods_res, name, namespace=ns)
        except ApiError as e:
            if e.code == 404:
                return
            raise
        if uid and pod["metadata"].get("uid") != uid:
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


# -- taint --------------------------------------------------------------------------------

def parse_taints(specs: list[str]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """``k=v:Effect`` / ``k:Effect`` to add, ``k:Effect-`` / ``k-`` to remove. Pure."""
    add, remove = [], []
    for spec in specs:
        if spec.endswith("-"):
            body = spec[:-1]
            key, _, effect = body.partition(":")
            t = {"key": key}
            if effect:
                if effect not in EFFECTS:
                    raise CommandError(f'invalid taint effect: {effect}, unsupported taint effect')
                t["effect"] = effect
            remove.append(t)
            continue
        kv, colon, effect = spec.rpartition(":")
        if not colon:
            raise CommandError(f"invalid taint spec: {spec}, unknown taint spec: {spec}")
        if effect not in EFFECTS:
            raise CommandError(f"invalid taint spec: {spec}, invalid taint effect: {effect}, "
                               f"unsupported taint effect")
        key, eq, value = kv.partition("=")
        t = {"key": key, "effect": effect}
        if eq and value:
            t["value"] = value
        add.append(t)
    return add, remove


def taint_change(current: list[dict[str, Any]], add: list[dict[str, str]], remove: list[dict[str, str]], *,
                 overwrite: bool, node: str) -> tuple[list[dict[str, Any]], str]:
    """The new taint list and kubectl's verb (tainted / untainted / modified). Pure."""
    new = [dict(t) for t in current]
    for t in remove:
        before = len(new)
        new = [x for x in new if not (x.get("key") == t["key"] and ("effect" not in t or x.get("effect") == t["effect"]))]
        if len(new) == before:
            spec = t["key"] + (f":{t['effect']}" if "effect" in t else "")
            raise CommandError(f'taint "{spec}" not found')
    for t in add:
        existing = [x for x in new if x.get("key") == t["key"] and x.get("effect") == t["effect"]]
        if existing and not overwrite:
            raise CommandError(f"node {node} already has {t['key']} taint(s) with same effect(s) and --overwrite "
                               f"is false")
        if existing:
            for x in existing:
                x.clear()
                x.update(t)
        else:
            new.append(dict(t))
    if add and remove:
        verb = "modified"
    elif remove:
        verb = "untainted"
    else:
        verb = "tainted" if not (overwrite and any(x.get("key") == t["key"] for t in add for x in current)) \
            else "modified"
    return new, verb


async def taint(cli: Cli, args: argparse.Namespace) -> int:
    tokens = list(args.args)
    if not tokens:
        raise CommandError("at least one taint update is required")
    kind_token = tokens[0]
    res = await cli.resource(kind_token.split("/")[0])
    if res.kind != "Node":
        raise CommandError(f"invalid resource type {kind_token}, only node types are supported")
    if "/" in kind_token:
        names, specs = [kind_token.split("/", 1)[1]], tokens[1:]
    else:
        rest = tokens[1:]
        split = next((i for i, t in enumerate(rest) if ":" in t or t.endswith("-") or "=" in t), len(rest))
        names, specs = rest[:split], rest[split:]
    if args.all or args.selector:
        lst = await cli.api.list(res, label_selector=args.selector or None)
        names = [o["metadata"]["name"] for o in lst.get("items") or []]
    if not specs:
        raise CommandError("at least one taint update is required")
    add, remove = parse_taints(specs)
    for name in names:
        node = await cli.api.get(res, name)
        current = list((node.get("spec") or {}).get("taints") or [])
        new, verb = taint_change(current, add, remove, overwrite=args.overwrite, node=name)
        await cli.api.patch(res, name, {"spec": {"taints": new or None}}, patch_type=PatchType.MERGE)
        cli.print(f"node/{name} {verb}")
    return 0
