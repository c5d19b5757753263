"""kubectl explain's plaintext rendering: go-wordwrap line breaks, type guesses, field paths."""
from __future__ import annotations

import pytest

from skiff.cli.explain import Explainer, FieldNotFound, render, wrap


@pytest.mark.parametrize(("text", "limit", "want"), [
    ("short", 10, "short"),
    ("one two three", 7, "one two\nthree"),
    ("a verylongwordthatdoesnotfit b", 10, "a\nverylongwordthatdoesnotfit\nb"),
    ("keeps\nnewlines here", 8, "keeps\nnewlines\nhere"),
    ("trailing\n", 76, "trailing\n"),
    ("", 5, ""),
], ids=["fits", "breaks-at-space", "long-word-unbroken", "newlines-kept", "trailing-newline", "empty"])
def test_wrap_follows_go_wordwrap(text: str, limit: int, want: str) -> None:
    assert wrap(text, limit) == want


DOC = {
    "components": {"schemas": {
        "io.k8s.Thing": {"description": "A thing.", "type": "object", "required": ["spec"],
                         "x-kubernetes-group-version-kind": [{"group": "g", "kind": "Thing", "version": "v1"}],
                         "properties": {
                             "spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.ThingSpec"}],
                                      "description": "Spec of it."},
                             "tags": {"type": "array", "items": {"type": "string"}},
                             "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                         }},
        "io.k8s.ThingSpec": {"description": "ThingSpec is a spec.", "type": "object",
                             "properties": {"mode": {"type": "string", "enum": ["", "A", "B"]}}},
    }},
}


@pytest.mark.parametrize(("prop", "want"), [
    ("spec", "ThingSpec"), ("tags", "[]string"), ("labels", "map[string]string"),
])
def test_type_guess(prop: str, want: str) -> None:
    ex = Explainer(DOC)
    assert ex.type_guess(DOC["components"]["schemas"]["io.k8s.Thing"]["properties"][prop]) == want


def test_field_with_enum_and_nested_descriptions() -> None:
    text = render(DOC, {"group": "g", "kind": "Thing", "version": "v1"}, ["spec"])
    assert text == ("GROUP:      g\nKIND:       Thing\nVERSION:    v1\n\n"
                    "FIELD: spec <ThingSpec>\n\n\n"
                    "DESCRIPTION:\n    Spec of it.\n    ThingSpec is a spec.\n    \n"
                    "FIELDS:\n  mode\t<string>\n  enum: \"\", A, B\n    <no description>\n\n\n")


def test_missing_field_keeps_the_header() -> None:
    with pytest.raises(FieldNotFound) as e:
        render(DOC, {"group": "g", "kind": "Thing", "version": "v1"}, ["spec", "nope"])
    assert str(e.value) == 'field "nope" does not exist'
    assert e.value.partial.startswith("GROUP:      g\n")
