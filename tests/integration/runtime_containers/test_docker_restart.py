"""Containers outlive their engine; restart policies apply, also across engine restarts."""
from __future__ import annotations

import json
import os
import signal

from tests.integration.runtime_containers.conftest import pid_alive, unique, wait_for
from tests.support.engine import ContainerEngine


def state(engine: ContainerEngine, ref: str) -> dict:  # type: ignore[type-arg]
    doc = json.loads(engine.docker("inspect", ref).stdout)[0]
    return {**doc["State"], "RestartCount": doc["RestartCount"]}  # type: ignore[no-any-return]


def test_container_survives_daemon_kill_and_is_found_again(own_engine: ContainerEngine) -> None:
    eng = own_engine
    name = unique("survivor")
    eng.docker("run", "-d", "--name", name, "busybox", "sh", "-c",
               'trap "exit 0" TERM; echo up; while true; do sleep 0.1; done')
    pid = state(eng, name)["Pid"]
    assert wait_for(lambda: "up" in eng.docker("logs", name).stdout)
    eng.kill9()
    assert pid_alive(pid)  # nothing of the engine is needed to keep it running
    eng.start()
    assert pid_alive(pid)
    ps = eng.docker("ps", "--format", "{{.Names}} {{.Status}}").stdout
    assert f"{name} Up" in ps
    st = state(eng, name)
    assert st["Running"] and st["Pid"] == pid
    # the restarted engine still has its stdio: exec, logs and stop work
    assert eng.docker("exec", name, "echo", "hi").stdout == "hi\n"
    eng.docker("stop", name)
    assert wait_for(lambda: not pid_alive(pid))
    st = state(eng, name)
    assert (st["Running"], st["ExitCode"]) == (False, 0)
    eng.docker("rm", name)


def test_exit_while_daemon_is_down_is_recorded(own_engine: ContainerEngine) -> None:
    eng = own_engine
    name = unique()
    eng.docker("run", "-d", "--name", name, "busybox", "sleep", "300")
    pid = state(eng, name)["Pid"]
    eng.kill9()
    os.kill(pid, signal.SIGKILL)  # the container's init, started by this test's engine
    assert wait_for(lambda: not pid_alive(pid))
    eng.start()
    assert wait_for(lambda: not state(eng, name)["Running"])
    assert state(eng, name)["ExitCode"] == 137
    eng.docker("rm", name)


def test_restart_policy_on_failure_counts_retries(own_engine: ContainerEngine) -> None:
    eng = own_engine
    name = unique("onfail")
    eng.docker("run", "-d", "--name", name, "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3")
    assert wait_for(lambda: (lambda s: not s["Running"] and not s["Restarting"] and s["RestartCount"] == 2)(
        state(eng, name)), timeout=30)
    st = state(eng, name)
    assert st["ExitCode"] == 3
    assert eng.docker("logs", name).stdout == "run\nrun\nrun\n"
    eng.docker("rm", name)


def test_restart_policy_always_across_daemon_restart(own_engine: ContainerEngine) -> None:
    eng = own_engine
    name = unique("always")
    eng.docker("run", "-d", "--name", name, "--restart", "always", "busybox", "sh", "-c", "sleep 0.3; exit 1")
    assert wait_for(lambda: state(eng, name)["RestartCount"] >= 1, timeout=30)
    eng.kill9()
    eng.start()
    # still restarted by the new engine, whichever state it found it in
    count = state(eng, name)["RestartCount"]
    assert wait_for(lambda: state(eng, name)["RestartCount"] > count, timeout=30)
    # docker stop stops it for good
    eng.docker("stop", name)
    st = state(eng, name)
    assert not st["Running"] and not st["Restarting"]
    count = st["RestartCount"]
    eng.docker("run", "--rm", "busybox", "sleep", "1")  # give a wrong restart time to happen
    assert state(eng, name)["RestartCount"] == count and not state(eng, name)["Running"]
    eng.docker("rm", "-f", name)
