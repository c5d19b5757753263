"""POST /build query and headers to build options; bad fields answer 400 naming them."""
from __future__ import annotations

import base64
import json

import pytest
from multidict import CIMultiDict, MultiDict

from skiff.nodeagent.runtime.dockerapi.build import parse_options
from skiff.nodeagent.runtime.dockerapi.errors import ApiError


def test_defaults_as_the_cli_sends_them() -> None:
    o = parse_options(MultiDict(), CIMultiDict())
    assert (o.dockerfile, o.tags, o.remove, o.force_remove, o.no_cache, o.quiet, o.pull) == \
        ("Dockerfile", [], True, False, False, False, False)


def test_every_field() -> None:
    auth = base64.urlsafe_b64encode(json.dumps({"127.0.0.1:5000": {"username": "u", "password": "p"}}).encode())
    q = MultiDict([("t", "a:1"), ("t", "reg:5000/b"), ("dockerfile", "sub/Dockerfile.dev"),
                   ("buildargs", '{"A": "1", "B": null}'), ("labels", '{"k": "v"}'), ("target", "final"),
                   ("nocache", "1"), ("rm", "0"), ("forcerm", "1"), ("q", "true"), ("pull", "1"),
                   ("networkmode", "none")])
    o = parse_options(q, CIMultiDict({"X-Registry-Config": auth.decode()}))
    assert o.tags == ["a:1", "reg:5000/b"] and o.dockerfile == "sub/Dockerfile.dev"
    assert o.build_args == {"A": "1", "B": None} and o.labels == {"k": "v"} and o.target == "final"
    assert (o.no_cache, o.remove, o.force_remove, o.quiet, o.pull, o.network_mode) == (True, False, True, True,
                                                                                         True, "none")
    assert o.credentials["127.0.0.1:5000"].username == "u"


@pytest.mark.parametrize(("query", "status", "msg"), [
    ([("t", "Bad Name")], 400, "invalid reference format: Bad Name"),
    ([("t", "x@sha256:" + "a" * 64)], 400, "cannot carry a digest"),
    ([("buildargs", "{not json")], 400, "invalid buildargs parameter"),
    ([("labels", "[1]")], 400, "invalid labels parameter: not a JSON object"),
    ([("remote", "https://example.com/repo.git")], 501, "remote build contexts"),
    ([("version", "2")], 400, "BuildKit"),
])
def test_bad_fields(query: list[tuple[str, str]], status: int, msg: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_options(MultiDict(query), CIMultiDict())
    assert exc.value.status == status and msg in exc.value.message
