"""Request counters and latencies in Prometheus' text format (``/metrics``)."""
from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

from .paths import parse

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_VERBS = {"GET": "GET", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH", "DELETE": "DELETE"}


@dataclass
class Metrics:
    requests: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    latency: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def observe(self, method: str, path: str, code: int, seconds: float, *, watch: bool) -> None:
        try:
            target = parse(path)
        except Exception:  # noqa: BLE001 - unknown paths are still counted
            target = None
        resource = target.resource.plural if target else ""
        verb = "WATCH" if watch else _VERBS.get(method, method)
        self.requests[(verb, resource, str(code))] += 1
        if watch:
            return
        counts = self.latency.setdefault((verb, resource), [0.0] * (len(BUCKETS) + 2))
        counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def render(self, gauges: dict[str, object]) -> str:
        out = ["# HELP apiserver_request_total Requests by verb, resource and HTTP code.",
               "# TYPE apiserver_request_total counter"]
        for (verb, res, code), n in sorted(self.requests.items()):
            out.append(f'apiserver_request_total{{verb="{verb}",resource="{res}",code="{code}"}} {n}')
        out += ["# HELP apiserver_request_duration_seconds Request latency.",
                "# TYPE apiserver_request_duration_seconds histogram"]
        for (verb, res), counts in sorted(self.latency.items()):
            cum = 0.0
            for bound, n in zip(BUCKETS, counts):
                cum += n
                out.append(f'apiserver_request_duration_seconds_bucket{{verb="{verb}",resource="{res}",le="{bound}"}} {int(cum)}')
            total = cum + counts[len(BUCKETS)]
            out.append(f'apiserver_request_duration_seconds_bucket{{verb="{verb}",resource="{res}",le="+Inf"}} {int(total)}')
            out.append(f'apiserver_request_duration_seconds_sum{{verb="{verb}",resource="{res}"}} {counts[-1]:.6f}')
            out.append(f'apiserver_request_duration_seconds_count{{verb="{verb}",resource="{res}"}} {int(total)}')
        for name, value in gauges.items():
            out.append(f"# TYPE {name} gauge")
            if isinstance(value, dict):
                for k, v in sorted(value.items()):
                    out.append(f'{name}{{resource="{k.split("/")[2]}"}} {v}')
            else:
                out.append(f"{name} {value}")
        return "\n".join(out) + "\n"
