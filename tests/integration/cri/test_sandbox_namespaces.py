"""A sandbox's namespaces, made in the engine's process: pinned to files, the engine untouched."""
from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from skiff.nodeagent.runtime.cri.sandbox import Sandbox, SandboxError, SandboxStore

pytestmark = pytest.mark.integration


def sandbox(name: str, *, host_network: bool = False, hostname: str = "") -> Sandbox:
    return Sandbox(id=os.urandom(8).hex(), name=name, uid="u", namespace="default", attempt=0, created_at=0,
                   hostname=hostname, host_network=host_network)


def nsenter(*args: str) -> str:
    return subprocess.run(["nsenter", *args], capture_output=True, text=True, check=True, timeout=30).stdout


def test_namespaces_are_pinned_with_hostname_and_lo_up_and_the_engine_stays_put(tmp_path: Path) -> None:
    store = SandboxStore(tmp_path)
    sb = sandbox("web", hostname="web-0")
    mine = {k: os.readlink(f"/proc/self/ns/{k}") for k in ("net", "ipc", "uts")}
    threads = threading.active_count()
    store.create_namespaces(sb)
    try:
        nsdir = tmp_path / sb.id / "ns"
        assert all(os.path.ismount(nsdir / k) for k in ("net", "ipc", "uts"))
        assert {k: os.readlink(f"/proc/self/ns/{k}") for k in mine} == mine  # no thread of ours moved
        assert threading.active_count() == threads
        assert nsenter(f"--uts={nsdir / 'uts'}", "hostname").strip() == "web-0"
        link = nsenter(f"--net={nsdir / 'net'}", "ip", "-o", "link", "show", "lo")
        assert "<LOOPBACK,UP,LOWER_UP>" in link, link
        assert nsenter(f"--net={nsdir / 'net'}", "ip", "-o", "link", "show").count("\n") == 1  # lo only
        assert nsenter(f"--ipc={nsdir / 'ipc'}", "readlink", "/proc/self/ns/ipc").strip() != mine["ipc"]
        assert store.has_namespaces(sb)
    finally:
        store.release_namespaces(sb)
    assert not any((tmp_path / sb.id / "ns" / k).exists() for k in ("net", "ipc", "uts"))
    assert not store.has_namespaces(sb)


def test_host_network_pins_only_ipc_and_uts(tmp_path: Path) -> None:
    store = SandboxStore(tmp_path)
    sb = sandbox("hostnet", host_network=True)
    store.create_namespaces(sb)
    try:
        nsdir = tmp_path / sb.id / "ns"
        assert not (nsdir / "net").exists()
        assert os.path.ismount(nsdir / "ipc") and os.path.ismount(nsdir / "uts")
        assert nsenter(f"--uts={nsdir / 'uts'}", "hostname").strip() == "hostnet"  # the name without a hostname
    finally:
        store.release_namespaces(sb)


def test_bad_hostname_names_the_step_and_leaves_nothing_mounted(tmp_path: Path) -> None:
    store = SandboxStore(tmp_path)
    sb = sandbox("bad", hostname="x" * 80)
    with pytest.raises(SandboxError, match="create pod namespaces: sethostname"):
        store.create_namespaces(sb)
    nsdir = tmp_path / sb.id / "ns"
    assert not any((nsdir / k).exists() for k in ("net", "ipc", "uts"))
