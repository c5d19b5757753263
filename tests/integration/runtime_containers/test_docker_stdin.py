"""Piped stdin (no tty) through the shim: all of it arrives, then EOF, for run -i and exec -i."""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from tests.integration.runtime_containers.conftest import unique
from tests.support.engine import ContainerEngine


def piped(engine: ContainerEngine, data: Path, *args: str) -> str:
    assert engine.daemon is not None
    with open(data, "rb") as f:
        p = subprocess.run(["docker", *args], stdin=f, capture_output=True, env=engine.daemon.env(), timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode()


def test_large_stdin_arrives_whole(engine: ContainerEngine, tmp_path: Path) -> None:
    data = tmp_path / "blob"
    data.write_bytes(os.urandom(3_000_000))
    digest = hashlib.md5(data.read_bytes()).hexdigest()  # noqa: S324 - a checksum, not security
    assert piped(engine, data, "run", "-i", "--rm", "busybox", "md5sum").split()[0] == digest
    name = unique("in")
    engine.docker("run", "-d", "--name", name, "busybox", "sleep", "600")
    try:
        for _ in range(3):  # the end of input must not overtake the input (the shim drains first)
            assert piped(engine, data, "exec", "-i", name, "wc", "-c").split() == ["3000000"]
        piped(engine, data, "exec", "-i", name, "sh", "-c", "cat > /tmp/copy")
        assert engine.docker("exec", name, "md5sum", "/tmp/copy").stdout.split()[0] == digest
    finally:
        engine.docker("rm", "-f", name)
