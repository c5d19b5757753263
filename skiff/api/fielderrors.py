"""Field errors exactly as Kubernetes renders them (k8s.io/apimachinery/pkg/util/validation/field).

``FieldError(CauseType.FieldValueInvalid, "spec.replicas", "must be greater than or equal to 0", -1)``
prints ``spec.replicas: Invalid value: -1: must be greater than or equal to 0``; its ``body``
(without the field) is what goes into a Status cause's ``message``. :func:`invalid_status`
builds the whole 422 ``Status`` the API server returns. Pure data, no I/O.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field as dc_field
from enum import Enum
from typing import Any, Iterable, Mapping


class CauseType(str, Enum):
    """``metav1.CauseType`` values carried by field errors."""

    FieldValueNotFound = "FieldValueNotFound"
    FieldValueRequired = "FieldValueRequired"
    FieldValueDuplicate = "FieldValueDuplicate"
    FieldValueInvalid = "FieldValueInvalid"
    FieldValueNotSupported = "FieldValueNotSupported"
    FieldValueForbidden = "FieldValueForbidden"
    FieldValueTooLong = "FieldValueTooLong"
    FieldValueTooMany = "FieldValueTooMany"
    InternalError = "InternalError"
    FieldValueTypeInvalid = "FieldValueTypeInvalid"
    # Short spellings.
    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    TYPE_INVALID = "FieldValueTypeInvalid"


_TYPE_TEXT = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
}
# Types whose message never shows the value.
_NO_VALUE = {"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "InternalError"}


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()


class GoRepr(str):
    """A value already spelled as Go's ``%v``/``%#v`` would print it (shown as is, unquoted)."""


def go_value(value: Any) -> str:
    """How Kubernetes' ``field.Error`` prints a bad value."""
    if isinstance(value, GoRepr):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
        return "map[string]string{" + ", ".join(
            f"{json.dumps(k, ensure_ascii=False)}:{json.dumps(v, ensure_ascii=False)}"
            for k, v in sorted(value.items())) + "}"
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "}"
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def go_label_selector(sel: Mapping[str, Any] | None) -> GoRepr:
    """``%#v`` of a ``*metav1.LabelSelector`` (what "field is immutable" on a selector shows)."""
    if sel is None:
        return GoRepr("null")
    ml = sel.get("matchLabels")
    labels = "map[string]string(nil)" if ml is None else go_value(dict(ml))
    exprs = sel.get("matchExpressions")
    if exprs is None:
        ex = "[]v1.LabelSelectorRequirement(nil)"
    else:
        parts = []
        for e in exprs:
            vals = e.get("values")
            v = "[]string(nil)" if vals is None else go_value(list(vals))
            parts.append(f'v1.LabelSelectorRequirement{{Key:{json.dumps(e.get("key", ""))}, '
                         f'Operator:{json.dumps(e.get("operator", ""))}, Values:{v}}}')
        ex = "[]v1.LabelSelectorRequirement{" + ", ".join(parts) + "}"
    return GoRepr(f"v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{ex}}}")


@dataclass
class FieldError:
    type: CauseType
    field: str
    detail: str = ""
    value: Any = dc_field(default=OMIT)

    @property
    def body(self) -> str:
        """The message without the field (a Status cause's ``message``)."""
        t = CauseType(self.type).value
        text = _TYPE_TEXT[t]
        if t in _NO_VALUE or self.value is OMIT:
            s = text
        else:
            s = f"{text}: {go_value(self.value)}"
        if self.detail:
            s += f": {self.detail}"
        return s

    @property
    def message(self) -> str:
        return f"{self.field}: {self.body}"

    def __str__(self) -> str:
        return self.message

    def cause(self) -> dict[str, str]:
        """A ``metav1.StatusCause``."""
        return {"reason": CauseType(self.type).value, "message": self.body, "field": self.field}


# Constructors named as Kubernetes' field.Invalid/Required/...


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(CauseType.FieldValueInvalid, path, detail, value)


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(CauseType.FieldValueRequired, path, detail)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(CauseType.FieldValueForbidden, path, detail)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(CauseType.FieldValueDuplicate, path, "", value)


def not_found(path: str, value: Any) -> FieldError:
    return FieldError(CauseType.FieldValueNotFound, path, "", value)


def not_supported(path: str, value: Any, valid: Iterable[str]) -> FieldError:
    quoted = ", ".join(json.dumps(v) for v in valid)
    return FieldError(CauseType.FieldValueNotSupported, path, f"supported values: {quoted}" if quoted else "", value)


def too_long(path: str, value: Any, max_length: int) -> FieldError:
    detail = f"may not be more than {max_length} bytes" if max_length >= 0 else "value is too long"
    return FieldError(CauseType.FieldValueTooLong, path, detail, value)


def too_many(path: str, actual: int, max_items: int) -> FieldError:
    return FieldError(CauseType.FieldValueTooMany, path, f"must have at most {max_items} items", actual)


def aggregate_message(errors: Iterable[FieldError]) -> str:
    """Kubernetes' aggregate: one message alone, several as ``[a, b]`` (duplicates dropped)."""
    seen: dict[str, None] = {}
    for e in errors:
        seen.setdefault(e.message, None)
    msgs = list(seen)
    if len(msgs) == 1:
        return msgs[0]
    return "[" + ", ".join(msgs) + "]"


def invalid_status(group: str, kind: str, name: str, errors: list[FieldError]) -> dict[str, Any]:
    """The 422 ``Status`` (reason Invalid) for ``errors`` on the object ``name`` of ``kind``."""
    qualified = f"{kind}.{group}" if group else kind
    message = f"{qualified} {json.dumps(name)} is invalid"
    if errors:
        message += ": " + aggregate_message(errors)
    details: dict[str, Any] = {"name": name, "kind": kind, "causes": [e.cause() for e in errors]}
    if group:
        details = {"name": name, "group": group, "kind": kind, "causes": details["causes"]}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": "Invalid", "details": details, "code": 422}
