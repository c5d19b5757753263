"""Probe timing and thresholds (pure)."""
from __future__ import annotations

import pytest

from skiff.nodeagent.kubelet.probes import ContainerProbes, ProbeState, Result, due, record

S, F = Result.SUCCESS, Result.FAILURE


def test_due_waits_the_initial_delay_then_the_period() -> None:
    probe = {"initialDelaySeconds": 5, "periodSeconds": 2}
    assert due(probe, ProbeState(), started_at=100, now=103) == 2
    assert due(probe, ProbeState(last_run=110), started_at=100, now=111) == 1
    assert due({}, ProbeState(last_run=0), started_at=0, now=10) == 0  # default period 10 s


@pytest.mark.parametrize("kind,probe,results,passed,tripped", [
    ("readinessProbe", {}, [S], True, False),
    ("readinessProbe", {"successThreshold": 2}, [S], False, False),
    ("readinessProbe", {"successThreshold": 2}, [S, S], True, False),
    ("readinessProbe", {}, [S, F, F], True, False),
    ("readinessProbe", {}, [S, F, F, F], False, False),
    ("readinessProbe", {"failureThreshold": 1}, [S, F, S], True, False),
    ("livenessProbe", {}, [F, F], False, False),
    ("livenessProbe", {}, [F, F, F], False, True),
    ("livenessProbe", {}, [F, F, S, F, F], True, False),
    ("livenessProbe", {"successThreshold": 5}, [S], True, False),
    ("startupProbe", {"failureThreshold": 2}, [F, F], False, True),
    ("startupProbe", {}, [F, S], True, False),
], ids=["ready", "ready-needs-two", "ready-after-two", "below-failure-threshold", "unready", "flaps-back",
        "alive-below-threshold", "liveness-trips", "liveness-success-resets", "liveness-threshold-is-one",
        "startup-trips", "startup-passes"])
def test_record(kind: str, probe: dict[str, int], results: list[Result], passed: bool, tripped: bool) -> None:
    st = ProbeState()
    for i, r in enumerate(results):
        st = record(kind, probe, st, r, now=float(i))
    assert (st.passed, st.tripped) == (passed, tripped)


def test_gates() -> None:
    spec = {"name": "c", "startupProbe": {}, "readinessProbe": {}}
    cp = ContainerProbes()
    assert (cp.started(spec), cp.ready(spec)) == (False, False)
    cp.states["startupProbe"] = ProbeState(passed=True)
    assert (cp.started(spec), cp.ready(spec)) == (True, False)
    cp.states["readinessProbe"] = ProbeState(passed=True)
    assert cp.ready(spec) and ContainerProbes().ready({"name": "plain"})
