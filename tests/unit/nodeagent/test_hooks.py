"""Lifecycle hook plans and the grace period a preStop hook leaves (pure)."""
from __future__ import annotations

from typing import Any

import pytest

from skiff.nodeagent.kubelet.hooks import HookError, HookKind, HookPlan, grace_left, hook_plan, pod_ref


@pytest.mark.parametrize("handler,plan", [
    ({"exec": {"command": ["sh", "-c", "echo hi"]}}, HookPlan(HookKind.EXEC, command=("sh", "-c", "echo hi"))),
    ({"httpGet": {"path": "/hook", "port": "http", "httpHeaders": [{"name": "X-A", "value": "1"}]}},
     HookPlan(HookKind.HTTP, url="http://10.0.0.5:8080/hook", path="/hook", headers=(("X-A", "1"),))),
    ({"httpGet": {"host": "192.0.2.1", "port": 9000, "scheme": "HTTPS"}},
     HookPlan(HookKind.HTTP, url="https://192.0.2.1:9000/", path="")),
    ({"sleep": {"seconds": 5}}, HookPlan(HookKind.SLEEP, seconds=5)),
], ids=["exec", "http-named-port", "http-host-scheme", "sleep"])
def test_hook_plan(handler: dict[str, Any], plan: HookPlan) -> None:
    assert hook_plan(handler, pod_ip="10.0.0.5", ports={"http": 8080}, where="w") == plan


@pytest.mark.parametrize("handler,message", [
    ({"httpGet": {"port": "nosuch"}}, r"w\.httpGet\.port: 'nosuch'"),
    ({"tcpSocket": {"port": 80}}, r"w\.tcpSocket"),
    ({}, "one of exec, httpGet or sleep"),
], ids=["unknown-port", "tcp", "empty"])
def test_bad_hooks_name_the_field(handler: dict[str, Any], message: str) -> None:
    with pytest.raises(HookError, match=message):
        hook_plan(handler, pod_ip="", ports={}, where="w")


@pytest.mark.parametrize("grace,elapsed,left", [(30, 5.5, 24), (30, 29.5, 2), (10, 40, 2), (0, 0, 2)])
def test_grace_left(grace: int, elapsed: float, left: int) -> None:
    assert grace_left(grace, elapsed) == left


def test_pod_ref() -> None:
    assert pod_ref({"metadata": {"name": "p", "namespace": "ns", "uid": "u"}}) == "p_ns(u)"
