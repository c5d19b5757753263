"""Label and annotation syntax: qualified names (``example.com/name``) and label values.

Messages are Kubernetes' own (k8s.io/apimachinery/pkg/util/validation ``IsQualifiedName`` and
``IsValidLabelValue``). Each ``is_*`` returns the list of problems, empty when valid.
"""
from __future__ import annotations

import re

from skiff.api.names import DNS1123_SUBDOMAIN_MAX, is_dns1123_subdomain, max_len_error, regex_error

QUALIFIED_NAME_CHAR_FMT = "[A-Za-z0-9]"
QUALIFIED_NAME_EXT_CHAR_FMT = "[-A-Za-z0-9_.]"
QUALIFIED_NAME_FMT = f"({QUALIFIED_NAME_CHAR_FMT}{QUALIFIED_NAME_EXT_CHAR_FMT}*)?{QUALIFIED_NAME_CHAR_FMT}"
QUALIFIED_NAME_MAX = 63
QUALIFIED_NAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                      "with an alphanumeric character")
LABEL_VALUE_FMT = f"({QUALIFIED_NAME_FMT})?"
LABEL_VALUE_MAX = 63
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                   "or '.', and must start and end with an alphanumeric character")
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

_QUALIFIED_RE = re.compile("^" + QUALIFIED_NAME_FMT + "$")
_LABEL_VALUE_RE = re.compile("^" + LABEL_VALUE_FMT + "$")


def is_qualified_name(value: str) -> list[str]:
    """A label key or annotation key: ``[prefix/]name``."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return ["a qualified name " + regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name",
                                                  "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX))
    if not _QUALIFIED_RE.match(name):
        errs.append("name part " + regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name",
                                                "123-abc"))
    return errs


def is_label_value(value: str) -> list[str]:
    errs = []
    if len(value) > LABEL_VALUE_MAX:
        errs.append(max_len_error(LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.match(value):
        errs.append(regex_error(LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def is_annotation_key(value: str) -> list[str]:
    """Annotation keys follow the label-key rule, case-insensitively."""
    return is_qualified_name(value.lower())


def annotations_size(annotations: dict[str, str]) -> int:
    return sum(len(k) + len(v) for k, v in annotations.items())


__all__ = ["is_qualified_name", "is_label_value", "is_annotation_key", "annotations_size",
           "TOTAL_ANNOTATION_SIZE_LIMIT", "DNS1123_SUBDOMAIN_MAX"]
