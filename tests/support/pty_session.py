"""An interactive command on a real pty, as a user at a terminal runs it (stdlib only).

``PtySession(argv, env)`` forks ``argv`` on a new pty of the given size; ``send``
types bytes, ``expect`` waits for output (a deadline, never a fixed sleep),
``resize`` changes the window as a terminal emulator does (TIOCSWINSZ + SIGWINCH),
``wait`` collects the exit code. ``close`` kills the command if it still runs.
"""
from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time


class PtySession:
    def __init__(self, argv: list[str], env: dict[str, str], *, rows: int = 24, cols: int = 80) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child only execs the command
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.out = bytearray()
        self.status: int | None = None

    def _pump(self, timeout: float) -> None:
        r, _, _ = select.select([self.fd], [], [], timeout)
        if r:
            try:
                self.out.extend(os.read(self.fd, 65536))
            except OSError:  # EIO: the command closed the terminal
                time.sleep(timeout)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def expect(self, pattern: bytes, timeout: float = 60, *, since: int = 0) -> re.Match[bytes]:
        """The first match of the regex ``pattern`` in the output after offset ``since``."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(bytes(self.out), since)
            if m:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} within {timeout}s in {bytes(self.out)!r}")
            self._pump(0.1)
            self._reap()

    def command(self, line: bytes, pattern: bytes, timeout: float = 60) -> re.Match[bytes]:
        """Type ``line`` + Enter and wait for ``pattern`` in the output that follows."""
        mark = len(self.out)
        self.send(line + b"\r")
        return self.expect(pattern, timeout, since=mark)

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.kill(self.pid, signal.SIGWINCH)

    def _reap(self) -> None:
        if self.status is None:
            got, st = os.waitpid(self.pid, os.WNOHANG)
            if got == self.pid:
                self.status = os.waitstatus_to_exitcode(st)

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.status is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running after {timeout}s: {bytes(self.out)!r}")
            self._pump(0.1)
            self._reap()
        return self.status

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.status = -9
        try:
            os.close(self.fd)
        except OSError:
            pass
