"""Label and field selectors: parsing, Kubernetes' error messages, matching."""
from __future__ import annotations

import pytest

from skiff.api.selectors import (SelectorError, field_value, from_label_selector, parse_field_selector,
                                 parse_field_selector_for, parse_label_selector)

LABELS = {"app": "web", "env": "prod", "tier": "fe", "n": "5"}

MATCHES = [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app!=web", False),
    ("app!=db", True),
    ("missing!=x", True),
    ("env in (prod,dev)", True),
    ("env in (dev)", False),
    ("env notin (dev, qa)", True),
    ("missing notin (x)", True),
    ("app", True),
    ("missing", False),
    ("!missing", True),
    ("!app", False),
    ("n>4", True),
    ("n<5", False),
    ("app=web,env=prod", True),
    ("app=web,env=dev", False),
    ("app=web, tier in (fe,be), !canary", True),
    ("app in (notin)", False),  # keywords are identifiers in value position
]


@pytest.mark.parametrize(("sel", "match"), MATCHES, ids=[m[0] or "empty" for m in MATCHES])
def test_label_selector_matching(sel: str, match: bool) -> None:
    assert parse_label_selector(sel).matches(LABELS) is match


VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
             "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
             "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
ERRORS = [
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a=b,", "found '', expected: identifier after ','"),
    ("=b", "found '=', expected: !, identifier, or 'end of string'"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("a=@@", f'unable to parse requirement: values[0][a]: Invalid value: "@@": {VALUE_MSG}'),
    ("a<x", "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value "
            "must be an integer"),
    ("-a=b", "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of alphanumeric "
             "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  "
             "or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"),
]


@pytest.mark.parametrize(("sel", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_label_selector_errors(sel: str, message: str) -> None:
    with pytest.raises(SelectorError) as e:
        parse_label_selector(sel)
    assert str(e.value) == message


@pytest.mark.parametrize(("sel", "labels", "match"), [
    ({}, {"a": "b"}, True),
    (None, {"a": "b"}, False),
    ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}, {"env": "prod"}, True),
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, {"env": "prod"}, False),
    ({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, {}, False),
    ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, {}, True),
], ids=["empty", "nil", "labels", "labels-miss", "in", "notin", "exists", "doesnotexist"])
def test_label_selector_objects(sel, labels, match) -> None:
    assert from_label_selector(sel).matches(labels) is match


def test_label_selector_object_bad_operator() -> None:
    with pytest.raises(SelectorError, match='"Equals" is not a valid label selector operator'):
        from_label_selector({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]})


def test_selector_string_of_object() -> None:
    sel = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["b", "a"]}]}
    assert str(from_label_selector(sel)) == "app=web,env in (a,b)"


POD = {"metadata": {"name": "p1", "namespace": "ns"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}


@pytest.mark.parametrize(("sel", "match"), [
    ("metadata.name=p1", True),
    ("metadata.name==p1", True),
    ("metadata.name!=p1", False),
    ("spec.nodeName=n1,status.phase=Running", True),
    ("spec.nodeName=", False),
    ("spec.nodeName!=", True),
    ("status.phase!=Pending", True),
    ("spec.hostNetwork=false", True),
    ("", True),
])
def test_field_selector_matching(sel: str, match: bool) -> None:
    assert parse_field_selector_for("", "Pod", sel).matches_object(POD) is match


@pytest.mark.parametrize(("group", "kind", "sel", "message"), [
    ("", "Pod", "spec.foo=x", "field label not supported: spec.foo"),
    ("", "Node", "metadata.namespace=x", "field label not supported: metadata.namespace"),
    ("apps", "Deployment", "spec.replicas=1",
     '"spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("", "ConfigMap", "nonsense", "invalid selector: 'nonsense'; can't understand 'nonsense'"),
    ("", "Pod", "metadata.name=a\\x", "invalid field selector: invalid escape sequence: \\x"),
], ids=["pod-unknown", "node-namespace", "deployment-default", "no-operator", "bad-escape"])
def test_field_selector_errors(group: str, kind: str, sel: str, message: str) -> None:
    with pytest.raises(SelectorError) as e:
        parse_field_selector_for(group, kind, sel)
    assert str(e.value) == message


def test_field_selector_escapes_and_requires() -> None:
    sel = parse_field_selector("metadata.name=a\\,b,spec.nodeName!=x")
    assert sel.requires("metadata.name") == "a,b"
    assert sel.requires("spec.nodeName") is None
    assert field_value({"spec": {"unschedulable": True}}, "spec.unschedulable") == "true"
