"""The container lifecycle through the real docker CLI against ``skiff daemon`` in a test netns."""
from __future__ import annotations

import json
import os
import pty
import select
import time
from pathlib import Path

from tests.integration.runtime_containers.conftest import pid_alive, unique, wait_for
from tests.support.engine import ContainerEngine


def inspect(engine: ContainerEngine, ref: str) -> dict:  # type: ignore[type-arg]
    return json.loads(engine.docker("inspect", ref).stdout)[0]  # type: ignore[no-any-return]


def test_run_foreground_streams_and_exit_code(engine: ContainerEngine) -> None:
    res = engine.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert res.returncode == 3, res
    assert res.stdout == "out\n"
    assert res.stderr == "err\n"
    assert engine.docker("ps", "-aq").stdout.strip() == ""  # --rm removed it


def test_run_options_reach_the_process(engine: ContainerEngine) -> None:
    name = unique()
    out = engine.docker(
        "run", "--rm", "--name", name, "-e", "GREETING=hi there", "-w", "/tmp", "-u", "nobody",
        "--hostname", "box1", "--entrypoint", "/bin/sh", "busybox",
        "-c", 'echo "$GREETING"; pwd; id -u; hostname; cat /etc/hostname',
    ).stdout
    assert out.split("\n")[:5] == ["hi there", "/tmp", "65534", "box1", "box1"]


def test_detached_container_commands(engine: ContainerEngine, tmp_path: Path) -> None:
    name = unique("svc")
    # A shell that exits 0 on SIGTERM, so stop's signal (not the SIGKILL fallback) is seen.
    script = 'trap "echo bye; exit 0" TERM; echo started; while true; do sleep 0.1; done'
    cid = engine.docker("run", "-d", "--name", name, "busybox", "sh", "-c", script).stdout.strip()
    assert len(cid) == 64
    ps = engine.docker("ps", "--format", "{{.ID}} {{.Names}} {{.Status}}").stdout
    assert f"{cid[:12]} {name} Up" in ps
    assert wait_for(lambda: "started" in engine.docker("logs", name).stdout)

    state = inspect(engine, name)["State"]
    assert state["Running"] and state["Pid"] > 0 and pid_alive(state["Pid"])

    # exec: output, exit code, env and working dir
    res = engine.docker("exec", "-e", "X=1", "-w", "/etc", name, "sh", "-c", "echo $X; pwd; exit 4", check=False)
    assert (res.returncode, res.stdout) == (4, "1\n/etc\n")
    res = engine.docker("exec", "-i", name, "cat", input=b"piped input\n")
    assert res.stdout == "piped input\n"
    res = engine.docker("exec", name, "no-such-command", check=False)
    assert res.returncode == 127
    assert ('OCI runtime exec failed: exec failed: unable to start container process: exec: "no-such-command": '
            "executable file not found in $PATH: unknown") in res.stdout + res.stderr

    top = engine.docker("top", name).stdout
    assert "PID" in top.splitlines()[0] and "sh -c trap" in top
    stats = engine.docker("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", name).stdout.split()
    assert stats[0] == name and int(stats[1]) >= 1

    engine.docker("pause", name)
    assert inspect(engine, name)["State"]["Status"] == "paused"
    assert "(Paused)" in engine.docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}").stdout
    engine.docker("unpause", name)
    assert inspect(engine, name)["State"]["Status"] == "running"

    new = unique("renamed")
    engine.docker("rename", name, new)
    assert inspect(engine, cid)["Name"] == "/" + new

    src = tmp_path / "in.txt"
    src.write_text("copied in\n")
    engine.docker("cp", str(src), f"{new}:/tmp/in.txt")
    assert engine.docker("exec", new, "cat", "/tmp/in.txt").stdout == "copied in\n"
    engine.docker("cp", f"{new}:/etc/passwd", str(tmp_path / "passwd"))
    assert (tmp_path / "passwd").read_text().startswith("root:")

    engine.docker("stop", new)
    st = inspect(engine, new)["State"]
    assert (st["Status"], st["Running"], st["ExitCode"]) == ("exited", False, 0)
    assert "bye" in engine.docker("logs", new).stdout
    assert f"{cid[:12]}" not in engine.docker("ps", "-q").stdout
    assert cid[:12] in engine.docker("ps", "-aq").stdout

    engine.docker("start", new)
    assert inspect(engine, new)["State"]["Running"]
    pid1 = inspect(engine, new)["State"]["Pid"]
    engine.docker("restart", "-t", "5", new)
    st = inspect(engine, new)["State"]
    assert st["Running"] and st["Pid"] != pid1

    engine.docker("kill", new)
    st = inspect(engine, new)["State"]
    assert (st["Running"], st["ExitCode"]) == (False, 137)
    engine.docker("rm", new)
    res = engine.docker("inspect", new, check=False)
    assert res.returncode != 0 and "No such" in res.stderr


