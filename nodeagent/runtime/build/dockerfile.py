"""A Dockerfile as stages of typed instructions (pure, no I/O).

Lines are parsed by the ``dockerfile`` package: Docker's own Go parser
(moby/buildkit's ``frontend/dockerfile/parser``), so line continuations,
comments, the ``escape`` directive, JSON (exec) forms and flags are read
exactly as dockerd reads them. This module adds what dockerd's
``instructions`` package adds on top: known instructions with their
argument counts and flags, stages split at ``FROM ... AS name``, and ARGs
before the first FROM (meta args). Errors read as dockerd's
(``dockerfile parse error on line 2: unknown instruction: FRM (did you mean from?)``).
"""
from __future__ import annotations

import dataclasses
import re

import dockerfile as goparser

INSTRUCTIONS = ("add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
                "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir")

# flags the classic builder knows, per instruction; the rest of buildkit's are refused by name
_FLAGS: dict[str, set[str]] = {
    "FROM": {"platform"}, "COPY": {"from", "chown"}, "ADD": {"chown"},
    "HEALTHCHECK": {"interval", "timeout", "start-period", "start-interval", "retries"},
}
_BUILDKIT_ONLY = {"RUN": {"mount", "network", "security"}, "COPY": {"chmod", "link", "parents", "exclude"},
                  "ADD": {"chmod", "checksum", "keep-git-dir", "link"}}
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")


class DockerfileError(ValueError):
    """The message is what dockerd answers (the docker CLI prints it after 'Error response from daemon:')."""


