"""Reference parsing against Docker's (distribution/reference) behaviour."""
from __future__ import annotations

import pytest

from skiff.nodeagent.runtime.images import reference as r

H = "a" * 64

VALID = [
    # text, full name, tag, digest, familiar (after default tag)
    ("busybox", "docker.io/library/busybox", None, None, "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox", "1.36", None, "busybox:1.36"),
    ("ubuntu:14.04", "docker.io/library/ubuntu", "14.04", None, "ubuntu:14.04"),
    ("library/busybox", "docker.io/library/busybox", None, None, "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox", None, None, "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox", None, None, "busybox:latest"),
    ("user/app", "docker.io/user/app", None, None, "user/app:latest"),
    ("reg.cloud.com/busybox", "reg.cloud.com/busybox", None, None, "reg.cloud.com/busybox:latest"),
    ("localhost/ubuntu", "localhost/ubuntu", None, None, "localhost/ubuntu:latest"),
    ("localhost:5000/a/b/c:v1", "localhost:5000/a/b/c", "v1", None, "localhost:5000/a/b/c:v1"),
    ("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox", None, None, "127.0.0.1:5000/busybox:latest"),
    ("[::1]:5000/busybox", "[::1]:5000/busybox", None, None, "[::1]:5000/busybox:latest"),
    (f"busybox@sha256:{H}", "docker.io/library/busybox", None, f"sha256:{H}", f"busybox@sha256:{H}"),
    (f"busybox:1@sha256:{H}", "docker.io/library/busybox", "1", f"sha256:{H}", f"busybox:1@sha256:{H}"),
    ("a__b/c-d--e.f_g", "docker.io/a__b/c-d--e.f_g", None, None, "a__b/c-d--e.f_g:latest"),
    ("Reg.Example.com/x", "Reg.Example.com/x", None, None, "Reg.Example.com/x:latest"),
    ("hongimages", "docker.io/library/hongimages", None, None, "hongimages:latest"),
]


@pytest.mark.parametrize(("text", "name", "tag", "digest", "familiar"), VALID, ids=[v[0][:40] for v in VALID])
def test_valid(text: str, name: str, tag: str | None, digest: str | None, familiar: str) -> None:
    ref = r.parse_normalized(text)
    assert ref.name == name
    assert ref.tag == tag
    assert ref.digest == digest
    assert r.with_default_tag(ref).familiar() == familiar


INVALID = [
    ("hongImages", r.ERR_UPPERCASE),
    ("BusyBox", r.ERR_UPPERCASE),
    ("user/App", r.ERR_UPPERCASE),
    ("reg.cloud.com/Ubuntu:latest", r.ERR_UPPERCASE),
    ("", r.ERR_FORMAT),
    ("busybox:", r.ERR_FORMAT),
    (":tag", r.ERR_FORMAT),
    ("-busybox", r.ERR_FORMAT),
    ("busybox:-tag", r.ERR_FORMAT),
    ("busy box", r.ERR_FORMAT),
    ("a//b", r.ERR_FORMAT),
    ("busybox:" + "t" * 129, r.ERR_FORMAT),
    ("busybox@sha256:abc", r.ERR_FORMAT),
    ("busybox@sha256:" + "a" * 63 + "g" * 1, r.ERR_FORMAT),
    ("busybox@sha256:" + "a" * 40, "invalid checksum digest length"),
    ("busybox@md5:" + "a" * 32, "unsupported digest algorithm"),
    (H, f"invalid repository name ({H}), cannot specify 64-byte hexadecimal strings"),
    ("a/" + "b" * 300, r.ERR_TOO_LONG),
]


@pytest.mark.parametrize(("text", "message"), INVALID, ids=[v[0][:30] or "empty" for v in INVALID])
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(r.ReferenceError) as info:
        r.parse_normalized(text)
    assert str(info.value) == message


def test_registry_host_for_hub() -> None:
    assert r.registry_host("docker.io") == "registry-1.docker.io"
    assert r.registry_host("127.0.0.1:5000") == "127.0.0.1:5000"


@pytest.mark.parametrize(("text", "ok"), [("abc123", True), ("sha256:abc", True), ("xyz", False), ("A1", False)])
def test_id_prefix(text: str, ok: bool) -> None:
    assert r.is_id_prefix(text) is ok
