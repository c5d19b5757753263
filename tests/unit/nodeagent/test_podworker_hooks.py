"""The pod worker's kill and postStart steps against a recording fake CRI: the order of
hook, stop and events, the grace a preStop hook leaves, a failed postStart's kill."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from skiff.nodeagent.kubelet.observed import PodObs, SandboxObs
from skiff.nodeagent.kubelet.podworker import PodWorkers, StepFailed
from skiff.nodeagent.runtime.cri import api_pb2 as pb


class FakeCri:
    def __init__(self, exit_code: int = 0) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.exit_code = exit_code
        self.runtime = self

    async def observe(self, uid: str) -> PodObs:
        return PodObs(sandboxes=[SandboxObs("sb", 0, True, "10.0.0.5")])

    async def ExecSync(self, req: pb.ExecSyncRequest, timeout: float) -> pb.ExecSyncResponse:  # noqa: N802
        self.calls.append(("exec", req.container_id, tuple(req.cmd)))
        return pb.ExecSyncResponse(exit_code=self.exit_code, stdout=b"out")

    async def stop_container(self, cid: str, grace: int) -> None:
        self.calls.append(("stop", cid, grace))


def pod(lifecycle: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {"containers": [{"name": "c", "lifecycle": lifecycle}]}}


def workers(cri: FakeCri) -> PodWorkers:
    return PodWorkers(client=None, cri=cri, node_name="n", host_ip="h", logs_root="/l")  # type: ignore[arg-type]


def test_pre_stop_runs_before_the_stop_with_the_grace_left() -> None:
    cri = FakeCri()
    w = workers(cri)
    asyncio.run(w.kill_container(pod({"preStop": {"exec": {"command": ["sh", "-c", "bye"]}}}), "cid", "c", 30))
    assert cri.calls[0] == ("exec", "cid", ("sh", "-c", "bye"))
    assert cri.calls[1][:2] == ("stop", "cid") and 28 <= cri.calls[1][2] <= 30
    assert [e[2] for e in w.recorder.events] == ["Killing"]


def test_failed_pre_stop_is_an_event_and_the_stop_goes_on() -> None:
    cri = FakeCri(exit_code=1)
    w = workers(cri)
    asyncio.run(w.kill_container(pod({"preStop": {"exec": {"command": ["false"]}}}), "cid", "c", 1))
    assert [c[0] for c in cri.calls] == ["exec", "stop"] and cri.calls[1][2] == 2  # never under the minimum
    reasons = [e[2] for e in w.recorder.events]
    assert reasons == ["Killing", "FailedPreStopHook"]
    assert "Exec lifecycle hook ([false]) for Container \"c\" in Pod \"p_ns(u)\" failed" in w.recorder.events[1][3]


def test_no_hook_no_exec() -> None:
    cri = FakeCri()
    asyncio.run(workers(cri).kill_container(pod({}), "cid", "c", 5))
    assert cri.calls == [("stop", "cid", 5)]


def test_failed_post_start_kills_the_container() -> None:
    cri = FakeCri(exit_code=3)
    w = workers(cri)
    p = pod({"postStart": {"exec": {"command": ["setup"]}}})
    with pytest.raises(StepFailed, match="PostStartHookError"):
        asyncio.run(w._post_start(p, p["spec"]["containers"][0], "cid"))
    assert [c[0] for c in cri.calls] == ["exec", "stop"]
    assert [e[2] for e in w.recorder.events] == ["FailedPostStartHook", "Killing"]
    assert w.recorder.events[1][3] == "FailedPostStartHook"
    assert w.failures["u"]["c"].reason == "PostStartHookError"
