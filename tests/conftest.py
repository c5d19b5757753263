"""Fixtures shared by every test area."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.server import RunningServer, skiff_server  # noqa: E402


@pytest.fixture(scope="session")
def skiff_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real ``skiff server`` (embedded etcd, scheduler and controllers) for the whole session.

    Tests sharing it must use unique namespaces or names (see ``unique_namespace``).
    """
    with skiff_server(tmp_path_factory.mktemp("skiff-server")) as server:
        yield server


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    import secrets

    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    return f"{base}-{secrets.token_hex(3)}"
