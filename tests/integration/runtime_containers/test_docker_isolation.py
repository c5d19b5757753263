"""Isolation of containers run through the docker CLI: pids and memory limits, read-only
/proc/sys, dropped capabilities, the host's mounts out of sight."""
from __future__ import annotations

import json

from tests.integration.runtime_containers.conftest import unique, wait_for
from tests.support.engine import ContainerEngine


def test_fork_bomb_stops_at_the_pids_limit(engine: ContainerEngine) -> None:
    # An inner shell forks until refused (and then dies of it); PID 1 stays to be looked at.
    cid = engine.docker("run", "-d", "--pids-limit", "20", "busybox", "sh", "-c",
                        "sh -c 'while :; do sleep 300 & done' 2>/dev/null; exec sleep 300").stdout.strip()
    try:
        pids = next(d / cid for d in engine.cgroup_dirs() if (d / cid / "pids.max").exists())
        assert (pids / "pids.max").read_text().strip() == "20"
        assert wait_for(lambda: int((pids / "pids.events").read_text().split()[1]) > 0)  # forks refused
        assert int((pids / "pids.current").read_text()) <= 20
        # the engine still answers, and the container is still there
        assert engine.docker("inspect", "-f", "{{.State.Running}}", cid).stdout.strip() == "true"
    finally:
        engine.docker("rm", "-f", cid)


def test_memory_hog_is_oom_killed(engine: ContainerEngine) -> None:
    name = unique("oom")
    res = engine.docker("run", "--name", name, "-m", "16m", "--memory-swap", "16m", "busybox",
                        "sh", "-c", "x=a; while true; do x=$x$x; done", check=False)
    assert res.returncode == 137, res
    state = json.loads(engine.docker("inspect", name).stdout)[0]["State"]
    assert (state["ExitCode"], state["OOMKilled"], state["Status"]) == (137, True, "exited")
    engine.docker("rm", name)


def test_proc_sys_is_read_only(engine: ContainerEngine) -> None:
    res = engine.docker("run", "--rm", "busybox", "sh", "-c", "echo 1 > /proc/sys/kernel/domainname", check=False)
    assert res.returncode != 0 and "Read-only file system" in res.stderr


def test_dropped_capability_is_gone(engine: ContainerEngine) -> None:
    # CAP_SYS_ADMIN is not in Docker's default set: sethostname is refused...
    res = engine.docker("run", "--rm", "busybox", "hostname", "other", check=False)
    assert res.returncode != 0 and "not permitted" in res.stderr.lower()
    # ...and --cap-drop removes one of the defaults (CAP_CHOWN).
    res = engine.docker("run", "--rm", "--cap-drop", "CHOWN", "busybox", "chown", "nobody", "/tmp", check=False)
    assert res.returncode != 0 and "not permitted" in res.stderr.lower()
    assert engine.docker("run", "--rm", "busybox", "chown", "nobody", "/tmp").returncode == 0


def test_host_mounts_are_not_visible(engine: ContainerEngine) -> None:
    host_mounts = {ln.split()[1] for ln in open("/proc/self/mounts")}
    inside = engine.docker("run", "--rm", "busybox", "cat", "/proc/mounts").stdout
    targets = {ln.split()[1] for ln in inside.splitlines()}
    assert "/" in targets and "/proc" in targets
    leaked = {t for t in targets if t in host_mounts and t not in (
        "/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys/fs/cgroup", "/etc/hosts",
        "/etc/hostname", "/etc/resolv.conf") and not t.startswith(("/proc/", "/sys/", "/dev/"))}
    assert leaked == set(), leaked
    assert not any(t.startswith(str(engine.root)) for t in targets)
    assert "/work" not in targets and not any(t.startswith("/tmp/pytest") for t in targets)
