"""Start a real ``skiff server`` (embedded etcd) for tests, and stop it whatever happens."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

SKIFF = [sys.executable, "-m", "skiff.cmd.main"]
if os.environ.get("SKIFF_DEV_SHIM"):  # local development only: stand-ins for unfinished modules
    SKIFF = [sys.executable, os.environ["SKIFF_DEV_SHIM"]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    data_dir: Path
    url: str
    kubeconfig: Path
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def env(self) -> dict[str, str]:
        return dict(os.environ, KUBECONFIG=str(self.kubeconfig))

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            # etcd runs in its own session; the server stops it on SIGTERM, so only
            # a hung server gets here.
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def skiff_server(data_dir: Path, *, args: tuple[str, ...] = (), port: int | None = None,
                 timeout: float = 60.0, netns: str | None = None) -> Iterator[RunningServer]:
    """``netns``: run the server in that network namespace (made by the test); it then
    listens on that namespace's loopback."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = data_dir / "server.log"
    kc = data_dir / "kubeconfig"
    if kc.exists():
        kc.unlink()
    with open(log, "ab") as out:
        prefix = ["nsenter", f"--net=/run/netns/{netns}"] if netns else []
        proc = subprocess.Popen([*prefix, *SKIFF, "server", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}",
                                 *args], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not kc.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"skiff server exited with {proc.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"skiff server did not serve within {timeout}s:\n{log.read_text()}")
            time.sleep(0.1)
        cfg = yaml.safe_load(kc.read_text())
        yield RunningServer(data_dir, cfg["clusters"][0]["cluster"]["server"], kc,
                            cfg["users"][0]["user"]["token"], proc, log)
    finally:
        _stop(proc)
        # The embedded etcd is the server's child; if the server was killed it may linger.
        pidfile_etcd = [p for p in _children_etcd(data_dir)]
        for pid in pidfile_etcd:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _children_etcd(data_dir: Path) -> list[int]:
    """PIDs of etcd processes whose data dir is inside ``data_dir`` (ours, by construction)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"etcd") and str(data_dir).encode() in b" ".join(cmd):
            found.append(int(entry.name))
    return found
