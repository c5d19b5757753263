"""compute_status: the pod status the agent reports (phase, conditions, container states)."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from skiff.nodeagent.kubelet.observed import ContainerObs, CState, PodObs, SandboxObs
from skiff.nodeagent.kubelet.podstatus import Failure, changed, compute_status, phase, qos_class
from tests.unit.nodeagent.test_plan import NOW, new_pod

SB = SandboxObs(id="sb1", attempt=0, ready=True, ip="10.244.0.5")
T0 = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
R, X, C = CState.RUNNING, CState.EXITED, CState.CREATED


def c(name: str, state: CState, *, attempt: int = 0, code: int = 0, reason: str = "") -> ContainerObs:
    return ContainerObs(id=f"{name}-{attempt}", name=name, attempt=attempt, state=state, exit_code=code,
                        reason=reason, created_at=attempt + 1, started_at=NOW, finished_at=NOW if state is X else 0,
                        image_ref="sha256:img")


def obs(*containers: ContainerObs, sandbox: bool = True) -> PodObs:
    return PodObs(sandboxes=[SB] if sandbox else [], containers=list(containers))


@pytest.mark.parametrize("pod,observed,want", [
    (new_pod("a"), obs(sandbox=False), "Pending"),
    (new_pod("a"), obs(), "Pending"),
    (new_pod("a"), obs(c("a", C)), "Pending"),
    (new_pod("a", "b"), obs(c("a", R)), "Running"),
    (new_pod("a"), obs(c("a", R)), "Running"),
    (new_pod("a"), obs(c("a", X, code=1)), "Running"),
    (new_pod("a", policy="Never"), obs(c("a", X, code=0)), "Succeeded"),
    (new_pod("a", policy="Never"), obs(c("a", X, code=2)), "Failed"),
    (new_pod("a", "b", policy="Never"), obs(c("a", X, code=0), c("b", X, code=1)), "Failed"),
    (new_pod("a", policy="OnFailure"), obs(c("a", X, code=0)), "Succeeded"),
    (new_pod("a", policy="OnFailure"), obs(c("a", X, code=1)), "Running"),
    (new_pod("a", init=("i",)), obs(c("i", R)), "Pending"),
    (new_pod("a", init=("i",), policy="Never"), obs(c("i", X, code=1)), "Failed"),
    (new_pod("a", init=("i",)), obs(c("i", X, code=1)), "Pending"),
], ids=["no-sandbox", "nothing-yet", "created", "one-running", "running", "restarting", "never-success",
        "never-failure", "never-mixed", "onfailure-success", "onfailure-restarting", "initializing",
        "init-failed-never", "init-failed-retrying"])
def test_phase(pod: dict[str, Any], observed: PodObs, want: str) -> None:
    assert phase(pod, observed) == want
    assert compute_status(pod, observed, now=T0, host_ip="10.0.0.1")["phase"] == want


def test_running_pod_status() -> None:
    pod = new_pod("a", init=("i",))
    st = compute_status(pod, obs(c("i", X), c("a", R)), now=T0, host_ip="10.0.0.1")
    assert (st["podIP"], st["podIPs"], st["hostIP"], st["startTime"]) == (
        "10.244.0.5", [{"ip": "10.244.0.5"}], "10.0.0.1", "2024-01-02T03:04:05Z")
    assert {x["type"]: x["status"] for x in st["conditions"]} == {
        "PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True", "ContainersReady": "True",
        "PodScheduled": "True"}
    cs = st["containerStatuses"][0]
    assert cs["ready"] and cs["started"] and cs["containerID"] == "skiff://a-0" and cs["imageID"] == "sha256:img"
    assert list(cs["state"]) == ["running"]
    init = st["initContainerStatuses"][0]["state"]["terminated"]
    assert (init["exitCode"], init["reason"], init["containerID"]) == (0, "Completed", "skiff://i-0")
    assert st["qosClass"] == "BestEffort"


@pytest.mark.parametrize("pod,observed,failures,state", [
    (new_pod("a"), obs(), {}, {"waiting": {"reason": "ContainerCreating"}}),
    (new_pod("a", init=("i",)), obs(c("i", R)), {}, {"waiting": {"reason": "PodInitializing"}}),
    (new_pod("a"), obs(), {"a": Failure("ErrImagePull", "not found")},
     {"waiting": {"reason": "ErrImagePull", "message": "not found"}}),
    (new_pod("a", policy="Never"), obs(c("a", X, code=137, reason="OOMKilled")), {},
     {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": "1970-01-12T13:46:40Z",
                     "finishedAt": "1970-01-12T13:46:40Z", "containerID": "skiff://a-0"}}),
], ids=["creating", "initializing", "pull-error", "oom"])
def test_container_state(pod: dict[str, Any], observed: PodObs, failures: dict[str, Failure],
                         state: dict[str, Any]) -> None:
    st = compute_status(pod, observed, now=T0, host_ip="h", failures=failures)
    assert st["containerStatuses"][0]["state"] == state


def test_crash_loop_status() -> None:
    st = compute_status(new_pod("a"), obs(c("a", X, attempt=0, code=1), c("a", X, attempt=2, code=1)), now=T0,
                        host_ip="h")
    cs = st["containerStatuses"][0]
    assert cs["restartCount"] == 2 and not cs["ready"]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["state"]["waiting"]["message"].startswith("back-off 20s restarting failed container=a pod=p_default(u1)")
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert {x["type"]: x.get("reason") for x in st["conditions"]}["Ready"] == "ContainersNotReady"


def test_terminal_status_is_kept_and_transition_times_hold() -> None:
    pod = new_pod("a", phase="Failed")
    pod["status"].update(reason="DeadlineExceeded", message="m", podIP="10.244.0.9")
    st = compute_status(pod, obs(c("a", X, code=137), sandbox=False), now=T0, host_ip="h")
    assert (st["phase"], st["reason"], st["podIP"]) == ("Failed", "DeadlineExceeded", "10.244.0.9")
    assert st["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137  # not CrashLoopBackOff
    pod = new_pod("a")
    first = compute_status(pod, obs(c("a", R)), now=T0, host_ip="h")
    pod["status"] = first
    later = compute_status(pod, obs(c("a", R)), now=T0 + dt.timedelta(minutes=5), host_ip="h")
    assert [x["lastTransitionTime"] for x in later["conditions"]] == [x["lastTransitionTime"] for x in first["conditions"]]
    assert not changed(first, later)
    assert changed(first, compute_status(pod, obs(c("a", X, code=1)), now=T0, host_ip="h"))


@pytest.mark.parametrize("resources,qos", [
    ([{}], "BestEffort"),
    ([{"requests": {"cpu": "100m"}}], "Burstable"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}], "Burstable"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),
], ids=["none", "requests", "limits-only", "requests-below", "one-of-two"])
def test_qos_class(resources: list[dict[str, Any]], qos: str) -> None:
    pod = {"spec": {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]}}
    assert qos_class(pod) == qos


def test_active_deadline() -> None:
    pod = new_pod("a")
    pod["spec"]["activeDeadlineSeconds"] = 10
    pod["status"]["startTime"] = "2024-01-02T03:04:00Z"
    over = compute_status(pod, obs(c("a", R)), now=T0 + dt.timedelta(seconds=11), host_ip="h")
    assert (over["phase"], over["reason"]) == ("Failed", "DeadlineExceeded")
    within = compute_status(pod, obs(c("a", R)), now=T0, host_ip="h")
    assert within["phase"] == "Running" and "reason" not in within
