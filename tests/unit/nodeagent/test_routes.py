"""Routes to other nodes' podCIDRs: which ones, and what changes (pure)."""
from __future__ import annotations

from typing import Any

import pytest

from skiff.nodeagent.network.routes import desired_routes, diff


def node(name: str, cidr: str | None, ip: str | None) -> dict[str, Any]:
    n: dict[str, Any] = {"metadata": {"name": name}, "spec": {}, "status": {}}
    if cidr:
        n["spec"]["podCIDR"] = cidr
    if ip:
        n["status"]["addresses"] = [{"type": "Hostname", "address": name}, {"type": "InternalIP", "address": ip}]
    return n


def test_desired_routes() -> None:
    nodes = [node("me", "10.244.0.0/24", "10.0.0.1"), node("b", "10.244.1.0/24", "10.0.0.2"),
             node("no-cidr", None, "10.0.0.3"), node("no-ip", "10.244.3.0/24", None),
             node("v6", "fd00::/64", "10.0.0.5"), node("bad", "nonsense", "10.0.0.6"),
             node("v6-ip", "10.244.7.0/24", "fd00::7")]
    assert desired_routes(nodes, me="me") == {"10.244.1.0/24": "10.0.0.2"}


@pytest.mark.parametrize("current,desired,put,gone", [
    ({}, {"a": "1"}, {"a": "1"}, []),
    ({"a": "1"}, {"a": "1"}, {}, []),
    ({"a": "1"}, {"a": "2"}, {"a": "2"}, []),
    ({"a": "1", "b": "2"}, {}, {}, ["a", "b"]),
], ids=["add", "same", "moved", "gone"])
def test_diff(current: dict[str, str], desired: dict[str, str], put: dict[str, str], gone: list[str]) -> None:
    assert diff(current, desired) == (put, gone)
