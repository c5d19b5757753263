"""``skiff server``'s flag parsing (no server is started)."""
from __future__ import annotations

import argparse

import pytest

from skiff.cmd import server


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    server.add_arguments(p)
    return p.parse_args(["--data-dir", "/tmp/x", *argv])


def test_toleration_seconds_default_to_kubernetes() -> None:
    args = parse()
    assert (args.default_not_ready_toleration_seconds, args.default_unreachable_toleration_seconds) == (300, 300)
    args = parse("--default-unreachable-toleration-seconds", "30")
    assert args.default_unreachable_toleration_seconds == 30


@pytest.mark.parametrize("value, message", [("-1", "must not be negative"), ("ten", "whole number of seconds")])
def test_bad_toleration_seconds_name_the_flag(value: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--default-not-ready-toleration-seconds", value)
    err = capsys.readouterr().err
    assert "--default-not-ready-toleration-seconds" in err and message in err
