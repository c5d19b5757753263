"""docker-py (the Python SDK) negotiates the API version and drives the image endpoints."""
from __future__ import annotations

import pytest

from tests.support.engine import RunningDaemon, RunningRegistry

pytestmark = pytest.mark.integration


def test_docker_py_image_round_trip(daemon: RunningDaemon, registry: RunningRegistry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import docker

    client = docker.DockerClient(base_url=daemon.host, version="auto")
    try:
        assert client.api.api_version == "1.45"
        assert client.ping() is True
        image = client.images.pull(f"{registry.host}/busybox", tag="latest")
        assert f"{registry.host}/busybox:latest" in image.tags
        assert image.attrs["Config"]["Cmd"] == ["sh"]
        assert image.tag("pysdk/box", tag="t1") is True
        assert any("pysdk/box:t1" in i.tags for i in client.images.list(name="pysdk/box"))
        saved = tmp_path / "py.tar"
        with open(saved, "wb") as fh:
            for chunk in client.images.get("pysdk/box:t1").save(named=True):
                fh.write(chunk)
        client.images.remove("pysdk/box:t1")
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get("pysdk/box:t1")
        loaded = client.images.load(saved.read_bytes())
        assert loaded[0].id == image.id
        hist = client.api.history(image.id)
        assert hist[0]["Id"] == image.id
        pruned = client.images.prune(filters={"dangling": True})
        assert "SpaceReclaimed" in pruned
    finally:
        client.close()
