"""The creation steps in order, against the recording syscalls fake."""
from __future__ import annotations

from pathlib import Path

import pytest

from skiff.nodeagent.runtime.oci import init, plan
from skiff.nodeagent.runtime.oci import syscalls as sc
from skiff.nodeagent.runtime.oci.defaults import docker_spec


def _ctx(tmp_path: Path, **kw) -> init.InitContext:  # type: ignore[no-untyped-def]
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    spec = docker_spec(["/bin/sh"], rootfs=str(rootfs), hostname="h1", **kw)
    return init.InitContext(spec=spec, bundle=str(tmp_path), rootfs=str(rootfs), process=spec["process"],
                            cgroup_paths={"memory": "/cg/memory/x"}, cgroup_mounts={"memory": "/cg/memory"})


def test_namespaces_then_rootfs_order(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    fake = sc.RecordingSyscalls()
    init.step_namespaces(ctx, fake)
    assert fake.calls == [("unshare", sc.CLONE_NEWNET | sc.CLONE_NEWIPC | sc.CLONE_NEWUTS | sc.CLONE_NEWNS)]
    fake.calls.clear()
    init.step_prepare_rootfs(ctx, fake)
    mounts = [c for c in fake.calls if c[0] == "mount"]
    assert mounts[0] == ("mount", "", "/", "", sc.MS_SLAVE | sc.MS_REC, "")
    assert mounts[1] == ("mount", ctx.rootfs, ctx.rootfs, "", sc.MS_BIND | sc.MS_REC, "")
    targets = [m[2] for m in mounts]
    assert targets.index(ctx.rootfs + "/proc") < targets.index(ctx.rootfs + "/dev")
    assert ("mount", "/cg/memory/x", ctx.rootfs + "/sys/fs/cgroup/memory", "", sc.MS_BIND, "") in fake.calls
    nodes = [c[1] for c in fake.calls if c[0] == "mknod"]
    assert nodes == [ctx.rootfs + d for d in ("/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                              "/dev/urandom", "/dev/tty")]


def test_joined_namespace_is_setns_not_unshare(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, namespaces={"network": "/run/netns/t1", "uts": None})
    fake = sc.RecordingSyscalls()
    init.step_namespaces(ctx, fake)
    assert fake.calls == [("setns", "/run/netns/t1", sc.CLONE_NEWNET),
                          ("unshare", sc.CLONE_NEWIPC | sc.CLONE_NEWNS)]


def test_capabilities_drop_bounding_then_user_then_capset(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, uid=1000, gid=1000)
    fake = sc.RecordingSyscalls()
    init.step_capabilities(ctx, fake)
    names = fake.names()
    assert names[: len(plan.caps_to_drop(0xA80425FB, 40))] == ["prctl"] * len(plan.caps_to_drop(0xA80425FB, 40))
    tail = fake.calls[len(plan.caps_to_drop(0xA80425FB, 40)):]
    assert tail == [("prctl", sc.PR_SET_KEEPCAPS, 1), ("set_user", 1000, 1000, []),
                    ("prctl", sc.PR_SET_KEEPCAPS, 0), ("capset", 0xA80425FB, 0xA80425FB, 0), ("chdir", "/")]


def test_seccomp_placement_follows_no_new_privs(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    fake = sc.RecordingSyscalls()
    init.step_seccomp_early(ctx, fake)
    init.step_seccomp_late(ctx, fake)
    assert fake.names() == ["load_seccomp"]  # NNP unset: before capabilities drop
    ctx.process["noNewPrivileges"] = True
    fake.calls.clear()
    init.step_seccomp_early(ctx, fake)
    init.step_no_new_privs(ctx, fake)
    init.step_seccomp_late(ctx, fake)
    assert fake.names() == ["prctl", "load_seccomp"]


def test_failing_step_is_named(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    fake = sc.RecordingSyscalls(fail={"sethostname": PermissionError(1, "Operation not permitted")})
    with pytest.raises(init.StepError) as err:
        init.run_steps([("namespaces", init.step_namespaces), ("hostname", init.step_hostname)], ctx, fake)
    assert str(err.value) == "hostname: Operation not permitted"
