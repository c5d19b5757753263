"""Variable substitution in Dockerfile words, as Docker's shell lexer does it (pure).

``process_word('${A:-x}/$B', env, escape='\\\\')`` expands ``$NAME``, ``${NAME}``,
``${NAME:-word}``, ``${NAME-word}``, ``${NAME:+word}``, ``${NAME+word}``,
``${NAME:?msg}`` and ``${NAME?msg}``, removes single and double quotes and the
escape character, and leaves a ``$`` that starts no name as it is. Used for the
instructions Docker expands (FROM, ENV, ARG, LABEL, COPY, ADD, WORKDIR, USER,
EXPOSE, VOLUME, STOPSIGNAL); shell-form RUN/CMD/ENTRYPOINT are left to the shell.
"""
from __future__ import annotations

from collections.abc import Mapping


class SubstitutionError(ValueError):
    pass


def _is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class _Lexer:
    def __init__(self, word: str, env: Mapping[str, str], escape: str) -> None:
        self.s = word
        self.i = 0
        self.env = env
        self.escape = escape

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def next(self) -> str:
        ch = self.peek()
        self.i += 1 if ch else 0
        return ch

    def until(self, stop: str) -> str:
        """The processed text up to (and consuming) ``stop``; ``stop=''`` reads to the end."""
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                if stop:
                    raise SubstitutionError(f"missing '{stop}' in substitution")  # as buildkit
                return "".join(out)
            if stop and ch == stop:
                self.next()
                return "".join(out)
            if ch == "'":
                out.append(self.single_quoted())
            elif ch == '"':
                out.append(self.double_quoted())
            elif ch == "$":
                out.append(self.dollar())
            elif ch == self.escape:
                self.next()
                out.append(self.next())  # an escape at the very end stands for nothing
            else:
                out.append(self.next())

    def single_quoted(self) -> str:
        self.next()
        end = self.s.find("'", self.i)
        if end < 0:
            raise SubstitutionError("unexpected end of statement while looking for matching single-quote")
        text = self.s[self.i:end]
        self.i = end + 1
        return text

    def double_quoted(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise SubstitutionError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
            elif ch == self.escape:
                self.next()
                nxt = self.peek()
                if nxt in ('"', "$", self.escape) and nxt:
                    out.append(self.next())
                else:
                    out.append(ch)
            else:
                out.append(self.next())

    def name(self) -> str:
        start = self.i
        if self.peek().isdigit():  # $1 and the like: one digit, as a shell reads it
            self.next()
            return self.s[start:self.i]
        while self.peek() and _is_name_char(self.peek()):
            self.next()
        return self.s[start:self.i]

    def dollar(self) -> str:
        self.next()  # the '$'
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            return self.env.get(name, "")
        self.next()  # '{'
        name = self.name()
        if not name:
            raise SubstitutionError("bad substitution: missing variable name")
        ch = self.next()
        if ch == "}":
            return self.env.get(name, "")
        colon = ch == ":"
        if colon:
            ch = self.next()
        if ch not in ("-", "+", "?"):
            raise SubstitutionError(f"unsupported modifier ({ch or 'EOF'}) in substitution")
        word = self.until("}")
        value = self.env.get(name)
        unset = value is None or (colon and value == "")
        if ch == "-":
            return word if unset else str(value)
        if ch == "+":
            return "" if unset else word
        if unset:
            raise SubstitutionError(f"{name}: {word or 'is not allowed to be unset'}")
        return str(value)


def process_word(word: str, env: Mapping[str, str], *, escape: str = "\\") -> str:
    return _Lexer(word, env, escape).until("")


def env_map(env_list: list[str]) -> dict[str, str]:
    """``["A=1", "B=2"]`` -> ``{"A": "1", "B": "2"}`` (the last one wins)."""
    out: dict[str, str] = {}
    for e in env_list:
        k, _, v = e.partition("=")
        out[k] = v
    return out
