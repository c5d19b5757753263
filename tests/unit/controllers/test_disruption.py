"""PodDisruptionBudget status: expected, healthy, desired and allowed disruptions (pure)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from skiff.controllers.disruption import compute_status, next_expiry, selected_pods
from skiff.machinery.objects import fmt_time

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def pdb(*, disrupted: dict[str, str] | None = None, generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "b", "namespace": "d", "generation": generation},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
            "status": {"disruptedPods": disrupted} if disrupted else {}}


def pod(name: str, *, ready: bool = True, deleting: bool = False, app: str = "web") -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "namespace": "d", "labels": {"app": app}}
    if deleting:
        m["deletionTimestamp"] = fmt_time(NOW)
    return {"metadata": m, "status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


FOUR = [pod("a"), pod("b"), pod("c"), pod("d")]


@pytest.mark.parametrize("spec,pods,scale,expected,healthy,desired,allowed", [
    ({"minAvailable": 3}, FOUR, None, 4, 4, 3, 1),
    ({"minAvailable": 4}, FOUR, None, 4, 4, 4, 0),
    ({"minAvailable": 3}, [*FOUR[:3], pod("d", ready=False)], None, 4, 3, 3, 0),
    ({"minAvailable": 2}, [*FOUR[:3], pod("d", deleting=True)], None, 4, 3, 2, 1),
    ({"maxUnavailable": 1}, FOUR, 4, 4, 4, 3, 1),
    ({"maxUnavailable": 1}, FOUR[:3], 4, 4, 3, 3, 0),
    ({"maxUnavailable": "50%"}, FOUR, 4, 4, 4, 2, 2),
    ({"minAvailable": "50%"}, FOUR, 5, 5, 4, 3, 1),
    ({"maxUnavailable": 0}, FOUR, 4, 4, 4, 4, 0),
    ({}, FOUR, 4, 4, 4, 4, 0),
    ({"minAvailable": 0}, [], None, 0, 0, 0, 0),
], ids=["min-int", "min-all", "one-unready", "terminating-not-healthy", "max-int", "max-int-short",
        "max-percent", "min-percent-rounds-up", "max-zero", "neither", "no-pods"])
def test_budget_status(spec: dict[str, Any], pods: list[dict[str, Any]], scale: int | None, expected: int,
                       healthy: int, desired: int, allowed: int) -> None:
    s = compute_status(pdb(**spec), pods, expected_scale=scale, now=NOW)
    assert (s["expectedPods"], s["currentHealthy"], s["desiredHealthy"], s["disruptionsAllowed"]) == \
        (expected, healthy, desired, allowed)
    cond = s["conditions"][0]
    assert (cond["type"], cond["status"]) == ("DisruptionAllowed", "True" if allowed else "False")
    assert s["observedGeneration"] == 1


def test_granted_evictions_are_not_healthy_until_they_expire_or_the_pod_goes() -> None:
    recent = fmt_time(NOW - timedelta(seconds=10))
    old = fmt_time(NOW - timedelta(minutes=3))
    s = compute_status(pdb(minAvailable=2, disrupted={"a": recent, "b": old, "zz": recent}), FOUR,
                       expected_scale=None, now=NOW)
    assert s["disruptedPods"] == {"a": recent}, "expired and vanished entries are dropped"
    assert (s["currentHealthy"], s["disruptionsAllowed"]) == (3, 1)
    assert next_expiry(s, now=NOW) == pytest.approx(110.5)
    gone = compute_status(pdb(minAvailable=2, disrupted={"a": recent}), [pod("a", deleting=True), *FOUR[1:]],
                          expected_scale=None, now=NOW)
    assert "disruptedPods" not in gone and gone["currentHealthy"] == 3


def test_selector_picks_the_budgets_pods() -> None:
    assert [p["metadata"]["name"] for p in selected_pods(pdb(), [pod("a"), pod("x", app="db")])] == ["a"]
    assert selected_pods({"spec": {}}, [pod("a")]) == [], "no selector selects nothing"
