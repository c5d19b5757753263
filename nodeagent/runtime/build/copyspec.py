"""COPY/ADD path rules of the classic builder (pure).

* A relative destination is taken from the WORKDIR; a trailing ``/`` is kept.
* More than one source (after wildcards) needs a destination ending in ``/``.
* A directory source copies its contents, not itself; a file goes to
  ``dest/<name>`` when dest ends in ``/`` or is an existing directory.
* Sources never leave their root: ``../x`` is read as ``/x`` of the context
  (dockerd scopes paths the same way).
* Wildcards are Go's ``filepath.Match`` over slash-separated relative paths.
"""
from __future__ import annotations

import hashlib
import posixpath
import re

from skiff.nodeagent.runtime.build.dockerfile import DockerfileError

MULTI_SOURCE = ("When using {cmd} with more than one source file, the destination must be a directory "
                "and end with a /")


class CopyError(DockerfileError):
    pass


def has_wildcards(src: str) -> bool:
    return any(c in src for c in "*?[")


def clean_source(src: str) -> str:
    """The source relative to its root (``""`` for the root itself)."""
    return posixpath.normpath("/" + src).lstrip("/")


def destination(dest: str, workdir: str) -> str:
    trailing = dest.endswith("/") or dest.endswith("/.") or dest == "."
    full = posixpath.normpath(posixpath.join("/", workdir or "/", dest))
    if trailing and not full.endswith("/"):
        full += "/"
    return full


def check_source_count(cmd: str, count: int, dest: str) -> None:
    if count > 1 and not dest.endswith("/"):
        raise CopyError(MULTI_SOURCE.format(cmd=cmd))


def file_target(dest: str, name: str, *, dest_is_dir: bool) -> str:
    if dest.endswith("/") or dest_is_dir:
        return posixpath.join(dest, name)
    return dest


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = ["^"], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise CopyError(f"syntax error in pattern: {pattern}")
            body = pattern[i + 1:end]
            if body[:1] in ("^", "!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + "$")


def glob_matches(pattern: str, paths: list[str]) -> list[str]:
    """The relative paths a wildcard source names (parents before children are not repeated)."""
    rx = _glob_regex(clean_source(pattern))
    picked: list[str] = []
    for p in paths:
        if rx.match(p) and not any(p.startswith(q + "/") for q in picked):
            picked.append(p)
    return picked


def combined_hash(hashes: list[str]) -> str:
    """One source keeps its own ``file:``/``dir:`` hash; several become ``multi:<hex>``."""
    if len(hashes) == 1:
        return hashes[0]
    return "multi:" + hashlib.sha256("".join(hashes).encode()).hexdigest()
