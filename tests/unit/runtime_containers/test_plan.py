"""Pure decisions of the runtime: namespaces, mount options, secure_join, caps, seccomp, status."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from skiff.nodeagent.runtime.oci import plan, seccomp
from skiff.nodeagent.runtime.oci import syscalls as sc
from skiff.nodeagent.runtime.oci.defaults import docker_spec
from skiff.nodeagent.runtime.oci.spec import SpecError, validate
from skiff.nodeagent.runtime.oci.state import Status, decide_status


def test_namespace_plan_new_and_joined() -> None:
    spec = {"linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/x"},
                                     {"type": "mount"}, {"type": "uts"}]}}
    p = plan.namespace_plan(spec)
    assert p.new_pid and p.join_pid is None
    assert p.new_flags == sc.CLONE_NEWNS | sc.CLONE_NEWUTS
    assert p.joins == [("network", "/run/netns/x", sc.CLONE_NEWNET)]
    p2 = plan.namespace_plan({"linux": {"namespaces": [{"type": "pid", "path": "/proc/9/ns/pid"}]}})
    assert not p2.new_pid and p2.join_pid == "/proc/9/ns/pid" and p2.new_flags == 0


@pytest.mark.parametrize(("options", "flags", "prop", "data"), [
    (["nosuid", "noexec", "nodev"], sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV, [], ""),
    (["rbind", "ro", "rprivate"], sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY, [sc.MS_PRIVATE | sc.MS_REC], ""),
    (["ro", "rw"], 0, [], ""),
    (["nosuid", "mode=755", "size=65536k"], sc.MS_NOSUID, [], "mode=755,size=65536k"),
    (["rslave"], 0, [sc.MS_SLAVE | sc.MS_REC], ""),
], ids=["proc", "rbind-ro", "rw-wins", "tmpfs-data", "propagation"])
def test_parse_mount_options(options: list[str], flags: int, prop: list[int], data: str) -> None:
    got = plan.parse_mount_options(options)
    assert (got.flags, got.propagation, got.data) == (flags, prop, data)


def test_secure_join_keeps_symlinks_inside(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.symlink("/etc", tmp_path / "abs")
    os.symlink("../../../../..", tmp_path / "etc" / "up")
    assert plan.secure_join(str(tmp_path), "/abs/passwd") == str(tmp_path / "etc" / "passwd")
    assert plan.secure_join(str(tmp_path), "/etc/up/x") == str(tmp_path / "x")
    assert plan.secure_join(str(tmp_path), "/../../x") == str(tmp_path / "x")


def test_docker_default_caps_mask() -> None:
    caps = plan.cap_sets({"capabilities": None})
    assert caps.bounding == 0xA80425FB
    explicit = plan.cap_sets({"capabilities": {"bounding": ["CAP_KILL"], "effective": []}})
    assert explicit.bounding == 1 << 5 and explicit.effective == 0
    assert plan.caps_to_drop(0xA80425FB, 40)[:3] == [2, 9, 11]


def test_seccomp_depends_on_caps() -> None:
    plain = seccomp.docker_default(plan.DOCKER_DEFAULT_CAPS)
    allowed = plain["syscalls"][0]["names"]
    assert "mount" not in allowed and "chroot" in allowed and "ptrace" in allowed
    assert any(r["names"] == ["clone3"] and r["errnoRet"] == seccomp.ENOSYS for r in plain["syscalls"])
    admin = seccomp.docker_default([*plan.DOCKER_DEFAULT_CAPS, "CAP_SYS_ADMIN"])
    assert "mount" in admin["syscalls"][0]["names"]
    assert not any(r["names"] == ["clone3"] for r in admin["syscalls"])
    assert plain["defaultAction"] == "SCMP_ACT_ERRNO" and plain["defaultErrnoRet"] == 1
    assert seccomp.action_code("SCMP_ACT_ERRNO", 38) == 0x00050026


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda s: s.pop("ociVersion"), "ociVersion"),
    (lambda s: s["root"].update(path=""), "root.path"),
    (lambda s: s["process"].update(args=[]), "process.args"),
    (lambda s: s["process"].update(cwd="rel"), "process.cwd"),
    (lambda s: s["mounts"][1].update(destination="dev"), "mounts[1].destination"),
    (lambda s: s["linux"]["namespaces"].append({"type": "bogus"}), "linux.namespaces[5].type"),
    (lambda s: s["linux"]["namespaces"].append({"type": "pid"}), "linux.namespaces[5].type"),
    (lambda s: s["process"]["capabilities"]["bounding"].append("CAP_NOPE"), "process.capabilities.bounding"),
    (lambda s: s["process"].update(rlimits=[{"type": "RLIMIT_X", "soft": 1, "hard": 1}]), "process.rlimits[0].type"),
], ids=["version", "root", "args", "cwd", "mount-dest", "ns-type", "ns-dup", "cap", "rlimit"])
def test_validate_names_the_field(mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    spec = docker_spec(["true"])
    validate(spec)
    mutate(spec)
    with pytest.raises(SpecError) as err:
        validate(spec)
    assert err.value.field == field


@pytest.mark.parametrize(("alive", "fifo", "frozen", "want"), [
    (False, True, False, Status.STOPPED), (True, True, False, Status.CREATED),
    (True, False, True, Status.PAUSED), (True, False, False, Status.RUNNING),
])
def test_decide_status(alive: bool, fifo: bool, frozen: bool, want: Status) -> None:
    assert decide_status(alive=alive, fifo_exists=fifo, frozen=frozen) is want