def test_logs_follow_and_wait(engine: ContainerEngine) -> None:
    name = unique()
    engine.docker("run", "-d", "--name", name, "busybox", "sh", "-c",
                  "for i in 1 2 3; do echo line$i; sleep 0.2; done; exit 7")
    # -f ends when the container does, with every line
    assert engine.docker("logs", "-f", name).stdout == "line1\nline2\nline3\n"
    assert engine.docker("wait", name).stdout.strip() == "7"
    assert engine.docker("logs", "--tail", "1", name).stdout == "line3\n"
    stamped = engine.docker("logs", "-t", "--tail", "1", name).stdout
    assert stamped.endswith(" line3\n") and stamped[:4].isdigit()
    # Docker's json-file on disk
    log_path = Path(inspect(engine, name)["LogPath"])
    first = json.loads(log_path.read_text().splitlines()[0])
    assert first["log"] == "line1\n" and first["stream"] == "stdout" and first["time"].endswith("Z")
    engine.docker("rm", name)


def test_rm_force_leaves_nothing(engine: ContainerEngine) -> None:
    name = unique()
    cid = engine.docker("run", "-d", "--name", name, "busybox", "sleep", "300").stdout.strip()
    pid = inspect(engine, name)["State"]["Pid"]
    assert cid in engine.container_cgroups()
    res = engine.docker("rm", name, check=False)
    assert res.returncode != 0 and "cannot remove a running container" in res.stderr
    engine.docker("rm", "-f", name)
    assert wait_for(lambda: not pid_alive(pid))
    assert cid not in engine.container_cgroups()
    assert not [m for m in engine.mounts() if cid in m]
    assert not (engine.root / "containers" / cid).exists()


def test_container_prune(engine: ContainerEngine) -> None:
    keep = engine.docker("run", "-d", "busybox", "sleep", "300").stdout.strip()
    gone = engine.docker("create", "busybox", "true").stdout.strip()
    done = engine.docker("run", "-d", "busybox", "true").stdout.strip()
    engine.docker("wait", done)
    out = engine.docker("container", "prune", "-f").stdout
    assert gone in out and done in out and keep not in out
    assert engine.docker("ps", "-aq", "--no-trunc").stdout.split() == [keep]
    engine.docker("rm", "-f", keep)


def test_resource_limits_in_the_container_cgroup(engine: ContainerEngine) -> None:
    script = ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max;"
              "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max;"
              "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max")
    out = engine.docker("run", "--rm", "-m", "64m", "--pids-limit", "25", "--cpus", "0.5", "busybox",
                        "sh", "-c", script).stdout.split()
    assert out == [str(64 * 1024 * 1024), "25", "50000"]


def test_network_none_has_only_loopback(engine: ContainerEngine) -> None:
    out = engine.docker("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link").stdout
    names = [ln.split(":")[1].strip() for ln in out.splitlines()]
    assert names == ["lo"]
    # as Docker does, the loopback is up: the container reaches its own 127.0.0.1
    script = ("nc -l -p 7000 > /tmp/got & for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.2; "
              "echo over-lo | nc -w 1 127.0.0.1 7000 && break; done; wait; cat /tmp/got")
    for net in ("none", "bridge"):
        got = engine.docker("run", "--rm", "--network", net, "busybox", "sh", "-c", script).stdout
        assert got.strip() == "over-lo", (net, got)


def test_interactive_tty(engine: ContainerEngine) -> None:
    """docker run -it with a real pty on the client side: a prompt, input, the exit code."""
    assert engine.daemon is not None
    env = engine.daemon.env()
    pid, fd = pty.fork()
    if pid == 0:  # the child only execs the docker CLI
        os.execvpe("docker", ["docker", "run", "-it", "--rm", "busybox", "sh"], env)
    out = bytearray()
    status: list[int] = []

    def pump() -> None:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out.extend(os.read(fd, 4096))
            except OSError:
                pass

    def saw(token: bytes) -> bool:
        pump()
        return token in out

    def exited() -> bool:
        pump()
        got, st = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            status.append(st)
        return bool(status)

    try:
        assert wait_for(lambda: saw(b"# "), timeout=30), bytes(out)
        os.write(fd, b"test -t 0 && echo is-a-tty; echo $((6*7))\r")
        assert wait_for(lambda: saw(b"42\r\n"), timeout=30), bytes(out)
        assert b"is-a-tty" in out
        os.write(fd, b"exit 5\r")
        assert wait_for(exited, timeout=30), bytes(out)
    finally:
        if not status:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status[0]) == 5, bytes(out)


