"""``DOCKER_BUILDKIT=0 docker build`` (the classic ``/build`` endpoint) through the real docker
CLI and docker-py against ``skiff daemon`` in a test netns, then ``docker run`` of what was built."""
from __future__ import annotations

import io
import json
import re
import tarfile
import time
from pathlib import Path

import pytest

from tests.integration.runtime_containers.conftest import unique, wait_for
from tests.support.engine import ContainerEngine

DEPRECATION = "DEPRECATED: The legacy builder is deprecated"


def build(engine: ContainerEngine, ctx: Path, *args: str, check: bool = True):  # type: ignore[no-untyped-def]
    assert engine.daemon is not None
    import subprocess

    env = dict(engine.daemon.env(), DOCKER_BUILDKIT="0")
    res = subprocess.run(["docker", "build", *args, str(ctx)], env=env, capture_output=True, text=True, timeout=300)
    if check and res.returncode != 0:
        raise AssertionError(f"docker build failed ({res.returncode}):\n{res.stdout}\n{res.stderr}\n"
                             f"--- daemon log ---\n{engine.daemon.log_tail()}")
    return res


def write(ctx: Path, files: dict[str, str | bytes]) -> Path:
    ctx.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return ctx


def inspect(engine: ContainerEngine, ref: str) -> dict:  # type: ignore[type-arg]
    return json.loads(engine.docker("image", "inspect", ref).stdout)[0]  # type: ignore[no-any-return]


def steps(output: str) -> list[str]:
    return re.findall(r"^Step \d+/\d+ : (.*)$", output, re.M)


def assert_nothing_left(engine: ContainerEngine) -> None:
    assert engine.docker("ps", "-aq").stdout.strip() == ""
    assert wait_for(lambda: not engine.container_cgroups(), timeout=60), engine.container_cgroups()
    assert [m for m in engine.mounts() if "/overlay2/" in m] == []
    root = engine.root / "overlay2"
    assert [p.name for p in root.iterdir()] == [] if root.exists() else True
    assert engine.docker("volume", "ls", "-q").stdout.strip() == ""


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# ------------------------------------------------------------------------------ instructions
def test_every_instruction_and_the_image_runs(engine: ContainerEngine, tmp_path: Path) -> None:
    tag = unique("every")
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w:gz") as tar:
        data = b"from the tarball\n"
        info = tarfile.TarInfo("pkg/inside.txt")
        info.size, info.uid, info.gid, info.mode = len(data), 7, 8, 0o604
        tar.addfile(info, io.BytesIO(data))
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": """# syntax and comments are ignored
FROM busybox
MAINTAINER Someone <someone@example.com>
ARG GREETING=hello
ENV APP_HOME=/srv/app \\
    MODE="two words"
