"""Pure helpers: history rows, filters, --change, auth headers/challenges, platform choice."""
from __future__ import annotations

import base64
import json

import pytest

from skiff.nodeagent.runtime.dockerapi.images import pull_reference
from skiff.nodeagent.runtime.images import views
from skiff.nodeagent.runtime.images.auth import decode_registry_auth, parse_challenges
from skiff.nodeagent.runtime.images.changes import ChangeError, apply_changes
from skiff.nodeagent.runtime.images.errors import BadContent
from skiff.nodeagent.runtime.images.manifests import choose_platform, parse_manifest
from skiff.nodeagent.runtime.images.store import Image


def new_image(history: list[dict[str, object]], diff_ids: list[str], tags: list[str] | None = None) -> Image:
    return Image(id="sha256:" + "a" * 64, config={"created": "2024-01-02T03:04:05.123456789Z", "history": history},
                 repo_tags=tags or [], repo_digests=[], diff_ids=diff_ids, parent="", size=0, last_tag_time="")


def test_history_maps_layers_to_non_empty_entries() -> None:
    img = new_image([
        {"created": "2024-01-01T00:00:00Z", "created_by": "ADD"},
        {"created": "2024-01-01T00:00:01Z", "created_by": "CMD", "empty_layer": True},
        {"created": "2024-01-01T00:00:02Z", "created_by": "RUN", "comment": "c"},
    ], ["sha256:1", "sha256:2"], tags=["x:1"])
    rows = views.history(img, [100, 7])
    assert [r["CreatedBy"] for r in rows] == ["RUN", "CMD", "ADD"]
    assert [r["Size"] for r in rows] == [7, 0, 100]
    assert [r["Id"] for r in rows] == [img.id, "<missing>", "<missing>"]
    assert rows[0]["Tags"] == ["x:1"] and rows[0]["Comment"] == "c"
    assert rows[2]["Created"] == 1704067200


@pytest.mark.parametrize(
    ("filters", "tags", "match"),
    [
        ({"dangling": ["true"]}, [], True),
        ({"dangling": ["true"]}, ["a:1"], False),
        ({"dangling": ["false"]}, [], False),
        ({"reference": ["busy*"]}, ["busybox:latest"], True),
        ({"reference": ["busybox:1*"]}, ["busybox:latest"], False),
        ({"reference": ["127.0.0.1:5000/*"]}, ["127.0.0.1:5000/app:v1"], True),
    ],
)
def test_filters(filters: dict[str, list[str]], tags: list[str], match: bool) -> None:
    assert views.matches(new_image([], [], tags), filters, resolve=None) is match


def test_filters_parse_both_formats_and_reject_unknown() -> None:
    assert views.parse_filters('{"dangling":{"true":true}}') == {"dangling": ["true"]}
    assert views.parse_filters('{"dangling":["false"]}') == {"dangling": ["false"]}
    with pytest.raises(ValueError, match="invalid filter 'color'"):
        views.matches(new_image([], []), {"color": ["red"]}, resolve=None)


def test_changes() -> None:
    cfg = apply_changes({"Env": ["A=1"]}, ['CMD ["sh","-c","echo"]', "ENV A=2 B=3", "EXPOSE 80",
                                           "WORKDIR /srv", "LABEL k=v", "ENTRYPOINT /bin/init"])
    assert cfg["Cmd"] == ["sh", "-c", "echo"]
    assert cfg["Env"] == ["A=2", "B=3"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}}
    assert cfg["WorkingDir"] == "/srv" and cfg["Labels"] == {"k": "v"}
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "/bin/init"]
    with pytest.raises(ChangeError, match="RUN is not a valid change command"):
        apply_changes({}, ["RUN echo"])


def test_registry_auth_header() -> None:
    enc = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": "p"}).encode()).decode().rstrip("=")
    creds = decode_registry_auth(enc)
    assert creds is not None and creds.username == "u" and creds.password == "p"
    assert decode_registry_auth(base64.b64encode(b"{}").decode()) is None
    assert decode_registry_auth(None) is None
    with pytest.raises(ValueError, match="X-Registry-Auth"):
        decode_registry_auth("!!!not-base64")


