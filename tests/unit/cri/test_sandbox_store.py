"""The sandbox records read back after a restart."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from skiff.nodeagent.runtime.cri.sandbox import Sandbox, SandboxStore


def test_a_sandbox_whose_namespaces_are_gone_loads_not_ready(tmp_path: Path) -> None:
    store = SandboxStore(tmp_path)
    store.save(Sandbox(id="abc", name="web", uid="u1", namespace="default", attempt=0, created_at=1))
    assert json.loads((tmp_path / "abc" / "sandbox.json").read_text())["ready"] is True
    again = SandboxStore(tmp_path)  # nothing holds its namespaces now (no nsfs mounts under ns/)
    again.load()
    assert again.get("abc").ready is False
    assert json.loads((tmp_path / "abc" / "sandbox.json").read_text())["ready"] is False
    stopped = Sandbox(id="def", name="job", uid="u2", namespace="default", attempt=1, created_at=2, ready=False)
    again.save(stopped)
    third = SandboxStore(tmp_path)
    third.load()
    assert asdict(third.get("def")) == asdict(stopped)
