"""The same bundle through ``skiff runtime``, runc and crun gives the same result.

crun refuses this machine's hybrid cgroups, so it runs inside ``unshare -m`` with
/sys/fs/cgroup/unified unmounted in that private mount namespace only.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.integration.runtime_containers.conftest import SKIFF, Runtime

pytestmark = pytest.mark.integration

SCRIPT = (
    "hostname; id; grep -E '^(CapBnd|CapEff|CapPrm|Seccomp|NoNewPrivs):' /proc/self/status; "
    "echo 1 > /proc/sys/kernel/panic_on_oops 2>/dev/null; echo procsys=$?; "
    "cat /proc/1/comm; ls /; cat /etc/os-release | head -1; "
    "wc -c < /proc/keys; unshare -U true 2>/dev/null; echo unshare=$?; exit 5"
)


def _peer(name: str, tmp: Path) -> list[str]:
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed on this machine")
    if name == "runc":
        return ["runc"]
    wrapper = tmp / "crun-private-cgroups"
    wrapper.write_text('#!/bin/sh\nexec unshare -m --propagation private sh -c '
                       '\'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"\' crun "$@"\n')
    os.chmod(wrapper, 0o755)
    return [str(wrapper)]


@pytest.mark.parametrize("peer", ["runc", "crun"])
def test_same_bundle_same_result(peer: str, tmp_path: Path, busybox_rootfs: Path) -> None:
    ours = Runtime(tmp_path / "skiff", busybox_rootfs, SKIFF + ["runtime"])
    (tmp_path / "skiff").mkdir()
    (tmp_path / "peer").mkdir()
    theirs = Runtime(tmp_path / "peer", busybox_rootfs, _peer(peer, tmp_path))
    try:
        cid, bundle = ours.bundle(["sh", "-c", SCRIPT], name="parity")
        a = ours("run", "-b", str(bundle), cid)
        cid2, bundle2 = theirs.bundle(["sh", "-c", SCRIPT], name="parity")
        shutil.copy(bundle / "config.json", bundle2 / "config.json")
        theirs.cgroup_parent = ours.cgroup_parent
        b = theirs("run", "-b", str(bundle2), cid2)
        assert (a.returncode, a.stdout) == (b.returncode, b.stdout), (a.stderr, b.stderr)
        assert a.returncode == 5
        assert "Seccomp:\t2" in a.stdout and "procsys=1" in a.stdout and "unshare=1" in a.stdout
    finally:
        ours.cleanup()
        theirs.cleanup()
