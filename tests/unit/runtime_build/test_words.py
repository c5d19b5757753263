"""ARG/ENV substitution as Docker's shell lexer does it."""
from __future__ import annotations

import pytest

from skiff.nodeagent.runtime.build.words import SubstitutionError, env_map, process_word

ENV = {"A": "1", "EMPTY": "", "PATHX": "/usr/bin"}


@pytest.mark.parametrize(("word", "want"), [
    ("plain", "plain"),
    ("$A", "1"),
    ("${A}", "1"),
    ("x${A}y", "x1y"),
    ("$A$A", "11"),
    ("$UNSET", ""),
    ("${UNSET:-dflt}", "dflt"),
    ("${EMPTY:-dflt}", "dflt"),
    ("${EMPTY-dflt}", ""),
    ("${UNSET-dflt}", "dflt"),
    ("${A:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET:-$A}", "1"),
    ("'$A'", "$A"),
    ('"$A b"', "1 b"),
    ('"a\\"b"', 'a"b'),
    ('"a\\nb"', "a\\nb"),
    ("\\$A", "$A"),
    ("$", "$"),
    ("a$", "a$"),
    ("$-x", "$-x"),
    ("${PATHX}:/bin", "/usr/bin:/bin"),
], ids=lambda v: str(v))
def test_process_word(word: str, want: str) -> None:
    assert process_word(word, ENV) == want


def test_backtick_escape() -> None:
    assert process_word("`$A", ENV, escape="`") == "$A"
    assert process_word("C:\\dir", ENV, escape="`") == "C:\\dir"


@pytest.mark.parametrize(("word", "msg"), [
    ("'open", "single-quote"),
    ('"open', "double-quote"),
    ("${UNSET:?must be set}", "UNSET: must be set"),
    ("${UNSET?}", "UNSET: is not allowed to be unset"),
    ("${A%x}", "unsupported modifier"),
    ("${}", "missing variable name"),
])
def test_errors(word: str, msg: str) -> None:
    with pytest.raises(SubstitutionError, match=msg.replace("?", "\\?")):
        process_word(word, ENV)


def test_env_map_last_wins() -> None:
    assert env_map(["A=1", "B=x=y", "A=2"]) == {"A": "2", "B": "x=y"}
