"""CronJob schedule syntax, as Kubernetes checks it (robfig/cron ``ParseStandard``).

Five fields (minute hour day-of-month month day-of-week) with ``*``, ``?``, lists, ranges,
steps and month/day names, or a descriptor (``@hourly``, ``@every 1h30m``). :func:`parse_schedule`
returns the allowed values of each field; errors carry robfig's own messages, which Kubernetes
puts in ``spec.schedule: Invalid value: "...": <message>``. Computing run times is the CronJob
controller's business, not this module's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class _Bounds:
    lo: int
    hi: int
    names: dict[str, int] | None = None


_MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_FIELDS = (_Bounds(0, 59), _Bounds(0, 23), _Bounds(1, 31), _Bounds(1, 12, _MONTHS), _Bounds(0, 6, _DAYS))
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    dom_star: bool
    dow_star: bool
    every_seconds: int | None = None  # "@every <duration>"


def _atoi(s: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", s):
        raise ScheduleError(f'failed to parse int from {s}: strconv.Atoi: parsing "{s}": invalid syntax')
    n = int(s)
    if n < 0:
        raise ScheduleError(f"negative number ({n}) not allowed: {s}")
    return n


def _int_or_name(s: str, names: dict[str, int] | None) -> int:
    if names and s.lower() in names:
        return names[s.lower()]
    return _atoi(s)


def _range(expr: str, b: _Bounds) -> tuple[set[int], bool]:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    star = False
    if low_high[0] in ("*", "?"):
        start, end, star = b.lo, b.hi, True
    else:
        start = _int_or_name(low_high[0], b.names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _int_or_name(low_high[1], b.names)
        else:
            raise ScheduleError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _atoi(range_and_step[1])
        if len(low_high) == 1:
            end = b.hi
        if step > 1:
            star = False
    else:
        raise ScheduleError(f"too many slashes: {expr}")
    if start < b.lo:
        raise ScheduleError(f"beginning of range ({start}) below minimum ({b.lo}): {expr}")
    if end > b.hi:
        raise ScheduleError(f"end of range ({end}) above maximum ({b.hi}): {expr}")
    if start > end:
        raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ScheduleError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _field(text: str, b: _Bounds) -> tuple[frozenset[int], bool]:
    out: set[int] = set()
    star = False
    for part in text.split(","):
        vals, s = _range(part, b)
        out |= vals
        star = star or s
    return frozenset(out), star


_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_schedule(spec: str) -> Schedule:
    if not spec:
        raise ScheduleError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        tz, _, spec = spec.partition(" ")
        spec = spec.strip()
    if spec.startswith("@"):
        if spec.startswith("@every "):
            d = spec[len("@every "):]
            if not _DURATION.match(d):
                raise ScheduleError(f'failed to parse duration {spec}: time: invalid duration "{d}"')
            secs = sum(float(n) * _UNIT[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)", d))
            full = _field("*", _FIELDS[0])[0]
            return Schedule(full, full, full, full, full, True, True, every_seconds=max(1, int(secs)))
        if spec not in _DESCRIPTORS:
            raise ScheduleError(f"unrecognized descriptor: {spec}")
        spec = _DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = [_field(f, b) for f, b in zip(fields, _FIELDS)]
    return Schedule(parsed[0][0], parsed[1][0], parsed[2][0], parsed[3][0], parsed[4][0],
                    dom_star=parsed[2][1], dow_star=parsed[4][1])


def schedule_errors(spec: str) -> list[str]:
    """Kubernetes' messages for a bad ``spec.schedule`` (empty list when valid)."""
    errs = []
    try:
        parse_schedule(spec)
    except ScheduleError as e:
        errs.append(str(e))
    if "TZ" in spec:
        errs.append("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
    return errs
