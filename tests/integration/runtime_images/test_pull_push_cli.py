"""The seed image commands, run by the real docker CLI against a real engine and registry."""
from __future__ import annotations

import json
import re

import pytest

from tests.support.engine import RunningDaemon, RunningRegistry

pytestmark = pytest.mark.integration


def test_pull_shows_docker_progress_and_is_idempotent(daemon: RunningDaemon, registry: RunningRegistry) -> None:
    ref = f"{registry.host}/busybox-multi"
    out = daemon.docker("pull", ref).stdout
    assert "latest: Pulling from busybox-multi" in out
    assert out.count("Pull complete") + out.count("Already exists") == 3
    assert re.search(r"^Digest: sha256:[0-9a-f]{64}$", out, re.M)
    assert f"Status: Downloaded newer image for {ref}:latest" in out
    import subprocess

    layers = json.loads(subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
                                       check=True, capture_output=True, text=True).stdout)["Layers"]
    completed = [line.split(":")[0] for line in out.splitlines() if line.endswith(": Pull complete")]
    assert completed == [d[7:19] for d in layers][-len(completed):]  # bottom-up, as dockerd
    again = daemon.docker("pull", ref).stdout
    assert f"Status: Image is up to date for {ref}:latest" in again


def test_images_and_digests_columns(daemon: RunningDaemon, registry: RunningRegistry) -> None:
    ref = f"{registry.host}/busybox"
    daemon.docker("pull", ref)
    daemon.docker("tag", ref, "localbox:1")
    table = daemon.docker("images").stdout.splitlines()
    assert re.split(r"\s{2,}", table[0]) == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    rows = {tuple(re.split(r"\s{2,}", line)[:2]): line for line in table[1:]}
    assert (ref, "latest") in rows and ("localbox", "1") in rows
    digests = daemon.docker("image", "ls", "--digests").stdout.splitlines()
    assert "DIGEST" in digests[0]
    by_repo = {re.split(r"\s+", line)[0] + ":" + re.split(r"\s+", line)[1]: re.split(r"\s+", line)[2] for line in digests[1:]}
    assert by_repo[f"{ref}:latest"].startswith("sha256:")
    assert by_repo["localbox:1"] == "<none>"  # never pushed to or pulled from a registry


def test_history_reads_bottom_to_top(daemon: RunningDaemon, registry: RunningRegistry) -> None:
    ref = f"{registry.host}/busybox-multi"
    daemon.docker("pull", ref)
    lines = daemon.docker("history", ref).stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    image_id = daemon.docker("inspect", "-f", "{{.Id}}", ref).stdout.strip()
    assert lines[1].startswith(image_id[7:19])
    assert all(line.startswith("<missing>") for line in lines[2:])
    assert len(lines) == 1 + 4
    assert "ADD file:busybox-static" in lines[-1]
    missing = daemon.docker("history", check=False)
    assert missing.returncode != 0
    # The seed's wording ("requires exactly 1 argument.") is docker 18's; CLI 28 words it so:
    assert "'docker history' requires 1 argument" in missing.stderr
    assert "Usage:  docker history [OPTIONS] IMAGE" in missing.stderr


def test_inspect_format_fields(daemon: RunningDaemon, registry: RunningRegistry) -> None:
    ref = f"{registry.host}/busybox"
    daemon.docker("pull", ref)
    assert daemon.docker("inspect", "-f", "{{.Config.Cmd}}", ref).stdout.strip() == "[sh]"
    assert daemon.docker("image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", ref).stdout.strip() == "linux/amd64"
    doc = json.loads(daemon.docker("image", "inspect", ref).stdout)[0]
    assert doc["GraphDriver"]["Name"] == "overlay2"
    assert doc["RootFS"]["Type"] == "layers" and len(doc["RootFS"]["Layers"]) == 1
    assert doc["RepoDigests"][0].startswith(f"{ref}@sha256:")
    missing = daemon.docker("image", "inspect", "nosuchimage:9", check=False)
    assert missing.returncode != 0 and "No such image: nosuchimage:9" in missing.stderr