LABEL org.example.name="every instruction" version=$GREETING
WORKDIR $APP_HOME
COPY greeting.txt ./
COPY --chown=65534:65534 data/ data/
COPY *.conf /etc/app/
ADD payload.tar.gz /opt/
ADD plain.txt /opt/plain-copy.txt
RUN echo "built with $GREETING in $MODE" > built.txt && id -u > built-by.txt
RUN ["/bin/sh", "-c", "echo exec form >> built.txt"]
SHELL ["/bin/sh", "-ec"]
RUN echo "shell $0" >> built.txt
USER nobody
EXPOSE 8080 53/udp
VOLUME /srv/state
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD test -f /srv/app/built.txt
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat built.txt greeting.txt /etc/app/*.conf /opt/pkg/inside.txt /opt/plain-copy.txt; id -u; pwd; echo \\"$MODE\\""]
""",
        "greeting.txt": "greetings file\n",
        "data/a.txt": "a\n", "data/sub/b.txt": "b\n",
        "one.conf": "conf one\n", "two.conf": "conf two\n",
        "payload.tar.gz": payload.getvalue(),
        "plain.txt": "not an archive\n",
    })
    res = build(engine, ctx, "--build-arg", "GREETING=hi", "-t", tag, "-t", f"{tag}:v2")
    out = res.stdout
    assert steps(out)[0] == "FROM busybox" and len(steps(out)) == 22
    assert re.search(r"Step 12/22 : RUN echo .*\n ---> Running in [0-9a-f]{12}\nRemoving intermediate container "
                     r"[0-9a-f]{12}\n ---> [0-9a-f]{12}\n", out), out
    image_id = inspect(engine, tag)["Id"]
    assert f"Successfully built {image_id[7:19]}" in out
    assert f"Successfully tagged {tag}:latest" in out and f"Successfully tagged {tag}:v2" in out

    img = inspect(engine, tag)
    cfg = img["Config"]
    assert img["Author"] == "Someone <someone@example.com>"
    assert "APP_HOME=/srv/app" in cfg["Env"] and "MODE=two words" in cfg["Env"]
    assert not any(e.startswith("GREETING=") for e in cfg["Env"])  # an ARG is not kept in the image
    assert cfg["Labels"] == {"org.example.name": "every instruction", "version": "hi"}
    assert cfg["WorkingDir"] == "/srv/app" and cfg["User"] == "nobody"
    assert set(cfg["ExposedPorts"]) == {"8080/tcp", "53/udp"} and set(cfg["Volumes"]) == {"/srv/state"}
    assert cfg["StopSignal"] == "SIGUSR1" and cfg["Shell"] == ["/bin/sh", "-ec"]
    assert cfg["Healthcheck"]["Test"] == ["CMD-SHELL", "test -f /srv/app/built.txt"]
    assert cfg["Healthcheck"]["Interval"] == 30_000_000_000 and cfg["Healthcheck"]["Retries"] == 2
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"]

    run = engine.docker("run", "--rm", tag).stdout.splitlines()
    assert run == ["built with hi in two words", "exec form", "shell /bin/sh", "greetings file", "conf one",
                   "conf two", "from the tarball", "not an archive", "65534", "/srv/app", "two words"]
    # RUN ran as root (USER came later); COPY --chown and ADD's archive owners are kept
    listing = engine.docker("run", "--rm", tag, "cat built-by.txt; stat -c '%u:%g %a %n' data data/a.txt "
                            "data/sub/b.txt greeting.txt /opt/pkg/inside.txt").stdout.splitlines()
    assert listing == ["0", "65534:65534 755 data", "65534:65534 644 data/a.txt", "65534:65534 644 data/sub/b.txt",
                       "0:0 644 greeting.txt", "7:8 604 /opt/pkg/inside.txt"]

    hist = engine.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag).stdout.splitlines()
    assert hist[0].startswith('/bin/sh -ec #(nop)  CMD ["cat built.txt')  # the SHELL names it
    assert "/bin/sh -c #(nop)  ENV APP_HOME=/srv/app MODE=two words" in hist
    assert "|1 GREETING=hi /bin/sh -c echo \"built with $GREETING in $MODE\" > built.txt && id -u > built-by.txt" \
        in hist
    assert any(re.fullmatch(r"/bin/sh -c #\(nop\) COPY --chown=65534:65534 dir:[0-9a-f]{64} in /srv/app/data/ ", h)
               for h in hist), hist
    assert any(re.fullmatch(r"/bin/sh -c #\(nop\) COPY multi:[0-9a-f]{64} in /etc/app/ ", h) for h in hist), hist
    ids = engine.docker("history", "-q", tag).stdout.split()
    assert ids[0] == image_id[7:19] and "<missing>" not in ids[:-1]  # the parent chain is named
    # intermediate images are hidden from `docker images`, shown with -a
    listed = engine.docker("images", "-q").stdout.split()
    assert len(engine.docker("images", "-aq").stdout.split()) > len(listed) + 10
    assert_nothing_left(engine)


def test_context_with_symlinks_and_hard_links(engine: ContainerEngine, tmp_path: Path) -> None:
    import os

    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY . /c/\nCMD [\"sh\", \"-c\", "
                                   "\"readlink /c/abs; readlink /c/rel; cat /c/hard /c/rel\"]\n", "file.txt": "content\n"})
    os.symlink("/etc/hostname", ctx / "abs")
    os.symlink("file.txt", ctx / "rel")
    os.link(ctx / "file.txt", ctx / "hard")
    tag = unique("links")
    build(engine, ctx, "-t", tag)
    assert engine.docker("run", "--rm", tag).stdout.splitlines() == ["/etc/hostname", "file.txt", "content",
                                                                     "content"]
    assert_nothing_left(engine)


def test_multi_stage_copy_from_and_target(engine: ContainerEngine, tmp_path: Path) -> None:
    tag = unique("multi")
    ctx = write(tmp_path / "ctx", {"Dockerfile": """ARG BASE=busybox
FROM $BASE AS compile
RUN mkdir /out && echo compiled > /out/artifact && echo extra > /out/extra
FROM scratch AS bare
COPY --from=compile /out/artifact /artifact
FROM busybox AS final
COPY --from=compile /out/ /opt/
COPY --from=bare /artifact /from-bare
COPY --from=busybox /bin/busybox /copied-busybox
CMD ["sh", "-c", "cat /opt/artifact /opt/extra /from-bare; test -x /copied-busybox && echo exe"]
"""})
    out = build(engine, ctx, "-t", tag).stdout
    assert "Step 1/10 : ARG BASE=busybox" in out and "Step 4/10 : FROM scratch AS bare" in out
    assert engine.docker("run", "--rm", tag).stdout.splitlines() == ["compiled", "extra", "compiled", "exe"]
    # --target stops at that stage: a FROM scratch image holding one file
    bare = unique("bare")
    out = build(engine, ctx, "--target", "bare", "-t", bare).stdout
    assert len(steps(out)) == 5 and "FROM busybox AS final" not in out
    img = inspect(engine, bare)
    assert len(img["RootFS"]["Layers"]) == 1
    res = build(engine, ctx, "--target", "nosuch", check=False)
    assert res.returncode == 1 and "failed to reach build target nosuch in Dockerfile" in res.stderr
    assert_nothing_left(engine)


# ------------------------------------------------------------------------------ the cache
def test_cache_hits_on_rebuild_and_misses_after_a_change(engine: ContainerEngine, tmp_path: Path) -> None:
    tag = unique("cache")
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN echo one > /one\nCOPY app.txt /app/\nRUN cat /app/app.txt > /copy\n"
                      "CMD [\"cat\", \"/copy\"]\n",
        "app.txt": "version 1\n",
    })
    first = build(engine, ctx, "-t", tag).stdout
    assert "Using cache" not in first.split("Step 2/5")[1]
    second = build(engine, ctx, "-t", tag).stdout
    assert second.count(" ---> Using cache") == 4 and "Running in" not in second
    assert inspect(engine, tag)["Id"][7:19] in second
    # touching the file without changing it keeps the cache (content, not mtime, is hashed)
    time.sleep(0.01)
    (ctx / "app.txt").touch()
    assert build(engine, ctx).stdout.count(" ---> Using cache") == 4
    (ctx / "app.txt").write_text("version 2\n")
    third = build(engine, ctx, "-t", tag).stdout
    assert third.count(" ---> Using cache") == 1  # the RUN before the COPY only
    assert third.split("Step 3/5")[1].count("Using cache") == 0
    assert engine.docker("run", "--rm", tag).stdout == "version 2\n"
    no_cache = build(engine, ctx, "--no-cache").stdout
    # every step but FROM and COPY gets a container, as in dockerd (the CMD one is never started)
    assert "Using cache" not in no_cache and no_cache.count("Running in") == 3
    assert re.search(r'Step 5/5 : CMD \["cat", "/copy"\]\n ---> Running in ([0-9a-f]{12})\n'
                     r"Removing intermediate container \1\n ---> [0-9a-f]{12}\n", no_cache), no_cache
    assert_nothing_left(engine)


def test_build_args_defaults_overrides_and_cache(engine: ContainerEngine, tmp_path: Path) -> None:
    tag = unique("args")
    ctx = write(tmp_path / "ctx", {"Dockerfile": """ARG TAG=latest
FROM busybox:${TAG}
ARG TAG
ARG WHO=world
ARG EMPTYDEFAULT
ENV FROM_ENV=${WHO:-nobody}
RUN echo "hello $WHO tag=$TAG empty=[$EMPTYDEFAULT] env=$FROM_ENV" > /greeting
CMD ["cat", "/greeting"]
"""})
    out = build(engine, ctx, "-t", tag, "--build-arg", "UNUSED=1").stdout
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in out
    assert engine.docker("run", "--rm", tag).stdout == "hello world tag=latest empty=[] env=world\n"
    out = build(engine, ctx, "-t", tag, "--build-arg", "WHO=skiff", "--build-arg", "EMPTYDEFAULT=set").stdout
    assert "Warning" not in out
    # a different build arg value is a different RUN: no cache for it
    assert out.split("Step 7/8")[1].split("Step 8/8")[0].count("Using cache") == 0
    assert engine.docker("run", "--rm", tag).stdout == "hello skiff tag=latest empty=[set] env=skiff\n"
    again = build(engine, ctx, "--build-arg", "WHO=skiff", "--build-arg", "EMPTYDEFAULT=set").stdout
    assert again.count("Using cache") == 6
    assert_nothing_left(engine)


def test_dockerignore_cli_and_raw_context(engine: ContainerEngine, tmp_path: Path) -> None:
    df = "FROM busybox\nCOPY . /ctx/\nCMD [\"sh\", \"-c\", \"cd /ctx && find . -type f | sort\"]\n"
    ignore = "# comment\n*.log\nsecret/\n!secret/keep.txt\n**/*.tmp\n"
    tag = unique("ignore")
    ctx = write(tmp_path / "ctx", {"Dockerfile": df, ".dockerignore": ignore, "app.txt": "x", "debug.log": "x",
                                   "secret/key": "x", "secret/keep.txt": "x", "deep/er/scratch.tmp": "x",
                                   "deep/er/real.txt": "x"})
    build(engine, ctx, "-t", tag)
    want = ["./.dockerignore", "./Dockerfile", "./app.txt", "./deep/er/real.txt", "./secret/keep.txt"]
    assert engine.docker("run", "--rm", tag).stdout.split() == want
    # docker-py with a ready-made tar applies no .dockerignore itself: the daemon does
    import docker

    assert engine.daemon is not None
    client = docker.APIClient(base_url=engine.daemon.host, version="auto")
    raw = unique("rawctx")
    body = tar_of({"Dockerfile": df.encode(), ".dockerignore": ignore.encode(), "app.txt": b"x",
                   "debug.log": b"x", "secret/key": b"x", "secret/keep.txt": b"x", "deep/er/scratch.tmp": b"x",
                   "deep/er/real.txt": b"x"})
    logs = list(client.build(fileobj=io.BytesIO(body), custom_context=True, tag=raw, decode=True, rm=True))
    assert any("Successfully tagged" in m.get("stream", "") for m in logs), logs
    assert engine.docker("run", "--rm", raw).stdout.split() == want
    client.close()
    assert_nothing_left(engine)


