"""``--change`` instructions (``docker import``/``commit -c``) applied to an image config.

Pure: ``apply_changes(config, ["CMD [\\"sh\\"]", "ENV A=b"]) -> new config``.
Supports CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL,
ONBUILD as Docker does for these commands.
"""
from __future__ import annotations

import copy
import json
import shlex
from typing import Any

ALLOWED = {"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "WORKDIR", "VOLUME", "STOPSIGNAL", "ONBUILD"}


class ChangeError(ValueError):
    pass


def _cmd_form(rest: str) -> list[str]:
    rest = rest.strip()
    if rest.startswith("["):
        try:
            val = json.loads(rest)
        except json.JSONDecodeError:
            val = None
        if isinstance(val, list) and all(isinstance(v, str) for v in val):
            return val
    return ["/bin/sh", "-c", rest]


def _pairs(rest: str, what: str) -> list[tuple[str, str]]:
    words = shlex.split(rest)
    if words and "=" not in words[0]:
        if len(words) < 2:
            raise ChangeError(f"{what} needs a name and a value")
        return [(words[0], rest.split(None, 1)[1].strip())]
    out = []
    for w in words:
        if "=" not in w:
            raise ChangeError(f"{what}: {w!r} is not NAME=VALUE")
        k, v = w.split("=", 1)
        out.append((k, v))
    return out


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    cfg = copy.deepcopy(config)
    for change in changes:
        change = change.strip()
        if not change:
            continue
        word, _, rest = change.partition(" ")
        cmd = word.upper()
        if cmd not in ALLOWED:
            raise ChangeError(f"{word} is not a valid change command")
        if cmd == "CMD":
            cfg["Cmd"] = _cmd_form(rest)
        elif cmd == "ENTRYPOINT":
            cfg["Entrypoint"] = _cmd_form(rest)
        elif cmd == "ENV":
            env = [e for e in cfg.get("Env") or []]
            for k, v in _pairs(rest, "ENV"):
                env = [e for e in env if e.split("=", 1)[0] != k] + [f"{k}={v}"]
            cfg["Env"] = env
        elif cmd == "LABEL":
            labels = dict(cfg.get("Labels") or {})
            labels.update(dict(_pairs(rest, "LABEL")))
            cfg["Labels"] = labels
        elif cmd == "EXPOSE":
            ports = dict(cfg.get("ExposedPorts") or {})
            for p in rest.split():
                ports[p if "/" in p else f"{p}/tcp"] = {}
            cfg["ExposedPorts"] = ports
        elif cmd == "VOLUME":
            vols = dict(cfg.get("Volumes") or {})
            items = _cmd_form(rest) if rest.strip().startswith("[") else rest.split()
            for v in items:
                vols[v] = {}
            cfg["Volumes"] = vols
        elif cmd == "USER":
            cfg["User"] = rest.strip()
        elif cmd == "WORKDIR":
            cfg["WorkingDir"] = rest.strip()
        elif cmd == "STOPSIGNAL":
            cfg["StopSignal"] = rest.strip()
        elif cmd == "ONBUILD":
            cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [rest.strip()]
    return cfg
