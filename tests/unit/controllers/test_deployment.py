"""Deployment and ReplicaSet decisions: tables plus a simulated rollout checked at every step."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from skiff.controllers import deployment as dep
from skiff.controllers import replicaset as rsc
from skiff.machinery.objects import fmt_time

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def deployment(replicas: int = 3, image: str = "v1", *, surge: Any = "25%", unavailable: Any = "25%",
               strategy: str = "RollingUpdate", **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "c", "image": image}]}},
                         "strategy": {"type": strategy}, **spec}
    if strategy == "RollingUpdate":
        s["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "d-uid", "generation": 1,
                         "annotations": {}}, "spec": s, "status": {}}


class World:
    """ReplicaSets whose pods become available instantly, as a perfect RS controller + kubelet would."""

    def __init__(self, d: dict[str, Any]) -> None:
        self.d = d
        self.rss: dict[str, dict[str, Any]] = {}
        self.clock = 0

    def apply(self, p: dep.DeploymentPlan) -> None:
        if p.create_rs is not None:
            rs = copy.deepcopy(p.create_rs)
            self.clock += 1
            rs["metadata"]["creationTimestamp"] = fmt_time(NOW + timedelta(seconds=self.clock))
            rs["metadata"]["uid"] = rs["metadata"]["name"]
            self.rss[rs["metadata"]["name"]] = rs
        for name, annotations in p.annotate.items():
            self.rss[name]["metadata"]["annotations"].update(annotations)
        for name, n in p.scale.items():
            self.rss[name]["spec"]["replicas"] = n
        for name in p.delete_rs:
            del self.rss[name]
        for k, v in p.deployment_annotations.items():
            if v is None:
                self.d["metadata"]["annotations"].pop(k, None)
            else:
                self.d["metadata"]["annotations"][k] = v
        if p.rollback_template is not None:
            self.d["spec"]["template"] = p.rollback_template

    def settle(self, *, available: bool = True) -> None:
        for rs in self.rss.values():
            n = rs["spec"]["replicas"]
            rs["status"] = {"replicas": n, "readyReplicas": n if available else 0,
                            "availableReplicas": n if available else 0}

    def step(self) -> dep.DeploymentPlan:
        p = dep.plan(self.d, list(self.rss.values()))
        self.apply(p)
        return p

    def totals(self) -> tuple[int, int]:
        return (sum(rs["spec"]["replicas"] for rs in self.rss.values()),
                sum((rs.get("status") or {}).get("availableReplicas", 0) for rs in self.rss.values()))


def roll(w: World, *, max_steps: int = 50) -> list[tuple[int, int]]:
    """Run plan/settle until nothing changes; return (total pods, available pods) after each step."""
    seen = []
    for _ in range(max_steps):
        p = w.step()
        seen.append(w.totals())
        w.settle()
        if not (p.create_rs or p.scale or p.annotate or p.delete_rs or p.deployment_annotations
                or p.rollback_template):
            return seen
    raise AssertionError("rollout did not converge")


def test_first_sync_creates_a_full_replicaset_with_revision_1() -> None:
    d = deployment(replicas=3)
    p = dep.plan(d, [])
    rs = p.create_rs
    assert rs is not None and rs["spec"]["replicas"] == 3
    h = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": h}
    assert rs["metadata"]["annotations"][dep.REVISION] == "1"
    assert rs["metadata"]["ownerReferences"][0]["uid"] == "d-uid"


@pytest.mark.parametrize("replicas,surge,unavailable", [
    (10, "25%", "25%"), (10, 0, 1), (10, 3, 0), (4, 1, 1), (1, 1, 0), (5, "50%", "0%"),
], ids=["defaults", "no-surge", "no-unavailable", "small", "single", "half-surge"])
def test_rolling_update_respects_surge_and_unavailability_at_every_step(replicas: int, surge: Any,
                                                                         unavailable: Any) -> None:
    w = World(deployment(replicas, surge=surge, unavailable=unavailable))
    roll(w)
    w.d["spec"]["template"]["spec"]["containers"][0]["image"] = "v2"
    w.d["metadata"]["generation"] = 2
    max_surge, max_unavailable = dep.surge_and_unavailable(w.d)
    history = []
    for _ in range(60):
        p = w.step()
        total, _ = w.totals()
        # pods that exist but are not yet available are counted as unavailable right after a scale-up
        available_now = sum(min(rs["spec"]["replicas"], (rs.get("status") or {}).get("availableReplicas", 0))
                            for rs in w.rss.values())
        assert total <= replicas + max_surge, f"surge exceeded: {total}"
        assert available_now >= replicas - max_unavailable, f"too many unavailable: {available_now}"
        history.append(total)
        w.settle()
        if not (p.create_rs or p.scale or p.annotate or p.delete_rs or p.deployment_annotations):
            break
    new = dep.find_new_rs(w.d, list(w.rss.values()))
    assert new is not None and new["spec"]["replicas"] == replicas
    assert all(rs["spec"]["replicas"] == 0 for rs in w.rss.values() if rs is not new)
    assert new["metadata"]["annotations"][dep.REVISION] == "2"
    status = dep.compute_status(w.d, list(w.rss.values()), now=NOW)
    assert status["updatedReplicas"] == status["availableReplicas"] == replicas
    prog = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert prog["reason"] == "NewReplicaSetAvailable"


def test_recreate_scales_old_to_zero_before_the_new_one_starts() -> None:
    w = World(deployment(3, strategy="Recreate"))
    roll(w)
    w.d["spec"]["template"]["spec"]["containers"][0]["image"] = "v2"
    p = dep.plan(w.d, list(w.rss.values()))
    assert p.create_rs is None and list(p.scale.values()) == [0]
    w.apply(p)
    w.settle()
    p = dep.plan(w.d, list(w.rss.values()), old_pods_active=2)
    assert p.create_rs is None, "Recreate waits for old pods to be gone"
    p = dep.plan(w.d, list(w.rss.values()), old_pods_active=0)
    assert p.create_rs is not None and p.create_rs["spec"]["replicas"] == 3


def test_rollback_reuses_the_old_replicaset_and_gives_it_a_new_revision() -> None:
    w = World(deployment(2))
    roll(w)
    first = next(iter(w.rss))
    w.d["spec"]["template"]["spec"]["containers"][0]["image"] = "v2"
    roll(w)
    w.d["metadata"]["annotations"][dep.ROLLBACK_TO] = "0"
    p = w.step()
    assert p.rollback_template is not None and dep.ROLLBACK_TO not in w.d["metadata"]["annotations"]
    assert "pod-template-hash" not in p.rollback_template["metadata"]["labels"]
    roll(w)
    assert w.rss[first]["spec"]["replicas"] == 2
    assert w.rss[first]["metadata"]["annotations"][dep.REVISION] == "3"
    assert w.d["metadata"]["annotations"][dep.REVISION] == "3"


def test_paused_deployment_scales_but_does_not_roll() -> None:
    w = World(deployment(2))
    roll(w)
    w.d["spec"]["paused"] = True
    w.d["spec"]["template"]["spec"]["containers"][0]["image"] = "v2"
    w.d["spec"]["replicas"] = 5
    roll(w)
    assert len(w.rss) == 1 and next(iter(w.rss.values()))["spec"]["replicas"] == 5
    status = dep.compute_status(w.d, list(w.rss.values()), now=NOW)
    assert next(c for c in status["conditions"] if c["type"] == "Progressing")["reason"] == "DeploymentPaused"


def test_history_is_trimmed_to_the_limit() -> None:
    w = World(deployment(1, revisionHistoryLimit=1))
    for image in ("v1", "v2", "v3", "v4"):
        w.d["spec"]["template"]["spec"]["containers"][0]["image"] = image
        roll(w)
    assert len(w.rss) == 2, "the current ReplicaSet plus one old revision"


def test_progress_deadline_exceeded() -> None:
    d = deployment(2, progressDeadlineSeconds=60)
    w = World(d)
    w.step()
    w.settle(available=False)
    d["status"] = dep.compute_status(d, list(w.rss.values()), now=NOW)
    assert next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")["reason"] == "ReplicaSetUpdated"
    later = dep.compute_status(d, list(w.rss.values()), now=NOW + timedelta(seconds=61))
    prog = next(c for c in later["conditions"] if c["type"] == "Progressing")
    assert (prog["status"], prog["reason"]) == ("False", "ProgressDeadlineExceeded")
    avail = next(c for c in later["conditions"] if c["type"] == "Available")
    assert avail["status"] == "False"


@pytest.mark.parametrize("value,total,up,expected", [
    ("25%", 10, True, 3), ("25%", 10, False, 2), (2, 10, True, 2), ("0%", 5, True, 0), ("100%", 3, False, 3)])
def test_int_or_percent(value: Any, total: int, up: bool, expected: int) -> None:
    from skiff.machinery.objects import int_or_percent
    assert int_or_percent(value, total, round_up=up) == expected


# --- ReplicaSet -------------------------------------------------------------------------------------

def rs(replicas: int = 3) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "rs", "namespace": "default", "uid": "rs-uid", "generation": 2},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}}}


def rpod(name: str, *, owner: str | None = "rs-uid", labels: dict[str, str] | None = None, phase: str = "Running",
         ready: bool = True, node: str | None = "n1", created: int = 0, deleting: bool = False) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "namespace": "default", "labels": labels if labels is not None else {"app": "web"},
                         "creationTimestamp": fmt_time(NOW + timedelta(seconds=created)), "resourceVersion": "1"}
    if owner:
        m["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "ReplicaSet", "name": "rs"}]
    if deleting:
        m["deletionTimestamp"] = fmt_time(NOW)
    conds = [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": fmt_time(NOW)}]
    spec = {"nodeName": node} if node else {}
    return {"metadata": m, "spec": spec, "status": {"phase": phase, "conditions": conds}}


@pytest.mark.parametrize("pods,create,delete", [
    ([], 3, []),
    ([rpod("a"), rpod("b")], 1, []),
    ([rpod("a"), rpod("b"), rpod("c"), rpod("d", phase="Pending", ready=False, node=None)], 0, ["d"]),
    ([rpod("a", created=1), rpod("b", created=2), rpod("c", created=3), rpod("d", created=4)], 0, ["d"]),
    ([rpod("a"), rpod("b"), rpod("c", ready=False), rpod("d")], 0, ["c"]),
    ([rpod("a"), rpod("b"), rpod("x", deleting=True), rpod("y", phase="Failed")], 1, []),
], ids=["empty", "one-short", "unscheduled-first", "newest-first", "not-ready-first", "ignore-inactive"])
def test_replicaset_plan(pods: list[dict[str, Any]], create: int, delete: list[str]) -> None:
    p = rsc.plan(rs(), pods, now=NOW)
    assert p.create == create
    assert [x["metadata"]["name"] for x in p.delete] == delete


def test_replicaset_adopts_orphans_and_releases_mismatches() -> None:
    orphan = rpod("o", owner=None)
    mismatched = rpod("m", labels={"app": "other"})
    foreign = rpod("f", owner="someone-else")
    p = rsc.plan(rs(2), [orphan, mismatched, foreign, rpod("a")], now=NOW)
    assert [x["metadata"]["name"] for x in p.adopt] == ["o"]
    assert [x["metadata"]["name"] for x in p.release] == ["m"]
    assert p.create == 0 and p.delete == []


def test_replicaset_status_with_min_ready_seconds() -> None:
    r = rs(3)
    r["spec"]["minReadySeconds"] = 10
    pods = [rpod("a"), rpod("b", ready=False), rpod("c")]
    s = rsc.compute_status(r, pods, now=NOW + timedelta(seconds=5))
    assert (s["replicas"], s["readyReplicas"], s["availableReplicas"], s["observedGeneration"]) == (3, 2, 0, 2)
    assert rsc.compute_status(r, pods, now=NOW + timedelta(seconds=11))["availableReplicas"] == 2
    assert rsc.next_available_check(r, pods, now=NOW + timedelta(seconds=5)) == pytest.approx(5)
