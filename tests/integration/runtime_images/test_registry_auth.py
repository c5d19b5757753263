"""docker login/logout and authenticated pull/push: htpasswd Basic (over TLS) and Bearer tokens."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.engine import (
    RunningDaemon,
    RunningRegistry,
    TokenIssuer,
    docker_registry,
    push_test_images,
)

pytestmark = pytest.mark.integration

USERS = {"alice": "s3cret-pass"}


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with docker_registry(tmp_path_factory.mktemp("basic-reg"), htpasswd=USERS) as reg:
        yield reg


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningRegistry, TokenIssuer]]:
    issuer = TokenIssuer(users=dict(USERS))
    with docker_registry(tmp_path_factory.mktemp("token-reg"), token=issuer) as reg:
        yield reg, issuer


def _seed(daemon: RunningDaemon, source: RunningRegistry, target: RunningRegistry, name: str) -> str:
    daemon.docker("pull", f"{source.host}/busybox")
    ref = f"{target.host}/{name}:v1"
    daemon.docker("tag", f"{source.host}/busybox", ref)
    return ref


def _login(daemon: RunningDaemon, host: str, user: str, password: str, *, check: bool = True):  # type: ignore[no-untyped-def]
    return daemon.docker("login", "--username", user, "--password-stdin", host,
                         input=password.encode(), check=check)


def test_basic_auth_login_push_pull_logout(daemon: RunningDaemon, registry: RunningRegistry,
                                           basic_registry: RunningRegistry) -> None:
    ref = _seed(daemon, registry, basic_registry, "private/app")
    # anonymous push is refused by the registry
    anon = daemon.docker("push", ref, check=False)
    assert anon.returncode != 0
    bad = _login(daemon, basic_registry.host, "alice", "wrong", check=False)
    assert bad.returncode != 0 and "401" in bad.stderr
    ok = _login(daemon, basic_registry.host, "alice", USERS["alice"])
    assert "Login Succeeded" in ok.stdout
    stored = json.loads((daemon.docker_config / "config.json").read_text())
    assert basic_registry.host in stored["auths"]
    out = daemon.docker("push", ref).stdout
    assert "v1: digest: sha256:" in out
    daemon.docker("rmi", ref)
    assert "Downloaded newer image" in daemon.docker("pull", ref).stdout
    assert "Removing login credentials" in daemon.docker("logout", basic_registry.host).stdout
    assert basic_registry.host not in json.loads((daemon.docker_config / "config.json").read_text()).get("auths", {})
    daemon.docker("rmi", ref)
    denied = daemon.docker("pull", ref, check=False)
    assert denied.returncode != 0


def test_token_auth_login_push_pull(daemon: RunningDaemon, registry: RunningRegistry,
                                    token_registry: tuple[RunningRegistry, TokenIssuer]) -> None:
    reg, issuer = token_registry
    ref = _seed(daemon, registry, reg, "tok/app")
    bad = _login(daemon, reg.host, "alice", "nope", check=False)
    assert bad.returncode != 0
    assert "Login Succeeded" in _login(daemon, reg.host, "alice", USERS["alice"]).stdout
    out = daemon.docker("push", ref).stdout
    assert "v1: digest: sha256:" in out
    # the engine asked the token server for push+pull on the repository, as alice
    assert any(r["user"] == "alice" and "repository:tok/app:pull,push" in r["scopes"]
               for r in issuer.requests)
    daemon.docker("rmi", ref)
    assert "Downloaded newer image" in daemon.docker("pull", ref).stdout
    daemon.docker("logout", reg.host)
    daemon.docker("rmi", ref)
    anon = daemon.docker("pull", ref, check=False)
    assert anon.returncode != 0
    assert "pull access denied" in anon.stderr or "denied" in anon.stderr


def test_skopeo_pushes_with_token_and_engine_pulls(daemon: RunningDaemon,
                                                    token_registry: tuple[RunningRegistry, TokenIssuer]) -> None:
    reg, _ = token_registry
    push_test_images(reg, only="busybox-multi", creds=f"alice:{USERS['alice']}")
    _login(daemon, reg.host, "alice", USERS["alice"])
    try:
        out = daemon.docker("pull", f"{reg.host}/busybox-multi").stdout
        assert "Status: Downloaded newer image" in out or "Image is up to date" in out
    finally:
        daemon.docker("logout", reg.host)


def test_engine_auth_file_for_requests_without_credentials(registry: RunningRegistry,
                                                           basic_registry: RunningRegistry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Pulls that carry no X-Registry-Auth (CRI, docker-py without auth) use --registry-auth-file."""
    import base64

    import docker

    from tests.support.engine import skiff_daemon

    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {basic_registry.host: {
        "auth": base64.b64encode(f"alice:{USERS['alice']}".encode()).decode()}}}))
    with skiff_daemon(tmp_path / "engine", args=("--registry-auth-file", str(auth))) as d:
        d.docker("pull", f"{registry.host}/busybox")
        ref = f"{basic_registry.host}/authfile/app:v1"
        d.docker("tag", f"{registry.host}/busybox", ref)
        api = docker.APIClient(base_url=d.host, version="auto")
        try:
            out = list(api.push(ref, stream=True, decode=True))
            assert any("aux" in m for m in out), out
            api.remove_image(ref)
            api.pull(ref)
            assert ref in api.inspect_image(ref)["RepoTags"]
        finally:
            api.close()
