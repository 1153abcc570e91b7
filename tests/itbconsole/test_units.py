"""Exact quantities: parsing what people type, and converting without drift."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from itbconsole.units import (
    QuantityError,
    decimal_mcg,
    fmt_mcg,
    fmt_ml,
    ml_to_ul,
    parse_decimal,
    round_decimal,
    to_fraction,
    ul_to_ml,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4.17", "4.17"),
        (" 4,17 ", "4.17"),
        ("500", "500"),
        (".5", "0.5"),
        ("-2", "-2"),
        ("+3.", "3"),
    ],
)
def test_parse_plain_numbers(text: str, value: str) -> None:
    assert parse_decimal(text, field="dose") == Decimal(value)


@pytest.mark.parametrize(
    "text", ["abc", "1e3", "1_000", "NaN", "Infinity", "4.1.7", "4,1,7", "0x10", "5 mL"]
)
def test_parse_refuses_anything_but_a_plain_number(text: str) -> None:
    with pytest.raises(QuantityError, match=r"^dose: .* is not a number$"):
        parse_decimal(text, field="dose")


def test_parse_refuses_an_empty_field() -> None:
    with pytest.raises(QuantityError, match="dose: enter a number"):
        parse_decimal("  ", field="dose")


@pytest.mark.parametrize("text", ["1,000", "12,500", "-2,000"])
def test_parse_refuses_a_comma_that_may_be_a_thousands_separator(text: str) -> None:
    # "1,000" is 1000 to one reader and 1.000 to another: a thousand-fold dose error.
    with pytest.raises(QuantityError, match="ambiguous"):
        parse_decimal(text, field="dose")
    assert parse_decimal("1,5", field="dose") == Decimal("1.5")


def test_ml_ul_conversions_are_exact() -> None:
    assert ml_to_ul("4.17") == 4170
    assert ml_to_ul(Decimal("0.001")) == 1
    assert ul_to_ml(4170) == Decimal("4.170")
    with pytest.raises(QuantityError, match="more precise"):
        ml_to_ul("0.0005")


def test_to_fraction_refuses_floats_and_booleans() -> None:
    with pytest.raises(TypeError):
        to_fraction(0.1)  # type: ignore[arg-type]
    with pytest.raises(QuantityError):
        to_fraction(True)
    assert to_fraction(Decimal("0.1")) == Fraction(1, 10)


def test_round_half_to_even_and_formatting() -> None:
    assert round_decimal(Fraction(1, 8), 2) == Decimal("0.12")
    assert round_decimal(Fraction(3, 8), 2) == Decimal("0.38")
    assert round_decimal(Fraction(-5, 4), 1) == Decimal("-1.2")
    assert round_decimal(Fraction(2, 3), 3) == Decimal("0.667")
    assert fmt_ml(12346) == "12.35 mL"
    assert fmt_ml(12345) == "12.34 mL"  # half to even
    assert fmt_mcg(Decimal(500)) == "500.0 mcg"


def test_decimal_mcg() -> None:
    assert decimal_mcg("90.125") == Decimal("90.125")
    assert decimal_mcg(0) == Decimal(0)
    with pytest.raises(QuantityError, match="more precise"):
        decimal_mcg("0.0001")


@given(st.integers(0, 10**7))
def test_ul_ml_round_trip(ul: int) -> None:
    assert ml_to_ul(ul_to_ml(ul)) == ul
    assert ml_to_ul(str(ul_to_ml(ul))) == ul
