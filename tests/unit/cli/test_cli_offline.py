"""skiffctl without a server: argument handling, output-flag checks and the ``config`` verbs."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from skiff.cli.common import split_globals
from skiff.cli.main import main, normalize_bools
from skiff.cli.printers import OutputSpec
from skiff.cli.common import CommandError

KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config", "current-context": "one",
    "clusters": [{"name": "c1", "cluster": {"server": "https://127.0.0.1:1", "certificate-authority-data": "Q0E="}}],
    "users": [{"name": "u1", "user": {"token": "secret", "client-key-data": "S0VZ"}}],
    "contexts": [{"name": "one", "context": {"cluster": "c1", "user": "u1", "namespace": "team"}},
                 {"name": "two", "context": {"cluster": "c1", "user": "u1"}}],
}


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err, stdin=io.StringIO(""))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    p = tmp_path / "config"
    p.write_text(yaml.safe_dump(KUBECONFIG))
    return p


def test_split_globals_anywhere() -> None:
    flags, rest = split_globals(["-nfoo", "get", "pods", "--context=x", "-o", "wide", "--kubeconfig", "k", "--",
                                 "-n", "bar"])
    assert flags == {"namespace": "foo", "context": "x", "kubeconfig": "k"}
    assert rest == ["get", "pods", "-o", "wide", "--", "-n", "bar"]
    assert split_globals(["--insecure-skip-tls-verify", "get"])[0] == {"insecure-skip-tls-verify": True}


def test_bool_flags_take_explicit_values() -> None:
    assert normalize_bools(["get", "--show-labels=true", "--no-headers=false", "--watch=x"]) == \
        ["get", "--show-labels", "--watch=x"]


@pytest.mark.parametrize("value,message", [
    ("foo", 'unable to match a printer suitable for the output format "foo"'),
    ("jsonpath=", "template format specified but no template given"),
    ("jsonpath={.a", "error parsing jsonpath"),
    ("custom-columns=", "custom-columns format specified but no custom columns given"),
])
def test_output_flag_errors(value: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        OutputSpec.parse(value)


def test_unknown_flag_and_command() -> None:
    code, _, err = run("get", "pods", "--bogus")
    assert (code, err) == (1, "error: unknown flag: --bogus\nSee 'skiffctl get --help' for usage.\n")
    code, _, err = run("frobnicate")
    assert code == 1 and err.startswith('error: unknown command "frobnicate" for "skiffctl"')


def test_config_view_redacts_and_minifies(kubeconfig: Path) -> None:
    code, out, _ = run("--kubeconfig", str(kubeconfig), "config", "view")
    assert code == 0
    assert "certificate-authority-data: DATA+OMITTED" in out and "token: REDACTED" in out
    assert "client-key-data: REDACTED" in out and "secret" not in out
    code, out, _ = run("--kubeconfig", str(kubeconfig), "config", "view", "--raw", "--minify", "--context", "two")
    doc = yaml.safe_load(out)
    assert doc["current-context"] == "two" and [c["name"] for c in doc["contexts"]] == ["two"]
    assert doc["users"][0]["user"]["token"] == "secret"


def test_config_contexts(kubeconfig: Path) -> None:
    k = ["--kubeconfig", str(kubeconfig)]
    assert run(*k, "config", "get-contexts") == (0, (
        "CURRENT   NAME   CLUSTER   AUTHINFO   NAMESPACE\n"
        "*         one    c1        u1         team\n"
        "          two    c1        u1         \n"), "")
    assert run(*k, "config", "current-context") == (0, "one\n", "")
    assert run(*k, "config", "use-context", "two") == (0, 'Switched to context "two".\n', "")
    assert run(*k, "config", "current-context") == (0, "two\n", "")
    assert run(*k, "config", "use-context", "nope")[2] == 'error: no context exists with the name: "nope"\n'
    assert run(*k, "config", "set-context", "--current", "--namespace=prod") == (0, 'Context "two" modified.\n', "")
    assert run(*k, "config", "set-context", "three", "--cluster=c1") == (0, 'Context "three" created.\n', "")
    saved = yaml.safe_load(kubeconfig.read_text())
    assert {c["name"]: c["context"] for c in saved["contexts"]}["two"]["namespace"] == "prod"
    assert saved["users"][0]["user"]["token"] == "secret"  # edits never redact the file


def test_unreachable_server_is_reported(tmp_path: Path) -> None:
    cfg = dict(KUBECONFIG, clusters=[{"name": "c1", "cluster": {"server": "https://127.0.0.1:1"}}])
    (tmp_path / "c").write_text(yaml.safe_dump(cfg))
    code, _, err = run("--kubeconfig", str(tmp_path / "c"), "--request-timeout=5s", "get", "pods")
    assert (code, err) == (1, "The connection to the server 127.0.0.1:1 was refused - did you specify the right "
                              "host or port?\n")


def test_missing_kubeconfig_context() -> None:
    code, _, err = run("--kubeconfig", "/nonexistent/config", "get", "pods")
    assert (code, err) == (1, "error: stat /nonexistent/config: no such file or directory\n")
