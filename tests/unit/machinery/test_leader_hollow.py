"""Leader election decisions, toleration rules, and the hollow kubelet's pod steps (pure parts)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from skiff.machinery.hollow.kubelet import (EXIT_CODE, RUN_SECONDS, START_SECONDS, IPAllocator, Step, decide, exited_status,
                                            running_status)
from skiff.machinery.leader import Decision, decide as lease_decide, lease_spec
from skiff.machinery.objects import fmt_micro, fmt_time
from skiff.machinery.placement import (matches_node_selector_and_affinity, pod_requests, toleration_seconds,
                                       untolerated_taint)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def lease(holder: str, renewed_ago: float, duration: int = 15) -> dict[str, Any]:
    return {"spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                     "renewTime": fmt_micro(NOW - timedelta(seconds=renewed_ago))}}


@pytest.mark.parametrize("current,expected", [
    (None, Decision.CREATE),
    (lease("me", 100), Decision.RENEW),
    (lease("other", 5), Decision.WAIT),
    (lease("other", 16), Decision.TAKE),
    (lease("", 1), Decision.TAKE),
], ids=["no-lease", "mine", "held", "expired", "released"])
def test_lease_decision(current: dict[str, Any] | None, expected: Decision) -> None:
    assert lease_decide(current, "me", NOW) is expected


def test_taking_a_lease_counts_a_transition() -> None:
    spec = lease_spec({"spec": {"holderIdentity": "other", "leaseTransitions": 2}}, "me", NOW, duration=15,
                      decision=Decision.TAKE)
    assert spec["holderIdentity"] == "me" and spec["leaseTransitions"] == 3


UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}


@pytest.mark.parametrize("tolerations,expected", [
    ([], 300),
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 7}], 7),
    ([{"operator": "Exists"}], None),
    ([{"key": "other", "operator": "Exists"}], 300),
], ids=["default", "explicit-seconds", "tolerate-all-forever", "non-matching"])
def test_toleration_seconds(tolerations: list[dict[str, Any]], expected: int | None) -> None:
    assert toleration_seconds(tolerations, UNREACHABLE, default=300) == expected


def test_untolerated_taint_and_affinity() -> None:
    taints = [{"key": "a", "value": "1", "effect": "NoSchedule"}, {"key": "b", "effect": "PreferNoSchedule"}]
    assert untolerated_taint(taints, [])["key"] == "a"
    assert untolerated_taint(taints, [{"key": "a", "operator": "Equal", "value": "1"}]) is None
    node = {"metadata": {"name": "n1", "labels": {"zone": "z1", "gpu": "4"}}}
    pod = {"spec": {"nodeSelector": {"zone": "z1"}, "affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "gpu", "operator": "Gt", "values": ["2"]}]}]}}}}}
    assert matches_node_selector_and_affinity(pod, node)
    pod["spec"]["nodeSelector"] = {"zone": "z2"}
    assert not matches_node_selector_and_affinity(pod, node)


def test_pod_requests_take_init_containers_max_and_overhead() -> None:
    pod = {"spec": {"containers": [{"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
                                   {"resources": {"requests": {"cpu": "0.5"}}}],
                    "initContainers": [{"resources": {"requests": {"cpu": "1", "memory": "1Mi"}}}],
                    "overhead": {"cpu": "10m"}}}
    assert pod_requests(pod) == {"cpu": 1010, "memory": 64 * 1024 * 1024}


def hpod(**annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": "p", "uid": "u1", "annotations": annotations},
            "spec": {"nodeName": "n", "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}


def test_hollow_pod_starts_runs_and_exits_with_the_annotated_code() -> None:
    pod = hpod(**{EXIT_CODE: "3", RUN_SECONDS: "5"})
    assert decide(pod, now=NOW).step is Step.START
    pod["status"] = running_status(pod, now=NOW, host_ip="198.18.0.1", pod_ip="10.244.0.2")
    assert pod["status"]["phase"] == "Running" and pod["status"]["podIP"] == "10.244.0.2"
    d = decide(pod, now=NOW + timedelta(seconds=1))
    assert d.step is Step.EXIT and d.wait == pytest.approx(4)
    d = decide(pod, now=NOW + timedelta(seconds=6))
    assert (d.step, d.wait, d.exit_code) == (Step.EXIT, 0, 3)
    pod["status"] = exited_status(pod, now=NOW + timedelta(seconds=6), exit_code=3)
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    assert decide(pod, now=NOW).step is Step.NONE


def test_hollow_pod_deletion_waits_for_termination_capped_by_grace() -> None:
    pod = hpod()
    pod["metadata"].update(deletionTimestamp=fmt_time(NOW + timedelta(seconds=30)), deletionGracePeriodSeconds=30)
    assert decide(pod, now=NOW, termination_seconds=0).wait == 0
    assert decide(pod, now=NOW, termination_seconds=5).wait == pytest.approx(5)
    assert decide(pod, now=NOW, termination_seconds=60).wait == pytest.approx(30)


def test_ip_allocator_reuses_released_addresses() -> None:
    ips = IPAllocator("10.244.3.0/24")
    a, b = ips.allocate("a"), ips.allocate("b")
    assert (a, b) == ("10.244.3.2", "10.244.3.3") and ips.allocate("a") == a
    ips.release("a")
    assert ips.allocate("c") == a


@pytest.mark.parametrize("annotation,default,bound_ago,wait", [
    (None, 0.0, 0, 0.0),
    (None, 3.0, 1, 2.0),
    ("5", 0.0, 1, 4.0),
    ("2", 9.0, 5, 0.0),
    ("bad", 1.5, 0, 1.5),
], ids=["no-delay", "node-default", "annotation", "already-due", "bad-annotation-uses-default"])
def test_hollow_pod_start_waits_for_the_start_delay_after_binding(annotation: str | None, default: float,
                                                                  bound_ago: float, wait: float) -> None:
    pod = hpod(**({START_SECONDS: annotation} if annotation is not None else {}))
    pod["status"] = {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": fmt_time(NOW - timedelta(seconds=bound_ago))}]}
    d = decide(pod, now=NOW, start_seconds=default)
    assert d.step is Step.START and d.wait == pytest.approx(wait)
