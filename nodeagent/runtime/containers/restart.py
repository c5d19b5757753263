"""Restart policies as Docker applies them (pure).

``should_restart`` decides after an exit; the manager sleeps ``backoff`` first.
"""
from __future__ import annotations

from enum import Enum


class Policy(str, Enum):
    NO = "no"
    ON_FAILURE = "on-failure"
    ALWAYS = "always"
    UNLESS_STOPPED = "unless-stopped"


def parse(policy: dict[str, object] | None) -> tuple[Policy, int]:
    name = str((policy or {}).get("Name") or "no")
    try:
        p = Policy(name)
    except ValueError:
        raise ValueError(f"invalid restart policy {name!r}") from None
    retries = int((policy or {}).get("MaximumRetryCount") or 0)  # type: ignore[call-overload]
    if retries and p != Policy.ON_FAILURE:
        raise ValueError(f"maximum retry count cannot be used with restart policy '{p.value}'")
    if retries < 0:
        raise ValueError("maximum retry count cannot be negative")
    return p, retries


def should_restart(policy: Policy, max_retries: int, *, exit_code: int, restart_count: int,
                   manually_stopped: bool, removing: bool = False) -> bool:
    if removing or manually_stopped:
        return False
    if policy in (Policy.ALWAYS, Policy.UNLESS_STOPPED):
        return True
    if policy == Policy.ON_FAILURE and exit_code != 0:
        return max_retries == 0 or restart_count < max_retries
    return False


def on_daemon_start(policy: Policy, *, was_restarting: bool, manually_stopped: bool) -> bool:
    """Start a stopped container again when the daemon comes back?

    As dockerd: ``always`` even after ``docker stop``; ``unless-stopped`` unless it was
    stopped by hand; ``on-failure`` only if it was waiting to be restarted.
    """
    if policy == Policy.ALWAYS:
        return True
    if policy == Policy.UNLESS_STOPPED:
        return not manually_stopped
    if policy == Policy.ON_FAILURE:
        return was_restarting and not manually_stopped
    return False


def backoff(restart_count: int) -> float:
    """Docker doubles a 100 ms delay per consecutive restart, capped at a minute."""
    return min(0.1 * (2 ** min(restart_count, 10)), 60.0)
