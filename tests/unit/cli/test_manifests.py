"""Manifest loading: documents, Lists, JSON, directories, and errors naming file, document and line."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from skiff.cli import manifests as mf

MULTI = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  creationTimestamp: 2024-01-01T00:00:00Z
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {name: p1}}
- {apiVersion: v1, kind: Pod, metadata: {name: p2}}
---
---
# only a comment
"""


def test_multi_document_and_lists() -> None:
    docs = mf.parse_documents(MULTI, source="f.yaml")
    assert [(d.document, d.line, d.obj["metadata"]["name"]) for d in docs] == [(1, 1, "a"), (2, 7, "p1"),
                                                                               (2, 7, "p2")]
    # timestamps stay strings, as through sigs.k8s.io/yaml
    assert docs[0].obj["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize("text,source,message", [
    ("a: 1\n---\nkind: X\n  bad: [\n", "f.yaml", "error parsing f.yaml: document 2, line 4:"),
    ("apiVersion: v1\nkind: ConfigMap\ndata:\n  a: [1\n", "cm.yaml", "error parsing cm.yaml: document 1, line 5:"),
    ('{"a": 1,,}', "x.json", "error parsing x.json: document 1, line 1:"),
    ("- just\n- a list\n", "l.yaml", "document 1, line 1: expected a mapping"),
], ids=["second-doc", "flow-seq", "json", "not-a-mapping"])
def test_errors_name_file_document_and_line(text: str, source: str, message: str) -> None:
    with pytest.raises(mf.ManifestError) as e:
        mf.parse_documents(text, source=source)
    assert message in str(e.value)


def test_nothing_is_returned_when_any_file_fails(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (tmp_path / "b.yaml").write_text("kind: [\n")
    with pytest.raises(mf.ManifestError, match="b.yaml"):
        mf.load([str(tmp_path)])


def test_directories_recursive_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (tmp_path / "sub" / "b.json").write_text('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}')
    (tmp_path / "notes.txt").write_text("ignored")
    assert [m.obj["metadata"]["name"] for m in mf.load([str(tmp_path)])] == ["a"]
    assert [m.obj["metadata"]["name"] for m in mf.load([str(tmp_path)], recursive=True)] == ["a", "b"]
    docs = mf.load(["-"], stdin=io.StringIO("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"))
    assert docs[0].source == "STDIN"
    with pytest.raises(mf.ManifestError, match='the path "nope" does not exist'):
        mf.load(["nope"])


@pytest.mark.parametrize("obj,message", [
    ({"kind": "ConfigMap"}, "error validating data: apiVersion not set;"),
    ({}, "error validating data: [apiVersion not set, kind not set];"),
])
def test_validate_basic(obj: dict, message: str) -> None:
    with pytest.raises(mf.ManifestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        mf.validate_basic(mf.Manifest("f.yaml", 1, 1, obj))
