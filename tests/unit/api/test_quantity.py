"""Quantities: exact values, Kubernetes' canonical spelling, and its errors."""
from __future__ import annotations

from decimal import Decimal

import pytest

from skiff.api.quantity import (ERR_FORMAT, ERR_SUFFIX, Format, QuantityError, canonical_quantity,
                                format_quantity, parse_quantity)

VALID = [
    # (input, exact value, what Kubernetes prints back)
    ("0", "0", "0"),
    ("500m", "0.5", "500m"),
    ("0.5", "0.5", "500m"),
    ("1", "1", "1"),
    ("1000m", "1", "1"),
    ("1.5", "1.5", "1500m"),
    ("1.500", "1.5", "1.500"),  # kept as written: Kubernetes' fast path caches canonical-looking input
    ("100", "100", "100"),
    ("1500", "1500", "1500"),
    ("1k", "1000", "1k"),
    ("1.5k", "1500", "1500"),
    ("129M", "129000000", "129M"),
    ("5G", "5000000000", "5G"),
    ("1Ki", "1024", "1Ki"),
    ("1.5Gi", "1610612736", "1536Mi"),
    ("1536Mi", "1610612736", "1536Mi"),
    ("2048Mi", "2147483648", "2Gi"),
    ("8Gi", "8589934592", "8Gi"),
    ("0.5Ki", "512", "512"),
    ("1e3", "1000", "1e3"),
    ("1E3", "1000", "1E3"),
    ("12e6", "12000000", "12e6"),
    ("1e-3", "0.001", "1e-3"),
    ("0.1", "0.1", "100m"),
    ("0.0000000001", "0.000000001", "1n"),  # rounded up to nano
    ("-1.5", "-1.5", "-1500m"),
    ("+1", "1", "+1"),
    ("1.G", "1000000000", "1.G"),
    ("0Gi", "0", "0"),
    (1, "1", "1"),
    (0.25, "0.25", "250m"),
]


@pytest.mark.parametrize(("text", "value", "canonical"), VALID, ids=[str(v[0]) for v in VALID])
def test_valid(text, value, canonical) -> None:
    assert parse_quantity(text) == Decimal(value)
    assert canonical_quantity(text) == canonical


INVALID = [
    ("", ERR_FORMAT),
    ("abc", ERR_FORMAT),
    ("1.5.5", ERR_FORMAT),
    ("1Kb", ERR_FORMAT),
    ("1 Gi", ERR_FORMAT),
    ("--1", ERR_SUFFIX),
    ("1K", ERR_SUFFIX),
    ("1e", ERR_SUFFIX),
    ("1Gb", ERR_FORMAT),
    ("1ki", ERR_SUFFIX),
    ("1mi", ERR_SUFFIX),
]


@pytest.mark.parametrize(("text", "message"), INVALID, ids=[v[0] or "empty" for v in INVALID])
def test_invalid(text, message) -> None:
    with pytest.raises(QuantityError) as e:
        parse_quantity(text)
    assert str(e.value) == message


@pytest.mark.parametrize(("value", "fmt", "text"), [
    (Decimal("0.5"), Format.DECIMAL_SI, "500m"),
    (Decimal("1024"), Format.BINARY_SI, "1Ki"),
    (Decimal("1000"), Format.BINARY_SI, "1k"),
    (Decimal("1000"), Format.DECIMAL_EXPONENT, "1e3"),
    (Decimal("1.0000000001"), Format.DECIMAL_SI, "1000000001n"),
    (Decimal("-2048"), Format.BINARY_SI, "-2Ki"),
    (Decimal("0"), Format.BINARY_SI, "0"),
], ids=["500m", "1Ki", "binary-below-1024", "exponent", "nano-round-up", "negative-binary", "zero"])
def test_format(value, fmt, text) -> None:
    assert format_quantity(value, fmt) == text
