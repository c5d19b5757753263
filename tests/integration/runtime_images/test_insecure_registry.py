"""Plain-HTTP registries off loopback need --insecure-registry (or daemon.json), as with dockerd.

Runs in a network namespace the test creates: registry and engine see 10.123.45.1,
the host's network is not touched.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engine import (
    RunningRegistry,
    docker_registry,
    network_namespace,
    push_test_images,
    skiff_daemon,
)

pytestmark = pytest.mark.integration
ADDR = "10.123.45.1"


@pytest.fixture(scope="module")
def netns_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with network_namespace(f"{ADDR}/24") as ns:
        with docker_registry(tmp_path_factory.mktemp("ns-reg"), netns=ns, bind=ADDR) as reg:
            push_test_images(reg, only="busybox")
            yield reg


def test_plain_http_registry_is_refused_without_flag(netns_registry: RunningRegistry, tmp_path: Path) -> None:
    with skiff_daemon(tmp_path, netns=netns_registry.netns) as d:
        res = d.docker("pull", f"{netns_registry.host}/busybox", check=False)
        assert res.returncode != 0
        assert f'Get "https://{netns_registry.host}/v2/": http: server gave HTTP response to HTTPS client' in res.stderr


@pytest.mark.parametrize("how", ["flag-cidr", "daemon-json"])
def test_insecure_registry_setting_allows_pull(netns_registry: RunningRegistry, tmp_path: Path, how: str) -> None:
    if how == "flag-cidr":
        args: tuple[str, ...] = ("--insecure-registry", "10.123.45.0/24")
    else:
        cfg = tmp_path / "daemon.json"
        cfg.write_text(json.dumps({"insecure-registries": [netns_registry.host]}))
        args = ("--config-file", str(cfg))
    with skiff_daemon(tmp_path / "engine", args=args, netns=netns_registry.netns) as d:
        out = d.docker("pull", f"{netns_registry.host}/busybox").stdout
        assert "Status: Downloaded newer image" in out
        info = json.loads(d.docker("info", "-f", "{{json .RegistryConfig}}").stdout)
        assert info["InsecureRegistryCIDRs"][0] == "127.0.0.0/8"


def test_seed_daemon_json_with_parentheses_is_a_clear_error(tmp_path: Path) -> None:
    """Seed 001 writes daemon.json with ( ) instead of { }: the engine names the problem."""
    import subprocess
    import sys

    cfg = tmp_path / "daemon.json"
    cfg.write_text('(\n"insecure-registries" :["10.10.12.0/24"]\n)\n')
    proc = subprocess.run([sys.executable, "-m", "skiff.cmd.main", "daemon", "--root", str(tmp_path / "r"),
                           "--host", f"unix://{tmp_path}/s.sock", "--config-file", str(cfg)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert f"--config-file {cfg}: invalid JSON at line 1 column 1" in proc.stderr