# ------------------------------------------------------------------------------ clients and flags
def test_docker_py_build_dockerfile_path_and_quiet(engine: ContainerEngine, tmp_path: Path) -> None:
    import docker

    ctx = write(tmp_path / "ctx", {"build/Dockerfile.dev": "FROM busybox\nRUN echo from-dev > /which\n"
                                                           "CMD [\"cat\", \"/which\"]\n"})
    tag = unique("pyb")
    assert engine.daemon is not None
    client = docker.DockerClient(base_url=engine.daemon.host, version="auto")
    try:
        image, logs = client.images.build(path=str(ctx), dockerfile="build/Dockerfile.dev", tag=tag, rm=True,
                                          labels={"built.by": "skiff tests"})
        text = "".join(m.get("stream", "") for m in logs)
        assert "Step 2/4 : RUN echo from-dev > /which" in text and "Successfully built" in text
        assert "Step 4/4 : LABEL \"built.by\"='skiff tests'" in text  # --label is a last step, as in dockerd
        assert image.labels == {"built.by": "skiff tests"}
        assert tag + ":latest" in image.tags
        assert client.containers.run(tag, remove=True) == b"from-dev\n"
        with pytest.raises(docker.errors.BuildError) as exc:
            client.images.build(path=str(ctx), dockerfile="build/Dockerfile.dev", buildargs={},
                                nocache=True, target="missing")
        assert "failed to reach build target missing" in str(exc.value)
    finally:
        client.close()
    quiet = build(engine, ctx, "-q", "-f", str(ctx / "build/Dockerfile.dev"))
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", quiet.stdout), quiet.stdout
    assert_nothing_left(engine)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(("dockerfile", "message", "code"), [
    ("FROM busybox\nRUN echo partial-output; false\n",
     "The command '/bin/sh -c echo partial-output; false' returned a non-zero code: 1", 1),
    ("FROM busybox\nRUN exit 3\n", "The command '/bin/sh -c exit 3' returned a non-zero code: 3", 3),
    ("FROM busybox\nFRM busybox\n",
     "Error response from daemon: dockerfile parse error on line 2: unknown instruction: FRM (did you mean from?)", 1),
    ("FROM busybox\nCOPY missing.txt /\n", "COPY failed: file not found in build context or excluded by "
     ".dockerignore: stat missing.txt: file does not exist", 1),
    ("FROM busybox\nCOPY *.nothing /\n", "COPY failed: no source files were specified", 1),
    ("FROM busybox\nCOPY Dockerfile Dockerfile /notadir\n",
     "When using COPY with more than one source file, the destination must be a directory and end with a /", 1),
    ("FROM 127.0.0.1:1/no/such-image:v1\nRUN true\n", "127.0.0.1:1", 1),
    ("FROM busybox\nCOPY --chown=nosuchuser Dockerfile /\n", "no such user: nosuchuser", 1),
    ("FROM busybox\nRUN [\"/no/such/binary\"]\n", "no such file or directory", 1),
], ids=["run-false", "run-exit-3", "unknown-instruction", "missing-copy-source", "wildcard-no-match",
        "multi-source-file-dest", "unknown-base-image", "unknown-chown-user", "missing-executable"])
