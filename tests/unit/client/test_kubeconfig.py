"""kubeconfig loading, merging and context resolution, on files written by the tests."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from skiff.client import kubeconfig as kc


def write(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def config(*, current: str = "a", clusters=(), users=(), contexts=()) -> dict:
    return {"apiVersion": "v1", "kind": "Config", "current-context": current,
            "clusters": [{"name": n, "cluster": c} for n, c in clusters],
            "users": [{"name": n, "user": u} for n, u in users],
            "contexts": [{"name": n, "context": c} for n, c in contexts]}


CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture
def one(tmp_path: Path) -> Path:
    return write(tmp_path / "one", config(
        current="a",
        clusters=[("c1", {"server": "https://127.0.0.1:6443/", "certificate-authority-data":
                          base64.b64encode(CA).decode()})],
        users=[("u1", {"token": "tok1"})],
        contexts=[("a", {"cluster": "c1", "user": "u1", "namespace": "team"}),
                  ("b", {"cluster": "c1", "user": "u1"})]))


def test_explicit_path_resolves_current_context(one: Path) -> None:
    cfg = kc.load_client_config(str(one), env={})
    assert cfg.server == "https://127.0.0.1:6443"
    assert cfg.ca_data == CA
    assert cfg.token == "tok1"
    assert (cfg.namespace, cfg.namespace_explicit) == ("team", True)
    assert (cfg.context, cfg.cluster, cfg.user) == ("a", "c1", "u1")


def test_context_override_and_default_namespace(one: Path) -> None:
    cfg = kc.load_client_config(str(one), context="b", env={})
    assert (cfg.namespace, cfg.namespace_explicit) == ("default", False)
    cfg = kc.load_client_config(str(one), context="b", namespace="x", env={})
    assert cfg.namespace == "x"


def test_unknown_context_is_kubectl_error(one: Path) -> None:
    with pytest.raises(kc.KubeconfigError, match='context "nope" does not exist'):
        kc.load_client_config(str(one), context="nope", env={})


def test_missing_explicit_file_fails(tmp_path: Path) -> None:
    with pytest.raises(kc.KubeconfigError, match="no such file"):
        kc.load(str(tmp_path / "absent"), env={})


def test_kubeconfig_env_merges_first_wins(tmp_path: Path, one: Path) -> None:
    two = write(tmp_path / "two", config(
        current="z",
        clusters=[("c1", {"server": "https://other:1"}), ("c2", {"server": "http://127.0.0.1:8080",
                                                                 "insecure-skip-tls-verify": True})],
        users=[("u2", {"username": "me", "password": "pw"})],
        contexts=[("z", {"cluster": "c2", "user": "u2"})]))
    env = {"KUBECONFIG": f"{one}:{tmp_path / 'missing'}:{two}"}
    merged = kc.load(env=env)
    assert merged.current_context == "a"  # first file that sets it
    assert merged.named("clusters", "c1") == {"server": "https://127.0.0.1:6443/",
                                              "certificate-authority-data": base64.b64encode(CA).decode()}
    assert [c["name"] for c in merged.data["contexts"]] == ["a", "b", "z"]
    cfg = merged.resolve(context="z")
    assert cfg.server == "http://127.0.0.1:8080" and cfg.insecure_skip_tls_verify and cfg.ca_data is None
    assert (cfg.username, cfg.password, cfg.token) == ("me", "pw", None)


def test_home_default(tmp_path: Path, one: Path) -> None:
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text(one.read_text())
    assert kc.default_paths(env={"HOME": str(tmp_path)}) == [tmp_path / ".kube" / "config"]
    assert kc.load_client_config(env={"HOME": str(tmp_path)}).token == "tok1"


def test_files_relative_to_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_bytes(CA)
    (tmp_path / "certs" / "client.crt").write_bytes(b"CERT")
    (tmp_path / "certs" / "client.key").write_bytes(b"KEY")
    (tmp_path / "certs" / "token").write_text("filetok\n")
    path = write(tmp_path / "cfg", config(
        current="a", clusters=[("c", {"server": "https://h:1", "certificate-authority": "certs/ca.crt",
                                      "tls-server-name": "kubernetes"})],
        users=[("u", {"client-certificate": "certs/client.crt", "client-key": "certs/client.key",
                      "tokenFile": "certs/token"})],
        contexts=[("a", {"cluster": "c", "user": "u"})]))
    cfg = kc.load_client_config(str(path), env={})
    assert (cfg.ca_data, cfg.client_cert_data, cfg.client_key_data) == (CA, b"CERT", b"KEY")
    assert cfg.token == "filetok" and cfg.tls_server_name == "kubernetes"


def test_unreadable_ca_names_the_field(tmp_path: Path) -> None:
    path = write(tmp_path / "cfg", config(
        current="a", clusters=[("c", {"server": "https://h:1", "certificate-authority": "nope.crt"})],
        contexts=[("a", {"cluster": "c"})]))
    with pytest.raises(kc.KubeconfigError, match="certificate-authority"):
        kc.load_client_config(str(path), env={})


def test_empty_config_has_no_server(tmp_path: Path) -> None:
    with pytest.raises(kc.KubeconfigError, match="no configuration has been provided"):
        kc.load_client_config(env={"KUBECONFIG": str(tmp_path / "absent")})


def test_malformed_yaml_names_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("clusters: [\n")
    with pytest.raises(kc.KubeconfigError, match=str(bad)):
        kc.load(str(bad), env={})