def test_tag_push_rmi_pull_round_trip(daemon: RunningDaemon, registry: RunningRegistry) -> None:
    """Seed A28: docker tag X localhost/ubuntu; docker push; docker pull."""
    src = f"{registry.host}/busybox-multi"
    dst = f"{registry.host}/team/roundtrip:v1"
    daemon.docker("pull", src)
    daemon.docker("tag", src, dst)
    out = daemon.docker("push", dst).stdout
    assert f"The push refers to repository [{registry.host}/team/roundtrip]" in out
    m = re.search(r"^v1: digest: (sha256:[0-9a-f]{64}) size: \d+$", out, re.M)
    assert m, out
    assert out.count("Mounted from") + out.count("Layer already exists") + out.count("Pushed") == 3
    image_id = daemon.docker("inspect", "-f", "{{.Id}}", dst).stdout.strip()
    rmi = daemon.docker("rmi", dst).stdout
    assert f"Untagged: {dst}" in rmi
    assert "Deleted" not in rmi  # src still references the image
    out = daemon.docker("pull", dst).stdout
    assert f"Digest: {m.group(1)}" in out
    assert daemon.docker("inspect", "-f", "{{.Id}}", dst).stdout.strip() == image_id


def test_rmi_deletes_unreferenced_layers_only(daemon: RunningDaemon, registry: RunningRegistry) -> None:
    one, multi = f"{registry.host}/busybox", f"{registry.host}/busybox-multi"
    daemon.docker("pull", one)
    daemon.docker("pull", multi)
    layers_dir = daemon.root / "image" / "layers"
    before = {p.name for p in layers_dir.iterdir()}
    shared = daemon.docker("inspect", "-f", "{{index .RootFS.Layers 0}}", one).stdout.strip()
    multi_id = daemon.docker("inspect", "-f", "{{.Id}}", multi).stdout.strip()
    out = daemon.docker("rmi", "-f", multi_id).stdout  # other tests may have tagged it too
    assert f"Untagged: {multi}:latest" in out and f"Deleted: {multi_id}" in out
    after = {p.name for p in layers_dir.iterdir()}
    assert shared[7:] in after
    assert len(before - after) == 2
    assert daemon.docker("run", "--help", check=False).returncode == 0
    nosuch = daemon.docker("rmi", "nosuch:tag", check=False)
    assert "No such image: nosuch:tag" in nosuch.stderr


def test_rmi_by_id_with_two_repositories_needs_force(daemon: RunningDaemon, registry: RunningRegistry) -> None:
    ref = f"{registry.host}/busybox"
    daemon.docker("pull", ref)
    daemon.docker("tag", ref, "forcetest:a")
    image_id = daemon.docker("inspect", "-f", "{{.Id}}", ref).stdout.strip()
    res = daemon.docker("rmi", image_id[7:19], check=False)
    assert res.returncode != 0
    assert "image is referenced in multiple repositories" in res.stderr
    out = daemon.docker("rmi", "-f", image_id[7:19]).stdout
    assert "Untagged: forcetest:a" in out and f"Deleted: {image_id}" in out
    assert daemon.docker("images", "-q").stdout.count(image_id[7:19]) == 0


