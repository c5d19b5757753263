"""``skiffctl rollout status|history|undo|restart|pause|resume`` for Deployments, StatefulSets, DaemonSets.

The status messages are kubectl's (``rollout_status.go``), decided by pure ``*_status``
functions from one object; ``status`` prints one line per watch event until done.
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
from typing import Any

from skiff.api.resources import Resource, find
from skiff.client import ApiError, Gone, PatchType

from .cmd_describe import pod_template_lines
from .cmd_get import parse_targets
from .common import Cli, CommandError, error_message, parse_duration, ref
from .printers import align
from .tabwriter import format_lines

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("rollout", help="Manage the rollout of a resource")
    rsub = p.add_subparsers(dest="rollout_verb", parser_class=type(p))
    for name, fn in (("status", status), ("history", history), ("undo", undo), ("restart", restart),
                     ("pause", pause), ("resume", resume)):
        s = rsub.add_parser(name)
        s.add_argument("args", nargs="*")
        s.add_argument("-f", "--filename", action="append", default=[])
        s.add_argument("-R", "--recursive", action="store_true")
        s.add_argument("-l", "--selector", default="")
        s.add_argument("-o", "--output", default="")
        s.add_argument("--revision", type=int, default=0)
        s.add_argument("--to-revision", type=int, default=0)
        s.add_argument("-w", "--watch", default="true", nargs="?", const="true")
        s.add_argument("--timeout", default="0s")
        s.add_argument("--dry-run", default="none", nargs="?", const="unchanged")
        s.set_defaults(run=fn)


def deployment_status(d: dict[str, Any]) -> tuple[str, bool]:
    """(message, done) as kubectl's DeploymentStatusViewer; raises on a passed progress deadline. Pure."""
    meta, spec, st = d.get("metadata") or {}, d.get("spec") or {}, d.get("status") or {}
    name = meta.get("name")
    if int(meta.get("generation") or 0) <= int(st.get("observedGeneration") or 0):
        for c in st.get("conditions") or []:
            if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
                raise CommandError(f'deployment "{name}" exceeded its progress deadline')
        replicas = spec.get("replicas")
        updated = int(st.get("updatedReplicas") or 0)
        if replicas is not None and updated < int(replicas):
            return (f'Waiting for deployment "{name}" rollout to finish: {updated} out of {replicas} new replicas '
                    f'have been updated...', False)
        total = int(st.get("replicas") or 0)
        if total > updated:
            return (f'Waiting for deployment "{name}" rollout to finish: {total - updated} old replicas are pending '
                    f'termination...', False)
        available = int(st.get("availableReplicas") or 0)
        if available < updated:
            return (f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} updated replicas '
                    f'are available...', False)
        return f'deployment "{name}" successfully rolled out', True
    return "Waiting for deployment spec update to be observed...", False


def daemonset_status(d: dict[str, Any]) -> tuple[str, bool]:
    meta, spec, st = d.get("metadata") or {}, d.get("spec") or {}, d.get("status") or {}
    name = meta.get("name")
    if ((spec.get("updateStrategy") or {}).get("type") or "RollingUpdate") != "RollingUpdate":
        raise CommandError("rollout status is only available for RollingUpdate strategy type")
    if int(meta.get("generation") or 0) <= int(st.get("observedGeneration") or 0):
        desired = int(st.get("desiredNumberScheduled") or 0)
        updated = int(st.get("updatedNumberScheduled") or 0)
        if updated < desired:
            return (f'Waiting for daemon set "{name}" rollout to finish: {updated} out of {desired} new pods have '
                    f'been updated...', False)
        available = int(st.get("numberAvailable") or 0)
        if available < desired:
            return (f'Waiting for daemon set "{name}" rollout to finish: {available} of {desired} updated pods are '
                    f'available...', False)
        return f'daemon set "{name}" successfully rolled out', True
    return "Waiting for daemon set spec update to be observed...", False


def statefulset_status(s: dict[str, Any]) -> tuple[str, bool]:
    meta, spec, st = s.get("metadata") or {}, s.get("spec") or {}, s.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
        raise CommandError("rollout status is only available for RollingUpdate strategy type")
    observed = int(st.get("observedGeneration") or 0)
    if observed == 0 or int(meta.get("generation") or 0) > observed:
        return "Waiting for statefulset spec update to be observed...", False
    replicas = spec.get("replicas")
    ready = int(st.get("readyReplicas") or 0)
    if replicas is not None and ready < int(replicas):
        return f"Waiting for {int(replicas) - ready} pods to be ready...", False
    rolling = strategy.get("rollingUpdate")
    updated = int(st.get("updatedReplicas") or 0)
    if rolling is not None:
        partition = rolling.get("partition")
        if replicas is not None and partition is not None and updated < int(replicas) - int(partition):
            return (f"Waiting for partitioned roll out to finish: {updated} out of "
                    f"{int(replicas) - int(partition)} new pods have been updated...", False)
        return f"partitioned roll out complete: {updated} new pods have been updated...", True
    if st.get("updateRevision") != st.get("currentRevision"):
        return (f"waiting for statefulset rolling update to complete {updated} pods at revision "
                f"{st.get('updateRevision')}...", False)
    return (f"statefulset rolling update complete {int(st.get('currentReplicas') or 0)} pods at revision "
            f"{st.get('currentRevision')}...", True)


