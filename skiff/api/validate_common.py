"""Validation helpers shared by every kind: object metadata, labels, selectors, ports, IPs.

Each function takes the (already defaulted) JSON value and its field path and returns a list of
:class:`FieldError`, with Kubernetes' paths and messages. Pure functions; nothing is edited.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Mapping, TypeGuard

from skiff.api import labels as labelsyntax
from skiff.api import names
from skiff.api.fielderrors import (FieldError, GoRepr, duplicate, forbidden, invalid, not_supported, required,
                                   too_long)
from skiff.api.quantity import QuantityError, parse

NEGATIVE = "must be greater than or equal to 0"
IMMUTABLE = "field is immutable"

Errors = list[FieldError]


def as_dict(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def nonnegative(v: Any, path: str) -> Errors:
    return [invalid(path, v, NEGATIVE)] if is_int(v) and v < 0 else []


def positive(v: Any, path: str) -> Errors:
    return [invalid(path, v, "must be greater than 0")] if is_int(v) and v <= 0 else []


def in_range(v: Any, lo: int, hi: int, path: str) -> Errors:
    if is_int(v) and not lo <= v <= hi:
        return [invalid(path, v, f"must be between {lo} and {hi}, inclusive")]
    return []


def enum(v: Any, valid: list[str], path: str, *, allow_empty: bool = False) -> Errors:
    if v is None or v == "":
        return [] if allow_empty else [required(path)]
    if v not in valid:
        return [not_supported(path, v, valid)]
    return []


def immutable(new: Any, old: Any, path: str, *, value: Any = None) -> Errors:
    if new != old:
        return [invalid(path, new if value is None else value, IMMUTABLE)]
    return []


# --- names, labels, annotations -------------------------------------------------------------


def validate_labels(lbls: Any, path: str) -> Errors:
    errs: Errors = []
    for k, v in as_dict(lbls).items():
        errs += [invalid(path, k, m) for m in labelsyntax.is_qualified_name(k)]
        if isinstance(v, str):
            errs += [invalid(path, v, m) for m in labelsyntax.is_label_value(v)]
    return errs


def validate_annotations(ann: Any, path: str) -> Errors:
    errs: Errors = []
    d = as_dict(ann)
    for k in d:
        errs += [invalid(path, k, m) for m in labelsyntax.is_qualified_name(k.lower())]
    size = sum(len(k.encode()) + len(str(v).encode()) for k, v in d.items())
    if size > labelsyntax.TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, "", labelsyntax.TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def validate_owner_references(refs: Any, path: str) -> Errors:
    errs: Errors = []
    controllers = []
    for i, ref in enumerate(as_list(refs)):
        ref = as_dict(ref)
        gv = ref.get("apiVersion", "")
        if not gv:
            errs.append(invalid(f"{path}.apiVersion", gv, "version must not be empty"))
        if not ref.get("kind"):
            errs.append(invalid(f"{path}.kind", ref.get("kind", ""), "kind must not be empty"))
        if not ref.get("name"):
            errs.append(invalid(f"{path}.name", ref.get("name", ""), "name must not be empty"))
        if not ref.get("uid"):
            errs.append(invalid(f"{path}.uid", ref.get("uid", ""), "uid must not be empty"))
        if ref.get("controller") is True:
            controllers.append(f"{ref.get('kind')}/{ref.get('name')}")
    if len(controllers) > 1:
        errs.append(invalid(path, GoRepr(str(refs)),
                            "Only one reference can have Controller set to true. Found \"true\" in references for "
                            + " and ".join(controllers)))
    return errs


def validate_finalizers(fins: Any, path: str) -> Errors:
    errs: Errors = []
    for f in as_list(fins):
        if isinstance(f, str):
            errs += [invalid(path, f, m) for m in labelsyntax.is_qualified_name(f)]
    if "orphan" in as_list(fins) and "foregroundDeletion" in as_list(fins):
        errs.append(invalid(path, fins, "finalizer orphan and foregroundDeletion cannot be both set"))
    return errs


NameFn = Callable[[str, bool], list[str]]


def validate_object_meta(meta: Any, *, namespaced: bool, name_fn: NameFn, path: str = "metadata") -> Errors:
    meta = as_dict(meta)
    errs: Errors = []
    gen_name = meta.get("generateName") or ""
    name = meta.get("name") or ""
    if gen_name:
        errs += [invalid(f"{path}.generateName", gen_name, m) for m in name_fn(gen_name, True)]
    if not name:
        if not gen_name:
            errs.append(required(f"{path}.name", "name or generateName is required"))
    else:
        errs += [invalid(f"{path}.name", name, m) for m in name_fn(name, False)]
    ns = meta.get("namespace") or ""
    if namespaced:
        if not ns:
            errs.append(required(f"{path}.namespace"))
        else:
            errs += [invalid(f"{path}.namespace", ns, m) for m in names.name_is_dns_label(ns, False)]
    elif ns:
        errs.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    errs += nonnegative(meta.get("generation"), f"{path}.generation")
    errs += validate_labels(meta.get("labels"), f"{path}.labels")
    errs += validate_annotations(meta.get("annotations"), f"{path}.annotations")
    errs += validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences")
    errs += validate_finalizers(meta.get("finalizers"), f"{path}.finalizers")
    return errs


def validate_object_meta_update(new: Any, old: Any, path: str = "metadata") -> Errors:
    new, old = as_dict(new), as_dict(old)
    errs: Errors = []
    for f in ("name", "namespace", "uid", "creationTimestamp"):
        if old.get(f) and new.get(f) != old.get(f):
            errs.append(invalid(f"{path}.{f}", new.get(f, ""), IMMUTABLE))
    return errs


def validate_template_meta(meta: Any, path: str) -> Errors:
    """A pod template's metadata: labels and annotations only (no name rules)."""
    meta = as_dict(meta)
    return (validate_labels(meta.get("labels"), f"{path}.labels")
            + validate_annotations(meta.get("annotations"), f"{path}.annotations"))


