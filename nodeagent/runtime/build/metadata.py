"""Instructions that only change the image config, applied purely.

``apply(ins, state)`` returns the new config and the history comment dockerd
writes for it (``ENV A=1``, ``CMD ["sh"]``, ``VOLUME [/data]``, ...). ``state``
carries the config, the substitution environment, the escape token and whether
CMD was set in this stage (an ENTRYPOINT resets an inherited CMD, as in Docker).
"""
from __future__ import annotations

import copy
import dataclasses
import posixpath
import re
import signal
from typing import Any

from skiff.nodeagent.runtime.build.cache import DEFAULT_SHELL, go_quote_list
from skiff.nodeagent.runtime.build.dockerfile import DockerfileError, Instruction
from skiff.nodeagent.runtime.build.words import SubstitutionError, process_word

METADATA = {"ENV", "LABEL", "EXPOSE", "VOLUME", "USER", "CMD", "ENTRYPOINT", "SHELL", "STOPSIGNAL",
            "HEALTHCHECK", "ONBUILD", "MAINTAINER"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
          "h": 3_600_000_000_000}


@dataclasses.dataclass
class ConfigState:
    config: dict[str, Any]
    env: dict[str, str]
    escape: str = "\\"
    cmd_set: bool = False
    author: str = ""


def expand(word: str, st: ConfigState) -> str:
    try:
        return process_word(word, st.env, escape=st.escape)
    except SubstitutionError as exc:
        raise DockerfileError(str(exc)) from None


def set_env(env: list[str], key: str, value: str) -> list[str]:
    out, done = [], False
    for e in env:
        if e.split("=", 1)[0] == key:
            out.append(f"{key}={value}")
            done = True
        else:
            out.append(e)
    return out if done else [*out, f"{key}={value}"]


def command_line(ins: Instruction, config: dict[str, Any]) -> list[str]:
    """Exec form as written; shell form through the SHELL (``/bin/sh -c`` by default)."""
    if ins.json:
        return list(ins.args)
    return [*(config.get("Shell") or DEFAULT_SHELL), ins.args[0] if ins.args else ""]


def parse_duration(text: str, flag: str) -> int:
    pos, total = 0, 0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += int(float(m.group(1)) * _UNITS[m.group(2)])
        pos = m.end()
    if not text or pos != len(text):
        if text == "0":
            return 0
        raise DockerfileError(f'time: invalid duration "{text}" in --{flag}')
    return total


def _go_duration(ns: int) -> str:
    if ns == 0:
        return "0s"
    s, rest = divmod(ns, 1_000_000_000)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    frac = f".{rest:09d}".rstrip("0") if rest else ""
    return (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + f"{s}{frac}s"


def ports(words: list[str]) -> list[str]:
    out = []
    for w in words:
        port, _, proto = w.partition("/")
        proto = (proto or "tcp").lower()
        lo, dash, hi = port.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise DockerfileError(f"Invalid containerPort: {port}")
        for p in range(int(lo), int(hi if dash else lo) + 1):
            out.append(f"{p}/{proto}")
    return out


def _healthcheck(ins: Instruction, config: dict[str, Any]) -> dict[str, Any]:
    kind = ins.args[0].upper()
    if kind == "NONE":
        return {"Test": ["NONE"]}
    test = ["CMD", *ins.args[1:]] if ins.json else ["CMD-SHELL", ins.args[1]]
    hc: dict[str, Any] = {"Test": test}
    for flag, field in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                        ("start-interval", "StartInterval")):
        v = ins.flag(flag)
        if v is not None:
            d = parse_duration(v, flag)
            if 0 < d < 1_000_000:
                raise DockerfileError(f"Interval \"{flag}\" cannot be less than 1ms")
            hc[field] = d
    retries = ins.flag("retries")
    if retries is not None:
        if not retries.lstrip("-").isdigit() or int(retries) < 0:
            raise DockerfileError(f'strconv.ParseInt: parsing "{retries}": invalid syntax' if not
                                  retries.lstrip("-").isdigit() else "--retries cannot be negative")
        hc["Retries"] = int(retries)
    return hc


