"""Reading CRI log files for /containerLogs: parsing, partial lines, the query's filters."""
from __future__ import annotations

import json

import pytest

from skiff.nodeagent.kubelet import logs
from skiff.nodeagent.kubelet.server import exec_status

FILE = [
    b"2024-01-02T03:04:05.100000000Z stdout F one\n",
    b"2024-01-02T03:04:06.000000000Z stderr F two\n",
    b"2024-01-02T03:04:07.000000000Z stdout P thr\n",
    b"2024-01-02T03:04:07.500000000Z stdout F ee\n",
    b"garbage\n",
    b"2024-01-02T03:04:09Z stdout F \n",
]
T6 = logs.timestamp("2024-01-02T03:04:06Z")


def out(q: logs.Query) -> bytes:
    return b"".join(logs.render(r, q) for r in logs.select(logs.parse(FILE), q))


@pytest.mark.parametrize("q,want", [
    (logs.Query(), b"one\ntwo\nthree\n\n"),
    (logs.Query(tail_lines=2), b"three\n\n"),
    (logs.Query(tail_lines=0), b""),
    (logs.Query(since=T6), b"two\nthree\n\n"),
    (logs.Query(timestamps=True, tail_lines=2),
     b"2024-01-02T03:04:07.000000000Z three\n2024-01-02T03:04:09Z \n"),
], ids=["all", "tail", "tail-zero", "since", "timestamps"])
def test_select_and_render(q: logs.Query, want: bytes) -> None:
    assert out(q) == want


def test_trailing_partial_line_has_no_newline() -> None:
    recs = list(logs.lines_of(logs.parse([b"T stdout P abc\n"])))
    assert [logs.render(r, logs.Query()) for r in recs] == [b"abc"]


@pytest.mark.parametrize("params,field", [
    ({"tailLines": "x"}, "tailLines"), ({"tailLines": "-1"}, "tailLines"), ({"limitBytes": "0"}, "limitBytes"),
    ({"sinceTime": "yesterday"}, "sinceTime"), ({"sinceSeconds": "1.5"}, "sinceSeconds"),
], ids=["tail-not-int", "tail-negative", "limit-zero", "since-time-bad", "since-seconds-float"])
def test_bad_query_names_the_parameter(params: dict[str, str], field: str) -> None:
    with pytest.raises(logs.LogQueryError, match=field):
        logs.query_from(params, now=1000.0)


def test_query_from() -> None:
    q = logs.query_from({"follow": "true", "previous": "false", "tailLines": "5", "sinceSeconds": "10",
                         "timestamps": "1", "limitBytes": "7"}, now=1000.0)
    assert q == logs.Query(follow=True, previous=False, tail_lines=5, since=990.0, timestamps=True, limit_bytes=7)


def test_exec_status_bodies() -> None:
    assert json.loads(exec_status(0)) == {"metadata": {}, "status": "Success"}
    failed = json.loads(exec_status(3))
    assert failed["reason"] == "NonZeroExitCode" and failed["details"]["causes"] == [
        {"reason": "ExitCode", "message": "3"}]
    assert json.loads(exec_status(0, "boom"))["message"] == "boom"