# --- selectors --------------------------------------------------------------------------------


def validate_label_selector(sel: Any, path: str) -> Errors:
    if sel is None:
        return []
    sel = as_dict(sel)
    errs = validate_labels(sel.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(as_list(sel.get("matchExpressions"))):
        p = f"{path}.matchExpressions[{i}]"
        expr = as_dict(expr)
        op, values = expr.get("operator"), as_list(expr.get("values"))
        if op in ("In", "NotIn"):
            if not values:
                errs.append(required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(forbidden(f"{p}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            errs.append(invalid(f"{p}.operator", op, "not a valid selector operator"))
        key = expr.get("key", "")
        errs += [invalid(f"{p}.key", key, m) for m in labelsyntax.is_qualified_name(key)]
        for j, v in enumerate(values):
            if isinstance(v, str):
                errs += [invalid(f"{p}.values[{j}]", v, m) for m in labelsyntax.is_label_value(v)]
    return errs


def selector_is_empty(sel: Any) -> bool:
    sel = as_dict(sel)
    return not sel.get("matchLabels") and not sel.get("matchExpressions")


# --- ports, IPs, quantities --------------------------------------------------------------------

_PORT_NAME_CHARSET = re.compile(r"^[-a-z0-9]+$")
_PORT_NAME_LETTER = re.compile(r"[a-z]")


def port_name_errors(name: str) -> list[str]:
    errs = []
    if len(name) > 15:
        errs.append(names.max_len_error(15))
    if not _PORT_NAME_CHARSET.match(name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER.search(name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def port_num_errors(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else ["must be between 1 and 65535, inclusive"]


def validate_port_num_or_name(port: Any, path: str) -> Errors:
    if is_int(port):
        return [invalid(path, port, m) for m in port_num_errors(port)]
    if isinstance(port, str):
        return [invalid(path, port, m) for m in port_name_errors(port)]
    return []


PROTOCOLS = ["SCTP", "TCP", "UDP"]
IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def is_ip(s: Any) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def validate_ip(s: Any, path: str) -> Errors:
    return [] if is_ip(s) else [invalid(path, s, IP_MSG)]


def quantity_or_none(v: Any) -> Any:
    try:
        return parse(v)
    except (QuantityError, TypeError):
        return None


def unique(values: list[Any], path_of: Callable[[int], str]) -> Errors:
    seen: set[Any] = set()
    errs: Errors = []
    for i, v in enumerate(values):
        if v in seen:
            errs.append(duplicate(path_of(i), v))
        seen.add(v)
    return errs


_PERCENT = re.compile(r"^[0-9]+%$")
PERCENT_MSG = ("a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', "
               "regex used for validation is '[0-9]+%')")


def int_or_percent_value(v: Any) -> int:
    if is_int(v):
        return v
    if isinstance(v, str) and _PERCENT.match(v):
        return int(v[:-1])
    return 0


def validate_positive_int_or_percent(v: Any, path: str) -> Errors:
    if v is None:
        return []
    if isinstance(v, str):
        return [] if _PERCENT.match(v) else [invalid(path, GoRepr(v), PERCENT_MSG)]
    return nonnegative(v, path)


def not_more_than_100_percent(v: Any, path: str) -> Errors:
    if isinstance(v, str) and _PERCENT.match(v) and int(v[:-1]) > 100:
        return [invalid(path, GoRepr(v), "must not be greater than 100%")]
    return []