_VIEWERS = {"Deployment": deployment_status, "DaemonSet": daemonset_status, "StatefulSet": statefulset_status}


async def _targets(cli: Cli, args: argparse.Namespace) -> list[tuple[Resource, str, str | None]]:
    targets, _ = await parse_targets(cli, args.args, filenames=args.filename, recursive=args.recursive)
    out = []
    for t in targets:
        ns = (t.namespace or cli.namespace) if t.resource.namespaced else None
        if t.names:
            out.extend((t.resource, n, ns) for n in t.names)
        elif args.selector:
            lst = await cli.api.list(t.resource, namespace=ns, label_selector=args.selector)
            out.extend((t.resource, o["metadata"]["name"], ns) for o in lst.get("items") or [])
        else:
            raise CommandError("required resource not specified")
    return out


async def status(cli: Cli, args: argparse.Namespace) -> int:
    watch = str(args.watch).lower() in ("true", "1", "t")
    timeout = parse_duration(args.timeout) if args.timeout not in ("0", "0s", "") else None
    for res, name, ns in await _targets(cli, args):
        viewer = _VIEWERS.get(res.kind)
        if viewer is None:
            raise CommandError(f"no status viewer has been implemented for {res.kind}")
        try:
            await asyncio.wait_for(_follow(cli, res, name, ns, viewer, watch=watch), timeout)
        except asyncio.TimeoutError:
            raise CommandError("timed out waiting for the condition") from None
    return 0


async def _follow(cli: Cli, res: Resource, name: str, ns: str | None, viewer: Any, *, watch: bool) -> None:
    while True:
        obj = await cli.api.get(res, name, namespace=ns)
        message, done = viewer(obj)
        cli.print(message)
        cli.out.flush()
        if done or not watch:
            return
        rv = obj["metadata"].get("resourceVersion")
        try:
            async for etype, ev in cli.api.watch(res, namespace=ns, field_selector=f"metadata.name={name}",
                                                 resource_version=rv):
                if etype == "DELETED":
                    raise CommandError(f"object has been deleted")
                if etype not in ("ADDED", "MODIFIED"):
                    continue
                message, done = viewer(ev)
                cli.print(message)
                cli.out.flush()
                if done:
                    return
        except Gone:
            continue


