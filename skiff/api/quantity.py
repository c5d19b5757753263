"""Kubernetes resource quantities (``500m``, ``1.5Gi``, ``1e3``), parsed exactly and printed canonically.

Mirrors ``k8s.io/apimachinery/pkg/api/resource``: the same grammar and error messages, values
rounded up to nano precision, binary values capped at 2^63-1, and the same canonical form on
output (``1.5Gi`` -> ``1536Mi``, ``0.5`` -> ``500m``, ``2048Mi`` -> ``2Gi``), including Kubernetes'
habit of returning an input unchanged when it is already in a canonical-looking form
(``1.500`` stays ``1.500``). Pure functions only.
"""
from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

_CTX = decimal.Context(prec=120, rounding=decimal.ROUND_HALF_EVEN)

ERR_FORMAT = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_MAX_INT64 = 2**63 - 1
_NANO = Decimal("1e-9")


class QuantityError(ValueError):
    """A string that is not a quantity; ``str()`` is Kubernetes' own message."""


class Format(str, Enum):
    DECIMAL_SI = "DecimalSI"
    BINARY_SI = "BinarySI"
    DECIMAL_EXPONENT = "DecimalExponent"


_DEC_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BIN_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DEC_BY_EXP = {v: k for k, v in _DEC_SUFFIXES.items()}
_BIN_BY_EXP = {v: k for k, v in _BIN_SUFFIXES.items()}
_SUFFIX_CHARS = set("eEinumkKMGTP")
_DIGITS = set("0123456789")


@dataclass(frozen=True)
class Quantity:
    value: Decimal
    format: Format
    cached: str | None = None  # the input, when Kubernetes would print it back unchanged

    def __str__(self) -> str:
        return self.cached if self.cached is not None else format_quantity(self.value, self.format)


def _split(s: str) -> tuple[bool, str, str, str, str]:
    """(positive, value, num, denom, suffix) as Kubernetes' parseQuantityString."""
    positive, pos, end = True, 0, len(s)
    if s[0] in "+-":
        positive = s[0] == "+"
        pos = 1
    while pos < end and s[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "0", "", ""
    start = pos
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    num = s[start:pos] or "0"
    if pos >= end:
        return positive, s, num, "", ""
    denom = ""
    if s[pos] == ".":
        pos += 1
        start = pos
        while pos < end and s[pos] in _DIGITS:
            pos += 1
        denom = s[start:pos]
        if pos >= end:
            return positive, s, num, denom, ""
    value = s[:pos]
    suffix_start = pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(ERR_FORMAT)
    return positive, value, num, denom, s[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, Format]:
    if suffix in _DEC_SUFFIXES:
        return 10, _DEC_SUFFIXES[suffix], Format.DECIMAL_SI
    if suffix in _BIN_SUFFIXES:
        return 2, _BIN_SUFFIXES[suffix], Format.BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        rest = suffix[1:]
        body = rest[1:] if rest[:1] in "+-" else rest
        if body and all(c in _DIGITS for c in body):
            return 10, int(rest), Format.DECIMAL_EXPONENT
    raise QuantityError(ERR_SUFFIX)


def _cached_form(s: str, num: str, denom: str, exponent: int, fmt: Format) -> bool:
    """Kubernetes' int64 fast path keeps the input string when it already looks canonical."""
    if fmt is Format.BINARY_SI:
        if exponent < 0 or denom:
            return False
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
        if precision < 0:
            return False
        value = int(num)
        return (value << exponent) <= _MAX_INT64 and exponent % 10 == 0 and value & 0x07 != 0
    precision = 18 - (len(num) + len(denom))
    scale = exponent - len(denom)
    if precision < 0 or scale < -9:
        return False
    shifted = num + denom
    return scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"


def parse(s: str | int | float) -> Quantity:
    """Parse as Kubernetes does; JSON numbers are accepted as their text."""
    if isinstance(s, bool):
        raise QuantityError(ERR_FORMAT)
    if isinstance(s, int):
        s = str(s)
    elif isinstance(s, float):
        s = str(int(s)) if s.is_integer() and abs(s) < 1e15 else repr(s)
    if not s:
        raise QuantityError(ERR_FORMAT)
    if s == "0":
        return Quantity(Decimal(0), Format.DECIMAL_SI, "0")
    positive, value, num, denom, suffix = _split(s)
    base, exponent, fmt = _interpret(suffix)
    try:
        amount = _CTX.create_decimal(f"{num}.{denom}" if denom else num)
    except decimal.InvalidOperation:
        raise QuantityError(ERR_NUMERIC) from None
    amount = _CTX.multiply(amount, _CTX.power(Decimal(base), exponent))
    if amount != 0:
        amount = amount.quantize(_NANO, rounding=decimal.ROUND_UP, context=_CTX) if amount.as_tuple().exponent < -9 else amount  # type: ignore[operator]
    if fmt is Format.BINARY_SI and amount > _MAX_INT64:
        amount = Decimal(_MAX_INT64)
    if fmt is Format.BINARY_SI and amount < 1:
        fmt = Format.DECIMAL_SI
    cached = s if _cached_form(s, num, denom, exponent, fmt) else None
    return Quantity(amount if positive else -amount, fmt, cached)


def parse_quantity(s: str | int | float) -> Decimal:
    """The exact value of a quantity (``"1.5Gi"`` -> ``Decimal(1610612736)``)."""
    return parse(s).value


def format_quantity(value: Decimal, fmt: Format = Format.DECIMAL_SI) -> str:
    """Kubernetes' canonical spelling of ``value`` in ``fmt`` (rounded up to nano first)."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    amount = abs(value)
    if amount.as_tuple().exponent < -9:  # type: ignore[operator]
        amount = amount.quantize(_NANO, rounding=decimal.ROUND_UP, context=_CTX)
    if fmt is Format.BINARY_SI and (amount < 1024 or amount != amount.to_integral_value()):
        fmt = Format.DECIMAL_SI
    if fmt is Format.BINARY_SI:
        mantissa, exp = int(amount), 0
        while mantissa % 1024 == 0 and exp < 60:
            mantissa //= 1024
            exp += 10
        return f"{sign}{mantissa}{_BIN_BY_EXP[exp]}"
    t = amount.normalize(_CTX).as_tuple()
    mantissa = int("".join(map(str, t.digits)))
    exp = int(t.exponent)
    while exp % 3:
        mantissa *= 10
        exp -= 1
    if fmt is Format.DECIMAL_SI and exp in _DEC_BY_EXP:
        return f"{sign}{mantissa}{_DEC_BY_EXP[exp]}"
    return f"{sign}{mantissa}" + (f"e{exp}" if exp else "")


def canonical_quantity(s: str | int | float) -> str:
    """The string Kubernetes returns for a quantity written as ``s``."""
    return str(parse(s))


def is_quantity(s: object) -> bool:
    try:
        parse(s)  # type: ignore[arg-type]
    except (QuantityError, TypeError):
        return False
    return True
