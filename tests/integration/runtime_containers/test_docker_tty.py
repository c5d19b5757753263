"""Terminals through the engine with the real docker CLI on a real pty, and docker-py.

The container's pty is made in its own devpts (``tty`` names ``/dev/pts/N``), held
by the shim; window sizes come from the terminal (ConsoleSize, then resize
requests); ^C reaches the foreground process as SIGINT; ^P^Q (or --detach-keys)
detaches and leaves the container or the exec running.
"""
from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.integration.runtime_containers.conftest import unique, wait_for
from tests.support.engine import ContainerEngine
from tests.support.pty_session import PtySession

PROMPT = rb"/ # "


@contextmanager
def session(engine: ContainerEngine, *args: str, rows: int = 24, cols: int = 80) -> Iterator[PtySession]:
    assert engine.daemon is not None
    s = PtySession(["docker", *args], engine.daemon.env(), rows=rows, cols=cols)
    try:
        yield s
    finally:
        s.close()


def state(engine: ContainerEngine, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(engine.docker("inspect", name).stdout)[0]["State"]  # type: ignore[no-any-return]


def check_terminal(s: PtySession, rows: int, cols: int) -> None:
    """The process has a terminal of its own, sized as ours, resized with ours, ^C as SIGINT."""
    s.expect(PROMPT)
    assert s.command(b"tty", rb"(/dev/pts/\d+|not a tty)\r\n").group(1).startswith(b"/dev/pts/")
    assert s.command(b"stty size", rb"(\d+) (\d+)\r\n").groups() == (str(rows).encode(), str(cols).encode())
    s.resize(rows + 11, cols + 27)

    def resized() -> bool:
        m = s.command(b"stty size", rb"(\d+) (\d+)\r\n")
        return m.groups() == (str(rows + 11).encode(), str(cols + 27).encode())

    assert wait_for(resized, timeout=60, interval=0.5), bytes(s.out)
    # "started" once the child runs in the foreground (the typed line reads sta''rted): a ^C
    # typed while the shell still edits the line would be plain input, as on any terminal
    s.command(b"sh -c 'echo sta''rted; exec sleep 300'", rb"started\r\n")
    s.send(b"\x03")
    assert s.command(b"echo rc=$?", rb"rc=(\d+)").group(1) == b"130"  # 128 + SIGINT


def test_run_it_has_a_real_terminal(engine: ContainerEngine) -> None:
    with session(engine, "run", "-it", "--rm", "busybox", "sh", rows=31, cols=97) as s:
        check_terminal(s, 31, 97)
        s.send(b"exit 3\r")
        assert s.wait() == 3


def test_run_t_without_stdin(engine: ContainerEngine) -> None:
    with session(engine, "run", "-t", "--rm", "busybox", "sh", "-c", "tty; stty size", rows=20, cols=70) as s:
        # no -i: the CLI leaves our terminal cooked, so its own ONLCR adds a \r to the container's \r\n
        s.expect(rb"/dev/pts/\d+\r+\n20 70\r+\n")
        assert s.wait() == 0


def test_exec_it_has_a_real_terminal(engine: ContainerEngine) -> None:
    name = unique("ex")
    engine.docker("run", "-d", "--name", name, "busybox", "sleep", "600")
    try:
        with session(engine, "exec", "-it", name, "sh", rows=29, cols=101) as s:
            check_terminal(s, 29, 101)
            s.send(b"exit 4\r")
            assert s.wait() == 4
    finally:
        engine.docker("rm", "-f", name)


def test_run_it_detach_attach_and_detach_keys(engine: ContainerEngine) -> None:
    """docker run -it, ^P^Q: the CLI leaves, the shell stays; attach, type, detach with custom keys;
    attach again and exit: the container's exit code ends the attach."""
    name = unique("det")
    try:
        with session(engine, "run", "-it", "--name", name, "busybox", "sh") as s:
            s.expect(PROMPT)
            s.command(b"echo first-$((1+1))", rb"first-2\r\n")
            s.send(b"\x10\x11")
            assert s.wait() == 0
        assert state(engine, name)["Running"]

        with session(engine, "attach", "--detach-keys", "ctrl-x,y", name) as s:
            def answered() -> bool:  # the CLI is attached once the shell answers
                try:
                    s.command(b"echo again-$((2+3))", rb"again-5\r\n", timeout=2)
                    return True
                except AssertionError:
                    return False
            assert wait_for(answered, timeout=60, interval=0.2), bytes(s.out)
            s.send(b"\x10\x11\x15")  # not the keys of this attach: typed into the shell (then ^U)
            s.command(b"echo still-here", rb"still-here\r\n")
            s.send(b"\x18y")
            assert s.wait() == 1  # the CLI's answer to a detach from attach, as with dockerd
            assert b"read escape sequence" in s.out
        assert state(engine, name)["Running"]

        with session(engine, "attach", name) as s:
            s.send(b"\r")
            s.expect(PROMPT)
            s.send(b"exit 7\r")
            assert s.wait() == 7
        assert wait_for(lambda: not state(engine, name)["Running"], timeout=60)
        assert state(engine, name)["ExitCode"] == 7
    finally:
        engine.docker("rm", "-f", name)


def test_exec_it_detach_leaves_the_exec_running(engine: ContainerEngine) -> None:
    import docker

    assert engine.daemon is not None
    name = unique("exd")
    engine.docker("run", "-d", "--name", name, "busybox", "sleep", "600")
    client = docker.APIClient(base_url=engine.daemon.host, timeout=60)
    try:
        with session(engine, "exec", "-it", name, "sh") as s:
            s.expect(PROMPT)
            s.command(b"echo $$ > /tmp/exec-shell; echo saved", rb"saved\r\n")
            s.send(b"\x10\x11")
            assert s.wait() == 1
            assert b"read escape sequence" in s.out
        ids = json.loads(engine.docker("inspect", name).stdout)[0]["ExecIDs"]
        assert ids and len(ids) == 1
        info = client.exec_inspect(ids[0])
        assert info["Running"] and info["ProcessConfig"]["tty"]
        shell = engine.docker("exec", name, "cat", "/tmp/exec-shell").stdout.strip()
        assert shell in engine.docker("exec", name, "ps", "-o", "pid").stdout.split()
        engine.docker("exec", name, "kill", "-9", shell)
        assert wait_for(lambda: not client.exec_inspect(ids[0])["Running"], timeout=60)
        assert client.exec_inspect(ids[0])["ExitCode"] == 137
    finally:
        client.close()
        engine.docker("rm", "-f", name)


def test_docker_py_tty_resize(engine: ContainerEngine) -> None:
    """docker-py: a tty container and a tty exec, resized through the API."""
    import docker

    assert engine.daemon is not None
    client = docker.DockerClient(base_url=engine.daemon.host, timeout=60)
    c = client.containers.run("busybox", ["sh", "-c", "while true; do stty size > /tmp/size; sleep 0.2; done"],
                              detach=True, tty=True, name=unique("py"))
    try:
        c.resize(height=42, width=132)
        assert wait_for(lambda: c.exec_run(["cat", "/tmp/size"]).output == b"42 132\n", timeout=60)
        tty = c.exec_run(["tty"], tty=True).output
        assert re.fullmatch(rb"/dev/pts/\d+\r\n", tty), tty
        api = client.api
        ex = api.exec_create(c.id, ["sh", "-c", "sleep 1; stty size"], tty=True)
        sock = api.exec_start(ex["Id"], tty=True, socket=True)
        api.exec_resize(ex["Id"], height=17, width=55)
        data = b""
        deadline = time.monotonic() + 60
        raw = getattr(sock, "_sock", sock)
        raw.settimeout(60)
        while b"\n" not in data and time.monotonic() < deadline:
            chunk = raw.recv(4096)
            if not chunk:
                break
            data += chunk
        sock.close()
        assert data.strip() == b"17 55"
        assert wait_for(lambda: api.exec_inspect(ex["Id"])["ExitCode"] == 0, timeout=60)
    finally:
        c.remove(force=True)
        client.close()


def test_terminals_and_execs_survive_a_daemon_restart(own_engine: ContainerEngine) -> None:
    """kill -9 of skiff daemon: a detached exec and an attached -it exec keep running; the
    restarted daemon still knows them, records their exits, and the detached one finishes its work;
    a -it container's terminal (held by its shim) still answers an attach."""
    import docker

    eng = own_engine
    assert eng.daemon is not None
    name, term = unique("rx"), unique("term")
    eng.docker("run", "-d", "--name", name, "busybox", "sleep", "600")
    eng.docker("run", "-dit", "--name", term, "busybox", "sh")
    eng.docker("exec", "-d", name, "sh", "-c",
               "while [ ! -e /tmp/go ]; do sleep 0.1; done; echo finished > /tmp/result")
    client = docker.APIClient(base_url=eng.daemon.host, timeout=60)
    with session(eng, "exec", "-it", name, "sh") as s:
        s.expect(PROMPT)
        s.command(b"echo ready", rb"ready\r\n")
        ids = json.loads(eng.docker("inspect", name).stdout)[0]["ExecIDs"]
        assert ids is not None and len(ids) == 2
        before = {i: client.exec_inspect(i) for i in ids}
        client.close()
        eng.kill9()
        s.wait(timeout=60)  # the CLI loses its connection; the exec does not
    for info in before.values():  # nobody killed them with the daemon
        assert info["Running"] and os.path.exists(f"/proc/{info['Pid']}"), info
    d = eng.start()
    client = docker.APIClient(base_url=d.host, timeout=60)
    try:
        for i, info in before.items():
            again = client.exec_inspect(i)
            assert again["Running"] and again["Pid"] == info["Pid"], again
        eng.docker("exec", name, "touch", "/tmp/go")
        assert wait_for(lambda: eng.docker("exec", name, "cat", "/tmp/result", check=False).stdout == "finished\n",
                        timeout=60)
        tty_exec = next(i for i, info in before.items() if info["ProcessConfig"]["tty"])
        detached = next(i for i in before if i != tty_exec)
        assert wait_for(lambda: not client.exec_inspect(detached)["Running"], timeout=60)
        assert client.exec_inspect(detached)["ExitCode"] == 0
        os.kill(before[tty_exec]["Pid"], signal.SIGKILL)  # the exec's shell (a host PID, as Docker reports)
        assert wait_for(lambda: not client.exec_inspect(tty_exec)["Running"], timeout=60)
        assert client.exec_inspect(tty_exec)["ExitCode"] == 137
        with session(eng, "attach", term) as s:
            def answered() -> bool:
                try:
                    s.command(b"tty", rb"/dev/pts/\d+\r\n", timeout=2)
                    return True
                except AssertionError:
                    return False
            assert wait_for(answered, timeout=60, interval=0.2), bytes(s.out)
            s.send(b"\x10\x11")
            assert s.wait() == 1
        assert state(eng, term)["Running"]
    finally:
        client.close()
        eng.docker("rm", "-f", name, term)
