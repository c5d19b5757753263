"""What the runtime reports about one pod, as plain values the pure planners read.

:func:`group` turns CRI list answers into :class:`PodObs` per pod UID (the
``io.kubernetes.pod.uid`` label the agent puts on every sandbox and container).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

POD_UID = "io.kubernetes.pod.uid"
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
CONTAINER_NAME = "io.kubernetes.container.name"


class CState(str, Enum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ContainerObs:
    id: str
    name: str
    attempt: int
    state: CState
    sandbox_id: str = ""
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    created_at: int = 0  # nanoseconds since the epoch, as CRI reports them
    started_at: int = 0
    finished_at: int = 0
    image_ref: str = ""


@dataclass(frozen=True)
class SandboxObs:
    id: str
    attempt: int
    ready: bool
    ip: str = ""
    created_at: int = 0


@dataclass
class PodObs:
    sandboxes: list[SandboxObs] = field(default_factory=list)
    containers: list[ContainerObs] = field(default_factory=list)

    def sandbox(self) -> SandboxObs | None:
        """The newest ready sandbox (the one containers run in), if any."""
        ready = [s for s in self.sandboxes if s.ready]
        return max(ready, key=lambda s: (s.attempt, s.created_at)) if ready else None

    def attempts(self, name: str) -> list[ContainerObs]:
        """The containers of one spec container, newest first."""
        return sorted((c for c in self.containers if c.name == name), key=lambda c: (c.attempt, c.created_at),
                      reverse=True)

    def latest(self, name: str) -> ContainerObs | None:
        a = self.attempts(name)
        return a[0] if a else None

    def previous(self, name: str) -> ContainerObs | None:
        a = self.attempts(name)
        return a[1] if len(a) > 1 else None

    def running(self) -> list[ContainerObs]:
        return [c for c in self.containers if c.state in (CState.RUNNING, CState.UNKNOWN)]


_STATES = {0: CState.CREATED, 1: CState.RUNNING, 2: CState.EXITED, 3: CState.UNKNOWN}


def container_obs(status: Any, sandbox_id: str = "") -> ContainerObs:
    """A CRI ``ContainerStatus`` message as a :class:`ContainerObs`."""
    return ContainerObs(
        id=status.id, name=status.metadata.name, attempt=status.metadata.attempt,
        state=_STATES.get(status.state, CState.UNKNOWN), sandbox_id=sandbox_id, exit_code=status.exit_code,
        reason=status.reason, message=status.message, created_at=status.created_at,
        started_at=status.started_at, finished_at=status.finished_at, image_ref=status.image_ref)


def sandbox_obs(sb: Any, ip: str = "") -> SandboxObs:
    """A CRI ``PodSandbox`` (or ``PodSandboxStatus``) message as a :class:`SandboxObs`."""
    return SandboxObs(id=sb.id, attempt=sb.metadata.attempt, ready=sb.state == 0, ip=ip, created_at=sb.created_at)


def group(sandboxes: Iterable[tuple[str, SandboxObs]],
          containers: Iterable[tuple[str, ContainerObs]]) -> dict[str, PodObs]:
    """``(pod uid, observation)`` pairs grouped by pod UID."""
    out: dict[str, PodObs] = {}
    for uid, s in sandboxes:
        out.setdefault(uid, PodObs()).sandboxes.append(s)
    for uid, c in containers:
        out.setdefault(uid, PodObs()).containers.append(c)
    return out