def test_bad_input_gives_dockerd_error_and_leaves_nothing(engine: ContainerEngine, tmp_path: Path,
                                                          dockerfile: str, message: str, code: int) -> None:
    ctx = write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    before = set(engine.docker("images", "-aq").stdout.split())
    res = build(engine, ctx, "-t", unique("bad"), check=False)
    assert res.returncode == code, (res.stdout, res.stderr)
    assert message in res.stderr, (res.stdout, res.stderr)
    if "partial-output" in dockerfile:
        assert "partial-output" in res.stdout  # the step's output came before the error
    assert set(engine.docker("images", "-aq").stdout.split()) == before
    assert_nothing_left(engine)


# ------------------------------------------------------------------------------ the seed
def test_seed_003_dockerfile_shape(engine: ContainerEngine, tmp_path: Path) -> None:
    """003's nginx Dockerfile with busybox in place of ubuntu:14.04 and busybox's httpd in place
    of the nginx package (no network at build time): the same instructions, in the same order."""
    tag = unique("seed003")
    ctx = write(tmp_path / "ctx", {"Dockerfile": """FROM busybox:latest
MAINTAINER Foo Bar <foo@bar.com>
RUN mkdir -p /etc/nginx /var/www && echo '<h1>skiff</h1>' > /var/www/index.html
RUN printf '#!/bin/sh\\nexec httpd "$@"\\n' > /usr/sbin/nginx && chmod 755 /usr/sbin/nginx && echo "home /var/www" > /etc/nginx/nginx.conf
RUN echo "\\ndaemon off;" >> /etc/nginx/nginx.conf
VOLUME ["/data", "etc/nginx/site-enabled", "/var/log/nginx"]
WORKDIR /etc/nginx
CMD ["nginx", "-f", "-p", "80", "-h", "/var/www"]
EXPOSE 80
"""})
    out = build(engine, ctx, "-t", tag).stdout
    assert steps(out)[-1] == "EXPOSE 80" and len(steps(out)) == 9
    img = inspect(engine, tag)
    assert img["Author"] == "Foo Bar <foo@bar.com>"
    assert img["Config"]["Cmd"] == ["nginx", "-f", "-p", "80", "-h", "/var/www"]
    assert set(img["Config"]["ExposedPorts"]) == {"80/tcp"}
    assert set(img["Config"]["Volumes"]) == {"/data", "/etc/nginx/site-enabled", "/var/log/nginx"}
    assert img["Config"]["WorkingDir"] == "/etc/nginx"
    name = unique("web")
    engine.docker("run", "-d", "--name", name, tag)
    try:
        ip = json.loads(engine.docker("inspect", name).stdout)[0]["NetworkSettings"]["IPAddress"]
        assert ip, "the engine's default bridge gives the container an address"

        def served() -> bool:  # from a second container, across the bridge
            r = engine.docker("run", "--rm", "busybox", "wget", "-q", "-O", "-", f"http://{ip}:80/", check=False)
            return r.returncode == 0 and "<h1>skiff</h1>" in r.stdout
        assert wait_for(served, timeout=60)
        conf = engine.docker("exec", name, "cat", "nginx.conf").stdout  # relative: the WORKDIR
        assert conf.startswith("home /var/www\n") and "daemon off;" in conf
        mounts = {m["Destination"] for m in json.loads(engine.docker("inspect", name).stdout)[0]["Mounts"]}
        assert mounts == {"/data", "/etc/nginx/site-enabled", "/var/log/nginx"}
    finally:
        engine.docker("rm", "-f", "-v", name)
    assert_nothing_left(engine)


