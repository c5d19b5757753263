""".dockerignore matching with moby's patternmatcher rules."""
from __future__ import annotations

import pytest

from skiff.nodeagent.runtime.build.dockerignore import Matcher, read_patterns


def test_read_patterns_cleans() -> None:
    assert read_patterns("# c\n\n /abs/x \n!keep//me\n./dot\n*.log\n") == ["abs/x", "!keep/me", "dot", "*.log"]


@pytest.mark.parametrize(("patterns", "path", "excluded"), [
    (["*.log"], "a.log", True),
    (["*.log"], "sub/a.log", False),            # '*' does not cross '/'
    (["**/*.log"], "sub/deep/a.log", True),
    (["**/*.log"], "a.log", True),              # '**/' also matches no directory
    (["secret"], "secret/inner/file", True),    # a parent directory matching excludes its contents
    (["sec?et"], "secret", True),
    (["[a-c].txt"], "b.txt", True),
    (["[!a-c].txt"], "b.txt", False),
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "other.md", True),
    (["docs", "!docs/keep.txt"], "docs/keep.txt", False),
    (["docs", "!docs/keep.txt"], "docs/drop.txt", True),
    (["!x", "*"], "x", True),                   # the last matching pattern decides
    (["node_modules/**"], "node_modules/a/b", True),
    ([".git"], ".gitignore", False),
    (["a\\*b"], "a*b", True),
    (["a\\*b"], "axb", False),
], ids=lambda v: str(v))
def test_excluded(patterns: list[str], path: str, excluded: bool) -> None:
    assert Matcher(patterns).excluded(path) is excluded
