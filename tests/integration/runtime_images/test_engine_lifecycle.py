"""Engine lifecycle: the store survives a restart; concurrent pulls share downloads."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.engine import docker_registry, push_test_images, skiff_daemon

pytestmark = pytest.mark.integration


def test_images_survive_daemon_restart(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    ref = f"{registry.host}/busybox-multi"
    with skiff_daemon(tmp_path) as d:
        d.docker("pull", ref)
        d.docker("tag", ref, "kept:1")
        # the CLI groups one image's tags through a Go map: row order is random, compare sets
        before = sorted(d.docker("images", "--digests", "--no-trunc").stdout.splitlines())
    with skiff_daemon(tmp_path) as d:
        assert sorted(d.docker("images", "--digests", "--no-trunc").stdout.splitlines()) == before
        assert "Image is up to date" in d.docker("pull", ref).stdout
        d.docker("rmi", "kept:1")


def test_concurrent_pulls_download_each_blob_once(tmp_path: Path) -> None:
    with docker_registry(tmp_path / "reg", log_level="info") as reg:
        push_test_images(reg, only="busybox-multi")
        with skiff_daemon(tmp_path / "engine") as d:
            ref = f"{reg.host}/busybox-multi"
            procs = [subprocess.Popen(["docker", "pull", ref], env=d.env(), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for _ in range(3)]
            outs = [p.communicate(timeout=120) for p in procs]
            assert all(p.returncode == 0 for p in procs), outs
            layers = d.docker("inspect", "-f", "{{len .RootFS.Layers}}", ref).stdout.strip()
            assert layers == "3"
            log = reg.log.read_text()
            gets = re.findall(r'http\.request\.method=GET .*?http\.request\.uri="/v2/busybox-multi/blobs/(sha256:[0-9a-f]+)"', log)
            assert gets, log[-2000:]
            counts = {g: gets.count(g) for g in set(gets)}
            layer_digests = subprocess.run(
                ["skopeo", "inspect", "--tls-verify=false", "--format", "{{range .Layers}}{{.}} {{end}}",
                 f"docker://{ref}"], check=True, capture_output=True, text=True).stdout.split()
            assert len(layer_digests) == 3
            # the config blob may be fetched once per pull; each layer blob only once in all
            assert [counts.get(dg, 0) for dg in layer_digests] == [1, 1, 1], counts


def test_killed_mid_pull_leaves_no_half_layer(tmp_path: Path) -> None:
    """SIGKILL during a pull; after restart the store holds only whole layers and the pull completes."""
    import json
    import os
    import signal
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "images"))
    import build_images  # type: ignore[import-not-found]

    with docker_registry(tmp_path / "reg") as reg:
        layers, config = build_images.big_image(layer_mb=8, count=3)
        archive = tmp_path / "big.tar"
        build_images.write_docker_archive(archive, layers, config, ["big:latest"])
        build_images.skopeo_push(archive, f"{reg.host}/big:latest", tls_verify=False, creds=None)
        ref = f"{reg.host}/big:latest"
        with skiff_daemon(tmp_path / "engine") as d:
            pull = subprocess.Popen(["docker", "pull", ref], env=d.env(), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            assert pull.stdout is not None
            for line in pull.stdout:
                if "Downloading" in line or "Extracting" in line or "Download complete" in line:
                    break
            os.kill(d.process.pid, signal.SIGKILL)
            d.process.wait()
            pull.wait(30)
        root = tmp_path / "engine" / "root" / "image"
        with skiff_daemon(tmp_path / "engine") as d:
            assert list((root / "tmp").iterdir()) == []
            for layer in (root / "layers").iterdir():
                assert (layer / "layer.json").exists() and (layer / "diff").is_dir()
            out = d.docker("pull", ref).stdout
            assert "Status: Downloaded newer image" in out
            diff_ids = json.loads(d.docker("inspect", "-f", "{{json .RootFS.Layers}}", ref).stdout)
            assert diff_ids == json.loads(config)["rootfs"]["diff_ids"]
            import hashlib
            import io
            import tarfile

            for i in range(3):
                with tarfile.open(fileobj=io.BytesIO(layers[i + 1])) as tar:
                    member = tar.extractfile(f"data/blob{i}.bin")
                    assert member is not None
                    want = hashlib.sha256(member.read()).hexdigest()
                data = d.root / "image" / "layers" / diff_ids[i + 1][7:] / "diff" / "data" / f"blob{i}.bin"
                assert hashlib.sha256(data.read_bytes()).hexdigest() == want
