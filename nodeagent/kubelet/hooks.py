"""Container lifecycle hooks (``postStart``, ``preStop``): exec, httpGet and sleep handlers.

:func:`hook_plan` (pure) turns a handler into what to run; :func:`run_hook` runs it — exec
through CRI ``ExecSync``, httpGet from the node to the pod, sleep in the agent — and
returns the kubelet's failure message, or None. As in the kubelet, an httpGet hook fails
only when the request does (its status code is not judged), and the time a preStop hook
takes comes out of the grace period the stop then gets (:func:`grace_left`, at least 2 s).
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import aiohttp

from skiff.nodeagent.runtime.cri import api_pb2 as pb

Obj = dict[str, Any]
MIN_GRACE = 2  # the kubelet's minimumGracePeriodInSeconds
POST_START_TIMEOUT = 600.0  # the kubelet gives postStart no limit; the agent keeps one


class HookKind(str, Enum):
    EXEC = "exec"
    HTTP = "httpGet"
    SLEEP = "sleep"


@dataclass(frozen=True)
class HookPlan:
    kind: HookKind
    command: tuple[str, ...] = ()
    url: str = ""
    path: str = ""
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    seconds: int = 0


class HookError(ValueError):
    """A handler the agent cannot run (names the field)."""


def hook_plan(handler: Mapping[str, Any], *, pod_ip: str, ports: Mapping[str, int], where: str) -> HookPlan:
    if handler.get("exec") is not None:
        return HookPlan(HookKind.EXEC, command=tuple(str(x) for x in handler["exec"].get("command") or []))
    if handler.get("httpGet") is not None:
        h = handler["httpGet"]
        raw = h.get("port")
        port = int(raw) if str(raw).isdigit() else ports.get(str(raw))
        if not port:
            raise HookError(f"{where}.httpGet.port: {raw!r} is not a port number or a named container port")
        scheme = str(h.get("scheme") or "HTTP").lower()
        path = str(h.get("path") or "")
        url = f"{scheme}://{h.get('host') or pod_ip}:{port}/{path.lstrip('/')}"
        return HookPlan(HookKind.HTTP, url=url, path=path,
                        headers=tuple((str(x["name"]), str(x["value"])) for x in h.get("httpHeaders") or []))
    if handler.get("sleep") is not None:
        return HookPlan(HookKind.SLEEP, seconds=int(handler["sleep"].get("seconds") or 0))
    if handler.get("tcpSocket") is not None:
        raise HookError(f"{where}.tcpSocket: a lifecycle hook cannot be a tcpSocket (deprecated, never run)")
    raise HookError(f"{where}: one of exec, httpGet or sleep is required")


def grace_left(grace: int, elapsed: float) -> int:
    """Seconds of the grace period left after a preStop hook took ``elapsed``."""
    return max(MIN_GRACE, int(grace - elapsed))


def pod_ref(pod: Obj) -> str:
    """The kubelet's ``format.Pod``: ``name_namespace(uid)``."""
    m = pod.get("metadata") or {}
    return f"{m.get('name')}_{m.get('namespace')}({m.get('uid')})"


def container_ports(c: Mapping[str, Any]) -> dict[str, int]:
    return {str(p["name"]): int(p["containerPort"]) for p in c.get("ports") or [] if p.get("name")}


async def run_hook(plan: HookPlan, *, cri: Any, container_id: str, pod: Obj, container: str,
                   timeout: float) -> str | None:
    """Run one hook within ``timeout`` seconds; the kubelet's message when it failed."""
    who = f'for Container "{container}" in Pod "{pod_ref(pod)}"'
    if plan.kind is HookKind.SLEEP:
        await asyncio.sleep(min(plan.seconds, timeout))
        return None
    if plan.kind is HookKind.EXEC:
        argv = "[" + " ".join(plan.command) + "]"
        try:
            res = await cri.runtime.ExecSync(pb.ExecSyncRequest(container_id=container_id, cmd=list(plan.command),
                                                                timeout=int(timeout)), timeout=timeout + 5)
        except Exception as exc:  # noqa: BLE001 - the runtime's message goes to the event
            details = exc.details() if hasattr(exc, "details") else str(exc)
            return f"Exec lifecycle hook ({argv}) {who} failed - error: {details}, message: \"\""
        if res.exit_code != 0:
            out = (res.stdout + res.stderr).decode(errors="replace")
            return (f"Exec lifecycle hook ({argv}) {who} failed - error: command '{' '.join(plan.command)}' "
                    f"exited with {res.exit_code}: {res.stderr.decode(errors='replace')}, message: {quote(out)}")
        return None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
            async with s.get(plan.url, headers=dict(plan.headers), ssl=False, allow_redirects=True) as r:
                await r.read()
    except (OSError, asyncio.TimeoutError, aiohttp.ClientError) as exc:
        return f"HTTP lifecycle hook ({plan.path}) {who} failed - error: Get {quote(plan.url)}: {exc or type(exc).__name__}"
    return None


def quote(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)
