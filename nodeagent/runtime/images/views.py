"""Docker Engine API views of images: list summaries, inspect, history, filters (pure)."""
from __future__ import annotations

import fnmatch
import re
from typing import Any

import orjson

from skiff.nodeagent.runtime.images import reference as refs
from skiff.nodeagent.runtime.images.store import Image, parse_time

__all__ = ["summary", "inspect", "history", "parse_filters", "matches", "parse_time"]

CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
    "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
    "OnBuild": None, "Labels": None,
}


def summary(image: Image, *, version: tuple[int, int]) -> dict[str, Any]:
    out = {
        "Containers": -1,
        "Created": int(parse_time(image.created)),
        "Id": image.id,
        "Labels": (image.config.get("config") or {}).get("Labels") or None,
        "ParentId": image.parent,
        "RepoDigests": image.repo_digests,
        "RepoTags": image.repo_tags,
        "SharedSize": -1,
        "Size": image.size,
    }
    if version < (1, 44):
        out["VirtualSize"] = image.size
    return out


def inspect(image: Image, *, layer_dirs: list[str], version: tuple[int, int]) -> dict[str, Any]:
    cfg = image.config
    graph: dict[str, str] = {}
    if layer_dirs:
        top = layer_dirs[-1]
        base = top.rsplit("/", 1)[0]
        graph = {"MergedDir": base + "/merged", "UpperDir": top, "WorkDir": base + "/work"}
        if len(layer_dirs) > 1:
            graph["LowerDir"] = ":".join(reversed(layer_dirs[:-1]))
    out: dict[str, Any] = {
        "Id": image.id,
        "RepoTags": image.repo_tags,
        "RepoDigests": image.repo_digests,
        "Parent": image.parent,
        "Comment": cfg.get("comment", ""),
        "Created": image.created,
        "DockerVersion": cfg.get("docker_version", ""),
        "Author": cfg.get("author", ""),
        "Config": {**CONFIG_DEFAULTS, **(cfg.get("config") or {})},
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Size": image.size,
        "GraphDriver": {"Data": graph, "Name": "overlay2"},
        "RootFS": {"Type": "layers", "Layers": image.diff_ids},
        "Metadata": {"LastTagTime": image.last_tag_time or "0001-01-01T00:00:00Z"},
    }
    if cfg.get("variant"):
        out["Variant"] = cfg["variant"]
    if version < (1, 45):
        out["Container"] = cfg.get("container", "")
        out["ContainerConfig"] = {**CONFIG_DEFAULTS, **(cfg.get("container_config") or {})}
    if version < (1, 44):
        out["VirtualSize"] = image.size
    return out


def history(image: Image, layer_sizes: list[int], parents: list[Image] | None = None) -> list[dict[str, Any]]:
    """``parents``: the image's parent chain (newest first), whose IDs dockerd shows
    on the rows below the top one (built images; pulled ones have none)."""
    entries = image.config.get("history") or []
    rows: list[dict[str, Any]] = []
    layer_i = 0
    if not entries:
        entries = [{"created": image.created, "created_by": ""} for _ in image.diff_ids] or [
            {"created": image.created, "empty_layer": True}
        ]
    for h in entries:
        size = 0
        if not h.get("empty_layer"):
            if layer_i < len(layer_sizes):
                size = layer_sizes[layer_i]
            layer_i += 1
        rows.append({
            "Comment": h.get("comment", ""),
            "Created": int(parse_time(h.get("created"))),
            "CreatedBy": h.get("created_by", ""),
            "Id": "<missing>",
            "Size": size,
            "Tags": None,
        })
    rows.reverse()
    for row, img in zip(rows, [image, *(parents or [])]):
        row["Id"] = img.id
        row["Tags"] = img.repo_tags or None
    return rows


def parse_filters(text: str | None) -> dict[str, list[str]]:
    """Docker's ``filters`` query: ``{"k": ["v"]}`` or the old ``{"k": {"v": true}}``."""
    if not text:
        return {}
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"invalid filter: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError("invalid filter: not an object")
    out: dict[str, list[str]] = {}
    for k, v in raw.items():
        if isinstance(v, dict):
            out[k] = [kk for kk, on in v.items() if on]
        elif isinstance(v, list):
            out[k] = [str(x) for x in v]
        else:
            raise ValueError(f"invalid filter {k!r}")
    return out


IMAGE_FILTERS = {"dangling", "label", "before", "since", "reference", "until"}


def matches(image: Image, filters: dict[str, list[str]], *, resolve: Any) -> bool:
    for key in filters:
        if key not in IMAGE_FILTERS:
            raise ValueError(f"invalid filter '{key}'")
    for v in filters.get("dangling", []):
        if v not in ("true", "false", "1", "0"):
            raise ValueError(f"invalid filter 'dangling={v}'")
        want = v in ("true", "1")
        # as dockerd: dangling = no reference at all (a digest-only pull is not dangling)
        if (not image.repo_tags and not image.repo_digests) != want:
            return False
    labels = (image.config.get("config") or {}).get("Labels") or {}
    for v in filters.get("label", []):
        k, eq, val = v.partition("=")
        if k not in labels or (eq and labels[k] != val):
            return False
    created = parse_time(image.created)
    for key, cmp in (("before", lambda a, b: a < b), ("since", lambda a, b: a > b)):
        for v in filters.get(key, []):
            other = resolve(v)
            if not cmp(created, parse_time(other.created)):
                return False
    refs_f = filters.get("reference", [])
    if refs_f:
        names = []
        for t in image.repo_tags + image.repo_digests:
            r = refs.parse_normalized(t)
            names.append(r.familiar_name())
            names.append(r.familiar())
        if not any(fnmatch.fnmatchcase(n, pat) for pat in refs_f for n in names):
            return False
    return True


def restrict_to_reference(image: Image, patterns: list[str]) -> Image:
    """With a ``reference`` filter dockerd lists only the matching tags/digests."""
    import dataclasses

    def ok(text: str) -> bool:
        r = refs.parse_normalized(text)
        return any(fnmatch.fnmatchcase(n, p) for p in patterns for n in (r.familiar_name(), r.familiar()))

    return dataclasses.replace(
        image, repo_tags=[t for t in image.repo_tags if ok(t)], repo_digests=[d for d in image.repo_digests if ok(d)]
    )


_DURATION_RE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_until(text: str, *, now: float) -> float:
    """Docker's ``until`` value: a Go duration before ``now``, a unix time or RFC 3339."""
    if _DURATION_RE.match(text):
        total = sum(float(n) * _UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text))
        return now - total
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    t = parse_time(text if "T" in text else text + "T00:00:00Z")
    if t == 0.0:
        raise ValueError(f"invalid filter 'until={text}'")
    return t


def prune_selector(filters: dict[str, list[str]], *, now: float) -> Any:
    """A predicate for ``ImageStore.prune`` from the ``until`` and ``label`` filters."""
    for key in filters:
        if key not in ("dangling", "until", "label", "label!"):
            raise ValueError(f"invalid filter '{key}'")
    untils = [parse_until(v, now=now) for v in filters.get("until", [])]

    def select(image: Image) -> bool:
        created = parse_time(image.created)
        if any(created >= u for u in untils):
            return False
        labels = (image.config.get("config") or {}).get("Labels") or {}
        for v in filters.get("label", []):
            k, eq, val = v.partition("=")
            if k not in labels or (eq and labels[k] != val):
                return False
        for v in filters.get("label!", []):
            k, eq, val = v.partition("=")
            if k in labels and (not eq or labels[k] == val):
                return False
        return True

    return select
