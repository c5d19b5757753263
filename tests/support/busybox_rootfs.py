"""A minimal root filesystem from Debian's busybox-static, for runtime bundles.

Used by runtime tests and bench/runtime.py: a bundle needs no image store.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BUSYBOX = "/bin/busybox"


def make_rootfs(dest: Path) -> Path:
    if not os.path.exists(BUSYBOX):
        raise RuntimeError("busybox-static is required (apt-get install busybox-static)")
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root", "home"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True).stdout.split()
    for name in applets:
        if name != "busybox" and not (dest / "bin" / name).exists():
            os.symlink("busybox", dest / "bin" / name)
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/sh\n")
    (dest / "etc" / "group").write_text("root:x:0:\nnobody:x:65534:\n")
    (dest / "etc" / "os-release").write_text('NAME="Skiff busybox"\nID=busybox\n')
    return dest
