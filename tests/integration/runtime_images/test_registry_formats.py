"""Registry formats: manifest lists (platform choice), OCI manifests, locally made layers pushed."""
from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.support.engine import RunningDaemon, RunningRegistry

pytestmark = pytest.mark.integration

MT_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def _raw(registry: RunningRegistry, repo: str, ref: str) -> bytes:
    req = urllib.request.Request(
        f"{registry.url}/v2/{repo}/manifests/{ref}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


def test_manifest_list_picks_linux_amd64(daemon: RunningDaemon, registry: RunningRegistry) -> None:
    for src, tag in (("busybox", "amd"), ("busybox-multi", "arm")):
        subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
                        f"docker://{registry.host}/{src}", f"docker://{registry.host}/multiarch:{tag}"],
                       check=True, capture_output=True)
    entries = []
    for tag, arch in (("arm", "arm64"), ("amd", "amd64")):
        body = _raw(registry, "multiarch", tag)
        entries.append({"mediaType": json.loads(body)["mediaType"], "size": len(body),
                        "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
                        "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2, "mediaType": MT_LIST, "manifests": entries}).encode()
    req = urllib.request.Request(f"{registry.url}/v2/multiarch/manifests/latest", data=index, method="PUT",
                                 headers={"Content-Type": MT_LIST})
    urllib.request.urlopen(req, timeout=10).close()
    out = daemon.docker("pull", f"{registry.host}/multiarch").stdout
    index_digest = "sha256:" + hashlib.sha256(index).hexdigest()
    assert f"Digest: {index_digest}" in out  # the list's digest, as dockerd reports it
    daemon.docker("pull", f"{registry.host}/busybox")
    want = daemon.docker("inspect", "-f", "{{.Id}}", f"{registry.host}/busybox").stdout.strip()
    assert daemon.docker("inspect", "-f", "{{.Id}}", f"{registry.host}/multiarch").stdout.strip() == want
    digests = json.loads(daemon.docker("inspect", "-f", "{{json .RepoDigests}}", f"{registry.host}/multiarch").stdout)
    assert f"{registry.host}/multiarch@{index_digest}" in digests


def test_oci_manifest_pull(daemon: RunningDaemon, registry: RunningRegistry) -> None:
    subprocess.run(["skopeo", "copy", "--quiet", "--format", "oci", "--src-tls-verify=false", "--dest-tls-verify=false",
                    f"docker://{registry.host}/busybox-multi", f"docker://{registry.host}/ocifmt:1"],
                   check=True, capture_output=True)
    assert json.loads(_raw(registry, "ocifmt", "1"))["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    out = daemon.docker("pull", f"{registry.host}/ocifmt:1").stdout
    assert "Status: Downloaded newer image" in out or "Image is up to date" in out
    assert daemon.docker("inspect", "-f", "{{len .RootFS.Layers}}", f"{registry.host}/ocifmt:1").stdout.strip() == "3"


def test_imported_image_pushes_gzip_layers_and_pulls_back(daemon: RunningDaemon, registry: RunningRegistry,
                                                           tmp_path: Path) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    (tmp_path / "r.tar").write_bytes(buf.getvalue())
    ref = f"{registry.host}/imported/app:v1"
    daemon.docker("import", "--change", 'CMD ["cat", "/hello.txt"]', str(tmp_path / "r.tar"), ref)
    out = daemon.docker("push", ref).stdout
    assert "Pushed" in out
    raw = json.loads(_raw(registry, "imported/app", "v1"))
    assert raw["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    image_id = daemon.docker("inspect", "-f", "{{.Id}}", ref).stdout.strip()
    daemon.docker("rmi", ref)
    daemon.docker("pull", ref)
    assert daemon.docker("inspect", "-f", "{{.Id}} {{.Config.Cmd}}", ref).stdout.strip() == f"{image_id} [cat /hello.txt]"


def test_pull_all_tags(daemon: RunningDaemon, registry: RunningRegistry) -> None:
    for tag in ("one", "two"):
        subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
                        f"docker://{registry.host}/busybox", f"docker://{registry.host}/alltags:{tag}"],
                       check=True, capture_output=True)
    out = daemon.docker("pull", "-a", f"{registry.host}/alltags").stdout
    assert "one: Pulling from alltags" in out and "two: Pulling from alltags" in out
    tags = daemon.docker("images", "--format", "{{.Tag}}", f"{registry.host}/alltags").stdout.split()
    assert sorted(tags) == ["one", "two"]