def test_save_rmi_load(daemon: RunningDaemon, registry: RunningRegistry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Seed A29: docker save -o X.tar IMAGE; docker rmi; docker load -i X.tar."""
    ref = f"{registry.host}/busybox-multi"
    daemon.docker("pull", ref)
    image_id = daemon.docker("inspect", "-f", "{{.Id}}", ref).stdout.strip()
    archive = tmp_path / "multi.tar"
    daemon.docker("save", "-o", str(archive), ref)
    daemon.docker("rmi", ref)
    assert daemon.docker("images", "-q", ref).stdout.strip() == ""
    out = daemon.docker("load", "-i", str(archive)).stdout
    assert f"Loaded image: {ref}:latest" in out
    assert daemon.docker("inspect", "-f", "{{.Id}}", ref).stdout.strip() == image_id
    hist = daemon.docker("history", "-q", ref).stdout.split()
    assert len(hist) == 4


def test_import_gives_single_layer_history(daemon: RunningDaemon, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Seed A9: docker import X.tar hongtest; docker history hongtest."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        d = tarfile.TarInfo("test")
        d.type = tarfile.DIRTYPE
        tar.addfile(d)
        f = tarfile.TarInfo("etc/os-release")
        f.size = 5
        tar.addfile(f, io.BytesIO(b"skiff"))
    (tmp_path / "rootfs.tar").write_bytes(buf.getvalue())
    out = daemon.docker("import", str(tmp_path / "rootfs.tar"), "hongtest").stdout.strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", out)
    hist = daemon.docker("history", "hongtest").stdout.splitlines()
    assert len(hist) == 2
    assert hist[1].startswith(out[7:19]) and hist[1].rstrip().endswith("Imported from -")
    layer_dir = daemon.docker("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "hongtest").stdout.strip()
    assert open(f"{layer_dir}/etc/os-release").read() == "skiff"
    import os

    assert os.path.isdir(f"{layer_dir}/test")
    digests = daemon.docker("images", "--digests", "hongtest").stdout.splitlines()[1].split()
    assert digests[:3] == ["hongtest", "latest", "<none>"]


def test_prune_dangling_then_all(daemon: RunningDaemon, registry: RunningRegistry) -> None:
    ref = f"{registry.host}/busybox"
    daemon.docker("pull", ref)
    daemon.docker("tag", ref, "prunetest:keep")
    out = daemon.docker("image", "prune", "-f").stdout
    assert "Total reclaimed space" in out
    assert daemon.docker("images", "-q", "prunetest").stdout.strip()
    daemon.docker("image", "prune", "-a", "-f")
    assert daemon.docker("images", "-q").stdout.strip() == ""
    assert list((daemon.root / "image" / "layers").iterdir()) == []


def test_server_errors_are_docker_errors(daemon: RunningDaemon, registry: RunningRegistry) -> None:
    import docker

    api = docker.APIClient(base_url=daemon.host, version="auto")
    try:
        with pytest.raises(docker.errors.APIError) as info:
            api.pull("hongImages")
        assert "invalid reference format: repository name must be lowercase" in str(info.value)
        assert info.value.status_code == 400
        with pytest.raises(docker.errors.APIError) as info:
            api.pull(f"{registry.host}/busybox", tag="nosuchtag")
        assert info.value.status_code == 404
        assert f"manifest for {registry.host}/busybox:nosuchtag not found" in str(info.value)
        with pytest.raises(docker.errors.APIError) as info:
            api.search("busybox")
        assert info.value.status_code == 501 and "not supported" in str(info.value)
    finally:
        api.close()
    res = daemon.docker("search", "busybox", check=False)
    assert res.returncode != 0 and "search is not supported" in res.stderr


def test_version_and_info(daemon: RunningDaemon) -> None:
    assert daemon.docker("version", "-f", "{{.Server.APIVersion}}").stdout.strip() == "1.45"
    assert re.match(r"Docker version \d+\.\d+\.\d+, build \w+", daemon.docker("--version").stdout)
    info = json.loads(daemon.docker("info", "-f", "{{json .}}").stdout)
    assert info["Driver"] == "overlay2"
    assert info["DockerRootDir"] == str(daemon.root)
    assert oct(daemon.socket.stat().st_mode & 0o777) == "0o600"


def test_save_and_load_several_images_in_one_archive(daemon: RunningDaemon, registry: RunningRegistry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b = f"{registry.host}/busybox", f"{registry.host}/webserver"
    daemon.docker("pull", a)
    daemon.docker("pull", b)
    daemon.docker("tag", a, "several/a:1")
    daemon.docker("tag", b, "several/b:1")
    ids = {r: daemon.docker("inspect", "-f", "{{.Id}}", r).stdout.strip() for r in ("several/a:1", "several/b:1")}
    archive = tmp_path / "two.tar"
    daemon.docker("save", "-o", str(archive), "several/a:1", "several/b:1")
    manifest = json.loads(__import__("tarfile").open(archive).extractfile("manifest.json").read())
    assert sorted(tag for entry in manifest for tag in entry["RepoTags"]) == ["several/a:1", "several/b:1"]
    daemon.docker("rmi", "several/a:1", "several/b:1")
    out = daemon.docker("load", "-i", str(archive)).stdout
    assert "Loaded image: several/a:1" in out and "Loaded image: several/b:1" in out
    for ref, image_id in ids.items():
        assert daemon.docker("inspect", "-f", "{{.Id}}", ref).stdout.strip() == image_id
