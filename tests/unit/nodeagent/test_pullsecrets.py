"""Pull-secret keyrings: which credentials an image gets (pure)."""
from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from skiff.nodeagent.kubelet.pullsecrets import (
    Auth,
    PullSecretError,
    credentials_for,
    image_location,
    matches,
    secret_auths,
)


def secret(auths: dict[str, Any], *, kind: str = "kubernetes.io/dockerconfigjson", name: str = "s") -> dict[str, Any]:
    doc = {"auths": auths} if kind == "kubernetes.io/dockerconfigjson" else auths
    field = ".dockerconfigjson" if kind == "kubernetes.io/dockerconfigjson" else ".dockercfg"
    return {"metadata": {"name": name}, "type": kind,
            "data": {field: base64.b64encode(json.dumps(doc).encode()).decode()}}


@pytest.mark.parametrize("image,location", [
    ("busybox", ("index.docker.io", "library/busybox")),
    ("user/app:1", ("index.docker.io", "user/app")),
    ("docker.io/library/busybox", ("index.docker.io", "library/busybox")),
    ("reg.example.com:5000/team/app:v1", ("reg.example.com:5000", "team/app")),
    ("localhost/app@sha256:abc", ("localhost", "app")),
])
def test_image_location(image: str, location: tuple[str, str]) -> None:
    assert image_location(image) == location


@pytest.mark.parametrize("key,image,ok", [
    ("reg.example.com:5000", "reg.example.com:5000/team/app", True),
    ("https://reg.example.com:5000/v2/", "reg.example.com:5000/team/app", True),
    ("reg.example.com", "reg.example.com:5000/team/app", False),
    ("*.example.com", "reg.example.com/app", True),
    ("*.example.com", "a.b.example.com/app", False),
    ("reg.example.com/team", "reg.example.com/team/app", True),
    ("reg.example.com/team", "reg.example.com/teams/app", False),
    ("https://index.docker.io/v1/", "busybox", True),
    ("docker.io", "user/app", True),
    ("other.io", "busybox", False),
])
def test_matches(key: str, image: str, ok: bool) -> None:
    assert matches(key, image) is ok


def test_credentials_most_specific_first_and_auth_decoded() -> None:
    token = base64.b64encode(b"bob:pw2").decode()
    s1 = secret({"reg.io": {"username": "alice", "password": "pw1"}})
    s2 = secret({"reg.io/team": {"auth": token}, "other.io": {"username": "x", "password": "y"}},
                kind="kubernetes.io/dockercfg")
    got = credentials_for("reg.io/team/app:1", [s1, s2])
    assert [(a.key, a.username, a.password) for a in got] == [("reg.io/team", "bob", "pw2"), ("reg.io", "alice", "pw1")]
    assert got[0] == Auth(key="reg.io/team", username="bob", password="pw2", auth=token)
    assert credentials_for("nowhere.io/app", [s1, s2]) == []
    # the same credential twice is tried once
    assert len(credentials_for("reg.io/app", [s1, s1])) == 1


def test_other_secret_types_give_nothing_and_bad_ones_are_named() -> None:
    assert secret_auths({"type": "Opaque", "data": {}}) == {}
    with pytest.raises(PullSecretError, match=r'secret "bad": data\[.dockerconfigjson\] is missing'):
        secret_auths({"metadata": {"name": "bad"}, "type": "kubernetes.io/dockerconfigjson", "data": {}})
    junk = {"metadata": {"name": "junk"}, "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(b"{not json").decode()}}
    with pytest.raises(PullSecretError, match="not valid JSON"):
        secret_auths(junk)
