"""runc-compatible container state on disk and the status decision (pure parts).

``<root>/<id>/state.json`` holds what ``create`` learned (pid, its start time to
detect pid reuse, bundle, cgroup paths, the spec); ``exec.fifo`` exists from
create until start. ``status`` is decided from observations, never stored.
"""
from __future__ import annotations

import json
import os
from enum import Enum
from typing import Any


class Status(str, Enum):
    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class RuntimeError_(Exception):
    """A runtime command failed; the message is what the CLI prints."""


def decide_status(*, alive: bool, fifo_exists: bool, frozen: bool) -> Status:
    if not alive:
        return Status.STOPPED
    if fifo_exists:
        return Status.CREATED
    if frozen:
        return Status.PAUSED
    return Status.RUNNING


def proc_starttime(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm may hold spaces and parens: fields resume after the last ')'.
    rest = data[data.rindex(b")") + 2:].split()
    if rest[0] == b"Z":
        return None  # a zombie is as good as stopped
    return int(rest[19])


def valid_id(cid: str) -> bool:
    return bool(cid) and "/" not in cid and cid not in (".", "..") and len(cid) <= 1024


def write_state(dirpath: str, state: dict[str, Any]) -> None:
    tmp = os.path.join(dirpath, "state.json.tmp")
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, os.path.join(dirpath, "state.json"))


def read_state(root: str, cid: str) -> dict[str, Any]:
    if not valid_id(cid):
        raise RuntimeError_(f"invalid container id {cid!r}")
    try:
        with open(os.path.join(root, cid, "state.json")) as f:
            return json.load(f)  # type: ignore[no-any-return]
    except FileNotFoundError:
        raise RuntimeError_(f"container does not exist: {cid}") from None


def oci_state(state: dict[str, Any], status: Status) -> dict[str, Any]:
    """runc's ``state`` JSON."""
    return {
        "ociVersion": state.get("ociVersion", "1.0.2"),
        "id": state["id"],
        "pid": state["pid"] if status != Status.STOPPED else 0,
        "status": status.value,
        "bundle": state["bundle"],
        "rootfs": state["rootfs"],
        "created": state["created"],
        "owner": "",
        **({"annotations": state["annotations"]} if state.get("annotations") else {}),
    }
