"""Cache keys and comments, COPY path rules, metadata instructions (pure)."""
from __future__ import annotations

import pytest

from skiff.nodeagent.runtime.build import cache, copyspec, metadata
from skiff.nodeagent.runtime.build.dockerfile import DockerfileError, parse


def one(line: str):  # type: ignore[no-untyped-def]
    return parse("FROM scratch\n" + line + "\n").stages[0].commands[0]


def test_comments_as_dockerd_writes_them() -> None:
    cfg: dict = {}
    assert cache.created_by(cache.nop_cmd(cfg, "ENV A=1")) == "/bin/sh -c #(nop)  ENV A=1"
    cmd = cache.copy_cmd(cfg, cache.copy_comment("COPY", source_hash="file:ab", dest="/x/", chown="1:1"))
    assert cache.created_by(cmd) == "/bin/sh -c #(nop) COPY --chown=1:1 file:ab in /x/ "
    assert cache.run_cache_cmd(["/bin/sh", "-c", "x"], ["B=2", "A=1"]) == ["|2", "A=1", "B=2", "/bin/sh", "-c", "x"]
    assert cache.nop_cmd({"Shell": ["/bin/bash", "-e"]}, "X")[:2] == ["/bin/bash", "-e"]
    assert cache.go_quote_list(["sh", "-c", 'a "b"']) == '["sh" "-c" "a \\"b\\""]'


def test_cache_picks_newest_child_with_equal_config() -> None:
    rc = cache.run_config({"Env": ["A=1"]}, ["/bin/sh", "-c", "echo"])
    other = cache.run_config({"Env": ["A=2"]}, ["/bin/sh", "-c", "echo"])
    cands = [("sha256:old", "sha256:p", rc, "2020-01-01T00:00:00Z"),
             ("sha256:new", "sha256:p", rc, "2021-01-01T00:00:00Z"),
             ("sha256:otherparent", "sha256:q", rc, "2022-01-01T00:00:00Z"),
             ("sha256:otherenv", "sha256:p", other, "2022-01-01T00:00:00Z"),
             ("sha256:pulled", "sha256:p", None, "2023-01-01T00:00:00Z")]
    assert cache.pick_cached(cands, "sha256:p", rc) == "sha256:new"
    assert cache.pick_cached(cands, "sha256:none", rc) is None
    # empty and missing fields compare equal, as dockerd's compare() treats them
    assert cache.key("p", {"Cmd": ["x"], "Labels": {}}) == cache.key("p", {"Cmd": ["x"]})


@pytest.mark.parametrize(("dest", "workdir", "want"), [
    ("/abs", "/w", "/abs"), ("rel", "/w", "/w/rel"), ("rel/", "/w", "/w/rel/"), (".", "/w", "/w/"),
    ("./", "", "/"), ("a/../b", "/", "/b"),
])
def test_destination(dest: str, workdir: str, want: str) -> None:
    assert copyspec.destination(dest, workdir) == want


def test_copy_rules() -> None:
    assert copyspec.clean_source("../../x") == "x" and copyspec.clean_source(".") == ""
    assert copyspec.file_target("/d/", "f", dest_is_dir=False) == "/d/f"
    assert copyspec.file_target("/d", "f", dest_is_dir=True) == "/d/f"
    assert copyspec.file_target("/d", "f", dest_is_dir=False) == "/d"
    with pytest.raises(copyspec.CopyError, match="must be a directory and end with a /"):
        copyspec.check_source_count("COPY", 2, "/d")
    copyspec.check_source_count("COPY", 2, "/d/")
    paths = ["a.txt", "b.txt", "dir", "dir/c.txt", "sub", "sub/a.txt"]
    assert copyspec.glob_matches("*.txt", paths) == ["a.txt", "b.txt"]
    assert copyspec.glob_matches("d*", paths) == ["dir"]  # not dir/c.txt again
    assert copyspec.glob_matches("*/a.txt", paths) == ["sub/a.txt"]
    assert copyspec.combined_hash(["file:1"]) == "file:1"
    assert copyspec.combined_hash(["file:1", "dir:2"]).startswith("multi:")