@dataclasses.dataclass(frozen=True)
class Instruction:
    cmd: str                        # upper case: RUN, COPY, ...
    args: tuple[str, ...]
    json: bool                      # exec (JSON array) form
    flags: tuple[tuple[str, str], ...]
    original: str                   # the line as Docker prints it in "Step i/n : ..."
    line: int
    sub: Instruction | None = None  # what ONBUILD holds

    def flag(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.flags:
            if k == name:
                return v
        return default


@dataclasses.dataclass
class Stage:
    index: int
    name: str            # lower-cased AS name, or "" for none
    base: str            # the image text as written (substituted when dispatched)
    platform: str
    origin: Instruction  # the FROM line
    commands: list[Instruction] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Dockerfile:
    escape: str
    meta_args: list[Instruction]
    stages: list[Stage]

    def stage_index(self, name: str) -> int | None:
        """A stage by its AS name (case-insensitive) or its number, as ``--from``/``--target`` name it."""
        low = name.lower()
        for s in self.stages:
            if s.name and s.name == low:
                return s.index
        if name.isdigit() and int(name) < len(self.stages):
            return int(name)
        return None

    def total_steps(self, upto: int) -> int:
        return len(self.meta_args) + sum(1 + len(s.commands) for s in self.stages[:upto + 1])


def escape_token(text: str) -> str:
    """The ``# escape=`` parser directive (only before the first other line counts)."""
    for line in text.lstrip("\ufeff").splitlines():
        m = _DIRECTIVE.match(line.strip())
        if not m:
            break
        if m.group(1).lower() == "escape":
            tok = m.group(2)
            if tok not in ("\\", "`"):
                raise DockerfileError(f"invalid escape token '{tok}' does not match ` or \\")
            return tok
    return "\\"


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def suggest(word: str) -> str:
    """`` (did you mean from?)`` for a near miss, as buildkit's suggest package words it."""
    low = word.lower()
    best, dist = "", len(low)
    for cand in INSTRUCTIONS:
        d = _levenshtein(low, cand)
        if d < dist:
            best, dist = cand, d
    if best and dist <= max(1, len(best) // 3):
        return f" (did you mean {best}?)"
    return ""


def _error(line: int, msg: str) -> DockerfileError:
    return DockerfileError(f"dockerfile parse error on line {line}: {msg}")


def _flags(cmd: str, raw: tuple[str, ...], line: int) -> tuple[tuple[str, str], ...]:
    out = []
    for f in raw:
        name, eq, value = f[2:].partition("=")
        if name in _BUILDKIT_ONLY.get(cmd, set()):
            raise _error(line, f"the --{name} option requires BuildKit. Refer to "
                               "https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled")
        if name not in _FLAGS.get(cmd, set()):
            raise _error(line, f"Unknown flag: {name}")
        if not eq or value == "":
            raise _error(line, f"Missing a value on flag: {name}")
        out.append((name, value))
    return tuple(out)


def _check_args(cmd: str, args: tuple[str, ...], json_form: bool, line: int) -> None:
    n = len(args)
    at_least_one = {"RUN", "ENV", "LABEL", "EXPOSE", "VOLUME", "ARG", "HEALTHCHECK", "ONBUILD"}
    exactly_one = {"WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER"}
    if cmd in at_least_one and (n == 0 or (cmd in ("RUN", "VOLUME") and not json_form and args == ("",))):
        raise _error(line, f"{cmd} requires at least one argument")
    if cmd in exactly_one and n != 1:
        raise _error(line, f"{cmd} requires exactly one argument")
    if cmd in ("COPY", "ADD") and n < 2:
        raise _error(line, f"{cmd} requires at least two arguments")
    if cmd == "FROM" and n not in (1, 3):
        raise _error(line, "FROM requires either one or three arguments")
    if cmd == "FROM" and n == 3 and args[1].lower() != "as":
        raise _error(line, "FROM requires either one or three arguments")
    if cmd == "SHELL" and not json_form:
        raise _error(line, "SHELL requires the arguments to be in JSON form")
    if cmd == "SHELL" and n == 0:
        raise _error(line, "SHELL requires at least one argument")
    if cmd == "ENV" and not json_form and n % 2:
        raise _error(line, "ENV must have two arguments")
    if cmd in ("ENV", "LABEL") and any(args[i] == "" for i in range(0, n, 2)):
        raise _error(line, f"{cmd} names can not be blank")
    if cmd == "HEALTHCHECK":
        kind = args[0].upper()
        if kind not in ("CMD", "NONE"):
            raise _error(line, f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
        if kind == "NONE" and n != 1:
            raise _error(line, "HEALTHCHECK NONE takes no arguments")
        if kind == "CMD" and n < 2:
            raise _error(line, "Missing command after HEALTHCHECK CMD")


def _instruction(c: goparser.Command) -> Instruction:
    cmd = c.cmd.upper()
    if cmd.lower() not in INSTRUCTIONS:
        raise _error(c.start_line, f"unknown instruction: {cmd}{suggest(cmd)}")
    if c.heredocs:
        raise _error(c.start_line, "heredocs require BuildKit (DOCKER_BUILDKIT=1)")
    sub = None
    if cmd == "ONBUILD":
        if not c.sub_cmd:
            raise _error(c.start_line, "ONBUILD requires at least one argument")
        inner = c.sub_cmd.upper()
        if inner in ("ONBUILD", "FROM", "MAINTAINER"):
            raise _error(c.start_line, f"{inner} isn't allowed as an ONBUILD trigger")
        if inner.lower() not in INSTRUCTIONS:
            raise _error(c.start_line, f"unknown instruction: {inner}{suggest(inner)}")
        text = c.original.split(None, 1)[1] if " " in c.original.strip() else ""
        sub = Instruction(cmd=inner, args=tuple(c.value), json=c.json, flags=(), original=text,
                          line=c.start_line)
    else:
        _check_args(cmd, tuple(c.value), c.json, c.start_line)
    return Instruction(cmd=cmd, args=tuple(c.value), json=c.json, flags=_flags(cmd, tuple(c.flags), c.start_line),
                       original=c.original, line=c.start_line, sub=sub)


def parse_line(text: str) -> Instruction:
    """One instruction on its own (an ONBUILD trigger as the base image stored it)."""
    try:
        commands = goparser.parse_string(text)
    except goparser.GoParseError as exc:
        raise DockerfileError(f"dockerfile parse error: {exc}") from None
    if len(commands) != 1:
        raise DockerfileError(f"expected one instruction, got {len(commands)}: {text!r}")
    return _instruction(commands[0])


def parse(text: str) -> Dockerfile:
    escape = escape_token(text)
    try:
        commands = goparser.parse_string(text.lstrip("\ufeff"))
    except goparser.GoParseError as exc:
        msg = str(exc)
        if "no instructions" in msg:
            raise DockerfileError("the Dockerfile (Dockerfile) cannot be empty") from None
        raise DockerfileError(f"dockerfile parse error: {msg}") from None
    meta: list[Instruction] = []
    stages: list[Stage] = []
    for c in commands:
        ins = _instruction(c)
        if ins.cmd == "FROM":
            name = ins.args[2].lower() if len(ins.args) == 3 else ""
            if name and not re.fullmatch(r"[a-z][a-z0-9._-]*", name):
                raise _error(ins.line, f"invalid name for build stage: \"{ins.args[2]}\", name can't start "
                                       "with a number or contain symbols")
            if name and any(s.name == name for s in stages):
                raise _error(ins.line, f"duplicate name {name}")
            stages.append(Stage(index=len(stages), name=name, base=ins.args[0],
                                platform=ins.flag("platform") or "", origin=ins))
        elif not stages:
            if ins.cmd != "ARG":
                raise DockerfileError("no build stage in current context")
            meta.append(ins)
        else:
            stages[-1].commands.append(ins)
    if not stages:
        raise DockerfileError("no build stage in current context")
    return Dockerfile(escape=escape, meta_args=meta, stages=stages)
