"""Unpacked layers stack with the kernel's overlayfs: whiteouts hide lower files.

Mounts happen inside ``unshare -m`` (a private mount namespace), so the host's
mount table never changes.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.engine import RunningDaemon, RunningRegistry

pytestmark = pytest.mark.integration


def in_overlay(lowerdir: str, mnt: Path, script: str) -> str:
    mnt.mkdir(exist_ok=True)
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         'mount -t overlay overlay -o lowerdir="$1" "$2" && chroot "$2" /bin/sh -c "$3"', "sh",
         lowerdir, str(mnt), script],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_layer_dirs_stack_as_an_overlay_root(daemon: RunningDaemon, registry: RunningRegistry, tmp_path: Path) -> None:
    ref = f"{registry.host}/busybox-multi"
    daemon.docker("pull", ref)
    upper = daemon.docker("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", ref).stdout.strip()
    lower = daemon.docker("inspect", "-f", "{{.GraphDriver.Data.LowerDir}}", ref).stdout.strip()
    # layer 2 wrote /etc/motd, layer 3 whited it out and added /srv/data.txt
    assert (Path(lower.split(":")[0]) / "etc" / "motd").read_text() == "hello from skiff\n"
    out = in_overlay(f"{upper}:{lower}", tmp_path / "m",
                     "test -e /etc/motd && echo motd-visible; cat /srv/data.txt; busybox echo sh-runs")
    assert "motd-visible" not in out
    assert "layer three" in out and "sh-runs" in out
    out = in_overlay(lower, tmp_path / "m2", "cat /etc/motd")
    assert out == "hello from skiff\n"
