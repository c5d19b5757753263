"""A new volume mounted over a directory of the image starts with that directory's content
(Docker's copy-up), through the docker CLI and docker-py; nocopy keeps it empty."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.integration.runtime_containers.conftest import unique
from tests.support.engine import ContainerEngine

SEED = ("mkdir -p /srv/site/sub && echo hello > /srv/site/index.html && echo deep > /srv/site/sub/a.txt"
        " && ln -s index.html /srv/site/link.html && chown -R 1234:5678 /srv/site/sub && chmod 0750 /srv/site"
        " && mkdir -p /data && echo seed > /data/seed.txt")


@pytest.fixture(scope="module")
def site_image(engine: ContainerEngine) -> Iterator[str]:
    """busybox plus /srv/site (owners, modes, a symlink) and a ``VOLUME /data`` with a file in it."""
    name, image = unique("seed"), f"site-{unique('img')}:v1"
    engine.docker("run", "--name", name, "busybox", "sh", "-c", SEED)
    engine.docker("commit", "-c", "VOLUME /data", name, image)
    engine.docker("rm", name)
    try:
        yield image
    finally:
        engine.docker("rmi", image, check=False)


def run(engine: ContainerEngine, *args: str) -> str:
    return engine.docker("run", "--rm", *args).stdout  # type: ignore[no-any-return]


def test_named_volume_gets_the_image_content_once(engine: ContainerEngine, site_image: str) -> None:
    vol = unique("site")
    try:
        listing = run(engine, "-v", f"{vol}:/srv/site", site_image, "sh", "-c",
                      "cat /srv/site/index.html /srv/site/link.html /srv/site/sub/a.txt;"
                      " stat -c '%u:%g %a' /srv/site /srv/site/sub/a.txt; readlink /srv/site/link.html")
        assert listing.splitlines() == ["hello", "hello", "deep", "0:0 750", "1234:5678 644", "index.html"]
        mountpoint = json.loads(engine.docker("volume", "inspect", vol).stdout)[0]["Mountpoint"]
        assert mountpoint.endswith("/_data")
        # The volume's content is its own now: a change persists, and is not copied over again.
        run(engine, "-v", f"{vol}:/srv/site", site_image, "sh", "-c", "echo changed > /srv/site/index.html")
        assert run(engine, "-v", f"{vol}:/srv/site", site_image, "cat", "/srv/site/index.html") == "changed\n"
        # Mounted where the image has nothing, the volume keeps its own files.
        assert sorted(run(engine, "-v", f"{vol}:/elsewhere", site_image, "ls", "/elsewhere").split()) == \
            ["index.html", "link.html", "sub"]
    finally:
        engine.docker("volume", "rm", vol, check=False)


def test_a_volume_with_content_is_not_overwritten(engine: ContainerEngine, site_image: str) -> None:
    vol = unique("own")
    engine.docker("volume", "create", vol)
    try:
        run(engine, "-v", f"{vol}:/v", "busybox", "sh", "-c", "echo mine > /v/mine.txt")
        assert run(engine, "-v", f"{vol}:/srv/site", site_image, "ls", "/srv/site").split() == ["mine.txt"]
    finally:
        engine.docker("volume", "rm", vol, check=False)


def test_anonymous_volumes_from_image_and_from_v(engine: ContainerEngine, site_image: str) -> None:
    """The image's VOLUME /data and a ``-v /srv/site`` anonymous volume both start with the image's files."""
    name = unique("anon")
    engine.docker("run", "-d", "--name", name, "-v", "/srv/site", site_image, "sleep", "300")
    try:
        assert engine.docker("exec", name, "cat", "/data/seed.txt", "/srv/site/index.html").stdout == \
            "seed\nhello\n"
        mounts = json.loads(engine.docker("inspect", name).stdout)[0]["Mounts"]
        assert sorted(m["Destination"] for m in mounts if m["Type"] == "volume") == ["/data", "/srv/site"]
    finally:
        engine.docker("rm", "-f", "-v", name)


def test_nocopy_keeps_the_volume_empty(engine: ContainerEngine, site_image: str) -> None:
    v1, v2 = unique("nc"), unique("nc")
    try:
        assert run(engine, "-v", f"{v1}:/srv/site:nocopy", site_image, "ls", "-A", "/srv/site") == ""
        assert run(engine, "--mount", f"type=volume,src={v2},dst=/srv/site,volume-nocopy", site_image,
                   "ls", "-A", "/srv/site") == ""
    finally:
        engine.docker("volume", "rm", v1, v2, check=False)


def test_bind_mount_is_not_filled(engine: ContainerEngine, site_image: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    host = tmp_path / "empty"
    host.mkdir()
    assert run(engine, "-v", f"{host}:/srv/site", site_image, "ls", "-A", "/srv/site") == ""
    assert list(host.iterdir()) == []


def test_docker_py_volume_content(engine: ContainerEngine, site_image: str) -> None:
    import docker

    assert engine.daemon is not None
    client = docker.DockerClient(base_url=engine.daemon.host, timeout=60)
    vol = unique("py")
    try:
        out = client.containers.run(site_image, ["cat", "/srv/site/sub/a.txt"], remove=True,
                                    volumes={vol: {"bind": "/srv/site", "mode": "rw"}})
        assert out == b"deep\n"
        m = docker.types.Mount("/srv/site", unique("pyn"), type="volume", no_copy=True)
        assert client.containers.run(site_image, ["ls", "-A", "/srv/site"], remove=True, mounts=[m]) == b""
        client.volumes.get(m["Source"]).remove()
    finally:
        try:
            client.volumes.get(vol).remove()
        except docker.errors.NotFound:
            pass
        client.close()