async def _owned_replicasets(cli: Cli, deploy: dict[str, Any]) -> list[dict[str, Any]]:
    rs_res = find("replicasets")
    assert rs_res is not None
    uid = deploy["metadata"]["uid"]
    selector = ((deploy.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or None
    lst = await cli.api.list(rs_res, namespace=deploy["metadata"].get("namespace"), label_selector=label_selector)
    return [rs for rs in lst.get("items") or []
            if any(o.get("uid") == uid for o in (rs.get("metadata") or {}).get("ownerReferences") or [])]


def _revision(obj: dict[str, Any]) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


async def _history_objects(cli: Cli, res: Resource, obj: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """revision -> the pod template holder (ReplicaSet, or ControllerRevision for DS/STS)."""
    if res.kind == "Deployment":
        return {_revision(rs): rs for rs in await _owned_replicasets(cli, obj)}
    cr_res = find("controllerrevisions")
    assert cr_res is not None
    lst = await cli.api.list(cr_res, namespace=obj["metadata"].get("namespace"))
    uid = obj["metadata"]["uid"]
    return {int(cr.get("revision") or 0): cr for cr in lst.get("items") or []
            if any(o.get("uid") == uid for o in (cr.get("metadata") or {}).get("ownerReferences") or [])}


async def history(cli: Cli, args: argparse.Namespace) -> int:
    for res, name, ns in await _targets(cli, args):
        if res.kind not in _VIEWERS:
            raise CommandError(f"no history viewer has been implemented for {res.kind}")
        obj = await cli.api.get(res, name, namespace=ns)
        revisions = await _history_objects(cli, res, obj)
        if args.revision:
            holder = revisions.get(args.revision)
            if holder is None:
                raise CommandError(f"unable to find the specified revision")
            template = (holder.get("spec") or {}).get("template") or {}
            cli.print(f"{ref(res, name)} with revision #{args.revision}")
            # kubectl prints the describe lines here without aligning them
            cli.out.write("".join(line + "\n" for line in pod_template_lines(template)) + "\n")
            continue
        lines = ["REVISION\tCHANGE-CAUSE"]
        for rev in sorted(r for r in revisions if r > 0):
            cause = ((revisions[rev].get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE) or "<none>"
            lines.append(f"{rev}\t{cause}")
        cli.print(f"{ref(res, name)} ")
        cli.out.write(format_lines(lines, padding=2, minwidth=0))
        cli.print("")
    return 0


def strip_template(template: dict[str, Any]) -> dict[str, Any]:
    """The template to roll back to: the ReplicaSet's, without its pod-template-hash label. Pure."""
    t = copy.deepcopy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop("pod-template-hash", None)
    return t


async def undo(cli: Cli, args: argparse.Namespace) -> int:
    for res, name, ns in await _targets(cli, args):
        if res.kind != "Deployment":
            raise CommandError(f"no rollbacker has been implemented for {res.kind}")
        obj = await cli.api.get(res, name, namespace=ns)
        if (obj.get("spec") or {}).get("paused"):
            raise CommandError(f"you cannot rollback a paused deployment; resume it first with 'skiffctl rollout "
                               f"resume' and try again")
        revisions = await _history_objects(cli, res, obj)
        current = _revision(obj)
        if args.to_revision:
            target = revisions.get(args.to_revision)
            if target is None:
                raise CommandError(f"unable to find specified revision {args.to_revision} in history")
        else:
            older = sorted((r for r in revisions if 0 < r < current), reverse=True)
            if not older:
                raise CommandError("no rollout history found for deployment \"" + name + "\"")
            target = revisions[older[0]]
        template = strip_template((target.get("spec") or {}).get("template") or {})
        live = copy.deepcopy((obj.get("spec") or {}).get("template") or {})
        if _same_template(live, template):
            cli.print(f"{ref(res, name)} skipped rollback (current template already matches revision "
                      f"{_revision(target)})")
            continue
        annotations: dict[str, Any] = {}
        cause = ((target.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE)
        if cause:
            annotations[CHANGE_CAUSE] = cause
        patch = [{"op": "replace", "path": "/spec/template", "value": template}]
        if annotations:
            patch.append({"op": "add" if not (obj["metadata"].get("annotations")) else "replace",
                          "path": "/metadata/annotations", "value": {**(obj["metadata"].get("annotations") or {}),
                                                                      **annotations}})
        await cli.api.patch(res, name, patch, patch_type=PatchType.JSON, namespace=ns)
        cli.print(f"{ref(res, name)} rolled back")
    return 0


def _same_template(a: dict[str, Any], b: dict[str, Any]) -> bool:
    a, b = copy.deepcopy(a), copy.deepcopy(b)
    for t in (a, b):
        (t.get("metadata") or {}).pop("creationTimestamp", None)
        ((t.get("metadata") or {}).get("labels") or {}).pop("pod-template-hash", None)
    return a == b


async def restart(cli: Cli, args: argparse.Namespace) -> int:
    now = dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")
    for res, name, ns in await _targets(cli, args):
        if res.kind not in _VIEWERS:
            raise CommandError(f"{ref(res, name)}: restarting is not supported")
        obj = await cli.api.get(res, name, namespace=ns)
        if (obj.get("spec") or {}).get("paused"):
            raise CommandError(f"{ref(res, name)}: can't restart paused deployment (run rollout resume first)")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
        await cli.api.patch(res, name, body, patch_type=PatchType.STRATEGIC, namespace=ns)
        cli.print(f"{ref(res, name)} restarted")
    return 0


async def _set_paused(cli: Cli, args: argparse.Namespace, paused: bool) -> int:
    errors = []
    verb = "paused" if paused else "resumed"
    for res, name, ns in await _targets(cli, args):
        if res.kind != "Deployment":
            errors.append(f"error: {ref(res, name)} {'pausing' if paused else 'resuming'} is not supported")
            continue
        try:
            obj = await cli.api.get(res, name, namespace=ns)
            if bool((obj.get("spec") or {}).get("paused")) == paused:
                state = "is already paused" if paused else "is not paused"
                errors.append(f'error: {res.qualified} "{name}" {state}')
                continue
            await cli.api.patch(res, name, {"spec": {"paused": True if paused else None}},
                                patch_type=PatchType.STRATEGIC, namespace=ns)
        except ApiError as e:
            errors.append(error_message(e))
            continue
        cli.print(f"{ref(res, name)} {verb}")
    for e in errors:
        cli.err.write(e + "\n")
    return 1 if errors else 0


async def pause(cli: Cli, args: argparse.Namespace) -> int:
    return await _set_paused(cli, args, True)


async def resume(cli: Cli, args: argparse.Namespace) -> int:
    return await _set_paused(cli, args, False)


__all__ = ["align"]
