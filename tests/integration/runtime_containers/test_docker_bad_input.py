"""Bad input through the docker CLI: Docker's error text, and nothing left half-made."""
from __future__ import annotations

import os

import pytest

from tests.integration.runtime_containers.conftest import unique
from tests.support.engine import ContainerEngine


def records(engine: ContainerEngine) -> set[str]:
    d = engine.root / "containers"
    return set(os.listdir(d)) if d.is_dir() else set()


def assert_nothing_left(engine: ContainerEngine, before: set[str]) -> None:
    assert records(engine) == before
    assert set(engine.docker("ps", "-aq", "--no-trunc").stdout.split()) == before
    assert not [m for m in engine.mounts() if "/overlay2/" in m]
    assert set(engine.container_cgroups()) <= before
    assert engine.processes() == []


@pytest.mark.parametrize(("args", "message"), [
    (["--pull", "never", "no-such-image:latest", "true"], "No such image: no-such-image:latest"),
    (["-m", "1k", "busybox", "true"], "Minimum memory limit allowed is 6MB"),
    (["-m", "64m", "--memory-swap", "32m", "busybox", "true"],
     "Minimum memoryswap limit should be larger than memory limit"),
    (["--cpus", "100000", "busybox", "true"], "Range of CPUs is from 0.01 to"),
    (["--cpuset-cpus", "4095", "busybox", "true"], "Requested CPUs are not available - requested 4095"),
    (["--cap-add", "NOT_A_CAP", "busybox", "true"], 'invalid CapAdd: unknown capability: "CAP_NOT_A_CAP"'),
], ids=["unknown-image", "tiny-memory", "swap-below-memory", "too-many-cpus", "absent-cpuset",
        "unknown-capability"])
def test_refused_at_create(engine: ContainerEngine, args: list[str], message: str) -> None:
    before = records(engine)
    res = engine.docker("run", *args, check=False)
    assert res.returncode == 125, res
    assert "Error response from daemon: " + message in res.stderr, res.stderr
    assert_nothing_left(engine, before)


def test_name_in_use_is_a_409_with_dockers_message(engine: ContainerEngine) -> None:
    name = unique("taken")
    cid = engine.docker("create", "--name", name, "busybox", "true").stdout.strip()
    before = records(engine)
    res = engine.docker("run", "--name", name, "busybox", "true", check=False)
    assert res.returncode == 125
    assert (f'Conflict. The container name "/{name}" is already in use by container "{cid}". '
            "You have to remove (or rename) that container to be able to reuse that name.") in res.stderr
    assert_nothing_left(engine, before)
    import docker

    assert engine.daemon is not None
    client = docker.DockerClient(base_url=engine.daemon.host)
    try:
        with pytest.raises(docker.errors.APIError) as info:
            client.containers.create("busybox", ["true"], name=name)
        assert info.value.status_code == 409
    finally:
        client.close()
    engine.docker("rm", cid)


def test_missing_command_fails_at_start_and_cleans_up(engine: ContainerEngine) -> None:
    """As Docker: the container exists (Created, exit 127), but no mount, cgroup or process remains."""
    name = unique("nocmd")
    res = engine.docker("run", "--name", name, "busybox", "no-such-command", check=False)
    assert res.returncode == 127
    assert 'exec: "no-such-command": executable file not found in $PATH' in res.stderr
    assert engine.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name).stdout.split() == \
        ["created", "127"]
    cid = engine.docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
    assert not [m for m in engine.mounts() if cid in m]
    assert cid not in engine.container_cgroups()
    assert engine.processes() == []
    engine.docker("rm", name)


def test_unknown_user_fails_at_start(engine: ContainerEngine) -> None:
    name = unique()
    res = engine.docker("run", "--name", name, "-u", "no-such-user", "busybox", "true", check=False)
    assert res.returncode != 0
    assert "unable to find user no-such-user: no matching entries in passwd file" in res.stderr
    cid = engine.docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
    assert not [m for m in engine.mounts() if cid in m]
    engine.docker("rm", name)


def test_no_such_container(engine: ContainerEngine) -> None:
    for verb in (["start"], ["stop"], ["kill"], ["rm"], ["logs"], ["exec"], ["container", "inspect"]):
        args = [*verb, "no-such-container"] + (["true"] if verb == ["exec"] else [])
        res = engine.docker(*args, check=False)
        assert res.returncode != 0
        assert "No such container: no-such-container" in res.stderr, (verb, res.stderr)
