"""Fixtures for the image tests: a real registry with busybox images, a real engine."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.engine import (
    RunningDaemon,
    RunningRegistry,
    docker_registry,
    push_test_images,
    skiff_daemon,
)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """Plain-HTTP docker-registry on loopback holding busybox and busybox-multi."""
    with docker_registry(tmp_path_factory.mktemp("registry")) as reg:
        push_test_images(reg)
        yield reg


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    with skiff_daemon(tmp_path_factory.mktemp("engine")) as d:
        yield d
