"""kubectl JSONPath templates: a table of templates and what kubectl prints for them."""
from __future__ import annotations

import pytest

from skiff.cli import jsonpath as jp

DATA = {
    "kind": "List",
    "items": [
        {"metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "x"}},
         "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}],
                    "replicas": 2}},
        {"metadata": {"name": "b"}, "spec": {"replicas": 3, "ports": [{"port": 80}, {"port": 443}]}},
    ],
}


@pytest.mark.parametrize("template,out", [
    ("{.kind}", "List"),
    ("{.items[*].metadata.name}", "a b"),
    ("{.items[0].metadata.name}", "a"),
    ("{.items[-1].metadata.name}", "b"),
    ("{.items[0:1].metadata.name}", "a"),
    ("{.items[*]['metadata']['name']}", "a b"),
    ("{range .items[*]}{.metadata.name}{\"\\t\"}{.spec.replicas}{\"\\n\"}{end}", "a\t\nb\t3\n"),
    ("{.items[0].status.conditions[?(@.type==\"Ready\")].status}", "True"),
    ("{.items[0].status.conditions[?(@.status!=\"True\")].type}", "Synced"),
    ("{.items[*].spec.ports[?(@.port>100)].port}", "443"),
    ("{.items[?(@.spec)].metadata.name}", "b"),
    ("{..replicas}", "2 3"),
    ("{.items[0].metadata.labels.app\\.kubernetes\\.io/name}", "x"),
    ("{.items[1].spec}", '{"ports":[{"port":80},{"port":443}],"replicas":3}'),
    ("{.items[*].metadata.name,.kind}", "a b List"),
    ("name={.items[0].metadata.name}!", "name=a!"),
    ("{.missing}", ""),
    ("{$.kind}", "List"),
])
def test_templates(template: str, out: str) -> None:
    assert jp.execute(jp.parse(template), DATA) == out


@pytest.mark.parametrize("template", ["{.a", "{range .items[*]}{.x}", "{end}", "{.items[?(@.a]}"])
def test_invalid_templates(template: str) -> None:
    with pytest.raises(jp.JSONPathError):
        jp.parse(template)


def test_missing_keys_can_be_errors() -> None:
    with pytest.raises(jp.JSONPathError, match="missing is not found"):
        jp.execute(jp.parse("{.missing}"), DATA, allow_missing=False)


@pytest.mark.parametrize("path,relaxed", [(".metadata.name", "{.metadata.name}"), ("metadata.name", "{.metadata.name}"),
                                          ("{.a.b}", "{.a.b}"), ("$.a", "{$.a}")])
def test_relaxed(path: str, relaxed: str) -> None:
    assert jp.relaxed(path) == relaxed


def test_find_values_and_html_escaping() -> None:
    assert jp.find_values(".items[*].metadata.name", DATA) == ["a", "b"]
    assert jp.text_of({"k": "<&>"}) == '{"k":"\\u003c\\u0026\\u003e"}'