def st(**env: str) -> metadata.ConfigState:
    return metadata.ConfigState(config={"Env": [f"{k}={v}" for k, v in env.items()]}, env=dict(env))


@pytest.mark.parametrize(("line", "field", "value", "comment"), [
    ("ENV A=1 B=\"two words\" C=$X", "Env", ["X=x", "A=1", "B=two words", "C=x"], "ENV A=1 B=two words C=x"),
    ("ENV X new", "Env", ["X=new"], "ENV X=new"),
    ('LABEL "k 1"="v 1" k2=$X', "Labels", {"k 1": "v 1", "k2": "x"}, "LABEL k 1=v 1 k2=x"),
    ("EXPOSE 80 53/udp 8000-8001", "ExposedPorts", {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}},
     "EXPOSE 80 53/udp 8000-8001"),
    ('VOLUME ["/data", "etc/x"]', "Volumes", {"/data": {}, "/etc/x": {}}, "VOLUME [/data etc/x]"),
    ("VOLUME /a $X", "Volumes", {"/a": {}, "/x": {}}, "VOLUME [/a x]"),
    ("USER $X:1", "User", "x:1", "USER x:1"),
    ('CMD ["nginx"]', "Cmd", ["nginx"], 'CMD ["nginx"]'),
    ("CMD echo $X", "Cmd", ["/bin/sh", "-c", "echo $X"], 'CMD ["/bin/sh" "-c" "echo $X"]'),
    ('SHELL ["/bin/ash", "-c"]', "Shell", ["/bin/ash", "-c"], 'SHELL ["/bin/ash" "-c"]'),
    ("STOPSIGNAL SIGUSR1", "StopSignal", "SIGUSR1", "STOPSIGNAL SIGUSR1"),
    ("HEALTHCHECK --interval=5s --retries=2 CMD true", "Healthcheck",
     {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2},
     'HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" "0s" \'\\x02\'}'),
    ("HEALTHCHECK NONE", "Healthcheck", {"Test": ["NONE"]}, None),
    ("ONBUILD RUN echo hi", "OnBuild", ["RUN echo hi"], "ONBUILD RUN echo hi"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_metadata(line: str, field: str, value: object, comment: str | None) -> None:
    cfg, text = metadata.apply(one(line), st(X="x"))
    assert cfg[field] == value
    if comment is not None:
        assert text == comment


def test_env_line_expands_with_the_values_before_it() -> None:
    cfg, _ = metadata.apply(one("ENV X=bye def=$X"), st(X="hello"))
    assert cfg["Env"] == ["X=bye", "def=hello"]


def test_entrypoint_resets_inherited_cmd_only() -> None:
    s = metadata.ConfigState(config={"Cmd": ["sh"]}, env={})
    cfg, _ = metadata.apply(one('ENTRYPOINT ["top"]'), s)
    assert cfg["Entrypoint"] == ["top"] and cfg["Cmd"] is None
    s = metadata.ConfigState(config={"Cmd": ["x"]}, env={}, cmd_set=True)
    cfg, _ = metadata.apply(one('ENTRYPOINT ["top"]'), s)
    assert cfg["Cmd"] == ["x"]


@pytest.mark.parametrize(("line", "msg"), [
    ("STOPSIGNAL NOTASIGNAL", "Invalid signal: NOTASIGNAL"),
    ("EXPOSE abc", "Invalid containerPort: abc"),
    ("HEALTHCHECK --interval=5x CMD true", 'invalid duration "5x"'),
    ("ENV A=${B:?needed}", "B: needed"),
])
def test_metadata_errors(line: str, msg: str) -> None:
    with pytest.raises(DockerfileError, match=msg.replace("$", "\\$").replace("?", "\\?")):
        metadata.apply(one(line), st())


def test_workdir_builds_on_current() -> None:
    assert metadata.workdir("/a", "b") == "/a/b"
    assert metadata.workdir("/a", "/c/../d") == "/d"
    assert metadata.workdir("", "x") == "/x"
