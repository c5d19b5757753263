"""Name, label and annotation syntax with Kubernetes' messages."""
from __future__ import annotations

import pytest

from skiff.api import labels, names

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
               "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
               "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


@pytest.mark.parametrize(("fn", "value", "errors"), [
    (names.is_dns1123_subdomain, "web", []),
    (names.is_dns1123_subdomain, "web.example.com", []),
    (names.is_dns1123_subdomain, "0abc", []),
    (names.is_dns1123_subdomain, "Bad_Name", [SUBDOMAIN_MSG]),
    (names.is_dns1123_subdomain, "-a", [SUBDOMAIN_MSG]),
    (names.is_dns1123_subdomain, "a-", [SUBDOMAIN_MSG]),
    (names.is_dns1123_subdomain, "", [SUBDOMAIN_MSG]),
    (names.is_dns1123_subdomain, "a" * 254, ["must be no more than 253 characters"]),
    (names.is_dns1123_label, "web-1", []),
    (names.is_dns1123_label, "a.b", ["must not contain dots"]),
    (names.is_dns1123_label, "A", [LABEL_MSG]),
    (names.is_dns1123_label, "a" * 64, ["must be no more than 63 characters"]),
    (names.is_dns1035_label, "web", []),
    (names.is_dns1035_label, "1web", [DNS1035_MSG]),
    (names.is_path_segment_name, "system:admin", []),
    (names.is_path_segment_name, "..", ["may not be '..'"]),
    (names.is_path_segment_name, "a/b%c", ["may not contain '/'", "may not contain '%'"]),
], ids=lambda v: v.__name__ if callable(v) else None)
def test_name_rules(fn, value, errors) -> None:
    assert fn(value) == errors


@pytest.mark.parametrize(("prefix", "ok"), [("web-", True), ("web", True), ("Web-", False), ("-", False)])
def test_generate_name_prefix_may_end_with_dash(prefix: str, ok: bool) -> None:
    assert (names.name_is_dns_subdomain(prefix, True) == []) is ok


def test_generate_name() -> None:
    got = names.generate_name("web-")
    assert got.startswith("web-") and len(got) == 9
    assert all(c in names.GENERATED_ALPHABET for c in got[4:])
    assert names.generate_name("x" * 70, suffix="abcde") == "x" * 58 + "abcde"


NAME_PART = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
             "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
             "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


@pytest.mark.parametrize(("key", "errors"), [
    ("app", []),
    ("app.kubernetes.io/name", []),
    ("MyKey_1.x", []),
    ("bad key", [NAME_PART]),
    ("-app", [NAME_PART]),
    ("/app", ["prefix part must be non-empty"]),
    ("example.com/", ["name part must be non-empty", NAME_PART]),
    ("Example.com/app", ["prefix part " + SUBDOMAIN_MSG]),
    ("a" * 64, ["name part must be no more than 63 characters"]),
    ("a/b/c", ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and "
               "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
               "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix "
               "and '/' (e.g. 'example.com/MyName')"]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_qualified_names(key: str, errors: list[str]) -> None:
    assert labels.is_qualified_name(key) == errors


@pytest.mark.parametrize(("value", "ok"), [("", True), ("v1.2_3-x", True), ("-x", False), ("a b", False),
                                           ("a" * 63, True), ("a" * 64, False)])
def test_label_values(value: str, ok: bool) -> None:
    assert (labels.is_label_value(value) == []) is ok


def test_annotation_keys_ignore_case() -> None:
    assert labels.is_annotation_key("Example.COM/Thing") == []
    assert labels.is_qualified_name("Example.COM/Thing") != []
