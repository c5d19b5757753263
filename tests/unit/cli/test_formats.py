"""``-o yaml`` and ``-o json`` as kubectl writes them."""
from __future__ import annotations

from skiff.cli.formats import as_list, to_json, to_yaml


def test_yaml_quotes_like_go_yaml() -> None:
    obj = {"metadata": {"creationTimestamp": "2024-01-01T00:00:00Z", "resourceVersion": "123", "uid": "abc-def",
                        "empty": "", "t": "true", "n": "null", "star": "*x", "plain": "hello world",
                        "oct": "0755", "f": "1.5"}}
    assert to_yaml(obj) == (
        "metadata:\n"
        '  creationTimestamp: "2024-01-01T00:00:00Z"\n'
        '  empty: ""\n'
        '  f: "1.5"\n'
        '  "n": "null"\n'
        '  oct: "0755"\n'
        "  plain: hello world\n"
        '  resourceVersion: "123"\n'
        '  star: "*x"\n'
        '  t: "true"\n'
        "  uid: abc-def\n")


def test_yaml_blocks_lists_and_empties() -> None:
    obj = {"a": {"note": '{"x":1}\n', "two": "x\ny"}, "items": [{"k": 1}, {"l": [1, 2]}], "e": {}, "z": [],
           "none": None, "num": 1.0, "b": False}
    assert to_yaml(obj) == (
        "a:\n  note: |\n    {\"x\":1}\n  two: |-\n    x\n    y\nb: false\ne: {}\nitems:\n- k: 1\n- l:\n  - 1\n"
        "  - 2\nnone: null\nnum: 1\nz: []\n")


def test_yaml_never_uses_anchors() -> None:
    labels = {"app": "x"}
    assert "&" not in to_yaml({"a": labels, "b": labels})


def test_json_like_go() -> None:
    assert to_json({"b": [], "a": {"html": "<a&b>"}, "c": {}}) == (
        '{\n    "a": {\n        "html": "\\u003ca\\u0026b\\u003e"\n    },\n    "b": [],\n    "c": {}\n}\n')


def test_list_wrapper() -> None:
    assert to_yaml(as_list([])) == 'apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: ""\n'
