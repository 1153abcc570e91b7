"""Exact clinical quantities and their conversions.

Why: binary floats turn 4.17 mL into 4.16999... and sums of them drift. Every stored amount
in ITB Console is exact:

* volumes are integer **microlitres** (``*_ul``),
* concentrations are integer **micrograms per millilitre** (``*_mcg_ml``),
* doses are :class:`~decimal.Decimal` **micrograms** (``*_mcg``), at most three decimals.

Arithmetic that divides (rates, days to alarm) works in :class:`~fractions.Fraction` and is
rounded only when shown. Conversion to and from the user's text happens here, at the edge.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction

UL_PER_ML = 1000
SECONDS_PER_DAY = 86_400
SECONDS_PER_HOUR = 3_600

Number = int | Decimal | Fraction


class QuantityError(ValueError):
    """A value the user typed cannot be a valid quantity. The message is shown as is."""


def to_fraction(value: Number | str) -> Fraction:
    """Exact conversion of an int, Decimal, Fraction or decimal text to a Fraction."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):  # bool is an int; never a quantity
        raise QuantityError("a yes/no value is not a quantity")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise QuantityError(f"{value} is not a finite number")
        return Fraction(value)
    if isinstance(value, str):
        return Fraction(parse_decimal(value, field="value"))
    raise TypeError(f"not an exact quantity: {value!r} ({type(value).__name__})")


#: A plain decimal number: optional sign, digits, at most one decimal separator. No
#: exponents ("1e3"), no digit grouping ("1_000"), no "NaN" or "Infinity".
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def parse_decimal(text: str, *, field: str) -> Decimal:
    """Parse user text such as ``"4.17"`` or ``"4,17"`` into a Decimal.

    Why so strict: decimal and wrong-field errors (41.7 typed for 4.17) are a known cause of
    pump programming errors (ISMP). Only a plain number is accepted. A decimal comma is
    accepted, but a comma followed by exactly three digits (``"1,000"``) is refused because
    it could be a thousands separator (1000) or a decimal comma (1.000); the user must
    write it without ambiguity.

    Raises :class:`QuantityError` naming the field when the text is not a plain number.
    """
    if not isinstance(text, str):
        raise QuantityError(f"{field}: '{text}' is not a number")
    stripped = text.strip()
    if stripped == "":
        raise QuantityError(f"{field}: enter a number")
    if re.fullmatch(r"[+-]?\d+,\d{3}", stripped):
        raise QuantityError(
            f"{field}: '{text}' is ambiguous (thousands separator or decimal comma?); "
            "write it without a comma, for example 1000 or 1.0"
        )
    cleaned = stripped.replace(",", ".")
    if not _PLAIN_NUMBER.fullmatch(cleaned):
        raise QuantityError(f"{field}: '{text}' is not a number")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise QuantityError(f"{field}: '{text}' is not a number") from None
    return value


def ml_to_ul(ml: Number | str) -> int:
    """Millilitres to integer microlitres; refuses anything finer than 1 µL."""
    ul = to_fraction(ml) * UL_PER_ML
    if ul.denominator != 1:
        raise QuantityError(f"{ml} mL is more precise than 0.001 mL")
    return int(ul)


def ul_to_ml(ul: int | Fraction) -> Decimal:
    """Integer (or exact fractional) microlitres to millilitres, exact to 0.001 mL."""
    return round_decimal(Fraction(ul) / UL_PER_ML, 3)


def round_decimal(value: Number, places: int) -> Decimal:
    """Round an exact value half-to-even to a Decimal with ``places`` decimals."""
    frac = to_fraction(value)
    quantum = Decimal(1).scaleb(-places)
    # Exact division in Decimal with enough precision, then quantize.
    scaled = Fraction(frac.numerator * 10**places, frac.denominator)
    # round half to even on the scaled integer
    q, r = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * r
    if twice > scaled.denominator or (twice == scaled.denominator and q % 2 == 1):
        q += 1
    return (Decimal(q) * quantum).quantize(quantum, rounding=ROUND_HALF_EVEN)


def fmt_ml(ul: int | Fraction, places: int = 2) -> str:
    """Format microlitres as millilitres for display, unit included: ``"12.35 mL"``."""
    return f"{round_decimal(Fraction(ul) / UL_PER_ML, places)} mL"


def fmt_mcg(mcg: Number, places: int = 1) -> str:
    """Format a dose in micrograms with its unit: ``"500.0 mcg"``."""
    return f"{round_decimal(mcg, places)} mcg"


def decimal_mcg(value: Number | str) -> Decimal:
    """A dose in micrograms as an exact Decimal of at most three decimals."""
    frac = to_fraction(value)
    scaled = frac * 1000
    if scaled.denominator != 1:
        raise QuantityError(f"{value} mcg is more precise than 0.001 mcg")
    return Decimal(int(scaled)).scaleb(-3).normalize() if scaled else Decimal(0)
