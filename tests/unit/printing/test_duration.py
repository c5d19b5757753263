"""HumanDuration as apimachinery formats ages (kubectl's AGE column)."""
from __future__ import annotations

import datetime as dt

import pytest

from skiff.apiserver.printing import human_duration
from skiff.apiserver.printing.duration import since

S, M, H, D = 1, 60, 3600, 86400

CASES = [
    ("slightly-negative", -1, "0s"), ("negative", -2, "<invalid>"), ("zero", 0, "0s"), ("one-second", 1, "1s"),
    ("under-two-minutes", 119, "119s"), ("seventy-seconds", 70, "70s"), ("two-minutes", 2 * M, "2m"),
    ("three-min-ten", 190, "3m10s"), ("three-min-twenty", 200, "3m20s"), ("nine-59", 9 * M + 59, "9m59s"),
    ("ten-minutes", 10 * M, "10m"), ("seventy-minutes", 70 * M, "70m"), ("just-under-3h", 3 * H - 1, "179m"),
    ("three-hours", 3 * H, "3h"), ("three-and-half-hours", 3 * H + 30 * M, "3h30m"), ("eight-hours", 8 * H, "8h"),
    ("47-hours", 47 * H, "47h"), ("49-hours", 49 * H, "2d1h"), ("two-days-three", 2 * D + 3 * H, "2d3h"),
    ("seven-days", 7 * D, "7d"), ("eight-days", 8 * D + 2 * H, "8d"), ("367-days", 367 * D + 2 * H, "367d"),
    ("two-years-one-day", 365 * 2 * D + 25 * H, "2y1d"), ("three-years", 3 * 365 * D, "3y"),
    ("eight-years", 365 * 8 * D + 2 * H, "8y"),
]


@pytest.mark.parametrize("seconds,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_human_duration(seconds: int, expected: str) -> None:
    assert human_duration(dt.timedelta(seconds=seconds)) == expected


def test_fractional_seconds_truncate() -> None:
    assert human_duration(dt.timedelta(seconds=59.9)) == "59s"


@pytest.mark.parametrize("value,expected", [(None, "<unknown>"), ("", "<unknown>"), ("garbage", "<unknown>"),
                                            ("2024-01-01T00:00:00Z", "5m"), ("2024-01-01T00:00:00.123456Z", "4m59s")],
                         ids=["none", "empty", "garbage", "time", "microtime"])
def test_since(value: object, expected: str) -> None:
    assert since(value, dt.datetime(2024, 1, 1, 0, 5, tzinfo=dt.timezone.utc)) == expected
