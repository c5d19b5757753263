"""``.dockerignore`` patterns, matched as Docker's patternmatcher does (pure).

A pattern is a Go ``filepath.Match`` pattern over slash-separated paths
relative to the context root, plus ``**`` (any number of directories, none
included). ``!`` makes an exception. A path is excluded when the last pattern
matching it or one of its parent directories is not an exception.
"""
from __future__ import annotations

import dataclasses
import posixpath
import re


@dataclasses.dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]


def read_patterns(text: str) -> list[str]:
    """The lines of a .dockerignore as moby's ``ReadAll`` cleans them."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        if neg:
            line = line[1:].strip()
        if line:
            line = posixpath.normpath(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        out.append(("!" if neg else "") + line)
    return out


def _regex(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 1
                if i + 1 < n and pattern[i + 1] == "/":
                    i += 1
                    out.append("(.*/)?")  # '**/' : zero or more directories
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ValueError(f"syntax error in pattern {pattern!r}")
            body = pattern[i + 1:end]
            if body.startswith("^"):
                body = "!" + body[1:]
            if body.startswith("!"):
                body = "^" + body[1:].replace("\\", "\\\\")
            else:
                body = body.replace("\\", "\\\\")
            out.append("[" + body + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out))


def compile_patterns(lines: list[str]) -> list[Pattern]:
    pats = []
    for line in lines:
        neg = line.startswith("!")
        text = line[1:] if neg else line
        pats.append(Pattern(text=text, exclusion=neg, regex=_regex(text)))
    return pats


class Matcher:
    def __init__(self, lines: list[str]) -> None:
        self.patterns = compile_patterns(lines)

    @property
    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """``path``: relative, slash-separated (``src/a.txt``)."""
        path = posixpath.normpath(path).lstrip("/")
        parts = path.split("/")
        parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
        matched = False
        for p in self.patterns:
            if p.exclusion != matched:
                continue  # cannot change the outcome
            if p.regex.match(path) or any(p.regex.match(d) for d in parents):
                matched = not p.exclusion
        return matched

    def may_contain_exceptions(self, directory: str) -> bool:
        """Whether a walk must look inside an excluded directory for re-included paths."""
        d = posixpath.normpath(directory).lstrip("/") + "/"
        return any(p.exclusion and (p.text.startswith(d) or "*" in p.text or "?" in p.text or "[" in p.text)
                   for p in self.patterns)
