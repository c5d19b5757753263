"""Liveness, readiness and startup probes (exec, httpGet, tcpSocket) with their timing fields.

:func:`due` and :func:`record` are pure: when a container's probe runs next and what a
result does to its state (``successThreshold``/``failureThreshold``, the start-up gate).
:class:`Prober` runs due probes — exec through CRI ``ExecSync``, HTTP and TCP from the node
to the pod's IP — and tells the agent what changed: a readiness flip re-posts the pod's
status, a liveness (or start-up) failure kills the container so its restart policy applies.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import aiohttp

from skiff.nodeagent.runtime.cri import api_pb2 as pb

log = logging.getLogger(__name__)
KINDS = ("startupProbe", "livenessProbe", "readinessProbe")
EXEC_TIMEOUT_FLOOR = 10.0


class Result(str, Enum):
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True)
class ProbeState:
    """One probe of one container (by container ID)."""

    successes: int = 0
    failures: int = 0
    last_run: float | None = None  # seconds (the agent's clock)
    passed: bool = False  # readiness: ready; startup: started; liveness: alive
    tripped: bool = False  # failureThreshold reached (liveness/startup: kill)


def timing(probe: Mapping[str, Any]) -> tuple[float, float, float, int, int]:
    return (float(probe.get("initialDelaySeconds") or 0), float(probe.get("periodSeconds") or 10),
            float(probe.get("timeoutSeconds") or 1), int(probe.get("successThreshold") or 1),
            int(probe.get("failureThreshold") or 3))


def due(probe: Mapping[str, Any], st: ProbeState, *, started_at: float, now: float) -> float:
    """Seconds until the probe should run (≤ 0: now)."""
    delay, period, _, _, _ = timing(probe)
    if st.last_run is None:
        return started_at + delay - now
    return st.last_run + period - now


def record(kind: str, probe: Mapping[str, Any], st: ProbeState, result: Result, *, now: float) -> ProbeState:
    _, _, _, success_threshold, failure_threshold = timing(probe)
    if kind != "readinessProbe":
        success_threshold = 1  # Kubernetes requires 1 for liveness and startup
    if result is Result.SUCCESS:
        s = replace(st, successes=st.successes + 1, failures=0, last_run=now)
        return replace(s, passed=st.passed or s.successes >= success_threshold, tripped=False)
    s = replace(st, failures=st.failures + 1, successes=0, last_run=now)
    if s.failures >= failure_threshold:
        return replace(s, passed=False if kind != "startupProbe" else st.passed, tripped=kind != "readinessProbe")
    return s


@dataclass
class ContainerProbes:
    states: dict[str, ProbeState] = field(default_factory=dict)  # probe kind -> state

    def started(self, c: Mapping[str, Any]) -> bool:
        return "startupProbe" not in c or self.states.get("startupProbe", ProbeState()).passed

    def ready(self, c: Mapping[str, Any]) -> bool:
        if not self.started(c):
            return False
        return "readinessProbe" not in c or self.states.get("readinessProbe", ProbeState()).passed


async def run_probe(probe: Mapping[str, Any], *, cri: Any, container_id: str, pod_ip: str,
                    ports: Mapping[str, int]) -> Result:
    _, _, timeout, _, _ = timing(probe)

    def port_of(value: Any) -> int:
        return int(value) if str(value).isdigit() else int(ports.get(str(value), 0))

    try:
        if "exec" in probe:
            # an exec costs a runtime process start; under load that alone can pass the default
            # 1 s, so exec probes get at least EXEC_TIMEOUT_FLOOR seconds
            t = int(max(timeout, EXEC_TIMEOUT_FLOOR))
            res = await cri.runtime.ExecSync(pb.ExecSyncRequest(
                container_id=container_id, cmd=list(probe["exec"].get("command") or []), timeout=t), timeout=t + 5)
            return Result.SUCCESS if res.exit_code == 0 else Result.FAILURE
        if "httpGet" in probe:
            h = probe["httpGet"]
            scheme = (h.get("scheme") or "HTTP").lower()
            url = f"{scheme}://{h.get('host') or pod_ip}:{port_of(h.get('port'))}{h.get('path') or '/'}"
            headers = {x["name"]: x["value"] for x in h.get("httpHeaders") or []}
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
                async with s.get(url, headers=headers, ssl=False, allow_redirects=True) as r:
                    return Result.SUCCESS if 200 <= r.status < 400 else Result.FAILURE
        if "tcpSocket" in probe:
            t = probe["tcpSocket"]
            _, w = await asyncio.wait_for(asyncio.open_connection(t.get("host") or pod_ip, port_of(t.get("port"))),
                                          timeout)
            w.close()
            return Result.SUCCESS
    except (OSError, asyncio.TimeoutError, aiohttp.ClientError, ValueError):
        return Result.FAILURE
    except Exception as exc:  # noqa: BLE001 - a runtime error is a failed probe, as the kubelet counts it
        log.debug("probe failed: %s", exc)
        return Result.FAILURE
    return Result.FAILURE


def _epoch(stamp: str | None) -> float | None:
    import datetime as dt

    if not stamp:
        return None
    return dt.datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp()


class Prober:
    """Runs the probes of the running containers of the pods it is shown."""

    def __init__(self, cri: Any, *, on_change: Any, on_kill: Any) -> None:
        self.cri = cri
        self.on_change = on_change  # (pod) -> None: its status should be posted again
        self.on_kill = on_kill  # async (pod, container id, reason) -> None
        self.containers: dict[str, ContainerProbes] = {}  # container id -> probe states
        self._inflight: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def gates(self, spec: Mapping[str, Any], container_id: str) -> tuple[bool, bool]:
        """(started, ready) of a running container as its probes say."""
        cp = self.containers.get(container_id, ContainerProbes())
        return cp.started(spec), cp.ready(spec)

    def tick(self, pods: list[dict[str, Any]], now: float) -> None:
        live: set[str] = set()
        for pod in pods:
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                continue
            st = pod.get("status") or {}
            running = {cs["name"]: cs for cs in st.get("containerStatuses") or [] if "running" in (cs.get("state") or {})
                       and cs.get("containerID")}
            for c in (pod.get("spec") or {}).get("containers") or []:
                cs = running.get(c["name"])
                if cs is None or not any(k in c for k in KINDS):
                    continue
                cid = cs["containerID"].split("://", 1)[-1]
                live.add(cid)
                started_at = _epoch(cs["state"]["running"].get("startedAt")) or now
                cp = self.containers.setdefault(cid, ContainerProbes())
                kinds = ["startupProbe"] if not cp.started(c) else [k for k in KINDS[1:] if k in c]
                for kind in kinds:
                    state = cp.states.get(kind, ProbeState())
                    if (cid, kind) in self._inflight or due(c[kind], state, started_at=started_at, now=now) > 0:
                        continue
                    self._inflight.add((cid, kind))
                    t = asyncio.ensure_future(self._run(pod, c, cid, kind, st.get("podIP") or ""))
                    self._tasks.add(t)
                    t.add_done_callback(self._tasks.discard)
        for gone in set(self.containers) - live:
            del self.containers[gone]

    async def _run(self, pod: dict[str, Any], c: Mapping[str, Any], cid: str, kind: str, pod_ip: str) -> None:
        import time

        try:
            ports = {p["name"]: int(p["containerPort"]) for p in c.get("ports") or [] if p.get("name")}
            result = await run_probe(c[kind], cri=self.cri, container_id=cid, pod_ip=pod_ip, ports=ports)
            cp = self.containers.get(cid)
            if cp is None:
                return
            before = cp.states.get(kind, ProbeState())
            after = record(kind, c[kind], before, result, now=time.time())
            cp.states[kind] = after
            if after.tripped:
                self.containers.pop(cid, None)
                what = "Liveness" if kind == "livenessProbe" else "Startup"
                await self.on_kill(pod, cid, f"{what} probe failed")
            elif after.passed != before.passed:
                self.on_change(pod)
        except Exception:  # noqa: BLE001 - the next tick tries again
            log.exception("probe %s of %s", kind, cid[:12])
        finally:
            self._inflight.discard((cid, kind))
