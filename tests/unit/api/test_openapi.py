"""OpenAPI documents: what kubectl reads from them (GVKs, references, PATCH parameters, protobuf v2)."""
from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

import pytest

from skiff.api import openapi
from skiff.api.resources import RESOURCES, group_versions


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def test_v3_index_lists_every_group_version_with_its_hash() -> None:
    index = openapi.v3_index()["paths"]
    assert set(index) == {_gv_path(g, v) for g, v in group_versions()}
    for path, entry in index.items():
        url = entry["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/{path}?hash=")
        assert url.split("hash=")[1] == hashlib.sha512(openapi.document_bytes(path)).hexdigest().upper()
    assert openapi.v3_document("apis/nope/v1") is None


@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: r.kind)
def test_v3_document_has_the_kind_and_a_patch_operation_kubectl_can_verify(res) -> None:
    doc = openapi.v3_document(_gv_path(res.group, res.version))
    assert doc is not None and doc["openapi"].startswith("3.")
    schemas = doc["components"]["schemas"]
    gvk = {"group": res.group, "version": res.version, "kind": res.kind}
    assert [n for n, s in schemas.items() if gvk in s.get("x-kubernetes-group-version-kind", [])]
    patches = [item["patch"] for item in doc["paths"].values()
               if "patch" in item and item["patch"]["x-kubernetes-group-version-kind"] == gvk]
    assert patches, "kubectl's fieldValidation verifier needs a PATCH tagged with the kind"
    names = {p["name"] for p in patches[0]["parameters"] if p["in"] == "query"}
    assert {"fieldValidation", "dryRun", "fieldManager", "force"} <= names


def test_v3_references_resolve_and_use_allof_when_described() -> None:
    doc = openapi.v3_document("apis/apps/v1")
    assert doc is not None
    schemas = doc["components"]["schemas"]
    spec = schemas["io.k8s.api.apps.v1.Deployment"]["properties"]["spec"]
    assert spec["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}]
    assert spec["description"].startswith("Specification of the desired behavior")
    text = json.dumps(doc)
    for ref in set(part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]):
        assert ref in schemas, ref
    assert "#/definitions/" not in text


def test_v2_document_shapes() -> None:
    doc = openapi.v2_document()
    assert doc["swagger"] == "2.0"
    dep = doc["definitions"]["io.k8s.api.apps.v1.Deployment"]
    assert dep["x-kubernetes-group-version-kind"] == [{"group": "apps", "version": "v1", "kind": "Deployment"}]
    assert dep["properties"]["spec"]["$ref"] == "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-action"] == "patch"
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    assert {p["name"] for p in patch["parameters"]} >= {"body", "fieldValidation", "dryRun"}
    assert "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale" in doc["paths"]
    assert "/api/v1/pods" in doc["paths"]  # list across namespaces


# --- a minimal protobuf reader, to check the v2 wire encoding independently ---------------------


def _varint(b: bytes, i: int) -> tuple[int, int]:
    shift = n = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return n, i


def fields(b: bytes) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(b, i)
        elif wire == 1:
            v, i = struct.unpack("<d", b[i:i + 8])[0], i + 8
        elif wire == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.setdefault(num, []).append(v)
    return out


def named(b: bytes) -> tuple[str, bytes]:
    f = fields(b)
    return f[1][0].decode(), f[2][0]


def test_v2_protobuf_decodes_as_gnostic_document() -> None:
    doc = fields(openapi.v2_protobuf())
    assert doc[1] == [b"2.0"]  # swagger
    definitions = dict(named(d) for d in fields(doc[9][0])[1])
    assert len(definitions) == len(openapi.v2_document()["definitions"])
    dep = fields(definitions["io.k8s.api.apps.v1.Deployment"])
    assert fields(dep[22][0])[1] == [b"object"]  # type
    ext = dict(named(e) for e in dep[31])  # vendor extensions: NamedAny{name, Any{yaml}}
    gvk = json.loads(fields(ext["x-kubernetes-group-version-kind"])[2][0])
    assert gvk == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    props = dict(named(p) for p in fields(dep[25][0])[1])
    assert fields(props["spec"])[1] == [b"#/definitions/io.k8s.api.apps.v1.DeploymentSpec"]
    spec_props = dict(named(p) for p in fields(fields(definitions["io.k8s.api.apps.v1.DeploymentSpec"])[25][0])[1])
    replicas = fields(spec_props["replicas"])
    assert fields(replicas[22][0])[1] == [b"integer"] and b"Defaults to 1" in replicas[4][0]
    paths = dict(named(p) for p in fields(doc[8][0])[2])
    item = fields(paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"])
    patch = fields(item[8][0])
    query = []
    for p in patch[8]:
        param = fields(fields(p)[1][0])
        if 2 in param:  # non-body parameter
            sub = fields(param[2][0])
            if 3 in sub:
                query.append(fields(sub[3][0])[4][0].decode())
    assert {"fieldValidation", "dryRun"} <= set(query)
    assert openapi.V2_PROTOBUF == "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


@pytest.mark.parametrize(("accept", "ctype"), [
    ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", openapi.V2_PROTOBUF_RESPONSE),
    ("application/com.github.proto-openapi.spec.v2.v1.0+protobuf", openapi.V2_PROTOBUF_RESPONSE),
    ("application/json", "application/json"),
    ("", "application/json"),
])
def test_v2_response_negotiates(accept: str, ctype: str) -> None:
    body, got = openapi.v2_response(accept)
    assert got == ctype
    if ctype == "application/json":
        assert json.loads(body)["swagger"] == "2.0"
