"""``skiff runtime`` against the real kernel: lifecycle, exec, isolation, cgroups."""
from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest

from tests.integration.runtime_containers.conftest import Runtime, leftover_cgroups, pid_alive, wait_for

pytestmark = pytest.mark.integration

DOCKER_DEFAULT_CAPBND = "00000000a80425fb"


def test_run_prints_and_passes_exit_code(runtime: Runtime) -> None:
    cid, b = runtime.bundle(["sh", "-c", "echo hello from $(hostname); exit 3"])
    r = runtime("run", "-b", str(b), cid)
    assert r.returncode == 3, r.stderr
    assert r.stdout.strip() == f"hello from {cid}"
    assert runtime("state", cid).returncode == 1  # run deletes the container
    assert leftover_cgroups(runtime) == []


def test_lifecycle_create_start_state_kill_delete(runtime: Runtime) -> None:
    cid, b = runtime.bundle(["sleep", "600"])
    runtime("create", "-b", str(b), cid, check=True)
    st = runtime.state(cid)
    assert st["status"] == "created" and st["id"] == cid and st["bundle"] == str(b)
    pid = st["pid"]
    assert pid_alive(pid)
    # The init is already in its cgroup and namespaces before start.
    assert str(pid) in runtime.cgroup_dir("memory", cid).joinpath("cgroup.procs").read_text().split()
    assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    runtime("start", cid, check=True)
    assert runtime.state(cid)["status"] == "running"
    assert runtime("start", cid).returncode == 1
    listed = json.loads(runtime("list", "-f", "json", check=True).stdout)
    assert [s["id"] for s in listed] == [cid]
    r = runtime("delete", cid)
    assert r.returncode == 1 and "not stopped" in r.stderr
    runtime("pause", cid, check=True)
    assert runtime.state(cid)["status"] == "paused"
    runtime("resume", cid, check=True)
    runtime("kill", cid, "KILL", check=True)
    assert wait_for(lambda: runtime.state(cid)["status"] == "stopped")
    assert runtime.state(cid)["pid"] == 0
    runtime("delete", cid, check=True)
    assert runtime("state", cid).returncode == 1
    assert not runtime.cgroup_dir("memory", cid).exists()


def test_bad_bundle_leaves_nothing(runtime: Runtime) -> None:
    cid, b = runtime.bundle(["no-such-binary"])
    r = runtime("create", "-b", str(b), cid)
    assert r.returncode == 1
    assert "executable file not found" in r.stderr
    assert runtime("state", cid).returncode == 1
    assert leftover_cgroups(runtime) == []
    spec = json.loads((b / "config.json").read_text())
    spec["mounts"][0]["destination"] = "relative"
    (b / "config.json").write_text(json.dumps(spec))
    r = runtime("create", "-b", str(b), cid)
    assert r.returncode == 1 and "mounts[0].destination" in r.stderr


def test_exec_joins_the_container(runtime: Runtime) -> None:
    cid, b = runtime.bundle(["sleep", "600"])
    runtime("run", "-d", "-b", str(b), cid, check=True)
    r = runtime("exec", cid, "sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; exit 7")
    assert r.returncode == 7, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == cid
    assert lines[1].strip() == "sleep 600"
    r = runtime("exec", "-u", "65534:65534", cid, "id", "-u")
    assert r.stdout.strip() == "65534"
    r = runtime("exec", cid, "nope")
    assert r.returncode == 1 and "executable file not found" in r.stderr


def test_pids_limit_stops_a_fork_bomb(runtime: Runtime) -> None:
    limit = 24
    cid, b = runtime.bundle(["sh", "-c", "bomb() { bomb | bomb & }; bomb; exec sleep 600"],
                            resources={"pids": {"limit": limit}})
    runtime("run", "-d", "-b", str(b), cid, check=True)
    pids_dir = runtime.cgroup_dir("pids", cid)
    assert (pids_dir / "pids.max").read_text().strip() == str(limit)
    # generous waits: on a loaded machine the bomb takes its time to fill the cgroup
    assert wait_for(lambda: int((pids_dir / "pids.current").read_text()) >= limit, timeout=90)
    assert int((pids_dir / "pids.current").read_text()) == limit  # never above
    assert wait_for(lambda: int((pids_dir / "pids.events").read_text().split()[1]) > 0, timeout=90)  # refused
    runtime("delete", "--force", cid, check=True)
    assert not pids_dir.exists()


