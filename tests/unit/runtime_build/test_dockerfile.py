"""Dockerfile parsing into stages and typed instructions, with dockerd's errors."""
from __future__ import annotations

import pytest

from skiff.nodeagent.runtime.build.dockerfile import DockerfileError, escape_token, parse, parse_line, suggest

SEED_003 = """FROM ubuntu:14.04
MAINTAINER Foo Bar <foo@bar.com>
RUN apt-get update
RUN apt-get install -y nginx
RUN echo "\\ndaemon off;" >> /etc/nginx/nginx.conf
VOLUME ["/data", "etc/nginx/site-enabled", "/var/log/nginx"]
WORKDIR /etc/nginx
CMD ["nginx"]
EXPOSE 80
"""


def test_seed_003_shape() -> None:
    df = parse(SEED_003)
    assert [s.base for s in df.stages] == ["ubuntu:14.04"]
    cmds = df.stages[0].commands
    assert [c.cmd for c in cmds] == ["MAINTAINER", "RUN", "RUN", "RUN", "VOLUME", "WORKDIR", "CMD", "EXPOSE"]
    assert cmds[4].args == ("/data", "etc/nginx/site-enabled", "/var/log/nginx") and cmds[4].json
    assert cmds[6].json and cmds[6].args == ("nginx",)
    assert df.total_steps(0) == 9


def test_stages_meta_args_flags_and_continuations() -> None:
    df = parse("# comment\nARG BASE=busybox\nFROM ${BASE} AS Build\nRUN echo a \\\n  b\n"
               "FROM scratch\nCOPY --from=build --chown=1:2 /a /b\n")
    assert [m.original for m in df.meta_args] == ["ARG BASE=busybox"]
    assert [(s.name, s.base) for s in df.stages] == [("build", "${BASE}"), ("", "scratch")]
    run = df.stages[0].commands[0]
    assert run.args == ("echo a   b",) and run.line == 4 and not run.json
    cp = df.stages[1].commands[0]
    assert cp.flag("from") == "build" and cp.flag("chown") == "1:2" and cp.args == ("/a", "/b")
    assert df.stage_index("BUILD") == 0 and df.stage_index("1") == 1 and df.stage_index("nope") is None
    assert df.total_steps(1) == 1 + 2 + 2


def test_escape_directive() -> None:
    text = "# escape=`\nFROM busybox\nRUN echo a `\n  b\n"
    assert escape_token(text) == "`"
    assert parse(text).stages[0].commands[0].args == ("echo a   b",)
    assert escape_token("FROM x\n# escape=`\n") == "\\"


@pytest.mark.parametrize(("text", "msg"), [
    ("FROM busybox\nFRM x\n", "dockerfile parse error on line 2: unknown instruction: FRM (did you mean from?)"),
    ("FROM busybox\nBOGUSWORD x\n", "dockerfile parse error on line 2: unknown instruction: BOGUSWORD"),
    ("", "the Dockerfile (Dockerfile) cannot be empty"),
    ("# only a comment\n", "the Dockerfile (Dockerfile) cannot be empty"),
    ("RUN echo\n", "no build stage in current context"),
    ("FROM a b\n", "dockerfile parse error on line 1: FROM requires either one or three arguments"),
    ("FROM a\nCOPY onlyone\n", "dockerfile parse error on line 2: COPY requires at least two arguments"),
    ("FROM a\nWORKDIR\n", "dockerfile parse error on line 2: WORKDIR requires exactly one argument"),
    ("FROM a\nSHELL sh -c\n", "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form"),
    ("FROM a\nCOPY --bogus=1 a b\n", "dockerfile parse error on line 2: Unknown flag: bogus"),
    ("FROM a\nCOPY --from a b\n", "dockerfile parse error on line 2: Missing a value on flag: from"),
    ("FROM a\nRUN --mount=type=cache,target=/x true\n", "the --mount option requires BuildKit"),
    ("FROM a\nCOPY --chmod=755 a b\n", "the --chmod option requires BuildKit"),
    ("FROM a AS x\nFROM b AS x\n", "dockerfile parse error on line 2: duplicate name x"),
    ("FROM a\nHEALTHCHECK WHAT x\n", 'Unknown type "WHAT" in HEALTHCHECK'),
    ("FROM a\nONBUILD FROM b\n", "FROM isn't allowed as an ONBUILD trigger"),
    ("FROM a\nRUN <<EOF\necho\nEOF\n", "heredocs require BuildKit"),
], ids=lambda v: v[:30] if isinstance(v, str) else str(v))
def test_errors(text: str, msg: str) -> None:
    with pytest.raises(DockerfileError) as exc:
        parse(text)
    assert msg in str(exc.value)


def test_suggest_only_near_misses() -> None:
    assert suggest("CPY") == " (did you mean copy?)"
    assert suggest("XYZZYQ") == ""


def test_parse_line_for_onbuild_triggers() -> None:
    ins = parse_line("COPY --chown=1 a /b")
    assert (ins.cmd, ins.args, ins.flag("chown")) == ("COPY", ("a", "/b"), "1")
    with pytest.raises(DockerfileError):
        parse_line("RUN a\nRUN b")