def test_rmi_takes_the_intermediate_images_and_prune_keeps_the_cache(engine: ContainerEngine, tmp_path: Path) -> None:
    before = set(engine.docker("images", "-aq").stdout.split())
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nENV STEP=1\nRUN echo x > /x\nLABEL done=yes\n"})
    tag = unique("rmi")
    build(engine, ctx, "-t", tag)
    old = inspect(engine, tag)["Id"]
    # a rebuild after a change leaves the old image dangling; prune removes it, not the cache of the new one
    (ctx / "Dockerfile").write_text("FROM busybox\nENV STEP=1\nRUN echo x > /x\nLABEL done=again\n")
    build(engine, ctx, "-t", tag)
    pruned = engine.docker("image", "prune", "-f").stdout
    assert old in pruned
    assert build(engine, ctx, "-t", tag).stdout.count("Using cache") == 3
    out = engine.docker("rmi", tag).stdout
    assert f"Untagged: {tag}:latest" in out and out.count("Deleted: sha256:") == 4  # the image, its 2 untagged parents, the RUN layer
    assert set(engine.docker("images", "-aq").stdout.split()) - before == set()  # (prune took other tests' dangling ones)


def test_interrupted_build_stops_its_container(engine: ContainerEngine, tmp_path: Path) -> None:
    """Ctrl-C on docker build: the RUN's container is killed and removed, as dockerd cancels the build."""
    import signal
    import subprocess

    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo started; sleep 600\n"})
    assert engine.daemon is not None
    env = dict(engine.daemon.env(), DOCKER_BUILDKIT="0")
    proc = subprocess.Popen(["docker", "build", "--no-cache", str(ctx)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        seen = ""
        for line in proc.stdout:
            seen += line
            if line.startswith("started"):
                break
        assert "Running in" in seen
        assert engine.docker("ps", "-q").stdout.strip() != ""
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert wait_for(lambda: engine.docker("ps", "-aq").stdout.strip() == "", timeout=60)
    assert_nothing_left(engine)


def test_base_image_pulled_from_a_registry(engine: ContainerEngine, tmp_path: Path) -> None:
    """A FROM image that is not local is pulled (progress in the build output); --pull pulls again."""
    from tests.support.engine import docker_registry, push_test_images

    with docker_registry(tmp_path / "registry", netns=engine.netns) as reg:
        push_test_images(reg, only="busybox")
        base = f"{reg.host}/busybox:latest"
        ctx = write(tmp_path / "ctx", {"Dockerfile": f"FROM {base}\nRUN echo pulled-base > /p\nCMD [\"cat\", \"/p\"]\n"})
        tag = unique("pulled")
        try:
            out = build(engine, ctx, "-t", tag).stdout
            assert f"Step 1/3 : FROM {base}\nlatest: Pulling from busybox\n" in out, out
            assert f"Status: Downloaded newer image for {base}" in out
            assert engine.docker("run", "--rm", tag).stdout == "pulled-base\n"
            again = build(engine, ctx, "--pull", "-t", tag).stdout
            assert f"Status: Image is up to date for {base}" in again, again
            assert again.count("Using cache") == 2
        finally:
            engine.docker("rmi", "-f", tag, base, check=False)
    assert_nothing_left(engine)


def test_onbuild_triggers_run_in_the_child_build(engine: ContainerEngine, tmp_path: Path) -> None:
    parent = unique("onbuild-base")
    base_ctx = write(tmp_path / "base", {"Dockerfile": "FROM busybox\nONBUILD COPY app.txt /app/\n"
                                                       "ONBUILD RUN cat /app/app.txt > /app/seen\n"})
    build(engine, base_ctx, "-t", parent)
    assert inspect(engine, parent)["Config"]["OnBuild"] == ["COPY app.txt /app/", "RUN cat /app/app.txt > /app/seen"]
    child = unique("onbuild-child")
    ctx = write(tmp_path / "child", {"Dockerfile": f"FROM {parent}\nCMD [\"cat\", \"/app/seen\"]\n",
                                     "app.txt": "child's file\n"})
    out = build(engine, ctx, "-t", child).stdout
    assert "# Executing 2 build triggers" in out
    assert engine.docker("run", "--rm", child).stdout == "child's file\n"
    assert not inspect(engine, child)["Config"].get("OnBuild")  # triggers run once, not inherited
    bad = write(tmp_path / "bad", {"Dockerfile": "ARG BASE\nFROM ${BASE:?required}\n"})
    res = build(engine, bad, check=False)
    assert res.returncode == 1 and "BASE: required" in res.stderr
    assert_nothing_left(engine)