def test_challenges() -> None:
    [ch] = parse_challenges('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"')
    assert ch.scheme == "bearer"
    assert ch.params == {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull,push"}
    [basic] = parse_challenges('Basic realm="Registry Realm"')
    assert basic.scheme == "basic"


def test_choose_platform() -> None:
    index = {"manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:arm",
         "platform": {"os": "linux", "architecture": "arm64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:att",
         "platform": {"os": "unknown", "architecture": "unknown"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:amd",
         "platform": {"os": "linux", "architecture": "amd64"}},
    ]}
    assert choose_platform(index, {"os": "linux", "architecture": "amd64"})["digest"] == "sha256:amd"
    with pytest.raises(BadContent, match="no matching manifest for linux/s390x"):
        choose_platform(index, {"os": "linux", "architecture": "s390x"})


def test_parse_manifest_rejects_bad_descriptors() -> None:
    good = {"config": {"digest": "sha256:" + "a" * 64, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + "b" * 64, "size": 3}]}
    cfg, layers = parse_manifest(json.dumps(good).encode(), "application/vnd.oci.image.manifest.v1+json")
    assert len(layers) == 1
    bad = dict(good, layers=[{"mediaType": "text/plain", "digest": "sha256:" + "b" * 64, "size": 3}])
    with pytest.raises(BadContent, match="unsupported media type"):
        parse_manifest(json.dumps(bad).encode(), "application/vnd.oci.image.manifest.v1+json")
    with pytest.raises(BadContent, match="schema 1"):
        parse_manifest(b"{}", "application/vnd.docker.distribution.manifest.v1+prettyjws")


@pytest.mark.parametrize(
    ("from_image", "tag", "expected"),
    [
        ("busybox", "latest", "docker.io/library/busybox:latest"),
        ("busybox", "", "docker.io/library/busybox:latest"),
        ("127.0.0.1:5000/busybox", "v1", "127.0.0.1:5000/busybox:v1"),
        ("busybox", "sha256:" + "c" * 64, "docker.io/library/busybox@sha256:" + "c" * 64),
    ],
)
def test_pull_reference(from_image: str, tag: str, expected: str) -> None:
    assert str(pull_reference(from_image, tag)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("24h", 1_000_000 - 86400), ("1h30m", 1_000_000 - 5400), ("500", 500.0),
     ("2024-01-01T00:00:00Z", 1704067200.0), ("2024-01-01", 1704067200.0)],
)
def test_parse_until(text: str, expected: float) -> None:
    assert views.parse_until(text, now=1_000_000) == pytest.approx(expected)


def test_prune_selector() -> None:
    old = new_image([], [])  # created 2024-01-02
    assert views.prune_selector({"until": ["2025-01-01T00:00:00Z"]}, now=0)(old) is True
    assert views.prune_selector({"until": ["2023-01-01T00:00:00Z"]}, now=0)(old) is False
    assert views.prune_selector({"label": ["a=b"]}, now=0)(old) is False
    with pytest.raises(ValueError, match="invalid filter 'colour'"):
        views.prune_selector({"colour": ["x"]}, now=0)


def test_registry_config_header() -> None:
    from skiff.nodeagent.runtime.images.auth import decode_registry_config

    raw = {"https://index.docker.io/v1/": {"username": "hub", "password": "p"},
           "127.0.0.1:5000": {"auth": base64.b64encode(b"alice:pw").decode()}, "empty": {}}
    out = decode_registry_config(base64.urlsafe_b64encode(json.dumps(raw).encode()).decode())
    assert out["docker.io"].username == "hub"
    assert (out["127.0.0.1:5000"].username, out["127.0.0.1:5000"].password) == ("alice", "pw")
    assert "empty" not in out
