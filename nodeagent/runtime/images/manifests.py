"""Manifest documents: choosing a platform from an index, reading layers, writing v2s2.

Pure functions over parsed JSON; the registry client fetches, these decide.
"""
from __future__ import annotations

import platform as _platform
from typing import Any

import orjson

from skiff.nodeagent.runtime.images.errors import BadContent
from skiff.nodeagent.runtime.images.registry import (
    MT_DOCKER_CONFIG,
    MT_DOCKER_MANIFEST,
    MT_DOCKER_SCHEMA1,
    MANIFEST_TYPES,
)
from skiff.nodeagent.runtime.images.store import LAYER_MEDIA_TYPES

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def host_platform() -> dict[str, str]:
    m = _platform.machine()
    return {"os": "linux", "architecture": _ARCH.get(m, m)}


def choose_platform(index: dict[str, Any], want: dict[str, str]) -> dict[str, Any]:
    """Pick the manifest descriptor for ``want`` (os/architecture[/variant]) from an index."""
    candidates = []
    for desc in index.get("manifests") or []:
        plat = desc.get("platform") or {}
        if desc.get("mediaType") not in MANIFEST_TYPES and desc.get("mediaType") is not None:
            continue
        if plat.get("os") != want["os"] or plat.get("architecture") != want["architecture"]:
            continue
        if want.get("variant") and plat.get("variant") and plat["variant"] != want["variant"]:
            continue
        candidates.append(desc)
    if not candidates:
        raise BadContent(
            f"no matching manifest for {want['os']}/{want['architecture']} in the manifest list entries"
        )
    return candidates[0]


def parse_manifest(body: bytes, media_type: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return ``(config descriptor, layer descriptors)`` of an image manifest, checked."""
    if media_type == MT_DOCKER_SCHEMA1:
        raise BadContent("manifest: Docker schema 1 manifests are not supported")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadContent(f"manifest: not JSON: {exc}") from exc
    config = doc.get("config")
    layers = doc.get("layers")
    if not isinstance(config, dict) or not isinstance(layers, list):
        raise BadContent("manifest: missing config or layers")
    for i, desc in enumerate([config, *layers]):
        if not isinstance(desc, dict) or not str(desc.get("digest", "")).startswith("sha256:"):
            raise BadContent(f"manifest: descriptor {i} has no sha256 digest")
        if not isinstance(desc.get("size"), int) or desc["size"] < 0:
            raise BadContent(f"manifest: descriptor {i} has no valid size")
    for i, desc in enumerate(layers):
        if desc.get("mediaType") not in LAYER_MEDIA_TYPES:
            raise BadContent(f"manifest: layers[{i}]: unsupported media type {desc.get('mediaType')!r}")
    return config, layers


def build_v2s2(config_digest: str, config_size: int, layers: list[dict[str, Any]]) -> bytes:
    """A Docker v2 schema 2 manifest, formatted as dockerd writes it (3-space indent)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": MT_DOCKER_MANIFEST,
        "config": {"mediaType": MT_DOCKER_CONFIG, "size": config_size, "digest": config_digest},
        "layers": [{"mediaType": d["mediaType"], "size": d["size"], "digest": d["digest"]} for d in layers],
    }
    return orjson.dumps(doc)
