"""The engine's entry to the runtime (``python -S entry.py``) speaks ``skiff runtime``'s CLI."""
from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from skiff.nodeagent.runtime.containers.manager import RUNTIME_ENTRY
from skiff.nodeagent.runtime.oci import cli as rtcli


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-S", str(RUNTIME_ENTRY), *argv], capture_output=True, text=True,
                          timeout=60)


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skiff.cmd.main", "runtime", *argv], capture_output=True,
                          text=True, timeout=60)


def test_entry_without_site_lists_and_reports_errors_as_the_cli(tmp_path):
    root = str(tmp_path / "state")
    listed = run("--root", root, "list", "-q")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == ""
    ours, theirs = run("--root", root, "state", "nosuch"), cli("--root", root, "state", "nosuch")
    assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr) == (
        1, "skiff runtime: container does not exist: nosuch\n")
    bad = run("--root", root, "kill", "x", "SIGNOPE")
    assert bad.returncode == 1 and "unknown signal" in bad.stderr


def test_locate_packages_finds_this_checkouts_packages_without_site():
    import skiff.nodeagent

    probe = ("import sys, os; sys.path.insert(0, os.path.dirname(sys.argv[1]));"
             "import entry; entry.locate_packages(os.path.dirname(sys.argv[1]));"
             "import skiff.nodeagent.runtime.oci.container as c;"
             "print(os.path.dirname(os.path.dirname(os.path.dirname(c.__file__))));"
             "print(os.path.dirname(sys.argv[1]) in sys.path)")
    r = subprocess.run([sys.executable, "-S", "-c", probe, str(RUNTIME_ENTRY)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    where, oci_dir_on_path = r.stdout.split()
    assert where == skiff.nodeagent.__path__[0]
    assert oci_dir_on_path == "False"  # spec, state, init … are not top-level modules


@pytest.mark.parametrize("argv", [
    ["--root", "/r", "create", "--pid-file", "/s/init.pid", "-b", "/b", "cid1"],
    ["--root", "/r", "create", "--pid-file", "/s/init.pid", "-b", "/b", "--console-socket", "/s/c.sock", "cid1"],
    ["create", "--bundle", "/b", "x"],
    ["--root", "/r", "exec", "--detach", "--pid-file", "/s/p.pid", "-p", "/s/process.json", "cid2"],
    ["--root", "/r", "exec", "--detach", "--pid-file", "/s/p.pid", "-p", "/s/process.json",
     "--console-socket", "/s/c.sock", "cid2"],
    ["--root", "/r", "--root", "/r2", "create", "c"],
])
def test_fast_parse_of_the_shims_command_lines_equals_argparse(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="skiff runtime")
    rtcli.add_arguments(parser)
    assert vars(rtcli.parse_fast(argv)) == vars(parser.parse_args(argv))


@pytest.mark.parametrize("argv", [
    [], ["--root", "/r"], ["--root", "/r", "start", "c"], ["create"], ["create", "-b", "/b"],
    ["create", "--no-pivot", "c"], ["create", "-b", "--weird", "c"], ["create", "c", "extra"],
    ["exec", "c", "ls", "-l"], ["exec", "-t", "c"], ["--debug", "create", "c"], ["create", "-x"],
])
def test_fast_parse_leaves_every_other_command_line_to_argparse(argv: list[str]) -> None:
    assert rtcli.parse_fast(argv) is None
