"""Which nodes the lab waits for before applying the demo."""
from __future__ import annotations

from skiff.cmd.lab import usable_nodes


def node(name: str, *, ready: bool = True, cidr: str = "10.244.0.0/24", taints: list | None = None) -> dict:
    return {"metadata": {"name": name}, "spec": {"podCIDR": cidr, "taints": taints or []},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_usable_nodes_are_ready_untainted_and_have_a_pod_cidr() -> None:
    items = [node("ok"), node("down", ready=False), node("nocidr", cidr=""),
             node("joining", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]),
             node("custom", cidr="10.244.9.0/24", taints=[{"key": "team", "effect": "NoSchedule"}])]
    assert usable_nodes(items) == {"ok": "10.244.0.0/24", "custom": "10.244.9.0/24"}
