"""What the classic builder's layer cache compares, and the comments it records (pure).

Each step's *run config* is the image config as it stands plus a ``Cmd`` that
names the step: ``#(nop)`` comments for metadata and COPY/ADD steps (COPY/ADD
carry a hash of the copied content), the command itself for RUN (prefixed with
``|N A=b ...`` when build args are in play). The image made by a step records
that run config as its ``container_config``; a later build hits the cache when
an image whose parent is the current image has an equal ``container_config``
(as dockerd's ``getLocalCachedImage`` does). The same text becomes the
history's ``created_by``, which is what ``docker history`` shows.
"""
from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

# The run-config fields dockerd's compare() looks at.
COMPARED = ("Cmd", "Entrypoint", "Env", "Labels", "ExposedPorts", "Volumes", "User", "WorkingDir",
            "OnBuild", "Shell", "StopSignal", "Healthcheck")
DEFAULT_SHELL = ["/bin/sh", "-c"]


def go_quote_list(items: list[str] | None) -> str:
    """Go's ``fmt.Sprintf("%q", []string{...})``: ``["a" "b c"]``."""
    return "[" + " ".join(json.dumps(s, ensure_ascii=False) for s in items or []) + "]"


def nop_cmd(config: dict[str, Any], comment: str) -> list[str]:
    """A metadata step's Cmd (``withCmdComment``): ``[shell..., "#(nop) ", comment]``."""
    return [*(config.get("Shell") or DEFAULT_SHELL), "#(nop) ", comment]


def copy_cmd(config: dict[str, Any], comment: str) -> list[str]:
    """A COPY/ADD step's Cmd (``withCmdCommentString``): ``[shell..., "#(nop) " + comment]``."""
    return [*(config.get("Shell") or DEFAULT_SHELL), "#(nop) " + comment]


def copy_comment(cmd: str, *, source_hash: str, dest: str, chown: str = "") -> str:
    """``COPY --chown=1:1 file:<hex> in /dst `` (the trailing space is dockerd's)."""
    chown_part = f"--chown={chown} " if chown else ""
    return f"{cmd} {chown_part}{source_hash} in {dest} "


def run_cache_cmd(cmd: list[str], build_args: list[str]) -> list[str]:
    """RUN's Cmd with the build args in use: ``["|2", "A=1", "B=2", "/bin/sh", "-c", "..."]``."""
    if not build_args:
        return list(cmd)
    return [f"|{len(build_args)}", *sorted(build_args), *cmd]


def created_by(cmd: list[str]) -> str:
    return " ".join(cmd)


def run_config(config: dict[str, Any], cmd: list[str]) -> dict[str, Any]:
    rc = copy.deepcopy(config)
    rc["Cmd"] = list(cmd)
    return rc


def key(parent: str, config: dict[str, Any]) -> str:
    """A digest of the parent image ID and the compared fields (empty values alike)."""
    norm = {f: (config.get(f) or None) for f in COMPARED}
    if norm["Env"]:
        norm["Env"] = list(norm["Env"])
    blob = json.dumps({"parent": parent, "config": norm}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def pick_cached(candidates: list[tuple[str, str, dict[str, Any] | None, str]], parent: str,
                config: dict[str, Any]) -> str | None:
    """``candidates``: (image id, parent id, container_config, created). The newest match wins."""
    want = key(parent, config)
    hits = [(created, image_id) for image_id, par, cc, created in candidates
            if par == parent and cc is not None and key(par, cc) == want]
    return max(hits)[1] if hits else None
