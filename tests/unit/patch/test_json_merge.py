"""JSON patch (RFC 6902, as evanphx/json-patch applies it in Kubernetes) and JSON merge patch."""
from __future__ import annotations

import copy

import pytest

from skiff.api.patch import PatchError, apply_json_patch, apply_merge_patch, create_merge_patch

DOC = {"metadata": {"name": "x", "labels": {"a": "1", "k/v": "2"}}, "spec": {"list": [1, 2, 3], "n": None}}

OK = [
    ("add-member", [{"op": "add", "path": "/metadata/labels/b", "value": "3"}],
     lambda d: d["metadata"]["labels"]["b"] == "3"),
    ("add-replaces-existing", [{"op": "add", "path": "/metadata/name", "value": "y"}],
     lambda d: d["metadata"]["name"] == "y"),
    ("add-append-dash", [{"op": "add", "path": "/spec/list/-", "value": 4}], lambda d: d["spec"]["list"] == [1, 2, 3, 4]),
    ("add-insert-index", [{"op": "add", "path": "/spec/list/0", "value": 0}],
     lambda d: d["spec"]["list"] == [0, 1, 2, 3]),
    ("add-at-length", [{"op": "add", "path": "/spec/list/3", "value": 9}], lambda d: d["spec"]["list"][-1] == 9),
    ("add-negative-index", [{"op": "add", "path": "/spec/list/-1", "value": 9}],
     lambda d: d["spec"]["list"] == [1, 2, 9, 3]),
    ("escaped-pointer", [{"op": "replace", "path": "/metadata/labels/k~1v", "value": "x"}],
     lambda d: d["metadata"]["labels"]["k/v"] == "x"),
    ("remove-member", [{"op": "remove", "path": "/metadata/labels/a"}], lambda d: "a" not in d["metadata"]["labels"]),
    ("remove-index", [{"op": "remove", "path": "/spec/list/1"}], lambda d: d["spec"]["list"] == [1, 3]),
    ("replace-index", [{"op": "replace", "path": "/spec/list/0", "value": "z"}], lambda d: d["spec"]["list"][0] == "z"),
    ("replace-null-member", [{"op": "replace", "path": "/spec/n", "value": 1}], lambda d: d["spec"]["n"] == 1),
    ("move", [{"op": "move", "from": "/metadata/labels/a", "path": "/metadata/annotations"}],
     lambda d: d["metadata"]["annotations"] == "1" and "a" not in d["metadata"]["labels"]),
    ("copy", [{"op": "copy", "from": "/spec/list", "path": "/spec/copy"}], lambda d: d["spec"]["copy"] == [1, 2, 3]),
    ("test-then-replace", [{"op": "test", "path": "/metadata/name", "value": "x"},
                           {"op": "replace", "path": "/metadata/name", "value": "z"}],
     lambda d: d["metadata"]["name"] == "z"),
    ("test-number-int-float", [{"op": "test", "path": "/spec/list/0", "value": 1.0}], lambda d: True),
    ("test-missing-equals-null", [{"op": "test", "path": "/spec/absent", "value": None}], lambda d: True),
    ("replace-root", [{"op": "replace", "path": "", "value": {"a": 1}}], lambda d: d == {"a": 1}),
]


@pytest.mark.parametrize("ops,check", [c[1:] for c in OK], ids=[c[0] for c in OK])
def test_json_patch_applies(ops: list, check) -> None:
    before = copy.deepcopy(DOC)
    out = apply_json_patch(DOC, ops)
    assert check(out), out
    assert DOC == before


BAD = [
    ("add-missing-parent", [{"op": "add", "path": "/nope/x", "value": 1}], "missing path"),
    ("add-index-past-end", [{"op": "add", "path": "/spec/list/5", "value": 1}], "out of bounds"),
    ("remove-missing", [{"op": "remove", "path": "/metadata/nope"}], "missing"),
    ("replace-missing", [{"op": "replace", "path": "/metadata/nope", "value": 1}], "missing"),
    ("test-fails", [{"op": "test", "path": "/metadata/name", "value": "other"}], "test failed"),
    ("test-bool-vs-int", [{"op": "test", "path": "/spec/list/0", "value": True}], "test failed"),
    ("unknown-op", [{"op": "frob", "path": "/a"}], "Unexpected kind: frob"),
    ("no-path", [{"op": "add", "value": 1}], 'missing "path"'),
    ("no-value", [{"op": "add", "path": "/a"}], 'missing "value"'),
    ("not-a-list", {"op": "add"}, "must be a list"),
    ("bad-index", [{"op": "remove", "path": "/spec/list/x"}], "invalid array index"),
    ("move-into-child", [{"op": "move", "from": "/metadata", "path": "/metadata/x"}], "child"),
]


@pytest.mark.parametrize("ops,message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_json_patch_errors(ops: object, message: str) -> None:
    with pytest.raises(PatchError, match=message):
        apply_json_patch(DOC, ops)


def test_json_patch_failure_changes_nothing() -> None:
    before = copy.deepcopy(DOC)
    with pytest.raises(PatchError):
        apply_json_patch(DOC, [{"op": "remove", "path": "/metadata/name"}, {"op": "remove", "path": "/nope"}])
    assert DOC == before


# RFC 7386 appendix A, plus Kubernetes-shaped cases.
MERGE = [
    ("replace-scalar", {"a": "b"}, {"a": "c"}, {"a": "c"}),
    ("add", {"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ("delete", {"a": "b"}, {"a": None}, {}),
    ("delete-one", {"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ("list-replaced", {"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ("scalar-to-list", {"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ("nested", {"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ("list-of-maps-replaced", {"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ("nested-nulls-dropped-on-add", {"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ("new-map-drops-null-members", {}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ("labels", {"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": {"a": None, "b": "2"}}},
     {"metadata": {"labels": {"b": "2"}}}),
]


@pytest.mark.parametrize("obj,patch,expected", [m[1:] for m in MERGE], ids=[m[0] for m in MERGE])
def test_merge_patch(obj: dict, patch: dict, expected: dict) -> None:
    before = copy.deepcopy(obj)
    assert apply_merge_patch(obj, patch) == expected
    assert obj == before


@pytest.mark.parametrize("obj,patch,expected", [m[1:] for m in MERGE if m[0] != "nested-nulls-dropped-on-add"],
                         ids=[m[0] for m in MERGE if m[0] != "nested-nulls-dropped-on-add"])
def test_create_merge_patch_round_trips(obj: dict, patch: dict, expected: dict) -> None:
    assert apply_merge_patch(obj, create_merge_patch(obj, expected)) == expected