def test_docker_py_lifecycle(engine: ContainerEngine) -> None:
    import docker

    assert engine.daemon is not None
    client = docker.DockerClient(base_url=engine.daemon.host, timeout=60)
    try:
        out = client.containers.run("busybox", ["sh", "-c", "echo from-py"], remove=True)
        assert out == b"from-py\n"
        c = client.containers.run("busybox", ["sleep", "300"], detach=True, name=unique("py"))
        c.reload()
        assert c.status == "running"
        code, output = c.exec_run(["sh", "-c", "echo $((1+2))"])
        assert (code, output) == (0, b"3\n")
        c.stop(timeout=1)
        assert c.wait()["StatusCode"] == 137  # sleep as PID 1 ignores SIGTERM
        c.reload()
        assert c.attrs["State"]["ExitCode"] == 137 and not c.attrs["State"]["OOMKilled"]
        c.remove()
        with __import__("pytest").raises(docker.errors.NotFound):
            client.containers.get(c.id)
    finally:
        client.close()


def test_sigterm_default_and_stop_timeout(engine: ContainerEngine) -> None:
    """stop sends SIGTERM, then SIGKILL after -t when the process ignores it."""
    name = unique()
    engine.docker("run", "-d", "--name", name, "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done")
    engine.docker("stop", "-t", "1", name)
    assert inspect(engine, name)["State"]["ExitCode"] == 137
    engine.docker("start", name)
    engine.docker("kill", "-s", "TERM", name)  # ignored: still running
    assert inspect(engine, name)["State"]["Running"]
    engine.docker("rm", "-f", name)



def test_diff_commit_export_update(engine: ContainerEngine, tmp_path: Path) -> None:
    name = unique()
    image = f"snap-{name}:v1"
    engine.docker("run", "-d", "--name", name, "busybox", "sh", "-c",
                  "echo hi > /tmp/new.txt; echo extra >> /etc/passwd; echo ready; sleep 300")
    try:
        assert wait_for(lambda: "ready" in engine.docker("logs", name).stdout)
        assert engine.docker("diff", name).stdout.splitlines() == ["C /etc", "C /etc/passwd", "C /tmp",
                                                                   "A /tmp/new.txt"]
        engine.docker("commit", "-c", 'CMD ["cat", "/tmp/new.txt"]', name, image)
        assert engine.docker("run", "--rm", image).stdout == "hi\n"
        engine.docker("export", "-o", str(tmp_path / "fs.tar"), name)
        import tarfile

        with tarfile.open(tmp_path / "fs.tar") as tar:
            members = {m.name.lstrip("./") for m in tar.getmembers()}
        assert {"tmp/new.txt", "bin/busybox", "etc/passwd"} <= members
        engine.docker("update", "--memory", "64m", "--memory-swap", "128m", name)
        limit = engine.docker("exec", name, "sh", "-c",
                              "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
                              "cat /sys/fs/cgroup/memory.max").stdout.strip()
        assert limit == str(64 * 1024 * 1024)
        assert json.loads(engine.docker("inspect", name).stdout)[0]["HostConfig"]["Memory"] == 64 * 1024 * 1024
    finally:
        engine.docker("rm", "-f", name)
        engine.docker("rmi", image, check=False)


def test_attach_and_detach_with_ctrl_p_ctrl_q(engine: ContainerEngine) -> None:
    """docker run -dit, then docker attach on a real pty: input reaches the shell, ^P^Q detaches."""
    assert engine.daemon is not None
    name = unique("att")
    engine.docker("run", "-dit", "--name", name, "busybox", "sh")
    env = engine.daemon.env()
    pid, fd = pty.fork()
    if pid == 0:  # the child only execs the docker CLI
        os.execvpe("docker", ["docker", "attach", name], env)
    out = bytearray()
    status: list[int] = []

    def saw(token: bytes) -> bool:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out.extend(os.read(fd, 4096))
            except OSError:
                pass
        return token in out

    def exited() -> bool:
        saw(b"")
        got, st = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            status.append(st)
        return bool(status)

    try:
        # the CLI is attached once the shell answers what we type
        def answered() -> bool:
            os.write(fd, b"echo hello-$((2+3))\r")
            return wait_for(lambda: saw(b"hello-5\r\n"), timeout=1)
        assert wait_for(answered, timeout=30), bytes(out)
        os.write(fd, b"\x10\x11")
        assert wait_for(exited, timeout=30), bytes(out)
        assert b"read escape sequence" in out
    finally:
        if not status:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    assert inspect(engine, name)["State"]["Running"]  # detaching leaves it running
    engine.docker("rm", "-f", name)