def _hc_comment(hc: dict[str, Any]) -> str:
    if hc["Test"] == ["NONE"]:
        return 'HEALTHCHECK &{["NONE"] "0s" "0s" "0s" "0s" \'\\x00\'}'
    parts = [go_quote_list(hc["Test"])] + [f'"{_go_duration(hc.get(k, 0))}"' for k in
                                           ("Interval", "Timeout", "StartPeriod", "StartInterval")]
    return "HEALTHCHECK &{" + " ".join(parts) + f" '\\x{hc.get('Retries', 0):02x}'" + "}"


def apply(ins: Instruction, st: ConfigState) -> tuple[dict[str, Any], str]:
    cfg = copy.deepcopy(st.config)
    c = ins.cmd
    if c == "ENV":
        parts = []
        for i in range(0, len(ins.args), 2):
            k, v = expand(ins.args[i], st), expand(ins.args[i + 1], st)
            # every word is expanded with the values from before the line (Docker's ENV abc=bye def=$abc)
            cfg["Env"] = set_env(cfg.get("Env") or [], k, v)
            parts.append(f"{k}={v}")
        return cfg, "ENV " + " ".join(parts)
    if c == "LABEL":
        labels = dict(cfg.get("Labels") or {})
        parts = []
        for i in range(0, len(ins.args), 2):
            k, v = expand(ins.args[i], st), expand(ins.args[i + 1], st)
            labels[k] = v
            parts.append(f"{k}={v}")
        cfg["Labels"] = labels
        return cfg, "LABEL " + " ".join(parts)
    if c == "EXPOSE":
        new = ports([expand(a, st) for a in ins.args])
        exposed = dict(cfg.get("ExposedPorts") or {})
        for p in new:
            exposed[p] = {}
        cfg["ExposedPorts"] = exposed
        return cfg, "EXPOSE " + " ".join(expand(a, st) for a in ins.args)
    if c == "VOLUME":
        vols = dict(cfg.get("Volumes") or {})
        words = [expand(a, st) for a in ins.args] if ins.json else \
            [expand(w, st) for a in ins.args for w in a.split()]
        for v in words:
            if not v.strip():
                raise DockerfileError("VOLUME specified can not be an empty string")
            # Docker keeps a relative path and mounts it from the root; the engine wants it absolute
            vols[posixpath.join("/", v)] = {}
        cfg["Volumes"] = vols
        return cfg, "VOLUME [" + " ".join(words) + "]"
    if c == "USER":
        cfg["User"] = expand(ins.args[0], st)
        return cfg, "USER " + cfg["User"]
    if c in ("CMD", "ENTRYPOINT"):
        line = command_line(ins, cfg)
        if c == "CMD":
            cfg["Cmd"] = line
            st.cmd_set = True
        else:
            cfg["Entrypoint"] = line
            if not st.cmd_set:
                cfg["Cmd"] = None
        return cfg, f"{c} {go_quote_list(line)}"
    if c == "SHELL":
        cfg["Shell"] = list(ins.args)
        return cfg, "SHELL " + go_quote_list(cfg["Shell"])
    if c == "STOPSIGNAL":
        sig = expand(ins.args[0], st)
        _check_signal(sig)
        cfg["StopSignal"] = sig
        return cfg, "STOPSIGNAL " + sig
    if c == "HEALTHCHECK":
        cfg["Healthcheck"] = _healthcheck(ins, cfg)
        return cfg, _hc_comment(cfg["Healthcheck"])
    if c == "ONBUILD":
        assert ins.sub is not None
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), ins.sub.original]
        return cfg, "ONBUILD " + ins.sub.original
    if c == "MAINTAINER":
        st.author = ins.args[0]
        return cfg, "MAINTAINER " + ins.args[0]
    raise AssertionError(f"not a metadata instruction: {c}")


def _check_signal(sig: str) -> None:
    if sig.isdigit() and 0 < int(sig) < 65:
        return
    name = sig.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    if name.startswith("SIGRTMIN") or name.startswith("SIGRTMAX") or hasattr(signal.Signals, name):
        return
    raise DockerfileError(f"Invalid signal: {sig}")


def workdir(current: str, arg: str) -> str:
    """WORKDIR: relative paths build on the current one."""
    return posixpath.normpath(posixpath.join("/", current or "/", arg))
