"""Interop with skopeo, a tool no one here wrote: it reads what Skiff writes and vice versa."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.engine import RunningDaemon, RunningRegistry

pytestmark = pytest.mark.integration


def skopeo(*args: str) -> str:
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_skopeo_copied_image_pulls_with_same_layers(daemon: RunningDaemon, registry: RunningRegistry) -> None:
    # The fixture put busybox-multi into the registry with `skopeo copy`.
    remote = json.loads(skopeo("inspect", "--tls-verify=false", "--config", f"docker://{registry.host}/busybox-multi"))
    daemon.docker("pull", f"{registry.host}/busybox-multi")
    local = json.loads(daemon.docker("image", "inspect", f"{registry.host}/busybox-multi").stdout)[0]
    assert local["RootFS"]["Layers"] == remote["rootfs"]["diff_ids"]


def test_skiff_push_is_read_by_skopeo_inspect(daemon: RunningDaemon, registry: RunningRegistry) -> None:
    daemon.docker("pull", f"{registry.host}/busybox-multi")
    dst = f"{registry.host}/interop/pushed:from-skiff"
    daemon.docker("tag", f"{registry.host}/busybox-multi", dst)
    out = daemon.docker("push", dst).stdout
    digest = [line.split()[2] for line in out.splitlines() if line.startswith("from-skiff: digest:")][0]
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{dst}"))
    assert info["Digest"] == digest
    assert len(info["Layers"]) == 3
    cfg = json.loads(skopeo("inspect", "--tls-verify=false", "--config", f"docker://{dst}"))
    local_id = daemon.docker("inspect", "-f", "{{.Id}}", dst).stdout.strip()
    assert cfg["config"]["Cmd"] == ["sh"]
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{dst}")
    assert json.loads(raw)["config"]["digest"] == local_id


def test_docker_save_output_is_read_by_skopeo(daemon: RunningDaemon, registry: RunningRegistry, tmp_path: Path) -> None:
    ref = f"{registry.host}/busybox-multi"
    daemon.docker("pull", ref)
    archive = tmp_path / "saved.tar"
    daemon.docker("save", "-o", str(archive), ref)
    info = json.loads(skopeo("inspect", f"docker-archive:{archive}"))
    local = json.loads(daemon.docker("image", "inspect", ref).stdout)[0]
    assert info["Layers"] == local["RootFS"]["Layers"]  # uncompressed layers: digest == diff ID
    assert info["Os"] == "linux"


def test_skopeo_docker_archive_loads(daemon: RunningDaemon, registry: RunningRegistry, tmp_path: Path) -> None:
    archive = tmp_path / "from-skopeo.tar"
    skopeo("copy", "--quiet", "--src-tls-verify=false", f"docker://{registry.host}/busybox-multi",
           f"docker-archive:{archive}:skopeo/loaded:v2")
    out = daemon.docker("load", "-i", str(archive)).stdout
    assert "Loaded image: skopeo/loaded:v2" in out
    cfg = json.loads(skopeo("inspect", "--tls-verify=false", "--config", f"docker://{registry.host}/busybox-multi"))
    layers = json.loads(daemon.docker("image", "inspect", "skopeo/loaded:v2").stdout)[0]["RootFS"]["Layers"]
    assert layers == cfg["rootfs"]["diff_ids"]


def test_skopeo_oci_archive_loads(daemon: RunningDaemon, registry: RunningRegistry, tmp_path: Path) -> None:
    archive = tmp_path / "oci.tar"
    skopeo("copy", "--quiet", "--src-tls-verify=false", f"docker://{registry.host}/busybox-multi",
           f"oci-archive:{archive}:skopeo/oci:v3")
    out = daemon.docker("load", "-i", str(archive)).stdout
    assert "Loaded image: skopeo/oci:v3" in out
    cfg = json.loads(skopeo("inspect", "--config", f"oci-archive:{archive}"))
    doc = json.loads(daemon.docker("image", "inspect", "skopeo/oci:v3").stdout)[0]
    assert doc["RootFS"]["Layers"] == cfg["rootfs"]["diff_ids"]