def test_memory_hog_is_oom_killed_with_137(runtime: Runtime) -> None:
    cid, b = runtime.bundle(["tail", "/dev/zero"],
                            resources={"memory": {"limit": 16 * 1024 * 1024, "swap": 16 * 1024 * 1024}})
    r = runtime("run", "--keep", "-b", str(b), cid, timeout=120)
    assert r.returncode == 137, r.stderr
    ev = json.loads(runtime("events", "--stats", cid, check=True).stdout)
    assert ev["data"]["oom_kills"] >= 1
    assert ev["data"]["memory"]["limit"] == 16 * 1024 * 1024


def test_proc_sys_is_read_only_and_paths_masked(runtime: Runtime) -> None:
    cid, b = runtime.bundle(["sh", "-c",
                             "echo 1 > /proc/sys/kernel/panic_on_oops; echo rc=$?; wc -c < /proc/keys; "
                             "touch /etc/x; echo rootrc=$?"])
    r = runtime("run", "-b", str(b), cid)
    assert "rc=1" in r.stdout and "Read-only file system" in r.stderr
    assert "\n0\n" in r.stdout  # /proc/keys is masked by /dev/null
    assert "rootrc=1" in r.stdout  # root.readonly


def test_dropped_capabilities_are_gone(runtime: Runtime) -> None:
    script = ("grep CapBnd /proc/self/status; ip link set lo up; echo netrc=$?; "
              "mount -t tmpfs none /tmp; echo mountrc=$?; touch /tmp/f; chown 65534 /tmp/f; echo chownrc=$?")
    cid, b = runtime.bundle(["sh", "-c", script], readonly=False)
    out = runtime("run", "-b", str(b), cid).stdout
    assert f"CapBnd:\t{DOCKER_DEFAULT_CAPBND}" in out
    assert "netrc=0" not in out and "mountrc=1" in out and "chownrc=0" in out
    caps = ["CAP_SETUID", "CAP_SETGID", "CAP_NET_ADMIN"]
    cid2, b2 = runtime.bundle(["sh", "-c", script], caps=caps, readonly=False)
    out2 = runtime("run", "-b", str(b2), cid2).stdout
    assert "CapBnd:\t00000000000010c0" in out2
    assert "netrc=0" in out2  # the same command works once CAP_NET_ADMIN is granted
    assert "chownrc=1" in out2  # CAP_CHOWN dropped: chown to another user fails


def test_seccomp_blocks_unshare_without_sys_admin(runtime: Runtime) -> None:
    cid, b = runtime.bundle(["unshare", "-U", "true"])
    assert runtime("run", "-b", str(b), cid).returncode != 0
    cached = list((runtime.root / ".seccomp-cache").glob("*.bpf"))
    assert len(cached) == 1  # the compiled filter, kept for the next container of the profile
    cid1, b1 = runtime.bundle(["unshare", "-U", "true"])
    assert runtime("run", "-b", str(b1), cid1).returncode != 0  # the cached program filters as well
    assert cid1 not in runtime("list", "-q").stdout and ".seccomp-cache" not in runtime("list", "-q").stdout
    cid2, b2 = runtime.bundle(["unshare", "-U", "true"], seccomp=False)
    r = runtime("run", "-b", str(b2), cid2)
    assert r.returncode == 0, r.stderr  # the same call succeeds without the filter


def test_host_mounts_are_not_visible(runtime: Runtime, tmp_path: Path) -> None:
    marker = tmp_path / "host-only-marker"
    marker.write_text("x")
    cid, b = runtime.bundle(["sh", "-c", f"cat /proc/self/mountinfo; ls {marker} || echo absent"])
    out = runtime("run", "-b", str(b), cid).stdout
    assert "absent" in out
    inside = {line.split()[4] for line in out.splitlines() if len(line.split()) > 5 and line.split()[0].isdigit()}
    with open("/proc/self/mountinfo") as f:
        host = {line.split()[4] for line in f}
    allowed = {"/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"}
    leaked = {m for m in host & inside if m not in allowed and not m.startswith(("/sys/fs/cgroup", "/proc/", "/sys/"))}
    assert leaked == set()
    assert not any(re.search(r"\s/work\b", line) for line in out.splitlines())


def test_kill_all_and_signal_names(runtime: Runtime) -> None:
    cid, b = runtime.bundle(["sh", "-c", "trap 'exit 42' TERM; sleep 600 & wait"])
    runtime("run", "-d", "-b", str(b), cid, check=True)
    pid = runtime.state(cid)["pid"]
    assert runtime("kill", cid, "NOSUCHSIG").returncode == 1
    runtime("kill", "--all", cid, "TERM", check=True)
    assert wait_for(lambda: not pid_alive(pid) or runtime.state(cid)["status"] == "stopped")
    assert signal.SIGTERM  # named signals parse
