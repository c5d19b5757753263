"""cgroup parsers and writers against a temp dir standing in for /sys/fs/cgroup."""
from __future__ import annotations

from pathlib import Path

import pytest

from skiff.nodeagent.runtime.cgroups import resources as rs
from skiff.nodeagent.runtime.cgroups.detect import Mode, parse_mountinfo, parse_proc_cgroup
from skiff.nodeagent.runtime.cgroups.manager import Cgroup, V1Cgroup, V2Cgroup

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_parse_mountinfo_modes() -> None:
    h = parse_mountinfo(HYBRID)
    assert h.mode is Mode.HYBRID and h.unified == "/sys/fs/cgroup/unified"
    assert h.v1 == {"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
                    "memory": "/sys/fs/cgroup/memory", "name=systemd": "/sys/fs/cgroup/systemd"}
    v2 = parse_mountinfo("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n")
    assert v2.mode is Mode.V2 and v2.v1 == {}
    assert parse_proc_cgroup("4:memory:/a/b\n1:cpu,cpuacct:/\n0::/x\n") == {
        "memory": "/a/b", "cpu": "/", "cpuacct": "/", "": "/x"}


@pytest.mark.parametrize(("res", "v1", "v2"), [
    ({"memory": {"limit": 1048576, "swap": 2097152}},
     [("memory", "memory.limit_in_bytes", "1048576"), ("memory", "memory.memsw.limit_in_bytes", "2097152")],
     [("", "memory.max", "1048576"), ("", "memory.swap.max", "1048576")]),
    ({"cpu": {"shares": 512, "quota": 50000, "period": 100000}},
     [("cpu", "cpu.shares", "512"), ("cpu", "cpu.cfs_period_us", "100000"), ("cpu", "cpu.cfs_quota_us", "50000")],
     [("", "cpu.weight", "20"), ("", "cpu.max", "50000 100000")]),
    ({"pids": {"limit": 0}}, [("pids", "pids.max", "max")], [("", "pids.max", "max")]),
    ({"cpu": {"cpus": "0-1"}}, [("cpuset", "cpuset.cpus", "0-1")], [("", "cpuset.cpus", "0-1")]),
], ids=["memory+swap", "cpu", "pids-unlimited", "cpuset"])
def test_resource_writes(res, v1, v2) -> None:  # type: ignore[no-untyped-def]
    assert rs.v1_writes(res) == v1
    assert rs.v2_writes(res) == v2


def test_shares_to_weight_bounds() -> None:
    assert rs.shares_to_weight(2) == 1
    assert rs.shares_to_weight(1024) == 39
    assert rs.shares_to_weight(262144) == 10000


def test_v1_writer_in_temp_root(tmp_path: Path) -> None:
    for ctrl in ("memory", "pids"):
        (tmp_path / ctrl / "eng" / "c1").mkdir(parents=True)
        for f in ("memory.limit_in_bytes", "pids.max", "cgroup.procs"):
            (tmp_path / ctrl / "eng" / "c1" / f).write_text("")
    cg = V1Cgroup({"memory": str(tmp_path / "memory"), "pids": str(tmp_path / "pids")},
                  {"memory": "/eng/c1", "pids": "/eng/c1"})
    cg.create()
    cg.apply({"memory": {"limit": 4096}, "pids": {"limit": 10}})
    assert (tmp_path / "memory/eng/c1/memory.limit_in_bytes").read_text() == "4096"
    assert (tmp_path / "pids/eng/c1/pids.max").read_text() == "10"
    cg.add(42)
    assert (tmp_path / "pids/eng/c1/cgroup.procs").read_text() == "42"


def test_v2_writer_enables_controllers_along_path(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids")
    (tmp_path / "cgroup.subtree_control").write_text("")
    leaf = tmp_path / "eng"
    leaf.mkdir()
    (leaf / "cgroup.controllers").write_text("cpu memory pids")
    (leaf / "cgroup.subtree_control").write_text("")
    (leaf / "c1").mkdir()
    (leaf / "c1" / "memory.max").write_text("")
    cg = V2Cgroup(str(tmp_path), "/eng/c1")
    cg.create()
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+pids"  # the last write wins in a plain file
    cg.apply({"memory": {"limit": 8192}})
    assert (leaf / "c1" / "memory.max").read_text() == "8192"


def test_relative_path_nests_under_own_cgroup() -> None:
    cg = Cgroup(parse_mountinfo(HYBRID), "skiff/c1", own={"memory": "/engine", "cpu": "/", "": "/e2"})
    assert cg.paths()["memory"] == "/sys/fs/cgroup/memory/engine/skiff/c1"
    assert cg.paths()[""] == "/sys/fs/cgroup/unified/e2/skiff/c1"
    again = Cgroup.from_rels(parse_mountinfo(HYBRID), cg.rels())
    assert again.paths() == cg.paths()
