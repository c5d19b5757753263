"""The seed notes' Docker commands (INVENTORY.md §22), as written there, through the real docker CLI.

Local images stand in for Docker Hub's (``busybox`` for ``reg.cloud.com/busybox`` and for
ubuntu/centos, whose shells the notes use interactively). Each test names its rows.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tests.integration.runtime_containers.conftest import unique, wait_for
from tests.support.engine import ContainerEngine
from tests.support.pty_session import PtySession

PROMPT = rb"/ # "


def inspect(engine: ContainerEngine, ref: str) -> dict:  # type: ignore[type-arg]
    return json.loads(engine.docker("inspect", ref).stdout)[0]  # type: ignore[no-any-return]


def host_nameservers() -> list[str]:
    lines = Path("/etc/resolv.conf").read_text().splitlines()
    return [ln.split()[1] for ln in lines if ln.startswith("nameserver") and len(ln.split()) > 1
            and not ln.split()[1].startswith("127.")]


def test_a4_a5_a6_interactive_shell_network_and_name(engine: ContainerEngine) -> None:
    """A4/A5: ``docker run -it … sh`` gives the ``/ #`` prompt, hostname = short ID. A6: ``--name
    hong``, then ``ip a``, ``route``, ``cat /etc/resolv.conf`` inside; the name in ``docker ps -a``."""
    name = unique("hong")
    assert engine.daemon is not None
    s = PtySession(["docker", "run", "-it", "--name", name, "busybox", "sh"], engine.daemon.env())
    try:
        s.expect(PROMPT)
        cid = inspect(engine, name)["Id"]
        assert s.command(b"hostname", rb"([0-9a-f]{12})\r\n").group(1).decode() == cid[:12]
        # the marker is typed as E""ND, so only the output (not the echoed line) ends with END
        ip_a = s.command(b'ip a; echo E""ND', rb"(?s)(.*)\r\nEND\r\n").group(1).decode()
        m = re.search(r"link/ether (02:42:ac:11:[0-9a-f:]{5}).*?inet (172\.17\.\d+\.\d+)/16", ip_a, re.S)
        assert m, ip_a
        mac, ip = m.groups()
        assert mac == "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))
        assert "inet 127.0.0.1/8" in ip_a  # lo, up
        route = s.command(b'route -n; echo E""ND', rb"(?s)(.*)\r\nEND\r\n").group(1).decode()
        assert re.search(r"0\.0\.0\.0\s+172\.17\.0\.1\s+0\.0\.0\.0\s+UG", route), route
        resolv = s.command(b'cat /etc/resolv.conf; echo E""ND', rb"(?s)(.*)\r\nEND\r\n").group(1).decode()
        servers = [ln.split()[1] for ln in resolv.splitlines() if ln.startswith("nameserver")]
        assert servers == (host_nameservers() or ["8.8.8.8", "8.8.4.4"]), resolv  # Docker's fallback
        s.send(b"exit\r")
        assert s.wait() == 0
    finally:
        s.close()
    ps = engine.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
    assert f"{name} Exited (0)" in ps
    # A7, A8: commit needs a lower-case repository; the new image is listed
    res = engine.docker("commit", name, "hongImages", check=False)
    # the CLI's own check (28 names the repository: "repository name (library/hongImages) must be lowercase")
    assert res.returncode != 0 and re.search(r"invalid reference format: repository name .*must be lowercase",
                                             res.stderr), res.stderr
    repo = unique("hongimages")
    out = engine.docker("commit", name, repo).stdout.strip()
    assert out.startswith("sha256:")
    assert repo in engine.docker("images").stdout
    # the new layer holds the container's changes only (the shell's history), not the empty
    # targets of the /etc/hosts, hostname and resolv.conf bind mounts
    assert top_layer_names(engine, repo) <= {"root", "root/.ash_history"}, top_layer_names(engine, repo)
    engine.docker("rm", name)
    engine.docker("rmi", repo)


def top_layer_names(engine: ContainerEngine, image: str) -> set[str]:
    import io
    import subprocess
    import tarfile

    assert engine.daemon is not None
    saved = subprocess.run(["docker", "save", image], capture_output=True, env=engine.daemon.env(), check=True,
                           timeout=120).stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        top = outer.extractfile(manifest[0]["Layers"][-1])
        assert top is not None
        with tarfile.open(fileobj=io.BytesIO(top.read())) as layer:
            return {m.name.rstrip("/") for m in layer.getmembers()}


def test_a9_export_import_history_and_run(engine: ContainerEngine, tmp_path: Path) -> None:
    """A9: mkdir /test in c3, ``docker export c3 > tar``, ``docker import tar hongtest``, its
    history is one row ``Imported from -``, and a container of it has /test."""
    c3, image = unique("c3"), unique("hongtest")
    engine.docker("run", "--name", c3, "busybox", "mkdir", "/test")
    tar = tmp_path / "ubuntu2.tar"
    with open(tar, "wb") as f:
        import subprocess
        assert engine.daemon is not None
        subprocess.run(["docker", "export", c3], stdout=f, env=engine.daemon.env(), check=True, timeout=120)
    out = engine.docker("import", str(tar), image).stdout.strip()
    assert out.startswith("sha256:")
    history = engine.docker("history", image).stdout.splitlines()
    assert history[0].split()[:4] == ["IMAGE", "CREATED", "CREATED", "BY"] and len(history) == 2
    assert "Imported from -" in history[1]
    assert engine.docker("run", "--rm", image, "ls", "-d", "/test").stdout == "/test\n"
    engine.docker("rm", c3)
    engine.docker("rmi", image)


def test_a14_a15_a16_a25_a26_ps_rm_prune_start_stop(engine: ContainerEngine) -> None:
    one_off = unique("once")
    engine.docker("container", "run", "--name", one_off, "busybox", "cat", "/etc/os-release", check=False)
    running = unique("up")
    cid = engine.docker("run", "-d", "--name", running, "busybox", "sleep", "600").stdout.strip()
    created = unique("new")
    engine.docker("create", "--name", created, "busybox", "true")
    ps = engine.docker("ps").stdout
    assert running in ps and one_off not in ps and created not in ps
    ps_a = engine.docker("ps", "-a", "--format", "{{.Names}}|{{.Status}}").stdout
    assert f"{one_off}|Exited (1)" in ps_a and f"{created}|Created" in ps_a  # busybox has no os-release
    assert cid[:12] in engine.docker("ps", "-q").stdout.split()
    assert {cid[:12]} <= set(engine.docker("ps", "-aq").stdout.split())
    # A25: stop, start (the default command again), restart, kill
    engine.docker("stop", "-t", "1", running)
    assert inspect(engine, running)["State"]["Status"] == "exited"
    engine.docker("start", running)
    pid = inspect(engine, running)["State"]["Pid"]
    engine.docker("restart", "-t", "1", running)
    assert inspect(engine, running)["State"]["Pid"] not in (0, pid)
    engine.docker("kill", running)
    assert wait_for(lambda: inspect(engine, running)["State"]["ExitCode"] == 137)
    # A16: prune removes stopped containers; A15: rm -f removes running ones and prints each ID
    again = engine.docker("run", "-d", "busybox", "sleep", "600").stdout.strip()
    pruned = engine.docker("container", "prune", "-f").stdout
    for n in (one_off, running, created):
        assert engine.docker("ps", "-aq", "--filter", f"name=^{n}$").stdout == ""
    assert "Deleted Containers:" in pruned
    removed = engine.docker("rm", "-f", again).stdout.split()
    assert removed == [again]


def test_a17_a18_a19_inspect_fields_and_templates(engine: ContainerEngine) -> None:
    name = unique("insp")
    cid = engine.docker("run", "-d", "--name", name, "busybox", "sleep", "600").stdout.strip()
    try:
        info = inspect(engine, name)
        assert info["State"]["Status"] == "running" and info["State"]["Pid"] > 0
        assert info["HostConfig"]["RestartPolicy"]["Name"] == "no"
        assert info["HostConfig"]["LogConfig"]["Type"] == "json-file"
        assert info["GraphDriver"]["Name"] == "overlay2"
        assert info["NetworkSettings"]["Gateway"] == "172.17.0.1"
        assert info["Config"]["Hostname"] == cid[:12]
        ip = engine.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid[:12]).stdout.strip()
        assert ip == info["NetworkSettings"]["IPAddress"] and ip.startswith("172.17.")
        pid = int(engine.docker("inspect", "-f", "{{.State.Pid}}", cid[:12]).stdout)
        assert Path(f"/proc/{pid}").exists()  # a host PID
        # A38: the container's directory as Docker keeps it
        d = engine.root / "containers" / cid
        names = set(os.listdir(d))
        assert {f"{cid}-json.log", "config.v2.json", "hostconfig.json", "hostname", "hosts",
                "resolv.conf"} <= names, names
    finally:
        engine.docker("rm", "-f", name)


def test_a20_a21_host_pid_and_uts_namespaces(engine: ContainerEngine) -> None:
    own = engine.docker("run", "--rm", "busybox", "ps", "-o", "pid").stdout.split()[1:]
    assert own == ["1"] or len(own) <= 2, own  # only itself (and ps)
    shared = engine.docker("run", "--rm", "--pid=host", "busybox", "ps", "-o", "pid").stdout.split()[1:]
    assert str(os.getpid()) in shared  # this test's own process is visible
    assert engine.docker("run", "--rm", "--uts=host", "busybox", "hostname").stdout.strip() == os.uname().nodename
    assert engine.docker("run", "--rm", "busybox", "hostname").stdout.strip() != os.uname().nodename


def test_a23_a24_attach_detach_and_exec(engine: ContainerEngine) -> None:
    name = unique("att")
    engine.docker("run", "-dit", "--name", name, "busybox", "sh")
    assert engine.daemon is not None
    try:
        s = PtySession(["docker", "attach", name], engine.daemon.env())
        try:
            s.send(b"\r")
            s.expect(PROMPT)
            s.send(b"\x10\x11")  # ^P^Q
            s.wait()
        finally:
            s.close()
        assert inspect(engine, name)["State"]["Running"]
        assert engine.docker("exec", name, "ps").stdout.count("sh") >= 1
    finally:
        engine.docker("rm", "-f", name)


def test_a27_detached_published_restart_always(engine: ContainerEngine) -> None:
    """A27: ``docker run -d -p 5000:5000 --restart=always --name registry …`` (an httpd stands in)."""
    name = unique("registry")
    engine.docker("run", "-d", "-p", "5000:5000", "--restart=always", "--name", name, "busybox",
                  "sh", "-c", "mkdir -p /w && echo up > /w/index.html && exec httpd -f -p 5000 -h /w")
    try:
        info = inspect(engine, name)
        assert info["HostConfig"]["RestartPolicy"]["Name"] == "always"
        assert info["NetworkSettings"]["Ports"]["5000/tcp"][0]["HostPort"] == "5000"
        pid = info["State"]["Pid"]
        os.kill(pid, 9)
        assert wait_for(lambda: inspect(engine, name)["State"]["Pid"] not in (0, pid)
                        and inspect(engine, name)["State"]["Running"], timeout=60)
        assert inspect(engine, name)["RestartCount"] >= 1
    finally:
        engine.docker("rm", "-f", name)


def test_a39_overlay2_layer_directories(engine: ContainerEngine) -> None:
    """A39: ``ls /var/lib/docker/overlay2``: a directory per container layer with ``diff`` (its
    changes), ``work``, ``merged`` and ``lower`` (the image layers' ``diff`` directories, top
    first). Unlike dockerd, the image layers themselves live in the image store, and there are
    no ``link``/``l`` short names."""
    name = unique("ovl")
    cid = engine.docker("run", "-d", "--name", name, "busybox", "sh", "-c", "echo x > /new; sleep 600").stdout.strip()
    try:
        layer = engine.root / "overlay2" / cid
        assert {"diff", "work", "merged", "lower"} <= set(os.listdir(layer))
        lowers = (layer / "lower").read_text().split(":")
        assert lowers and all(Path(p).is_dir() and Path(p).name == "diff" for p in lowers), lowers
        assert wait_for(lambda: (layer / "diff" / "new").exists())
        assert "new" in os.listdir(layer / "merged")
    finally:
        engine.docker("rm", "-f", name)
